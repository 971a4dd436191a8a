// A lab stack with one NixosInstall a simulated host, for the fault suite: per-host
// wipe policy, small phase timeouts, any number of hosts in one `terraform apply`.
// The existing-host example stays the user-facing stack; this one is test support.
import { App, LocalBackend, TerraformStack } from "cdktf";
import { Construct } from "constructs";
import { HostConfiguration, KexecBundle, NixosInstall, NixosRebuild, PassphraseSource, PhaseTimeouts, SshIdentity, WipePolicy } from "../../lib";

export interface FleetMember {
  /** Host name of the installed system, also the construct id. */
  readonly name: string;
  readonly address: string;
  readonly port: number;
  readonly unlockPort: number;
  readonly hostKey: string;
  /** Public key line of the lab's client key. */
  readonly authorizedKey: string;
  /** Private key file, relative to the directory synth runs in. */
  readonly identityFile: string;
  readonly wipe?: WipePolicy;
  /** @default - the root disk */
  readonly disks?: string[];
  /** @default PassphraseSource.fromEnv(settings.passphraseEnv) */
  readonly passphrase?: PassphraseSource;
  /** @default settings.timeouts */
  readonly timeouts?: PhaseTimeouts;
  /** @default KexecBundle.fromPath(settings.bundleDir) */
  readonly bundle?: KexecBundle;
  /** hosts/ directory of this host, relative to the directory synth runs in. @default settings.hostsDir */
  readonly hostsDir?: string;
  /**
   * Rebuild the installed host from this flake directory (HostConfiguration.fromFlake,
   * relative to where synth runs; runtime-info at hosts/NAME/). @default - install only
   */
  readonly rebuildConfiguration?: string;
  /** The rebuild's rollback timer, in seconds. @default 120 */
  readonly rollbackTimeout?: number;
}

export interface FleetSettings {
  readonly members: FleetMember[];
  /** Bundle directory, relative to the directory synth runs in. */
  readonly bundleDir: string;
  readonly passphraseEnv: string;
  /** hosts/ directory, relative to the directory synth runs in. */
  readonly hostsDir: string;
  readonly timeouts?: PhaseTimeouts;
}

export class FleetStack extends TerraformStack {
  public readonly installs: Record<string, NixosInstall> = {};

  constructor(scope: Construct, id: string, s: FleetSettings) {
    super(scope, id);
    // State beside cdktf.out, as in the existing-host example.
    new LocalBackend(this, { path: `../../../terraform.${id}.tfstate` });
    // one HostConfiguration a directory, as a user's stack names its fleet's flake once
    const flakes = new Map<string, HostConfiguration>();
    const flake = (dir: string) => flakes.get(dir) ?? flakes.set(dir, HostConfiguration.fromFlake({ dir })).get(dir)!;
    for (const m of s.members) {
      this.installs[m.name] = new NixosInstall(this, m.name, {
        host: m.address,
        port: m.port,
        unlockPort: m.unlockPort,
        hostKey: m.hostKey,
        identity: SshIdentity.keyFile(m.identityFile),
        authorizedKeys: [m.authorizedKey],
        passphrase: m.passphrase ?? PassphraseSource.fromEnv(s.passphraseEnv),
        hostName: m.name,
        bundle: m.bundle ?? KexecBundle.fromPath(s.bundleDir),
        hostsDir: m.hostsDir ?? s.hostsDir,
        wipe: m.wipe,
        disks: m.disks,
        timeouts: m.timeouts ?? s.timeouts,
      });
      if (m.rebuildConfiguration) {
        new NixosRebuild(this, `${m.name}-rebuild`, { install: this.installs[m.name], configuration: flake(m.rebuildConfiguration), rollbackTimeout: m.rollbackTimeout });
      }
    }
  }
}

/** Synthesizes the fleet stack as `cdktf synth` would (JSON form); the caller runs it from the project root. */
export function synthFleet(settings: FleetSettings, o: { outdir: string; stackName: string }): void {
  const saved = process.env.SYNTH_HCL_OUTPUT;
  process.env.SYNTH_HCL_OUTPUT = "false";
  try {
    const app = new App({ outdir: o.outdir });
    new FleetStack(app, o.stackName, settings);
    app.synth();
  } finally {
    if (saved === undefined) delete process.env.SYNTH_HCL_OUTPUT;
    else process.env.SYNTH_HCL_OUTPUT = saved;
  }
}
