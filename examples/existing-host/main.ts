// Install NixOS on an existing Linux host that root can reach over SSH.
//
//   HOST=203.0.113.10 HOST_KEY="ssh-ed25519 AAAA…" AUTHORIZED_KEY="ssh-ed25519 AAAA… you" \
//   BUNDLE_URL=https://…/kexec-x86_64-linux.tar.gz BUNDLE_SHA256=… \
//   npx cdktf synth --app "npx ts-node --transpile-only examples/existing-host/main.ts"
//   DISK_PASSPHRASE=… terraform -chdir=cdktf.out/stacks/existing-host init && terraform … apply
//
// HOST_FLAKE_DIR=nixos installs your own flake directory instead of the host template
// (nixosConfigurations.HOST_NAME; README "Your own flake: the round trip"); with it,
// BUILD_ON=deployer builds the system on this machine's Nix and copies it to the host.
// With REBUILD=1 the stack also rebuilds the installed host (NixosRebuild) whenever what
// it is built from changes: the installed configuration, or REBUILD_FLAKE_DIR (a flake
// directory, nixosConfigurations.HOST_NAME, runtime-info at REBUILD_RUNTIME_INFO_PATH,
// default hosts/HOST_NAME/runtime-info.json); REBUILD_MODE switch|boot|test.
//
// `npm run demo` runs this stack against the local lab (lab/), with every setting below
// pointed at a simulated host on a loopback address.
import { App, LocalBackend, TerraformOutput, TerraformStack } from "cdktf";
import { Construct } from "constructs";
import { HostConfiguration, KexecBundle, NixosInstall, NixosRebuild, PassphraseSource, PhaseTimeouts, SshIdentity } from "cdktf-nixos-installer";

/** A later configuration change of the installed host (NixosRebuild). */
export interface ExistingHostRebuild {
  /** What the host is built from. @default - what was installed (`configuration`) */
  readonly configuration?: HostConfiguration;
  /** switch, boot or test. @default "switch" */
  readonly mode?: string;
  /** Seconds the host waits for the confirmation. @default 120 */
  readonly rollbackTimeout?: number;
  /** Root's keys from now on. @default - the install's */
  readonly authorizedKeys?: string[];
}

export interface ExistingHostSettings {
  readonly host: string;
  readonly port?: number;
  readonly unlockPort?: number;
  readonly hostKey: string;
  readonly hostName: string;
  readonly authorizedKeys: string[];
  readonly identityFile?: string;
  readonly bundle: KexecBundle;
  readonly passphraseEnv?: string;
  readonly hostsDir?: string;
  readonly resourceType?: string;
  readonly disks?: string[];
  readonly pool?: string;
  readonly wipe?: string;
  readonly timeouts?: PhaseTimeouts;
  /** What is installed. @default HostConfiguration.template() */
  readonly configuration?: HostConfiguration;
  /** Where the system is built, "target" or "deployer" (install and rebuild). @default "target" */
  readonly buildOn?: string;
  /** Rebuild the installed host (REBUILD=1). @default - install only */
  readonly rebuild?: ExistingHostRebuild;
}

export class ExistingHostStack extends TerraformStack {
  public readonly install: NixosInstall;
  public readonly rebuild?: NixosRebuild;

