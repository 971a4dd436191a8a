import * as path from "path";
import { Resource as NullResource } from "@cdktf/provider-null/lib/resource";
import { App, AssetType, LocalExecProvisioner, TerraformAsset, TerraformLocal, TerraformResource, TerraformStack, Token } from "cdktf";
import { Construct } from "constructs";
import { KexecBundle } from "./kexec-bundle";
import { packageFiles } from "./package-files";
import { PassphraseSource } from "./passphrase-source";
import { SshIdentity } from "./ssh-identity";
import { TerraformDataPhase } from "./terraform-data-phase";
import { HOSTNAME_RULE, PropErrors, isEd25519PublicKey, isHostName, isPort, isPublicKey, isToken } from "./validation";

/** The phases of the install chain, in order. */
export const PHASES = ["probe", "kexec", "install", "unlock", "verify"] as const;
export type Phase = (typeof PHASES)[number];

/** What may be wiped on the target disks. */
export type WipePolicy = "base-system" | "everything";

/** Seconds each phase may take before it stops with a message. */
export interface PhaseTimeouts {
  /** @default 300 */
  readonly probe?: number;
  /** Bundle delivery and the wait for the installer. @default 1200 */
  readonly kexec?: number;
  /** Disk layout and nixos-install. @default 3600 */
  readonly install?: number;
  /** @default 600 */
  readonly unlock?: number;
  /** @default 300 */
  readonly verify?: number;
}

export const DEFAULT_TIMEOUTS: Required<PhaseTimeouts> = { probe: 300, kexec: 1200, install: 3600, unlock: 600, verify: 300 };

/** What Terraform knows about the machine, merged into runtime-info. */
export interface HcloudHosterInfo {
  readonly kind: "hcloud";
  readonly serverId: string | number;
  readonly location: string;
  readonly serverType: string;
  /** The server's IPv6 /64. @default - none (IPv4 only) */
  readonly ipv6Network?: string;
  /** Fixed private IPs of attached networks. @default [] */
  readonly privateIps?: string[];
}

export interface NixosInstallProps {
  /** Address or DNS name of the host (may be a token, e.g. a server's IPv4). */
  readonly host: string;
  /** SSH port of the base system, the installer and the installed system. @default 22 */
  readonly port?: number;
  /** SSH port of the installed system's initrd, used to unlock the pool. @default 2222 */
  readonly unlockPort?: number;
  /** SSH user; must be root on the base system. @default "root" */
  readonly user?: string;
  /**
   * The base system's ed25519 host key (`ssh-ed25519 AAAA…`), pinned for the first
   * contact. Required unless `trustOnFirstUse` is set.
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
  /** Public keys allowed to log in as root to the installer, the initrd and the installed system. */
  readonly authorizedKeys: string[];
  /** Where the disk passphrase is read at apply time. */
  readonly passphrase: PassphraseSource;
  /** Host name of the installed system (one DNS label). */
  readonly hostName: string;
  /**
   * Disks to install onto (stable paths such as /dev/disk/by-id/…); two or more make a mirror.
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
  readonly wipe?: WipePolicy;
  /** Name of the ZFS pool. @default "rpool" */
  readonly pool?: string;
  /** The NixOS installer to kexec into. */
  readonly bundle: KexecBundle;
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
   * `null_resource` (@cdktf/provider-null; the stack must configure the null provider).
   * @default "terraform_data"
   */
  readonly resourceType?: "terraform_data" | "null_resource";
}

/**
 * Takes a Linux host that root can reach over SSH to an installed, unlocked and
 * verified NixOS on natively encrypted ZFS: probe → kexec → install → unlock → verify,
 * one Terraform resource per phase, each a local-exec of one deploy script.
 */
export class NixosInstall extends Construct {
  /** The phase resources, in order. */
  public readonly phases: Record<Phase, TerraformResource>;
  /** The last phase: depend on it for anything that needs the installed system. */
  public readonly verified: TerraformResource;
  /** hosts/NAME/ as written into the configuration (relative to the stack directory). */
  public readonly hostRecordDir: string;

