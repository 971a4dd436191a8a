import { createHash } from "crypto";
import * as path from "path";
import {
  App,
  AssetType,
  FOR_EXPRESSION_KEY,
  FOR_EXPRESSION_VALUE,
  Fn,
  forExpression,
  LocalExecProvisioner,
  Op,
  Precondition,
  TerraformAsset,
  TerraformLocal,
  TerraformResource,
  TerraformStack,
  Token,
} from "cdktf";
import { Construct, IConstruct } from "constructs";
import { writeConditionsAsBlocksInHcl } from "./hcl-preconditions";
import { HostConfiguration } from "./host-configuration";
import { KexecBundle } from "./kexec-bundle";
import { NullResourcePhase } from "./null-resource-phase";
import { packageFiles } from "./package-files";
import { PassphraseSource } from "./passphrase-source";
import { PhaseResource } from "./phase-resource";
import { isCheckedByParent, isToken, listExpression, PropChecks, PropErrors } from "./prop-errors";
import { SshIdentity } from "./ssh-identity";
import { useV8StackFormatting } from "./stack-trace-formatting";
import { TerraformDataPhase } from "./terraform-data-phase";
import {
  DISK_PATH_PATTERN,
  DISK_PATH_RULE,
  HOST_RULE,
  HOSTNAME_RULE,
  HOSTS_DIR_RULE,
  isEd25519PublicKey,
  isHostAddress,
  isHostName,
  isHostsDir,
  isKeyFilePath,
  isPoolName,
  isPort,
  isRootKeyLine,
  isTerraformSafeText,
  isUserName,
  KEY_FILE_RULE,
  normalizeKeyLine,
  POOL_RULE,
  ROOT_KEY_RULE,
  TERRAFORM_TEXT_RULE,
  USER_RULE,
} from "./validation";

/** The phases of the install chain, in order. */
export const PHASES = ["probe", "kexec", "install", "unlock", "verify"] as const;
export type Phase = (typeof PHASES)[number];

/** What may be wiped on the target disks (the values `wipe` takes). */
export type WipePolicy = "base-system" | "everything";
const WIPE_POLICIES: readonly string[] = ["base-system", "everything"];

/** How the phases are written (the values `resourceType` takes). */
export type PhaseResourceType = "terraform_data" | "null_resource";
const PHASE_RESOURCE_TYPES: readonly string[] = ["terraform_data", "null_resource"];

/** Seconds each phase may take before it stops with a message. */
export interface PhaseTimeouts {
  /** Facts, pins and refusals before anything changes. @default 300 */
  readonly probe?: number;
  /** Bundle delivery and the wait for the installer. @default 1200 */
  readonly kexec?: number;
  /** Disk layout and nixos-install. @default 3600 */
  readonly install?: number;
  /** Reboot into the installed system and the passphrase to its initrd. @default 600 */
  readonly unlock?: number;
  /** The installed system's checks and hosts/NAME/. @default 300 */
  readonly verify?: number;
}

export const DEFAULT_TIMEOUTS: Required<PhaseTimeouts> = { probe: 300, kexec: 1200, install: 3600, unlock: 600, verify: 300 };

/** The phase resources of one install, by phase. */
export interface InstallPhaseResources {
  /** Pins the first-contact key, learns the machine, refuses what cannot work. */
  readonly probe: PhaseResource;
  /** Delivers the installer and kexecs into it. */
  readonly kexec: PhaseResource;
  /** Partitions, creates the encrypted pool, runs nixos-install, reboots. */
  readonly install: PhaseResource;
  /** Sends the passphrase to the installed system's initrd. */
  readonly unlock: PhaseResource;
  /** Proves the installed system came up; writes hosts/NAME/. */
  readonly verify: PhaseResource;
}

/** The Terraform address of each phase, for `terraform apply -replace=…` or `-target=…`. */
export interface InstallPhaseAddresses {
  /** Address of the probe phase. */
  readonly probe: string;
  /** Address of the kexec phase. */
  readonly kexec: string;
  /** Address of the install phase. */
  readonly install: string;
  /** Address of the unlock phase. */
  readonly unlock: string;
  /** Address of the verify phase. */
  readonly verify: string;
}

/** What Terraform knows about the machine, merged into runtime-info. */
export interface HcloudHosterInfo {
  /** Always `"hcloud"`. */
  readonly kind: string;
  /** The `hcloud_server`'s id. */
  readonly serverId: string | number;
  /** Hetzner location (`fsn1`, …). */
  readonly location: string;
  /** Hetzner server type (`cx23`, …). */
  readonly serverType: string;
  /** The server's IPv6 /64. @default - none (IPv4 only) */
  readonly ipv6Network?: string;
  /** Fixed private IPs of attached networks. @default [] */
  readonly privateIps?: string[];
}

