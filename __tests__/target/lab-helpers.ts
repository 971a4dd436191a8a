// Test support for the target-side suites: start a lab host, talk to its current role
// over real OpenSSH with the key of that role pinned.
import { execFileSync, spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { filesContaining as canaryFiles } from "../../lab/canary";
import { LabRecord, labRecords } from "../../lab/lab";

export const repo = path.resolve(__dirname, "..", "..");
export const installerDir = path.join(repo, "nix", "installer");
const labHost = path.join(repo, "lab", "target", "lab-host");

export interface LabHost {
  dir: string;
  address: string;
  port: number;
  unlockPort: number;
  clientKey: string;
  baseHostKey: string;
}

export function labUp(name: string, address: string, port: number, profile: string, faults: string[] = []): LabHost {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `lab-${name}-`));
  const args = ["up", "--dir", dir, "--name", name, "--address", address, "--port", String(port), "--unlock-port", String(port + 200), "--profile", profile];
  for (const f of faults) args.push("--fault", f);
  const out = execFileSync(labHost, args, { encoding: "utf8", timeout: 60_000 });
  const info = JSON.parse(out.trim());
  return { dir, ...info };
}

export function labDown(host: LabHost | undefined): void {
  if (!host) return;
  execFileSync(labHost, ["down", "--dir", host.dir], { timeout: 20000 });
  // keys and records of the lab host: nothing stays behind after the suite
  if (!process.env.LAB_KEEP) fs.rmSync(host.dir, { recursive: true, force: true });
}

export function labRole(host: LabHost): string {
  return execFileSync(labHost, ["role", "--dir", host.dir], { encoding: "utf8" }).trim();
}

/** Waits (bounded) until the lab host plays `role`. */
export async function waitForRole(host: LabHost, role: string, timeoutMs = 10000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (labRole(host) === role && fs.readFileSync(path.join(host.dir, "supervisor.log"), "utf8").match(new RegExp(`${role} answers on [^\\n]*\\n?$`))) return;
    if (Date.now() > deadline) throw new Error(`lab host did not become ${role} within ${timeoutMs} ms (is ${labRole(host)})`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export interface Run {
  status: number;
  stdout: string;
  stderr: string;
}

/** Runs `command` (sh -c on the target) in the current role, pinning `hostKey`. */
export function ssh(host: LabHost, hostKey: string, command: string, input?: string | Buffer, port = host.port): Run {
  const kh = path.join(host.dir, `known_hosts.${port}`);
  fs.writeFileSync(kh, `[${host.address}]:${port} ${hostKey.split(" ").slice(0, 2).join(" ")}\n`);
  const r = spawnSync(
    "ssh",
    ["-i", host.clientKey, "-o", `UserKnownHostsFile=${kh}`, "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes", "-o", "ConnectTimeout=5",
      "-o", "LogLevel=ERROR", "-p", String(port), `root@${host.address}`, command],
    { input: input ?? "", encoding: "utf8", timeout: 60000 },
  );
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** Copies a target-side script to /tmp/NAME in the current role. */
export function upload(host: LabHost, hostKey: string, name: string, port = host.port): void {
  const r = ssh(host, hostKey, `cat > /tmp/${name} && chmod 755 /tmp/${name}`, fs.readFileSync(path.join(installerDir, name)), port);
  if (r.status !== 0) throw new Error(`upload of ${name} failed: ${r.stderr}`);
}

/** The kernel command line of the stand-in bundle (see sendStandInBundle). */
export const STAND_IN_CMDLINE = "init=/nix/store/lab-nixos-system/init loglevel=4";

/**
 * Puts a stand-in kexec bundle (fake kernel and initrd, cmdline, manifest) at
 * /tmp/bundle in the host's current role, for run-installer.
 */
export function sendStandInBundle(host: LabHost, hostKey: string): void {
  const bundle = path.join(host.dir, "bundle");
  fs.mkdirSync(bundle, { recursive: true });
  fs.writeFileSync(path.join(bundle, "kernel"), Buffer.alloc(4096, 1));
  fs.writeFileSync(path.join(bundle, "initrd"), Buffer.alloc(8192, 2));
  fs.writeFileSync(path.join(bundle, "cmdline"), `${STAND_IN_CMDLINE}\n`);
  fs.writeFileSync(path.join(bundle, "manifest.json"), JSON.stringify({ version: 1, system: "x86_64-linux", nixosVersion: "26.05", files: {} }));
  const r = ssh(host, hostKey, "tar -C /tmp -xf -", execFileSync("tar", ["-C", host.dir, "-cf", "-", "bundle"]));
  if (r.status !== 0) throw new Error(`upload of the stand-in bundle failed: ${r.stderr}`);
}

/** The lab host's records (see lab/lab.ts). */
export const records = labRecords;
export type RecordLine = LabRecord;

/** Every file below dir whose content contains needle (binary-safe; see lab/canary.ts). */
export function filesContaining(dir: string, needle: string): string[] {
  return canaryFiles(needle, [dir]);
}