  constructor(scope: Construct, id: string, s: ExistingHostSettings) {
    super(scope, id);
    // State beside the project, not inside cdktf.out (a new synth keeps it), and
    // written relative to the stack directory so the output stays relocatable.
    new LocalBackend(this, { path: `../../../terraform.${id}.tfstate` });
    this.install = new NixosInstall(this, "host", {
      host: s.host,
      port: s.port,
      unlockPort: s.unlockPort,
      hostKey: s.hostKey,
      identity: s.identityFile ? SshIdentity.keyFile(s.identityFile) : SshIdentity.agent(),
      authorizedKeys: s.authorizedKeys,
      passphrase: PassphraseSource.fromEnv(s.passphraseEnv ?? "DISK_PASSPHRASE"),
      hostName: s.hostName,
      bundle: s.bundle,
      hostsDir: s.hostsDir,
      resourceType: s.resourceType,
      disks: s.disks,
      pool: s.pool,
      wipe: s.wipe,
      timeouts: s.timeouts,
      configuration: s.configuration,
      buildOn: s.buildOn,
    });
    if (s.rebuild) {
      this.rebuild = new NixosRebuild(this, "rebuild", {
        install: this.install,
        configuration: s.rebuild.configuration,
        mode: s.rebuild.mode,
        rollbackTimeout: s.rebuild.rollbackTimeout,
        authorizedKeys: s.rebuild.authorizedKeys,
      });
    }
    // What an operator reaches for after an apply (`terraform output`): the address, the
    // installed system's host key (empty until verify wrote it), and each phase's
    // address for `terraform apply -replace=…` or `-target=…`.
    new TerraformOutput(this, "address", { value: this.install.address });
    new TerraformOutput(this, "installed_host_key", { value: this.install.installedHostKey });
    new TerraformOutput(this, "phase_addresses", { value: this.install.phaseAddresses });
  }
}

/** Reads the settings from the environment (see the header). */
export function settingsFromEnv(env: NodeJS.ProcessEnv = process.env): ExistingHostSettings {
  const need = (name: string): string => {
    const value = env[name];
    if (!value) throw new Error(`examples/existing-host: set ${name} (see the header of examples/existing-host/main.ts)`);
    return value;
  };
  const system = (env.BUNDLE_SYSTEM ?? "x86_64-linux") as "x86_64-linux";
  const bundle = env.BUNDLE_PATH
    ? KexecBundle.fromPath(env.BUNDLE_PATH)
    : env.BUNDLE_URL
      ? KexecBundle.fromUrl({ url: env.BUNDLE_URL, sha256: need("BUNDLE_SHA256"), system })
      : KexecBundle.fromFlake({ flake: env.BUNDLE_FLAKE ?? "github:cdktf-nixos-installer/cdktf-nixos-installer", system });
  return {
    host: need("HOST"),
    port: env.PORT ? Number(env.PORT) : undefined,
    unlockPort: env.UNLOCK_PORT ? Number(env.UNLOCK_PORT) : undefined,
    hostKey: need("HOST_KEY"),
    hostName: env.HOST_NAME ?? "nixos-1",
    authorizedKeys: [need("AUTHORIZED_KEY")],
    identityFile: env.IDENTITY_FILE,
    bundle,
    hostsDir: env.HOSTS_DIR,
    resourceType: env.RESOURCE_TYPE === "null_resource" ? "null_resource" : undefined,
    configuration: env.HOST_FLAKE_DIR ? HostConfiguration.fromFlake({ dir: env.HOST_FLAKE_DIR }) : undefined,
    buildOn: env.BUILD_ON,
    rebuild:
      env.REBUILD === "1"
        ? {
            configuration: env.REBUILD_FLAKE_DIR ? HostConfiguration.fromFlake({ dir: env.REBUILD_FLAKE_DIR, runtimeInfoPath: env.REBUILD_RUNTIME_INFO_PATH }) : undefined,
            mode: env.REBUILD_MODE,
          }
        : undefined,
  };
}

/** Synthesizes the stack; `hcl` gives what `cdktf synth --hcl` gives (cdk.tf instead of cdk.tf.json). */
export function synthExistingHost(settings: ExistingHostSettings, options: { outdir?: string; hcl?: boolean } = {}): App {
  // cdktf's stacks read the HCL switch from the environment, as `cdktf synth --hcl` sets it.
  const saved = process.env.SYNTH_HCL_OUTPUT;
  process.env.SYNTH_HCL_OUTPUT = String(options.hcl ?? false);
  try {
    const app = new App({ outdir: options.outdir, hclOutput: options.hcl });
    new ExistingHostStack(app, "existing-host", settings);
    app.synth();
    return app;
  } finally {
    if (saved === undefined) delete process.env.SYNTH_HCL_OUTPUT;
    else process.env.SYNTH_HCL_OUTPUT = saved;
  }
}

if (require.main === module) {
  synthExistingHost(settingsFromEnv());
}
