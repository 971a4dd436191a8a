/**
 * An Ampere (arm64) server with no public IPv4 at all: the install chain reaches it over
 * IPv6, so the deploy machine needs IPv6. SSH and the unlock port are open only to the
 * admin network; both addresses' PTR records name the host.
 *
 * What the target itself downloads with no IPv4: the kexec bundle is built here
 * (KexecBundle.fromFlake) and uploaded over SSH; the host flake's inputs come from the
 * installer's store, locked by the flake.lock do-install writes, so nothing is fetched
 * from GitHub (which has no IPv6): __tests__/lab/chain.test.ts. What remains is the
 * binary cache (cache.nixos.org publishes IPv6 addresses); a whole install on a real
 * IPv6-only server has not been run by the tests (docs/nix.md, "Pinned and offline").
 * With your own flake and `buildOn: "deployer"` not even that: the deploy machine builds
 * the system and `nix copy` sends it over the same SSH connection
 * (__tests__/lab/build-on-deployer.test.ts).
 *
 *   export HCLOUD_TOKEN=… ADMIN_SSH_PUBLIC_KEY="$(cat ~/.ssh/id_ed25519.pub)"
 *   export ARM_1_DISK_PASSPHRASE=…             # read at apply time, never stored
 *   npx cdktf deploy hcloud-arm-ipv6-only --app "npx ts-node --transpile-only examples/hcloud-arm-ipv6-only/main.ts"
 */
import { App, LocalBackend, TerraformOutput, TerraformStack } from "cdktf";
import { Construct } from "constructs";
import { HcloudNixosServer, KexecBundle, PassphraseSource } from "cdktf-nixos-installer";
import { provider } from "cdktf-nixos-installer/hcloud";
import { adminPublicKey, INSTALLER_FLAKE } from "../hcloud-single/main";

export interface HcloudArmIpv6OnlyOptions {
  /** @default adminPublicKey() */
  readonly sshPublicKey?: string;
  /** Where SSH and the unlock port may be reached from. @default ["2001:db8:1234::/48"] (documentation prefix: set yours) */
  readonly adminNetworks?: string[];
}

export class HcloudArmIpv6OnlyStack extends TerraformStack {
  public readonly host: HcloudNixosServer;

  constructor(scope: Construct, id: string, options: HcloudArmIpv6OnlyOptions = {}) {
    super(scope, id);
    // State beside cdktf.json, written as a path relative to the stack directory, so the
    // synthesized output holds no absolute path of the machine that ran synth.
    new LocalBackend(this, { path: `../../../terraform.${id}.tfstate` });
    new provider.HcloudProvider(this, "hcloud", {});

    this.host = new HcloudNixosServer(this, "arm-1", {
      hostName: "arm-1",
      serverType: "cax11",
      location: "hel1",
      ipv4: false,
      ipv6: true,
      sshPublicKey: options.sshPublicKey ?? adminPublicKey(),
      firewall: { sshSourceIps: options.adminNetworks ?? ["2001:db8:1234::/48"] },
      reverseDns: "arm-1.example.org",
      unlockPort: 2222,
      passphrase: PassphraseSource.fromEnv("ARM_1_DISK_PASSPHRASE"),
      bundle: KexecBundle.fromFlake({ flake: INSTALLER_FLAKE, system: "aarch64-linux" }),
    });

    new TerraformOutput(this, "ipv6", { value: this.host.server.ipv6Address });
    new TerraformOutput(this, "ipv6-network", { value: this.host.server.ipv6Network });
  }
}

export function buildHcloudArmIpv6Only(app: App = new App(), options: HcloudArmIpv6OnlyOptions = {}): App {
  new HcloudArmIpv6OnlyStack(app, "hcloud-arm-ipv6-only", options);
  return app;
}

if (require.main === module) {
  buildHcloudArmIpv6Only().synth();
}