/** Props of NixosInstall: the host, how to reach it, the passphrase source, the installer. */
export interface NixosInstallProps {
  /**
   * Address or DNS name of the host (may be a token, e.g. a server's IPv4). IPv6
   * literals without brackets; never a port (that is `port`).
   */
  readonly host: string;
  /** SSH port of the base system, the installer and the installed system. @default 22 */
  readonly port?: number;
  /** SSH port of the installed system's initrd, used to unlock the pool. @default 2222 */
  readonly unlockPort?: number;
  /** SSH user; must be root on the base system. @default "root" */
  readonly user?: string;
  /**
   * The base system's ed25519 host key (`ssh-ed25519 AAAA…`), pinned for the first
   * contact: a `.pub` file's content will do (its comment and newline are dropped).
   * Required unless `trustOnFirstUse` is set.
   * @default - none
   */
  readonly hostKey?: string;
  /**
   * Accept whatever key the base system offers at the first contact (and print its
   * fingerprint). Every later connection is pinned either way.
   * @default false
   */
  readonly trustOnFirstUse?: boolean;
  /** How the deploy machine authenticates. @default SshIdentity.agent() */
  readonly identity?: SshIdentity;
  /**
   * Public keys allowed to log in as root to the installer, the initrd and the installed
   * system. A list token (e.g. a variable) is checked at apply by a precondition.
   */
  readonly authorizedKeys: string[];
  /** Where the disk passphrase is read at apply time. */
  readonly passphrase: PassphraseSource;
  /** Host name of the installed system (one DNS label). */
  readonly hostName: string;
  /**
   * Disks to install onto (stable paths such as /dev/disk/by-id/…); two or more make a
   * mirror. A list token is checked at apply by a precondition.
   * @default - the disk that holds the base system's root filesystem
   */
  readonly disks?: string[];
  /**
   * `base-system`: only the disk(s) holding the base system's running root filesystem
   * are replaced, and on them only what the running system uses (the stack under `/`,
   * `/boot`, the ESP, swap); any other signature on a named disk (a filesystem, LUKS, an
   * LVM or md member, a ZFS pool, a partition of unknown purpose), seen through every
   * layer of md, LVM and LUKS, or the partitions of an earlier install stop the chain in
   * the probe, before kexec (and again in the installer).
   * `everything`: wipe whatever the disks hold (stacked storage is taken down first).
   * @default "base-system"
   */
  readonly wipe?: string;
  /** Name of the ZFS pool. @default "rpool" */
  readonly pool?: string;
  /** The NixOS installer to kexec into. */
  readonly bundle: KexecBundle;
  /**
   * What is installed: the packaged host template, or your flake directory
   * (`HostConfiguration.fromFlake`), whose content hash is then part of the install's
   * identity (a change shows in `terraform plan`).
   * @default HostConfiguration.template()
   */
  readonly configuration?: HostConfiguration;
  /**
   * Where the system is built. `target`: the installer evaluates and builds your flake
   * (the deploy machine needs no Nix). `deployer`: this machine's Nix builds the toplevel
   * (`nix build` with the flake's own flake.lock, which must be complete), `nix copy`
   * sends its closure over the installer's pinned SSH connection straight into the new
   * pool, and the installer runs `nixos-install --system`: the installer's RAM is spared
   * the evaluation of nixpkgs. Needs `HostConfiguration.fromFlake` and Nix on the deploy
   * machine (`nix`, or the executable `CDKTF_NIXOS_INSTALLER_NIX` names). Not part of
   * the install's identity: changing it later reinstalls nothing.
   * @default "target"
   */
  readonly buildOn?: string;
  /** Seconds per phase. @default DEFAULT_TIMEOUTS */
  readonly timeouts?: PhaseTimeouts;
  /**
   * Directory for hosts/NAME/ (runtime-info.json, public host keys, the chain's pins),
   * relative to where `cdktf synth` runs. Kept outside cdktf.out so a new synth keeps it.
   * @default "hosts"
   */
  readonly hostsDir?: string;
  /** What Terraform knows about the machine. @default - a generic host */
  readonly hoster?: HcloudHosterInfo;
  /**
   * `terraform_data` (Terraform ≥ 1.4, OpenTofu ≥ 1.6, no provider download) or
   * `null_resource` (Terraform < 1.4; `terraform init` fetches hashicorp/null).
   * @default "terraform_data"
   */
  readonly resourceType?: string;
}

