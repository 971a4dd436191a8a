// What the command-line tool knows of one host: hosts/NAME/ as the install chain left
// it (connection.json, written by the probe phase, and pins/), and the environment that
// the chain's own scripts (lib/scripts/) take from it.
import * as fs from "fs";
import * as path from "path";
import { isHostName, HOSTNAME_RULE } from "../host-name";
import { packageFiles } from "../package-files";

/** The roles of a host, as docs/contracts.md names them. */
export const ROLES = ["base", "installer", "initrd", "installed"] as const;
export type Role = (typeof ROLES)[number];

/** hosts/NAME/connection.json, version 1 (docs/contracts.md). Public facts only. */
export interface ConnectionRecord {
  readonly version: 1;
  readonly host: string;
  readonly port: number;
  readonly unlockPort: number;
  readonly user: string;
  readonly pool: string;
  /** Relative to the record's directory, or absolute; null: ssh-agent. */
  readonly identityFile: string | null;
  /** `ref` of a file source is a path, relative to the record's directory or absolute. */
  readonly passphrase: { readonly kind: "env" | "file" | "command"; readonly ref: string };
  /** `probe=ADDRESS kexec=ADDRESS …`, for the hints of the scripts' messages. */
  readonly phaseAddresses: string;
}

/** A check of the records that failed: exit 1, the message and what to do next. */
export class CheckFailed extends Error {
  constructor(
    message: string,
    public readonly hints: string[] = [],
  ) {
    super(message);
  }
}

export interface HostRecord {
  readonly name: string;
  /** hosts/NAME/, absolute. */
  readonly dir: string;
  readonly connection: ConnectionRecord;
}

/** The host names under hostsDir that hold a record of the chain (connection.json or pins/), sorted. */
export function recordedHosts(hostsDir: string): string[] {
  if (!fs.existsSync(hostsDir)) {
    throw new CheckFailed(`the hosts directory ${hostsDir} does not exist`, [
      "run the command where you run `cdktf deploy`, or give the directory of the records with --hosts-dir DIR (the construct's hostsDir)",
    ]);
  }
  return fs
    .readdirSync(hostsDir, { withFileTypes: true })
    .filter((e) => e.isDirectory() && isHostName(e.name))
    .filter((e) => fs.existsSync(path.join(hostsDir, e.name, "connection.json")) || fs.existsSync(path.join(hostsDir, e.name, "pins")))
    .map((e) => e.name)
    .sort();
}

/** Reads and checks hosts/NAME/connection.json. */
export function readHostRecord(hostsDir: string, name: string): HostRecord {
  const dir = path.resolve(hostsDir, name);
  const file = path.join(dir, "connection.json");
  if (!fs.existsSync(dir)) {
    const known = fs.existsSync(hostsDir) ? recordedHosts(hostsDir) : [];
    throw new CheckFailed(`there is no record of the host ${name} in ${hostsDir}`, [
      known.length > 0 ? `recorded hosts there: ${known.join(", ")}` : `no host is recorded in ${hostsDir}`,
      "run the command where you run `cdktf deploy`, or give the directory of the records with --hosts-dir DIR",
    ]);
  }
  if (!fs.existsSync(file)) {
    throw new CheckFailed(`${file} is missing: the install chain writes it in its probe phase, and this host was installed by an older release`, [
      "write it without touching the host: terraform apply -replace=<the host's probe phase> (every later phase finds the host installed and skips its work)",
    ]);
  }
  let c: ConnectionRecord;
  try {
    c = JSON.parse(fs.readFileSync(file, "utf8"));
  } catch (e) {
    throw new CheckFailed(`${file} is not valid JSON: ${(e as Error).message}`, ["it is written by the probe phase: run terraform apply -replace=<the host's probe phase>"]);
  }
  const bad = (what: string) => new CheckFailed(`${file}: ${what}`, ["it is written by the probe phase: run terraform apply -replace=<the host's probe phase>"]);
  if (c?.version !== 1) throw bad(`version must be 1, got: ${JSON.stringify(c?.version)} (a newer release wrote it? update cdktf-nixos-installer)`);
  for (const k of ["host", "user", "pool", "phaseAddresses"] as const) if (typeof c[k] !== "string") throw bad(`${k} must be a string, got: ${JSON.stringify(c[k])}`);
  for (const k of ["port", "unlockPort"] as const) if (!Number.isInteger(c[k])) throw bad(`${k} must be a port number, got: ${JSON.stringify(c[k])}`);
  if (c.identityFile !== null && typeof c.identityFile !== "string") throw bad(`identityFile must be a path or null, got: ${JSON.stringify(c.identityFile)}`);
  if (!["env", "file", "command"].includes(c.passphrase?.kind) || typeof c.passphrase?.ref !== "string") throw bad(`passphrase must be { kind: env|file|command, ref }, got: ${JSON.stringify(c.passphrase)}`);
  return { name, dir, connection: c };
}

/** A path of the record as it is used: relative paths are relative to hosts/NAME/ (docs/contracts.md). */
export function recordPath(record: HostRecord, p: string): string {
  return path.resolve(record.dir, p);
}

/** The settings of the chain's scripts (lib/scripts/common.sh) for this host; no other NI_* is passed on. */
export function scriptEnv(record: HostRecord, timeoutSeconds: number): NodeJS.ProcessEnv {
  const c = record.connection;
  const env: NodeJS.ProcessEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("NI_")));
  return {
    ...env,
    NI_HOST: c.host,
    NI_PORT: String(c.port),
    NI_UNLOCK_PORT: String(c.unlockPort),
    NI_USER: c.user,
    NI_HOST_NAME: record.name,
    NI_HOSTS_DIR: path.dirname(record.dir),
    NI_TIMEOUT: String(timeoutSeconds),
    NI_IDENTITY_FILE: c.identityFile === null ? "" : recordPath(record, c.identityFile),
    NI_TARGET_SCRIPTS: packageFiles.targetScripts(),
    NI_POOL: c.pool,
    NI_PASSPHRASE_KIND: c.passphrase.kind,
    NI_PASSPHRASE_REF: c.passphrase.kind === "file" ? recordPath(record, c.passphrase.ref) : c.passphrase.ref,
    NI_RESOURCES: c.phaseAddresses,
  };
}

/** The name rule of a host (a directory of hosts/), for the argument checks. */
export const HOST_NAME_RULE = HOSTNAME_RULE;
export { isHostName };
