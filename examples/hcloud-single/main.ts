/**
 * One Hetzner Cloud server (x86_64, IPv4 and IPv6) installed with NixOS on natively
 * encrypted ZFS. `npx cdktf synth` at the repo root builds this stack (see cdktf.json).
 *
 *   export HCLOUD_TOKEN=…                      # read by the hcloud provider at plan/apply only
 *   export ADMIN_SSH_PUBLIC_KEY="$(cat ~/.ssh/id_ed25519.pub)"
 *   pass insert hosts/web-1/disk               # the disk passphrase, read at apply time
 *   npx cdktf deploy hcloud-single
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { App, LocalBackend, TerraformOutput, TerraformStack } from "cdktf";
import { Construct } from "constructs";
import { HcloudNixosServer, KexecBundle, PassphraseSource } from "cdktf-nixos-installer";
import { provider } from "cdktf-nixos-installer/hcloud";

/** The installer's flake: `nix build` runs on the deploy machine in the kexec phase. */
export const INSTALLER_FLAKE = "github:cdktf-nixos-installer/cdktf-nixos-installer";

/**
 * A syntactically valid ed25519 key made of random bytes (nobody holds a private half), used only when no
 * key was given, so a fresh clone synthesizes. Deploying with it would lock you out.
 */
export const PLACEHOLDER_SSH_PUBLIC_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJrMgdRvjXCYzx9RGUwMCwAjKPvVtx/vjPRog5zHElOZ placeholder-set-ADMIN_SSH_PUBLIC_KEY";

/** The admin's public key: $ADMIN_SSH_PUBLIC_KEY, else ~/.ssh/id_ed25519.pub, else the placeholder (with a warning). */
export function adminPublicKey(): string {
  const fromEnv = process.env.ADMIN_SSH_PUBLIC_KEY?.trim();
  if (fromEnv) return fromEnv;
  const file = path.join(os.homedir(), ".ssh", "id_ed25519.pub");
  if (fs.existsSync(file)) return fs.readFileSync(file, "utf8").trim();
  process.stderr.write("warning: no ADMIN_SSH_PUBLIC_KEY and no ~/.ssh/id_ed25519.pub: using a placeholder key; do not deploy this synth\n");
  return PLACEHOLDER_SSH_PUBLIC_KEY;
}

export interface HcloudSingleOptions {
  /** Root's public key on every stage of the host. @default adminPublicKey() */
  readonly sshPublicKey?: string;
}

export class HcloudSingleStack extends TerraformStack {
  public readonly host: HcloudNixosServer;

  constructor(scope: Construct, id: string, options: HcloudSingleOptions = {}) {
    super(scope, id);
    // State beside cdktf.json, written as a path relative to the stack directory, so the
    // synthesized output holds no absolute path of the machine that ran synth.
    new LocalBackend(this, { path: `../../../terraform.${id}.tfstate` });
    // No token here: the provider reads HCLOUD_TOKEN from the environment.
    new provider.HcloudProvider(this, "hcloud", {});

    this.host = new HcloudNixosServer(this, "web-1", {
      hostName: "web-1",
      serverType: "cx23",
      location: "fsn1",
      sshPublicKey: options.sshPublicKey ?? adminPublicKey(),
      labels: { role: "web", "managed-by": "cdktf-nixos-installer" },
      firewall: { sshSourceIps: ["0.0.0.0/0", "::/0"] },
      passphrase: PassphraseSource.fromCommand("pass show hosts/web-1/disk"),
      bundle: KexecBundle.fromFlake({ flake: INSTALLER_FLAKE, system: "x86_64-linux" }),
    });

    new TerraformOutput(this, "ipv4", { value: this.host.server.ipv4Address });
    new TerraformOutput(this, "ipv6", { value: this.host.server.ipv6Address });
  }
}

/** Builds the app with the hcloud-single stack (tests call this; `main` synthesizes it). */
export function buildHcloudSingle(app: App = new App(), options: HcloudSingleOptions = {}): App {
  new HcloudSingleStack(app, "hcloud-single", options);
  return app;
}

if (require.main === module) {
  buildHcloudSingle().synth();
}