/**
 * Takes a Linux host that root can reach over SSH to an installed, unlocked and
 * verified NixOS on natively encrypted ZFS: probe → kexec → install → unlock → verify,
 * one Terraform resource per phase, each a local-exec of one deploy script.
 */
export class NixosInstall extends Construct {
  /** The phase resources. */
  public readonly phases: InstallPhaseResources;
  /**
   * The last phase: depend on it for anything that needs the installed system
   * (`dependsOn: [install.verified]` on a resource; for a `TerraformOutput`, see the README).
   */
  public readonly verified: PhaseResource;
  /**
   * hosts/NAME/ of this host, relative to the directory where `cdktf synth` runs
   * (absolute when `hostsDir` is): runtime-info.json, the public host keys, the pins.
   */
  public readonly hostRecordDir: string;
  /** The address the chain connects to (`host`). */
  public readonly address: string;
  /**
   * `SHA256:…` fingerprint of the pinned base system key, as `ssh-keygen -l` prints it.
   * @default - undefined when `hostKey` is a token or `trustOnFirstUse` is set
   */
  public readonly baseHostKeyFingerprint?: string;
  /** hosts/NAME/ relative to the stack's directory, where Terraform reads it. */
  private readonly recordDirFromStack: string;
  private installedHostKeyToken?: string;