  constructor(scope: Construct, id: string, props: NixosInstallProps) {
    super(scope, id);
    validate(props);

    const stackDir = stackOutdir(this);
    const fromStack = (p: string) => (path.isAbsolute(p) ? p : path.relative(stackDir, path.resolve(p)).split(path.sep).join("/"));

    const { deploy, target, template } = sharedAssets(TerraformStack.of(this));

    const hostsDir = fromStack(props.hostsDir ?? "hosts");
    this.hostRecordDir = `${hostsDir}/${props.hostName}`;
    const timeouts = { ...DEFAULT_TIMEOUTS, ...(props.timeouts ?? {}) };
    const bundle = props.bundle;

    const env: Record<string, string> = {
      NI_HOST: props.host,
      NI_PORT: String(props.port ?? 22),
      NI_UNLOCK_PORT: String(props.unlockPort ?? 2222),
      NI_USER: props.user ?? "root",
      NI_HOST_NAME: props.hostName,
      NI_HOSTS_DIR: hostsDir,
      NI_IDENTITY_FILE: props.identity?.keyFile ? fromStack(props.identity.keyFile) : "",
      NI_FIRST_HOST_KEY: props.hostKey ?? "",
      NI_TRUST_ON_FIRST_USE: String(props.trustOnFirstUse ?? false),
      NI_TARGET_SCRIPTS: target.path,
      NI_TEMPLATE: template.path,
      NI_SYSTEM: bundle.system,
      NI_DISKS: (props.disks ?? []).join(" "),
      NI_WIPE: props.wipe ?? "base-system",
      NI_POOL: props.pool ?? "rpool",
      // One variable a key: cdktf's HCL output cannot carry a newline inside a string.
      ...Object.fromEntries(props.authorizedKeys.map((key, i) => [`NI_AUTHORIZED_KEY_${i}`, key.trim()])),
      NI_PASSPHRASE_KIND: props.passphrase.kind,
      NI_PASSPHRASE_REF: props.passphrase.kind === "file" ? fromStack(props.passphrase.ref) : props.passphrase.ref,
      NI_BUNDLE_KIND: bundle.kind,
      NI_BUNDLE_PATH: bundle.dir ? fromStack(bundle.dir) : "",
      NI_BUNDLE_URL: bundle.url ?? "",
      NI_BUNDLE_SHA256: bundle.sha256 ?? "",
      NI_BUNDLE_FLAKE: bundle.flake ?? "",
      NI_HOSTER_ARGS: hosterArgs(props),
    };

    // What identifies one install. A change to any of these replaces the probe phase,
    // and through `after` every later one; each then finds the host's state by its
    // host key and skips what is already done, so a replacement wipes nothing.
    const identity: Record<string, string> = {
      host: props.host,
      port: env.NI_PORT,
      unlock_port: env.NI_UNLOCK_PORT,
      host_name: props.hostName,
      host_dir: this.hostRecordDir,
      first_host_key: env.NI_FIRST_HOST_KEY,
      disks: env.NI_DISKS,
      pool: env.NI_POOL,
      system: bundle.system,
    };

    const resourceType = props.resourceType ?? "terraform_data";
    const phases = {} as Record<Phase, TerraformResource>;
    let previous: TerraformResource | undefined;
    for (const phase of PHASES) {
      // Ordering through a reference to the previous phase's id (not depends_on, which
      // cdktf writes as quoted references that Terraform warns about).
      const triggers: Record<string, string> = previous ? { phase, after: idOf(previous) } : { ...identity, phase };
      phases[phase] = resourceType === "null_resource" ? new NullResource(this, phase, { triggers }) : new TerraformDataPhase(this, phase, triggers);
      previous = phases[phase];
    }
    // The settings are written once a host (a local), not once a phase: a fleet's
    // configuration stays small.
    env.NI_RESOURCES = PHASES.map((p) => `${p}=${phases[p].terraformResourceType}.${phases[p].friendlyUniqueId}`).join(" ");
    const settings = new TerraformLocal(this, "settings", env);
    const self = resourceType === "null_resource" ? "self.triggers" : "self.triggers_replace";
    for (const phase of PHASES) {
      const provisioners: LocalExecProvisioner[] = [
        {
          type: "local-exec",
          command: `NI_TIMEOUT=${timeouts[phase]} bash ${deploy.path}/phase-${phase}.sh`,
          environment: settings.asStringMap,
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

function idOf(resource: TerraformResource): string {
  return (resource as NullResource | TerraformDataPhase).id;
}

/** The scripts and the host template, copied once a stack however many hosts it installs. */
const assetsOfStack = new WeakMap<TerraformStack, { deploy: TerraformAsset; target: TerraformAsset; template: TerraformAsset }>();
function sharedAssets(stack: TerraformStack): { deploy: TerraformAsset; target: TerraformAsset; template: TerraformAsset } {
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
  for (const ip of h.privateIps ?? []) words.push(`--private-ip ${ip}`);
  return words.join(" ");
}

function stackOutdir(scope: Construct): string {
  const stack = TerraformStack.of(scope);
  const app = App.of(scope);
  return path.resolve(app.outdir, "stacks", stack.node.id);
}

function validate(props: NixosInstallProps): void {
  const e = new PropErrors("NixosInstall");
  e.check(typeof props.host === "string" && /^[A-Za-z0-9.:_-]+$/.test(props.host), "host", "be an IP address or DNS name", props.host);
  const port = props.port ?? 22;
  const unlockPort = props.unlockPort ?? 2222;
  e.check(isPort(port), "port", "be an integer from 1 to 65535", props.port);
  e.check(isPort(unlockPort), "unlockPort", "be an integer from 1 to 65535", props.unlockPort);
  e.check(port !== unlockPort || isToken(port), "unlockPort", `differ from \`port\` (${port}): the initrd has its own SSH server and host key`, props.unlockPort);
  e.check(/^[a-z_][a-z0-9_-]{0,31}$/.test(props.user ?? "root"), "user", "be a Unix user name", props.user);
  e.check(typeof props.hostName === "string" && isHostName(props.hostName), "hostName", HOSTNAME_RULE, props.hostName);
  if (props.hostKey !== undefined) {
    e.check(isEd25519PublicKey(props.hostKey), "hostKey", "be an ed25519 public key line (ssh-ed25519 AAAA…)", props.hostKey);
    e.check(!props.trustOnFirstUse, "trustOnFirstUse", "be unset when `hostKey` is given (the key is pinned already)", props.trustOnFirstUse);
  } else {
    e.check(
      props.trustOnFirstUse === true,
      "hostKey",
      "be given, or `trustOnFirstUse: true` set to accept the key the host offers at first contact",
      props.hostKey,
    );
  }
  e.check(Array.isArray(props.authorizedKeys) && props.authorizedKeys.length > 0, "authorizedKeys", "hold at least one public key", props.authorizedKeys);
  (props.authorizedKeys ?? []).forEach((k, i) => e.check(isPublicKey(k) && !/["\\$]/.test(k), `authorizedKeys[${i}]`, "be an OpenSSH public key line (no quotes, backslashes or $ in its comment)", k));
  if (!(props.passphrase instanceof PassphraseSource)) {
    e.fail("passphrase", "be a PassphraseSource (fromEnv, fromFile or fromCommand; a literal is never accepted)", props.passphrase);
  } else {
    props.passphrase.validate(e, "passphrase");
  }
  if (!(props.bundle instanceof KexecBundle)) {
    e.fail("bundle", "be a KexecBundle (fromFlake, fromPath or fromUrl)", props.bundle);
  } else {
    props.bundle.validate(e, "bundle");
  }
  (props.disks ?? []).forEach((d, i) => e.check(/^\/dev\/[A-Za-z0-9._:+@/-]+$/.test(d), `disks[${i}]`, "be a device path under /dev (letters, digits, . _ : + @ / -)", d));
  e.check(props.disks === undefined || props.disks.length > 0, "disks", "hold at least one disk, or be left out to use the root disk", props.disks);
  e.check(new Set(props.disks ?? []).size === (props.disks ?? []).length, "disks", "not name a disk twice", props.disks);
  e.check(["base-system", "everything"].includes(props.wipe ?? "base-system"), "wipe", 'be "base-system" or "everything"', props.wipe);
  e.check(/^[a-z][a-z0-9_.-]{0,63}$/.test(props.pool ?? "rpool"), "pool", "be a ZFS pool name (a-z first, then a-z, 0-9, _ . -)", props.pool);
  for (const [phase, seconds] of Object.entries(props.timeouts ?? {})) {
    e.check((PHASES as readonly string[]).includes(phase), `timeouts.${phase}`, `be one of ${PHASES.join(", ")}`, phase);
    e.check(Number.isInteger(seconds) && seconds > 0 && seconds <= 86400, `timeouts.${phase}`, "be a whole number of seconds from 1 to 86400", seconds);
  }
  const hostsDir = props.hostsDir ?? "hosts";
  e.check(
    !path.normalize(hostsDir).split(path.sep).includes("cdktf.out") && !/[\s'"`$\\]/.test(hostsDir),
    "hostsDir",
    "lie outside cdktf.out (a new synth would delete it) and hold no spaces or quotes",
    props.hostsDir,
  );
  e.check(["terraform_data", "null_resource"].includes(props.resourceType ?? "terraform_data"), "resourceType", 'be "terraform_data" or "null_resource"', props.resourceType);
  if (props.identity?.keyFile !== undefined) {
    e.check(props.identity.keyFile.length > 0 && !/[\s'"`$\\]/.test(props.identity.keyFile), "identity.keyFile", "be a key file path without spaces or quotes", props.identity.keyFile);
  }
  const h = props.hoster;
  if (h) {
    e.check(/^[a-z]{3}[0-9]*$/.test(h.location), "hoster.location", "be a Hetzner location name (fsn1, nbg1, hel1, ash, hil, sin)", h.location);
    e.check(/^[a-z0-9-]+$/.test(h.serverType), "hoster.serverType", "be a server type name (cx22, cax11, …)", h.serverType);
    e.check(isToken(h.serverId) || /^[1-9][0-9]*$/.test(String(h.serverId)), "hoster.serverId", "be a positive integer", h.serverId);
    if (h.ipv6Network !== undefined) e.check(/^[0-9a-f:]+\/[0-9]{1,3}$/.test(h.ipv6Network), "hoster.ipv6Network", "be an IPv6 network in CIDR form", h.ipv6Network);
    (h.privateIps ?? []).forEach((ip, i) => e.check(/^[0-9.]+$|^[0-9a-f:]+$/.test(ip), `hoster.privateIps[${i}]`, "be an IP address", ip));
  }
  e.throwIfAny();
  if (Token.isUnresolved(props.hostName)) throw new Error("NixosInstall: `hostName` must be known at synth time (it names hosts/NAME/), got a token");
}
