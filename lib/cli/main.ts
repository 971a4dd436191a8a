#!/usr/bin/env node
// cdktf-nixos-installer: the day-2 commands for hosts an install chain left in hosts/
// (unlock after a reboot, status, ssh). Each runs the chain's own scripts
// (lib/scripts/: phase-unlock.sh, host-role.sh, host-ssh.sh) with the settings they
// take from Terraform, read from hosts/NAME/connection.json: one implementation of the
// pinning, the role test and the passphrase path. Loads nothing of cdktf or cdktn.
import { spawn } from "child_process";
import * as os from "os";
import * as path from "path";
import { parseCommandLine, Parsed, UsageError, usageOf } from "./arguments";
import { CheckFailed, HostRecord, readHostRecord, recordedHosts, Role, scriptEnv } from "./host-record";
import { packageFiles } from "../package-files";

/** How long the key scans of `status` and the check before `ssh` may take, in seconds. */
const SCAN_TIMEOUT = 15;
/** Hosts `status` scans at once. */
const STATUS_PARALLEL = 8;

function script(name: string): string {
  return path.join(packageFiles.deployScripts(), name);
}

/** Runs one of the chain's scripts; resolves with its exit code (stdout kept when asked). */
function runScript(name: string, args: string[], env: NodeJS.ProcessEnv, keepStdout = false): Promise<{ code: number; stdout: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn("bash", [script(name), ...args], { env, stdio: ["inherit", keepStdout ? "pipe" : "inherit", "inherit"] });
    let stdout = "";
    child.stdout?.on("data", (d: Buffer) => (stdout += d.toString()));
    child.on("error", reject);
    // Killed by a signal: the shell's convention, 128 + its number.
    child.on("close", (code, signal) => resolve({ code: code ?? (signal ? 128 + os.constants.signals[signal] : 1), stdout }));
  });
}

/** While a script runs in the foreground, a terminal's Ctrl-C reaches it too: it ends its remote work and exits; this process waits for it. */
async function foreground<T>(work: Promise<T>): Promise<T> {
  const ignore = () => undefined;
  for (const s of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.on(s, ignore);
  try {
    return await work;
  } finally {
    for (const s of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.off(s, ignore);
  }
}

async function unlock(p: Parsed): Promise<number> {
  const record = readHostRecord(p.hostsDir, p.names[0]);
  const c = record.connection;
  if (c.passphrase.kind === "env" && process.env[c.passphrase.ref] === undefined) {
    throw new CheckFailed(`the stack reads the disk passphrase of ${record.name} from the environment variable ${c.passphrase.ref}, which is not set here`, [
      `export ${c.passphrase.ref} (as for terraform apply), then run this again`,
    ]);
  }
  const { code } = await foreground(runScript("phase-unlock.sh", [], scriptEnv(record, p.timeout)));
  if (code === 0) process.stdout.write(`${record.name}: unlocked; the installed system answers with its pinned key on ${c.host}:${c.port}\n`);
  return code === 0 ? 0 : 1;
}

interface StatusRow {
  readonly name: string;
  readonly address: string;
  readonly role: string;
  readonly problem?: string[];
}

async function statusOf(hostsDir: string, name: string): Promise<StatusRow> {
  let record: HostRecord;
  try {
    record = readHostRecord(hostsDir, name);
  } catch (e) {
    if (!(e instanceof CheckFailed)) throw e;
    return { name, address: "-", role: "no record", problem: [e.message, ...e.hints] };
  }
  const c = record.connection;
  const address = `${c.host}:${c.port},${c.unlockPort}`;
  const { code, stdout } = await runScript("host-role.sh", [], scriptEnv(record, SCAN_TIMEOUT), true);
  const said = stdout.trim();
  if (code !== 0 || said === "") return { name, address, role: "error", problem: [`the role test of ${name} failed (exit ${code}); its message is above`] };
  const unknown = /^unknown (\S+) (\d+)$/.exec(said);
  if (unknown) {
    return {
      name,
      address,
      role: `UNKNOWN KEY ${unknown[1]} on port ${unknown[2]}`,
      problem: [
        `${name} (${c.host}:${unknown[2]}) offers the host key ${unknown[1]}, which matches none of its pins in ${path.join(record.dir, "pins")}`,
        "this may be a man in the middle: send it nothing (no unlock, no ssh) until you know why the key changed",
        `if the host was reinstalled outside this chain, move ${path.join(record.dir, "pins")} away and run: terraform apply -replace=<the host's probe phase>`,
      ],
    };
  }
  return { name, address, role: said };
}

async function status(p: Parsed): Promise<number> {
  const names = p.names.length > 0 ? p.names : recordedHosts(p.hostsDir);
  if (names.length === 0) throw new CheckFailed(`no host is recorded in ${p.hostsDir}`, ["give the directory of the records with --hosts-dir DIR (the construct's hostsDir)"]);
  const rows: StatusRow[] = new Array(names.length);
  let next = 0;
  const worker = async () => {
    while (next < names.length) {
      const i = next++;
      rows[i] = await statusOf(p.hostsDir, names[i]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(STATUS_PARALLEL, names.length) }, worker));
  const table = [["HOST", "ADDRESS", "ROLE"], ...rows.map((r) => [r.name, r.address, r.role])];
  const widths = [0, 1].map((i) => Math.max(...table.map((t) => t[i].length)));
  process.stdout.write(table.map((t) => `${t[0].padEnd(widths[0])}  ${t[1].padEnd(widths[1])}  ${t[2]}`).join("\n") + "\n");
  const failed = rows.filter((r) => r.problem);
  for (const r of failed) process.stderr.write(`error: ${r.problem![0]}\n${r.problem!.slice(1).map((h) => `  ${h}\n`).join("")}`);
  return failed.length > 0 ? 1 : 0;
}

async function ssh(p: Parsed): Promise<number> {
  const record = readHostRecord(p.hostsDir, p.names[0]);
  const { code } = await foreground(runScript("host-ssh.sh", [p.role as Role, ...p.command], scriptEnv(record, SCAN_TIMEOUT)));
  return code;
}

async function main(argv: string[]): Promise<number> {
  let p: Parsed;
  try {
    p = parseCommandLine(argv);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    process.stderr.write(`error: ${e.message}\n`);
    return 2;
  }
  if (p.help || p.command0 === undefined) {
    process.stdout.write(usageOf(p.command0));
    return 0;
  }
  try {
    if (p.command0 === "unlock") return await unlock(p);
    if (p.command0 === "status") return await status(p);
    return await ssh(p);
  } catch (e) {
    if (!(e instanceof CheckFailed)) throw e;
    process.stderr.write(`error: ${e.message}\n${e.hints.map((h) => `  ${h}\n`).join("")}`);
    return 1;
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exit(1);
  },
);