  constructor(scope: Construct, id: string, props: NixosInstallProps) {
    super(scope, id);
    // Tokens made here carry V8-formatted creation stacks, cheap under ts-node too (lib/stack-trace-formatting.ts).
    const restoreStackFormatting = useV8StackFormatting();
    try {
      // Every check runs at synth (node.addValidation), so a fleet's problems are listed
      // together under their construct paths; until then nothing here may throw on bad input.
      const hostKey = props.hostKey === undefined ? undefined : Token.isUnresolved(props.hostKey) ? Fn.trimspace(props.hostKey) : normalizeKeyLine(props.hostKey);
      const checks = new PropChecks(this, (errors) => validate(errors, props, hostKey, this));

      const stackDir = stackOutdir(this);
      const fromStack = (p: string) => (path.isAbsolute(p) ? p : path.relative(stackDir, path.resolve(p)).split(path.sep).join("/"));

      const { deploy, target, template } = sharedAssets(TerraformStack.of(this));
      const configuration = props.configuration instanceof HostConfiguration ? props.configuration : HostConfiguration.template();
      // undefined for the template, and for a flake directory the checks refuse
      const flake = configuration._bind(TerraformStack.of(this), App.of(this).outdir);

      const hostName = String(props.hostName);
      const hostsDir = fromStack(props.hostsDir ?? "hosts");
      const recordDir = `${hostsDir}/${hostName}`;
      this.recordDirFromStack = recordDir;
      this.hostRecordDir = asGiven(path.join(props.hostsDir ?? "hosts", hostName));
      claimRecord(this, hostName, props.hostsDir ?? "hosts");
      this.address = props.host;
      this.baseHostKeyFingerprint = hostKey !== undefined && !Token.isUnresolved(hostKey) && isEd25519PublicKey(hostKey) ? fingerprintOf(hostKey) : undefined;
      const timeouts = { ...DEFAULT_TIMEOUTS, ...(props.timeouts ?? {}) };
      const bundle: Partial<KexecBundle> = props.bundle ?? {};
      const authorizedKeys = props.authorizedKeys ?? [];
      const disks = props.disks ?? [];
      const disksWord = Token.isUnresolved(disks) ? Fn.join(" ", disks) : disks.join(" ");

      const env: Record<string, string> = {
        NI_HOST: String(props.host),
        NI_PORT: String(props.port ?? 22),
        NI_UNLOCK_PORT: String(props.unlockPort ?? 2222),
        NI_USER: props.user ?? "root",
        NI_HOST_NAME: hostName,
        NI_HOSTS_DIR: hostsDir,
        NI_IDENTITY_FILE: props.identity?.keyPath ? fromStack(props.identity.keyPath) : "",
        NI_FIRST_HOST_KEY: hostKey ?? "",
        NI_TRUST_ON_FIRST_USE: String(props.trustOnFirstUse ?? false),
        NI_TARGET_SCRIPTS: target.path,
        NI_TEMPLATE: template.path,
        NI_SYSTEM: String(bundle.system),
        NI_DISKS: disksWord,
        NI_WIPE: props.wipe ?? "base-system",
        NI_POOL: props.pool ?? "rpool",
        NI_BUILD_ON: props.buildOn ?? "target",
        // One variable a key: cdktf's HCL output cannot carry a newline inside a string.
        ...(Token.isUnresolved(authorizedKeys) ? {} : Object.fromEntries(authorizedKeys.map((key, i) => [`NI_AUTHORIZED_KEY_${i}`, String(key).trim()]))),
        NI_PASSPHRASE_KIND: String(props.passphrase?.kind),
        NI_PASSPHRASE_REF: props.passphrase?.kind === "file" ? fromStack(props.passphrase.ref) : String(props.passphrase?.ref),
        NI_BUNDLE_KIND: String(bundle.kind),
        NI_BUNDLE_PATH: bundle.dir ? fromStack(bundle.dir) : "",
        NI_BUNDLE_URL: bundle.url ?? "",
        NI_BUNDLE_SHA256: bundle.sha256 ?? "",
        NI_BUNDLE_FLAKE: bundle.flake ?? "",
        NI_HOSTER_ARGS: hosterArgs(props),
        // The user's flake, when one is installed instead of the template.
        ...(flake
          ? {
              NI_FLAKE: flake.asset.path,
              NI_FLAKE_ATTRIBUTE: configuration.attribute ?? hostName,
              NI_RUNTIME_INFO_PATH: String(configuration._runtimeInfoPathFor(hostName)),
              // Recorded in install.json; the probe names a later change (phase-probe.sh).
              NI_CONFIGURATION: `sha256:${flake.hash}`,
            }
          : {}),
      };

      // What identifies one install. A change to any of these replaces the probe phase,
      // and through `after` every later one; each then finds the host's state by its
      // host key and skips what is already done, so a replacement wipes nothing; on an
      // installed host the probe refuses a changed disks, pool, wipe or system
      // (hosts/NAME/install.json), which only a reinstall could apply.
      const identity: Record<string, string> = {
        host: env.NI_HOST,
        port: env.NI_PORT,
        unlock_port: env.NI_UNLOCK_PORT,
        host_name: hostName,
        host_dir: recordDir,
        first_host_key: env.NI_FIRST_HOST_KEY,
        disks: env.NI_DISKS,
        pool: env.NI_POOL,
        // Read by the install only; here so that a change after it shows in the plan and
        // the probe refuses it (phase-probe.sh), as for disks, pool and system.
        wipe: env.NI_WIPE,
        system: env.NI_SYSTEM,
        // Only a user's flake has a say here: the template's identity stays as before.
        ...(flake ? { configuration: `sha256:${flake.hash}` } : {}),
      };

      const resourceType = props.resourceType ?? "terraform_data";
      const phases = {} as Record<Phase, PhaseResource>;
      let previous: PhaseResource | undefined;
      for (const phase of PHASES) {
        // Ordering through a reference to the previous phase's id (not depends_on, which
        // cdktf writes as quoted references that Terraform warns about).
        const triggers: Record<string, string> = previous ? { phase, after: previous.id } : { ...identity, phase };
        phases[phase] = resourceType === "null_resource" ? new NullResourcePhase(this, phase, triggers) : new TerraformDataPhase(this, phase, triggers);
        previous = phases[phase];
      }
      checks.guard(phases.probe);
      // Lists that are tokens are only known at apply: checked there, before the first phase.
      const preconditions = listPreconditions(authorizedKeys, disks);
      if (preconditions.length > 0) {
        phases.probe.lifecycle = { precondition: preconditions };
        writeConditionsAsBlocksInHcl(phases.probe);
      }
      // The settings are written once a host (a local), not once a phase: a fleet's
      // configuration stays small.
      env.NI_RESOURCES = PHASES.map((p) => `${p}=${phases[p].address}`).join(" ");
      settingsOfInstall.set(this, { env, authorizedKeys, recordDirFromStack: recordDir, configuration });
      const settings = deploySettings(this, env, authorizedKeys);
      const self = resourceType === "null_resource" ? "self.triggers" : "self.triggers_replace";
      // One reference for the five phases: each attribute getter makes a new token.
      const environment = settings.asStringMap;
      for (const phase of PHASES) {
        const provisioners: LocalExecProvisioner[] = [
          {
            type: "local-exec",
            command: `NI_TIMEOUT=${timeouts[phase]} bash ${deploy.path}/phase-${phase}.sh`,
            environment,
          },
        ];
        if (phase === "probe") {
          provisioners.push({ type: "local-exec", when: "destroy", command: releaseRecordsCommand(deploy.path, self) });
          writeWhenAsKeywordInHcl(phases[phase]);
        }
        phases[phase].provisioners = provisioners;
      }
      this.phases = phases;
      this.verified = phases.verify;
    } finally {
      restoreStackFormatting();
    }
  }

