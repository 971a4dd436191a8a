/**
 * Three database servers on one private network (10.0.1.0/24) with fixed addresses,
 * spread over different hosts by a placement group, protected against deletion and
 * rebuilds, with Hetzner backups. One SSH key is uploaded once and shared: Hetzner
 * refuses the same public key twice in a project.
 *
 *   export HCLOUD_TOKEN=… ADMIN_SSH_PUBLIC_KEY="$(cat ~/.ssh/id_ed25519.pub)"
 *   mkdir -p secrets && for h in db-1 db-2 db-3; do pass show hosts/$h/disk > secrets/$h.disk; done
 *   npx cdktf deploy hcloud-private-network --app "npx ts-node --transpile-only examples/hcloud-private-network/main.ts"
 */
import { App, LocalBackend, TerraformOutput, TerraformStack, Token } from "cdktf";
import { Construct } from "constructs";
import { HcloudNixosServer, KexecBundle, PassphraseSource } from "cdktf-nixos-installer";
import { network as hcloudNetwork, networkSubnet, placementGroup, provider, sshKey } from "cdktf-nixos-installer/hcloud";
import { adminPublicKey, INSTALLER_FLAKE } from "../hcloud-single/main";

export interface HcloudPrivateNetworkOptions {
  /** @default adminPublicKey() */
  readonly sshPublicKey?: string;
}

export const DB_HOSTS = [
  { hostName: "db-1", ip: "10.0.1.11" },
  { hostName: "db-2", ip: "10.0.1.12" },
  { hostName: "db-3", ip: "10.0.1.13" },
] as const;

export class HcloudPrivateNetworkStack extends TerraformStack {
  public readonly hosts: HcloudNixosServer[];

  constructor(scope: Construct, id: string, options: HcloudPrivateNetworkOptions = {}) {
    super(scope, id);
    // State beside cdktf.json, written as a path relative to the stack directory, so the
    // synthesized output holds no absolute path of the machine that ran synth.
    new LocalBackend(this, { path: `../../../terraform.${id}.tfstate` });
    new provider.HcloudProvider(this, "hcloud", {});

    const labels = { cluster: "db", "managed-by": "cdktf-nixos-installer" };
    const publicKey = options.sshPublicKey ?? adminPublicKey();
    const adminKey = new sshKey.SshKey(this, "admin-key", { name: "db-admin", publicKey, labels });
    const network = new hcloudNetwork.Network(this, "network", { name: "db", ipRange: "10.0.0.0/16", labels });
    const subnet = new networkSubnet.NetworkSubnet(this, "subnet", {
      networkId: Token.asNumber(network.id),
      type: "cloud",
      networkZone: "eu-central",
      ipRange: "10.0.1.0/24",
    });
    const spread = new placementGroup.PlacementGroup(this, "spread", { name: "db", type: "spread", labels });

    this.hosts = DB_HOSTS.map(
      ({ hostName, ip }) =>
        new HcloudNixosServer(this, hostName, {
          hostName,
          serverType: "cpx22",
          location: "nbg1",
          sshKeyIds: [adminKey.id],
          authorizedKeys: [publicKey],
          labels,
          privateNetwork: { networkId: Token.asNumber(network.id), ipRange: "10.0.1.0/24", ip, subnet },
          placementGroupId: Token.asNumber(spread.id),
          backups: true,
          deleteProtection: true,
          rebuildProtection: true,
          firewall: { sshSourceIps: ["0.0.0.0/0", "::/0"] },
          passphrase: PassphraseSource.fromFile(`secrets/${hostName}.disk`),
          bundle: KexecBundle.fromFlake({ flake: INSTALLER_FLAKE, system: "x86_64-linux" }),
        }),
    );

    new TerraformOutput(this, "private-ips", { value: Object.fromEntries(DB_HOSTS.map(({ hostName, ip }) => [hostName, ip])) });
  }
}

export function buildHcloudPrivateNetwork(app: App = new App(), options: HcloudPrivateNetworkOptions = {}): App {
  new HcloudPrivateNetworkStack(app, "hcloud-private-network", options);
  return app;
}

if (require.main === module) {
  buildHcloudPrivateNetwork().synth();
}
