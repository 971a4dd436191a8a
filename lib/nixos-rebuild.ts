import { createHash } from "crypto";
import * as path from "path";
import { App, Fn, Op, TerraformStack, Token } from "cdktf";
import { Construct } from "constructs";
import { HostConfiguration } from "./host-configuration";
import { checkBuildOn, deploySettings, installSettingsOf, NixosInstall, sharedAssets, stackOutdir } from "./nixos-install";
import { PhaseResource } from "./phase-resource";
import { PropChecks, PropErrors } from "./prop-errors";
import { SshIdentity } from "./ssh-identity";
import { TerraformDataPhase } from "./terraform-data-phase";
import {
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

/** What `mode` takes: what switch-to-configuration does with the new generation. */
const REBUILD_MODES: readonly string[] = ["switch", "boot", "test"];

/** Seconds the host waits for the confirmation before it rolls back, by default. */
export const DEFAULT_ROLLBACK_TIMEOUT = 120;
/** Seconds the whole rebuild (upload, build, activation, confirmation, verify) may take, by default. */
export const DEFAULT_REBUILD_TIMEOUT = 1800;
/** Seconds the deploy side waits beyond the rollback timer for the rollback to finish. */
const ROLLBACK_GRACE = 90;

/** Props of NixosRebuild: the host (an install, or address and key), the configuration, the mode. */
export interface NixosRebuildProps {
  /**
   * The install that put NixOS on the host: its address, port, user, identity, host name,
   * records (hosts/NAME/, pins) and pool are used, and the rebuild runs after its verify
   * phase. Leave out for a host installed some other way and give `host`, `hostKey`
   * and `hostName` instead.
   * @default - none (then `host`, `hostKey`, `hostName` and `authorizedKeys` are required)
   */
  readonly install?: NixosInstall;
  /** Address or DNS name of a host installed some other way. @default - the install's */
  readonly host?: string;
  /** SSH port of the installed system. @default - the install's, else 22 */
  readonly port?: number;
  /** SSH user (root, or one that may run nixos-rebuild and systemd-run). @default - the install's, else "root" */
  readonly user?: string;
  /**
   * The installed system's ed25519 host key (`ssh-ed25519 AAAA…`) of a host installed
   * some other way: pinned in hosts/NAME/pins/installed; a different pin already there
   * stops the rebuild. @default - the install's pin
   */
  readonly hostKey?: string;
  /**
   * The ed25519 host key of the initrd's SSH server (unlock after a reboot) of a host
   * installed some other way: pinned in hosts/NAME/pins/initrd, as the verify checks
   * record it beside the installed key. @default - the install's pin
   */
  readonly initrdHostKey?: string;
  /** Host name (names hosts/NAME/ and the default attribute; verify checks it). @default - the install's */
  readonly hostName?: string;
  /** How the deploy machine authenticates. @default - the install's, else SshIdentity.agent() */
  readonly identity?: SshIdentity;
  /** Directory of hosts/NAME/ for a host installed some other way. @default "hosts" */
  readonly hostsDir?: string;
  /** The ZFS pool that verify checks (encrypted, key loaded). @default - the install's, else "rpool" */
  readonly pool?: string;
  /**
   * Public keys allowed to log in as root to the installed system (and its initrd, from
   * the next boot), written beside the template's flake.nix. Only with
   * `HostConfiguration.template()`: a `fromFlake` configuration holds root's keys itself.
   * A list token is hashed at apply. @default - the install's `authorizedKeys`
   */
  readonly authorizedKeys?: string[];
  /**
   * What the host is built from, as NixosInstall takes it. `HostConfiguration.template()`:
   * the packaged template, with hosts/NAME/runtime-info.json and `authorizedKeys` beside
   * its flake.nix. `HostConfiguration.fromFlake({ dir, attribute?, runtimeInfoPath? })`:
   * your flake as git tracks it, the host's runtime-info placed at `runtimeInfoPath`.
   * Either way the host's flake.lock (pinned at the install) is kept when the
   * configuration brings none.
   * @default - the install's `configuration`, else HostConfiguration.template()
   */
  readonly configuration?: HostConfiguration;
  /**
   * `switch`: the new generation becomes the boot default and runs now, with the rollback
   * timer. `boot`: it becomes the boot default only (runs from the next reboot; nothing
   * running changes, so there is nothing to roll back). `test`: it runs now with the
   * rollback timer but is not the boot default (a reboot returns to the profile's generation).
   * @default "switch"
   */
  readonly mode?: string;
  /**
   * Seconds the host waits, after it activated the new generation (`switch`, `test`), for
   * the deploy machine's confirmation over a new SSH connection pinned to its key, before
   * it returns by itself to the generation it ran.
   * @default 120
   */
  readonly rollbackTimeout?: number;
  /**
   * Where the new generation is built: `target` (the host builds the flake) or `deployer`
   * (this machine's Nix builds it, `nix copy` sends the closure over the pinned
   * connection, the host only switches). `deployer` needs `HostConfiguration.fromFlake`
   * with a complete flake.lock. A change of it alone does not rebuild.
   * @default - the install's `buildOn`, else "target"
   */
  readonly buildOn?: string;
  /** Seconds the whole rebuild may take (build included). Must exceed `rollbackTimeout` + 90. @default 1800 */
  readonly timeout?: number;
}

/**
 * Applies a configuration change to an installed NixOS host through Terraform, with an
 * automatic rollback: the configuration goes over the host's pinned SSH connection, is
 * built there (a failed build changes nothing), and activated detached from the session
 * under a timer that returns the host to its previous generation unless the deploy
 * machine confirms over a new pinned connection and the verify checks pass. One
 * `terraform_data` resource, replaced when the configuration, the host's runtime-info or
 * the authorized keys change.
 */
export class NixosRebuild extends Construct {
  /** The rebuild's resource (its address for `terraform apply -replace=…`). */
  public readonly resource: PhaseResource;
  /** The resource's Terraform address. */
  public readonly address: string;

  constructor(scope: Construct, id: string, props: NixosRebuildProps) {
    super(scope, id);
    const installed = props.install ? installSettingsOf(props.install) : undefined;
    const keyLine = (k: string | undefined) => (k === undefined ? undefined : Token.isUnresolved(k) ? k : normalizeKeyLine(k));
    const hostKey = keyLine(props.hostKey);
    const initrdHostKey = keyLine(props.initrdHostKey);
    // The install's configuration and buildOn when the rebuild gives none.
    const configuration = props.configuration instanceof HostConfiguration ? props.configuration : (installed?.configuration ?? HostConfiguration.template());
    const buildOn = props.buildOn ?? installed?.env.NI_BUILD_ON;
    const checks = new PropChecks(this, (e) => {
      validate(e, props, hostKey, initrdHostKey, installed !== undefined, App.of(this).outdir);
      checkBuildOn(e, buildOn, configuration);
    });

    const stack = TerraformStack.of(this);
    const stackDir = stackOutdir(this);
    const fromStack = (p: string) => (path.isAbsolute(p) ? p : path.relative(stackDir, path.resolve(p)).split(path.sep).join("/"));
    const { deploy, target, template } = sharedAssets(stack);
    // The install of a fromFlake configuration in the same stack sends the same asset.
    const flake = configuration._bind(stack, App.of(this).outdir);

    const base = installed?.env ?? {};
    const hostName = String(props.hostName ?? base.NI_HOST_NAME);
    const recordDir = installed?.recordDirFromStack ?? `${fromStack(props.hostsDir ?? "hosts")}/${hostName}`;
    // a fromFlake configuration holds root's keys itself: none are written beside it
    const authorizedKeys = flake ? [] : (props.authorizedKeys ?? installed?.authorizedKeys ?? []);
    const mode = props.mode ?? "switch";
    const rollbackTimeout = props.rollbackTimeout ?? DEFAULT_ROLLBACK_TIMEOUT;
    const timeout = props.timeout ?? DEFAULT_REBUILD_TIMEOUT;
    const env: Record<string, string> = {
      NI_HOST: String(props.host ?? base.NI_HOST),
      NI_PORT: String(props.port ?? base.NI_PORT ?? 22),
      NI_UNLOCK_PORT: base.NI_UNLOCK_PORT ?? "2222",
      NI_USER: props.user ?? base.NI_USER ?? "root",
      NI_HOST_NAME: hostName,
      NI_HOSTS_DIR: path.posix.dirname(recordDir),
      NI_IDENTITY_FILE: props.identity ? (props.identity.keyPath ? fromStack(props.identity.keyPath) : "") : (base.NI_IDENTITY_FILE ?? ""),
      NI_POOL: props.pool ?? base.NI_POOL ?? "rpool",
      NI_TARGET_SCRIPTS: target.path,
      NI_REBUILD_CONFIG: flake ? flake.asset.path : template.path,
      NI_REBUILD_ATTRIBUTE: configuration.attribute ?? hostName,
      // where the flake reads the host's runtime-info (the template: beside flake.nix)
      NI_RUNTIME_INFO_PATH: flake ? String(configuration._runtimeInfoPathFor(hostName)) : "runtime-info.json",
      NI_REBUILD_MODE: mode,
      NI_BUILD_ON: buildOn ?? "target",
      NI_REBUILD_ROLLBACK_AFTER: String(rollbackTimeout),
      NI_INSTALLED_HOST_KEY: installed ? "" : (hostKey ?? ""),
      NI_INITRD_HOST_KEY: installed ? "" : (initrdHostKey ?? ""),
      ...(Token.isUnresolved(authorizedKeys) ? {} : Object.fromEntries(authorizedKeys.map((key, i) => [`NI_AUTHORIZED_KEY_${i}`, String(key).trim()]))),
    };

    // What the host is built from. A change of any of these replaces the resource, which
    // rebuilds; the rebuild finds out itself when the result is what already runs.
    const runtimeInfo = Fn.try([Fn.filesha256(`${recordDir}/runtime-info.json`), ""]);
    const triggers: Record<string, string> = {
      phase: "rebuild",
      host: env.NI_HOST,
      port: env.NI_PORT,
      host_name: hostName,
      configuration: flake ? `sha256:${flake.hash}` : template.assetHash,
      attribute: env.NI_REBUILD_ATTRIBUTE,
      mode,
      authorized_keys: Token.isUnresolved(authorizedKeys)
        ? Fn.sha256(Fn.join("\n", authorizedKeys))
        : createHash("sha256").update(authorizedKeys.map((k) => String(k).trim()).join("\n")).digest("hex"),
      // The install's verify writes the record: read it once verify has run (until then
      // the reference keeps the value unknown, so it is read at apply, after verify).
      runtime_info: props.install ? Fn.conditional(Op.eq("", props.install.verified.id), "", runtimeInfo) : runtimeInfo,
    };
    this.resource = new TerraformDataPhase(this, "rebuild", triggers);
    this.address = this.resource.address;
    checks.guard(this.resource);
    env.NI_RESOURCES = [base.NI_RESOURCES ?? "", `rebuild=${this.address}`].join(" ").trim();
    const settings = deploySettings(this, env, authorizedKeys);
    this.resource.provisioners = [
      { type: "local-exec", command: `NI_TIMEOUT=${timeout} bash ${deploy.path}/phase-rebuild.sh`, environment: settings.asStringMap },
    ];
  }
}

function validate(e: PropErrors, props: NixosRebuildProps, hostKey: string | undefined, initrdHostKey: string | undefined, hasInstall: boolean, outdir: string): void {
  const c = props.configuration;
  if (c !== undefined && !(c instanceof HostConfiguration)) e.fail("configuration", "be a HostConfiguration (template() or fromFlake({ dir }))", c);
  const fromFlake = c instanceof HostConfiguration && c.kind === "flake";
  if (fromFlake) c._validate(e, "configuration", outdir);
  if (props.install !== undefined && !hasInstall) e.fail("install", "be a NixosInstall (or HcloudNixosServer's `install`)", props.install);
  if (props.install !== undefined) {
    for (const prop of ["host", "hostKey", "initrdHostKey", "hostName", "hostsDir"] as const) {
      e.check(props[prop] === undefined, prop, "be unset when `install` is given (the install's is used)", props[prop]);
    }
  } else {
    e.check(typeof props.host === "string" && isHostAddress(props.host), "host", `${HOST_RULE}; or give \`install\``, props.host);
    e.check(hostKey !== undefined && isEd25519PublicKey(hostKey), "hostKey", "be the installed system's ed25519 public key line (ssh-ed25519 AAAA…) when `install` is not given", props.hostKey);
    e.check(
      initrdHostKey !== undefined && isEd25519PublicKey(initrdHostKey),
      "initrdHostKey",
      "be the initrd SSH server's ed25519 public key line (ssh-ed25519 AAAA…) when `install` is not given (the verify checks record it)",
      props.initrdHostKey,
    );
    e.check(typeof props.hostName === "string" && isHostName(props.hostName), "hostName", `${HOSTNAME_RULE}; it is required when \`install\` is not given`, props.hostName);
    if (!fromFlake) e.check(props.authorizedKeys !== undefined, "authorizedKeys", "be given when `install` is not given and the configuration is the template (root's keys on the host)", props.authorizedKeys);
  }
  if (fromFlake && props.authorizedKeys !== undefined) {
    e.fail("authorizedKeys", "be unset with HostConfiguration.fromFlake: root's keys are your flake's own (lib.mkHosts' authorizedKeys, or users.users.root.openssh.authorizedKeys in your modules)", props.authorizedKeys);
  }
  if (props.port !== undefined) e.check(isPort(props.port), "port", "be an integer from 1 to 65535", props.port);
  if (props.user !== undefined) e.check(isUserName(props.user), "user", USER_RULE, props.user);
  if (props.pool !== undefined) e.check(isPoolName(props.pool), "pool", POOL_RULE, props.pool);
  if (props.authorizedKeys !== undefined && !Token.isUnresolved(props.authorizedKeys)) {
    e.check(Array.isArray(props.authorizedKeys) && props.authorizedKeys.length > 0, "authorizedKeys", "hold at least one public key (a host without one locks everybody out)", props.authorizedKeys);
    (props.authorizedKeys ?? []).forEach((k, i) =>
      e.check(isRootKeyLine(k), `authorizedKeys[${i}]`, ROOT_KEY_RULE, k),
    );
  }
  e.check(REBUILD_MODES.includes(props.mode ?? "switch"), "mode", 'be "switch", "boot" or "test"', props.mode);
  const rollback = props.rollbackTimeout ?? DEFAULT_ROLLBACK_TIMEOUT;
  e.check(Number.isInteger(rollback) && rollback >= 10 && rollback <= 3600, "rollbackTimeout", "be a whole number of seconds from 10 to 3600", props.rollbackTimeout);
  const timeout = props.timeout ?? DEFAULT_REBUILD_TIMEOUT;
  e.check(
    Number.isInteger(timeout) && timeout <= 86400 && timeout > rollback + ROLLBACK_GRACE,
    "timeout",
    `be a whole number of seconds, at most 86400 and more than \`rollbackTimeout\` + ${ROLLBACK_GRACE} (${rollback + ROLLBACK_GRACE}): the rebuild waits that long for the host's own rollback`,
    props.timeout,
  );
  if (props.identity?.keyPath !== undefined) {
    e.check(isKeyFilePath(props.identity.keyPath), "identity.keyFile", KEY_FILE_RULE, props.identity.keyPath);
  }
  if (props.hostsDir !== undefined) {
    e.check(isHostsDir(props.hostsDir), "hostsDir", HOSTS_DIR_RULE, props.hostsDir);
  }
  const texts: [string, unknown][] = [
    ["host", props.host],
    ["hostKey", hostKey],
    ["initrdHostKey", initrdHostKey],
    ...(Token.isUnresolved(props.authorizedKeys) ? [] : (props.authorizedKeys ?? []).map((k, i) => [`authorizedKeys[${i}]`, String(k).trim()] as [string, unknown])),
  ];
  for (const [prop, value] of texts) if (typeof value === "string" && !e.hasFailed(prop) && !isTerraformSafeText(value)) e.fail(prop, TERRAFORM_TEXT_RULE, value);
}