  /**
   * The installed system's host key (`ssh-ed25519 AAAA…`), read from hosts/NAME/ once the
   * verify phase wrote it: known after apply, "" before. A `TerraformOutput` of it
   * appears only after the host is verified.
   */
  public get installedHostKey(): string {
    // Made on first use: six tokens that most installs of a fleet never read.
    // A reference to the verify phase orders the read after it; try() gives "" until the
    // file exists (Terraform reads it again at every plan and apply).
    // (The literal goes left: cdktf drops a falsy right operand.)
    this.installedHostKeyToken ??= Token.asString(
      Fn.conditional(Op.eq("", this.verified.id), "", Fn.try([Fn.trimspace(Fn.file(`${this.recordDirFromStack}/ssh_host_ed25519_key.pub`)), ""])),
    );
    return this.installedHostKeyToken;
  }

  /** The Terraform address of each phase (`terraform_data.…`), for `-replace=` and `-target=`. */
  public get phaseAddresses(): InstallPhaseAddresses {
    const p = this.phases;
    return { probe: p.probe.address, kexec: p.kexec.address, install: p.install.address, unlock: p.unlock.address, verify: p.verify.address };
  }
}

/**
 * The probe's destroy-time step. Terraform runs it at `terraform destroy` and at every
 * replacement of the chain (a changed identity prop, `-replace=<probe>`) alike, so it
 * deletes nothing: it archives the chain's own records in hosts/NAME/archive/, and the
 * next probe takes them back when the host still answers with a pinned key
 * (lib/scripts/release-records.sh). A destroy provisioner may refer to `self` only.
 */
function releaseRecordsCommand(deployDir: string, self: string): string {
  return `bash ${deployDir}/release-records.sh '\${${self}.host_dir}' '\${${self}.host_name}'`;
}

/**
 * cdktf's HCL output writes `when = "destroy"`, a quoted keyword that Terraform warns
 * about; mark the value so the HCL renderer writes it bare. The JSON form is untouched.
 */
function writeWhenAsKeywordInHcl(resource: TerraformResource): void {
  const toHcl = resource.toHclTerraform.bind(resource);
  resource.toHclTerraform = () => {
    const out = toHcl();
    const blocks = out.resource?.[resource.terraformResourceType]?.[resource.friendlyUniqueId]?.provisioner ?? [];
    for (const block of blocks) {
      const attrs = block["local-exec"]?.value;
      if (attrs?.when === "destroy") attrs.when = { value: "destroy", type: "simple", storageClassType: "number" };
    }
    return out;
  };
}

/**
 * @internal The settings of a deploy script as one local: `env`, and one variable a key
 * (NI_AUTHORIZED_KEY_0, _1, …: cdktf's HCL output cannot carry a newline inside a
 * string), made by a for-expression when the key list is a token.
 */
export function deploySettings(scope: Construct, env: Record<string, string>, authorizedKeys: string[]): TerraformLocal {
  return new TerraformLocal(
    scope,
    "settings",
    Token.isUnresolved(authorizedKeys)
      ? Fn.merge([env, forExpression(listExpression(authorizedKeys), Fn.trimspace(FOR_EXPRESSION_VALUE as never), Fn.format("NI_AUTHORIZED_KEY_%d", [FOR_EXPRESSION_KEY]))])
      : env,
  );
}

/** What a NixosRebuild of an installed host takes from its install (lib/nixos-rebuild.ts). */
export interface InstallSettings {
  /** The deploy scripts' settings (NI_*), as the phases get them. */
  readonly env: Readonly<Record<string, string>>;
  /** The install's `authorizedKeys` (a list token stays one). */
  readonly authorizedKeys: string[];
  /** hosts/NAME/ relative to the stack's directory. */
  readonly recordDirFromStack: string;
  /** What the install installed (a rebuild builds it again by default). */
  readonly configuration: HostConfiguration;
}
const settingsOfInstall = new WeakMap<NixosInstall, InstallSettings>();
/** @internal The settings of an install, for the constructs that act on the host it installed. */
export function installSettingsOf(install: NixosInstall): InstallSettings | undefined {
  return settingsOfInstall.get(install);
}

/** The scripts and the host template, copied once a stack however many hosts it installs. */
const assetsOfStack = new WeakMap<TerraformStack, { deploy: TerraformAsset; target: TerraformAsset; template: TerraformAsset }>();
export function sharedAssets(stack: TerraformStack): { deploy: TerraformAsset; target: TerraformAsset; template: TerraformAsset } {
  let assets = assetsOfStack.get(stack);
  if (!assets) {
    assets = {
      deploy: new TerraformAsset(stack, "nixos-install-deploy-scripts", { path: packageFiles.deployScripts(), type: AssetType.DIRECTORY }),
      target: new TerraformAsset(stack, "nixos-install-target-scripts", { path: packageFiles.targetScripts(), type: AssetType.DIRECTORY }),
      template: new TerraformAsset(stack, "nixos-install-host-template", { path: packageFiles.hostTemplate(), type: AssetType.DIRECTORY }),
    };
    assetsOfStack.set(stack, assets);
  }
  return assets;
}

function hosterArgs(props: NixosInstallProps): string {
  const h = props.hoster;
  if (!h) return "--hoster generic";
  const words = ["--hoster hcloud", `--hcloud-server-id ${h.serverId}`, `--hcloud-location ${h.location}`, `--hcloud-server-type ${h.serverType}`];
  if (h.ipv6Network) words.push(`--hcloud-ipv6-network ${h.ipv6Network}`);
  if (Token.isUnresolved(h.privateIps)) words.push(`--private-ip ${Fn.join(" --private-ip ", h.privateIps as string[])}`);
  else for (const ip of h.privateIps ?? []) words.push(`--private-ip ${ip}`);
  return words.join(" ");
}

/** @internal The directory of the synthesized stack, where Terraform runs the deploy scripts. */
export function stackOutdir(scope: Construct): string {
  const stack = TerraformStack.of(scope);
  const app = App.of(scope);
  return path.resolve(app.outdir, "stacks", stack.node.id);
}

/** A path as the user wrote it, normalized, with '/' separators. */
function asGiven(p: string): string {
  return path.normalize(p).split(path.sep).join("/");
}

/** OpenSSH's `SHA256:…` fingerprint of a public key line (`type base64`). */
function fingerprintOf(key: string): string {
  const blob = Buffer.from(key.split(" ")[1], "base64");
  return `SHA256:${createHash("sha256").update(blob).digest("base64").replace(/=+$/, "")}`;
}

/**
 * Which install first claimed a host name in a stack, and a record directory in an app:
 * a second one would write the same hosts/NAME/ and overwrite the first one's pins.
 */
const recordOwners = new WeakMap<IConstruct, Map<string, NixosInstall>>();
const claimsOf = new WeakMap<NixosInstall, string[]>();
function claimRecord(install: NixosInstall, hostName: string, hostsDir: string): void {
  if (Token.isUnresolved(hostName)) return;
  let owners = recordOwners.get(install.node.root);
  if (!owners) recordOwners.set(install.node.root, (owners = new Map()));
  const claims = [`stack ${TerraformStack.of(install).node.path} name ${hostName}`, `dir ${path.resolve(hostsDir, hostName)}`];
  for (const claim of claims) if (!owners.has(claim)) owners.set(claim, install);
  claimsOf.set(install, claims);
}
function otherOwnerOf(install: NixosInstall): NixosInstall | undefined {
  const owners = recordOwners.get(install.node.root);
  return (claimsOf.get(install) ?? []).map((claim) => owners?.get(claim)).find((owner) => owner !== undefined && owner !== install);
}

/**
 * An OpenSSH public key line, coarsely (type, base64 of a key blob, optional comment):
 * what the apply-time precondition checks of a key list that is a token. The synth-time
 * rule is isPublicKey; a test proves the two agree on real keys of every type and on junk.
 */
export const PUBLIC_KEY_LINE_PATTERN = "^[a-z0-9@.-]+ AAAA[A-Za-z0-9+/]+=*( .*)?$";

/** Terraform preconditions for list props given as tokens (known only at apply). */
function listPreconditions(authorizedKeys: string[], disks: string[]): Precondition[] {
  const out: Precondition[] = [];
  const all = (list: string[], pattern: string) =>
    Fn.alltrue(forExpression(listExpression(list), Fn.can(Fn.regex(pattern, Fn.trimspace(FOR_EXPRESSION_VALUE as never)))) as never);
  if (Token.isUnresolved(authorizedKeys)) {
    out.push({
      condition: Op.and(Op.lt(0, Fn.lengthOf(listExpression(authorizedKeys))), all(authorizedKeys, PUBLIC_KEY_LINE_PATTERN)),
      errorMessage: `\`authorizedKeys\` must hold at least one OpenSSH public key line (type base64 [comment]), got: \`${Fn.jsonencode(listExpression(authorizedKeys))}\``,
    });
  }
  if (Token.isUnresolved(disks)) {
    out.push({
      condition: Op.and(Op.lt(0, Fn.lengthOf(listExpression(disks))), all(disks, DISK_PATH_PATTERN)),
      errorMessage: `\`disks\` must hold at least one disk, each ${DISK_PATH_RULE.replace(/^be /, "")}, got: \`${Fn.jsonencode(listExpression(disks))}\``,
    });
  }
  return out;
}

/** The user's strings that reach the Terraform configuration, by prop (for TERRAFORM_TEXT_RULE). */
function textsOf(props: NixosInstallProps, hostKey: string | undefined): [string, unknown][] {
  const bundle: Partial<KexecBundle> = props.bundle ?? {};
  const h: Partial<HcloudHosterInfo> = props.hoster ?? {};
  return [
    ["host", props.host],
    ["user", props.user],
    ["hostKey", hostKey],
    ...(Token.isUnresolved(props.authorizedKeys) ? [] : (props.authorizedKeys ?? []).map((k, i) => [`authorizedKeys[${i}]`, String(k).trim()] as [string, unknown])),
    ["hostName", props.hostName],
    ...(Token.isUnresolved(props.disks) ? [] : (props.disks ?? []).map((d, i) => [`disks[${i}]`, d] as [string, unknown])),
    ["wipe", props.wipe],
    ["pool", props.pool],
    ["hostsDir", props.hostsDir],
    ["resourceType", props.resourceType],
    ["identity.keyFile", props.identity?.keyPath],
    ["passphrase", props.passphrase?.ref],
    ["bundle.system", bundle.system],
    ["bundle.flake", bundle.flake],
    ["bundle.dir", bundle.dir],
    ["bundle.url", bundle.url],
    ["bundle.sha256", bundle.sha256],
    ["hoster.serverId", h.serverId],
    ["hoster.location", h.location],
    ["hoster.serverType", h.serverType],
    ["hoster.ipv6Network", h.ipv6Network],
    ...(Array.isArray(h.privateIps) ? h.privateIps : []).map((ip, i) => [`hoster.privateIps[${i}]`, ip] as [string, unknown]),
  ];
}

function validate(e: PropErrors, props: NixosInstallProps, hostKey: string | undefined, self: NixosInstall): void {
  e.check(typeof props.host === "string" && isHostAddress(props.host), "host", HOST_RULE, props.host);
  const port = props.port ?? 22;
  const unlockPort = props.unlockPort ?? 2222;
  e.check(isPort(port), "port", "be an integer from 1 to 65535", props.port);
  e.check(isPort(unlockPort), "unlockPort", "be an integer from 1 to 65535", props.unlockPort);
  e.check(port !== unlockPort || isToken(port), "unlockPort", `differ from \`port\` (${port}): the initrd has its own SSH server and host key`, props.unlockPort);
  e.check(isUserName(props.user ?? "root"), "user", USER_RULE, props.user);
  if (Token.isUnresolved(props.hostName)) {
    e.fail("hostName", "be known at synth (it names hosts/NAME/ and the installed system)", props.hostName);
  } else {
    e.check(typeof props.hostName === "string" && isHostName(props.hostName), "hostName", HOSTNAME_RULE, props.hostName);
    const other = otherOwnerOf(self);
    if (other) {
      e.fail(
        "hostName",
        `be unique in its stack and among installs that share \`hostsDir\`: ${other.node.path} installs it too (both would write ${self.hostRecordDir}/ and overwrite each other's pins)`,
        props.hostName,
      );
    }
  }
  if (hostKey !== undefined) {
    e.check(isEd25519PublicKey(hostKey), "hostKey", "be an ed25519 public key line (ssh-ed25519 AAAA…)", props.hostKey);
    e.check(!props.trustOnFirstUse, "trustOnFirstUse", "be unset when `hostKey` is given (the key is pinned already)", props.trustOnFirstUse);
  } else {
    e.check(
      props.trustOnFirstUse === true,
      "hostKey",
      "be given, or `trustOnFirstUse: true` set to accept the key the host offers at first contact",
      props.hostKey,
    );
  }
  if (!Token.isUnresolved(props.authorizedKeys) && !isCheckedByParent(props.authorizedKeys)) {
    e.check(Array.isArray(props.authorizedKeys) && props.authorizedKeys.length > 0, "authorizedKeys", "hold at least one public key (root's keys on the installer, the initrd and the installed system)", props.authorizedKeys);
    (props.authorizedKeys ?? []).forEach((k, i) =>
      e.check(isRootKeyLine(k), `authorizedKeys[${i}]`, ROOT_KEY_RULE, k),
    );
  }
  if (!(props.passphrase instanceof PassphraseSource)) {
    e.fail("passphrase", "be a PassphraseSource (fromEnv, fromFile or fromCommand; a literal is never accepted)", props.passphrase);
  } else {
    props.passphrase._validate(e, "passphrase");
  }
  if (props.configuration !== undefined && !(props.configuration instanceof HostConfiguration)) {
    e.fail("configuration", "be a HostConfiguration (template() or fromFlake({ dir }))", props.configuration);
  } else {
    props.configuration?._validate(e, "configuration", App.of(self).outdir);
  }
  checkBuildOn(e, props.buildOn, props.configuration);
  if (!(props.bundle instanceof KexecBundle)) {
    e.fail("bundle", "be a KexecBundle (fromFlake, fromPath or fromUrl)", props.bundle);
  } else {
    props.bundle._validate(e, "bundle");
  }
  if (!Token.isUnresolved(props.disks)) {
    (props.disks ?? []).forEach((d, i) => e.check(new RegExp(DISK_PATH_PATTERN).test(d), `disks[${i}]`, DISK_PATH_RULE, d));
    e.check(props.disks === undefined || props.disks.length > 0, "disks", "hold at least one disk, or be left out to use the root disk", props.disks);
    e.check(new Set(props.disks ?? []).size === (props.disks ?? []).length, "disks", "not name a disk twice", props.disks);
  }
  e.check(WIPE_POLICIES.includes(props.wipe ?? "base-system"), "wipe", 'be "base-system" or "everything"', props.wipe);
  e.check(isPoolName(props.pool ?? "rpool"), "pool", POOL_RULE, props.pool);
  for (const [phase, seconds] of Object.entries(props.timeouts ?? {})) {
    e.check((PHASES as readonly string[]).includes(phase), `timeouts.${phase}`, `be one of ${PHASES.join(", ")}`, phase);
    e.check(Number.isInteger(seconds) && seconds > 0 && seconds <= 86400, `timeouts.${phase}`, "be a whole number of seconds from 1 to 86400", seconds);
  }
  e.check(isHostsDir(props.hostsDir ?? "hosts"), "hostsDir", HOSTS_DIR_RULE, props.hostsDir);
  e.check(PHASE_RESOURCE_TYPES.includes(props.resourceType ?? "terraform_data"), "resourceType", 'be "terraform_data" or "null_resource"', props.resourceType);
  if (props.identity?.keyPath !== undefined) {
    e.check(isKeyFilePath(props.identity.keyPath), "identity.keyFile", KEY_FILE_RULE, props.identity.keyPath);
  }
  const h = props.hoster;
  if (h && !isCheckedByParent(h)) {
    e.check(h.kind === "hcloud", "hoster.kind", 'be "hcloud"', h.kind);
    e.check(/^[a-z]{3}[0-9]*$/.test(h.location), "hoster.location", "be a Hetzner location name (fsn1, nbg1, hel1, ash, hil, sin)", h.location);
    e.check(/^[a-z0-9-]+$/.test(h.serverType), "hoster.serverType", "be a server type name (cx23, cax11, …)", h.serverType);
    e.check(isToken(h.serverId) || /^[1-9][0-9]*$/.test(String(h.serverId)), "hoster.serverId", "be a positive integer", h.serverId);
    if (h.ipv6Network !== undefined) e.check(/^[0-9a-f:]+\/[0-9]{1,3}$/.test(h.ipv6Network), "hoster.ipv6Network", "be an IPv6 network in CIDR form", h.ipv6Network);
    (Array.isArray(h.privateIps) ? h.privateIps : []).forEach((ip, i) => e.check(/^[0-9.]+$|^[0-9a-f:]+$/.test(ip), `hoster.privateIps[${i}]`, "be an IP address", ip));
  }
  // Last, and only for props no rule above refused: what reaches Terraform as a literal.
  for (const [prop, value] of textsOf(props, hostKey).filter(([p]) => !(p.startsWith("hoster.") && isCheckedByParent(h)) && !(p.startsWith("authorizedKeys") && isCheckedByParent(props.authorizedKeys)))) {
    if (typeof value === "string" && !e.hasFailed(prop) && !isTerraformSafeText(value)) e.fail(prop, TERRAFORM_TEXT_RULE, value);
  }
}

/** What `buildOn` takes. */
const BUILD_PLACES = ["target", "deployer"];

/** @internal The `buildOn` rule of NixosInstall and NixosRebuild. */
export function checkBuildOn(e: PropErrors, buildOn: string | undefined, configuration: HostConfiguration | undefined): void {
  if (buildOn === undefined) return;
  if (!BUILD_PLACES.includes(buildOn)) {
    e.fail("buildOn", 'be "target" or "deployer"', buildOn);
  } else if (buildOn === "deployer" && !(configuration instanceof HostConfiguration && configuration.kind === "flake")) {
    e.fail(
      "buildOn",
      'be "target" unless `configuration` is HostConfiguration.fromFlake({ dir }): "deployer" builds your flake, pinned by its own flake.lock (the template is pinned to the installer\'s sources, which the deploy machine does not have)',
      buildOn,
    );
  }
}
