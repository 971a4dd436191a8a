// The VM lab from TypeScript: a real Debian 12 kernel in qemu (software emulation) as
// the target host. lab/vm/build-images assembles the guest, lab/vm/vm-target boots and
// stops it; this module wraps both for the VM tests (__tests__/vm/) and bench/vm.ts,
// and talks to the guest over SSH with a pinned host key only.
import { execFileSync, spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

export const ROOT = path.resolve(__dirname, "..", "..");
export const VM_DIR = path.join(ROOT, "lab", "vm");
export const VM_CACHE = process.env.VM_LAB_CACHE ?? path.join(ROOT, ".lab", "cache", "vm");
export const VM_IMAGES = path.join(VM_CACHE, "images");
const VM_TARGET = path.join(VM_DIR, "vm-target");
const BUILD_IMAGES = path.join(VM_DIR, "build-images");

export interface VmTarget {
  readonly name: string;
  readonly address: string;
  readonly port: number;
  readonly role: "base" | "installer";
  /** The host key the guest was given (base system or installer role), `ssh-ed25519 AAAA…`. */
  readonly hostKey: string;
  readonly clientKey: string;
  readonly stateDir: string;
  readonly serialLog: string;
  /** The kexec bundle folder that matches this VM (with ZFS when booted with zfs). */
  readonly bundle: string;
  readonly disk: string;
  readonly bootSeconds: number;
  /** qemu's translation cache in MiB (vm-target --tb-size; see docs/decisions/vm-lab-guest.md). */
  readonly tbSizeMiB: number;
  /** How many further disks (sdb, sdc, …) the VM has besides `disk`. */
  readonly extraDisks: number;
}

export interface VmOptions {
  readonly name: string;
  readonly role?: "base" | "installer";
  readonly zfs?: boolean;
  readonly memoryMiB?: number;
  readonly timeoutSeconds?: number;
  /** qemu's translation cache in MiB; @default 64 (vm-target's default) */
  readonly tbSizeMiB?: number;
  /** Further virtio-scsi disks (sdb, sdc, …). @default 0 */
  readonly extraDisks?: number;
  /** Size of each further disk, qemu-img style. @default "2G" */
  readonly extraDiskSize?: string;
}

/** Throws with what to install when a tool the VM lab needs is missing: never a silent skip. */
export function requireVmPrereqs(opts: { zfs?: boolean } = {}): void {
  if (process.platform !== "linux" || process.arch !== "x64") {
    throw new Error(`the VM lab needs an x86_64 Linux host, this is ${process.platform}/${process.arch}`);
  }
  if (process.getuid?.() !== 0) throw new Error("the VM lab needs root (apt-get download, qemu)");
  const missing: string[] = [];
  const need: Record<string, string> = {
    "qemu-system-x86_64": "qemu-system-x86",
    "qemu-img": "qemu-utils",
    "apt-get": "apt",
    "dpkg-deb": "dpkg",
    ssh: "openssh-client",
    "ssh-keygen": "openssh-client",
    gzip: "gzip",
    flock: "util-linux",
    ss: "iproute2",
    tar: "tar",
  };
  if (opts.zfs) Object.assign(need, { gcc: "gcc", make: "make" });
  for (const [tool, pkg] of Object.entries(need)) {
    if (spawnSync("sh", ["-c", `command -v ${tool}`], { stdio: "ignore" }).status !== 0) missing.push(pkg);
  }
  if (missing.length > 0) {
    throw new Error(`the VM lab needs: apt-get install -y ${[...new Set(missing)].join(" ")}`);
  }
  if (opts.zfs) {
    const policy = spawnSync("apt-cache", ["policy", "zfs-dkms"], { encoding: "utf8" }).stdout ?? "";
    if (!/Candidate: (?!\(none\))/.test(policy)) {
      throw new Error("apt knows no zfs-dkms: enable Debian's contrib component (Components: main contrib in /etc/apt/sources.list.d/debian.sources) and run apt-get update");
    }
  }
}

/** Builds (or finds in the cache) the guest images; returns the images folder. */
export function buildVmImages(opts: { zfs?: boolean } = {}): string {
  const args = opts.zfs ? ["--zfs"] : [];
  // cold: downloads (~100 MB) and, with zfs, the module build (~8 min on 2 cores); warm: < 1 s
  return execFileSync(BUILD_IMAGES, args, { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"], timeout: 900_000 }).trim();
}

export function vmUp(o: VmOptions): VmTarget {
  const args = ["up", "--name", o.name, "--role", o.role ?? "base"];
  if (o.zfs) args.push("--zfs");
  if (o.memoryMiB) args.push("--memory", String(o.memoryMiB));
  if (o.timeoutSeconds) args.push("--timeout", String(o.timeoutSeconds));
  if (o.tbSizeMiB) args.push("--tb-size", String(o.tbSizeMiB));
  if (o.extraDisks) args.push("--extra-disks", String(o.extraDisks));
  if (o.extraDiskSize) args.push("--extra-disk-size", o.extraDiskSize);
  const out = execFileSync(VM_TARGET, args, { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"], timeout: 1_200_000 });
  const info = JSON.parse(out.trim().split("\n").pop() as string);
  return {
    name: info.name,
    address: info.address,
    port: info.port,
    role: info.role,
    hostKey: info.hostKey,
    clientKey: info.clientKey,
    stateDir: info.stateDir,
    serialLog: info.serialLog,
    bundle: info.bundle,
    disk: info.disk,
    bootSeconds: info.bootSeconds,
    tbSizeMiB: info.tbSizeMiB,
    extraDisks: info.extraDisks,
  };
}

export function vmDown(name: string): void {
  execFileSync(VM_TARGET, ["down", "--name", name], { stdio: ["ignore", "ignore", "inherit"], timeout: 60_000 });
}

export interface SshResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export interface SshTarget {
  readonly address: string;
  readonly port: number;
  /** The only host key accepted (StrictHostKeyChecking=yes against it). */
  readonly hostKey: string;
  readonly clientKey: string;
}

/** One command over SSH, host key pinned, bounded in time. */
export function sshRun(t: SshTarget, command: string, opts: { input?: string | Buffer; timeoutMs?: number; connectTimeoutSeconds?: number } = {}): SshResult {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "vm-ssh-"));
  try {
    const knownHosts = path.join(dir, "known_hosts");
    fs.writeFileSync(knownHosts, `[${t.address}]:${t.port} ${t.hostKey}\n`);
    const r = spawnSync(
      "ssh",
      [
        "-F", "none", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes",
        "-o", `UserKnownHostsFile=${knownHosts}`, "-o", "GlobalKnownHostsFile=/dev/null",
        "-o", "IdentitiesOnly=yes", "-o", `ConnectTimeout=${opts.connectTimeoutSeconds ?? 10}`, "-o", "ServerAliveInterval=5",
        "-o", "ServerAliveCountMax=3", "-o", "LogLevel=ERROR",
        "-i", t.clientKey, "-p", String(t.port), `root@${t.address}`, command,
      ],
      { input: opts.input ?? "", timeout: opts.timeoutMs ?? 120_000, maxBuffer: 64 * 1024 * 1024 },
    );
    return { code: r.status ?? -1, stdout: r.stdout?.toString() ?? "", stderr: (r.stderr?.toString() ?? "") + (r.error ? String(r.error) : "") };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** Like sshRun, but throws with the output when the command fails. */
export function sshOk(t: SshTarget, command: string, opts: { input?: string | Buffer; timeoutMs?: number } = {}): string {
  const r = sshRun(t, command, opts);
  if (r.code !== 0) throw new Error(`ssh ${t.address}:${t.port} \`${command}\` exited ${r.code}: ${r.stderr}${r.stdout}`);
  return r.stdout;
}

/** Copies local folders into the guest (tar over the pinned SSH connection). */
export function uploadDirs(t: SshTarget, dirs: Record<string, string>): void {
  for (const [local, remote] of Object.entries(dirs)) {
    const tar = execFileSync("tar", ["-C", local, "-cf", "-", "."], { maxBuffer: 512 * 1024 * 1024 });
    sshOk(t, `mkdir -p '${remote}' && tar -C '${remote}' -xf -`, { input: tar, timeoutMs: 300_000 });
  }
}

/**
 * Waits until the target answers with the pinned key; returns the seconds it took.
 * Another key (the old system still running, before kexec) counts as "not yet".
 */
export async function waitForSsh(t: SshTarget, timeoutSeconds: number, what: string): Promise<number> {
  const start = Date.now();
  let last = "";
  while (Date.now() - start < timeoutSeconds * 1000) {
    // a short connect timeout: qemu's user network accepts a connection for a guest that
    // is not up yet, and the attempt hangs until it times out (see lab/vm/vm-target)
    const r = sshRun(t, "true", { timeoutMs: 20_000, connectTimeoutSeconds: 3 });
    if (r.code === 0) return (Date.now() - start) / 1000;
    last = r.stderr.trim().split("\n").filter((l) => !l.startsWith("@")).slice(-2).join(" ");
    await new Promise((r2) => setTimeout(r2, 500));
  }
  throw new Error(`${what}: no SSH answer with the pinned key on ${t.address}:${t.port} within ${timeoutSeconds} s; last error: ${last}`);
}

/** The role marker test of docs/contracts.md, run on the target. */
export const ROLE_MARKER_TEST =
  "if [ -e /etc/initrd-release ]; then echo initrd; elif [ -e /etc/cdktf-nixos-installer/installer ]; then echo installer; elif [ -e /etc/NIXOS ]; then echo installed; else echo base; fi";

/** A fresh ed25519 key pair in a temp folder: { key, pub }. */
export function makeClientKey(dir: string, name: string): { key: string; pub: string } {
  const key = path.join(dir, name);
  execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", name, "-f", key]);
  return { key, pub: fs.readFileSync(`${key}.pub`, "utf8") };
}

/** The last lines of a VM's serial console, for failure messages. */
export function serialTail(vm: VmTarget, lines = 30): string {
  try {
    return fs.readFileSync(vm.serialLog, "utf8").split("\n").slice(-lines).join("\n");
  } catch {
    return "(no serial log)";
  }
}

/**
 * What the Nix-built installer has and the Debian guest lacks, for do-install: the
 * sources it carries (lab/target/installer-sources.json, which
 * __tests__/nix/upstream/installer-sources.test.ts proves to be what the installer
 * module writes, at /etc/cdktf-nixos-installer/sources.json, with stand-in store
 * directories) and, in `stubDir`, a nix-instantiate stand-in (the guest has no Nix) that
 * answers do-install's one question, the inputs of nix/templates/host/flake.nix, as the
 * real one does (the loopback lab asks the real one: __tests__/lab/chain.test.ts).
 */
export function carryInstallerSources(run: (command: string, input: string) => unknown, stubDir: string): void {
  const inputs = JSON.stringify({ "cdktf-nixos-installer": { more: [], url: "cdktf-nixos-installer" } });
  const stub = `#!/bin/sh\n# VM lab stand-in for nix-instantiate: the inputs of nix/templates/host/flake.nix\nprintf '%s\\n' '${inputs}'\n`;
  run(`mkdir -p '${stubDir}' && cat > '${stubDir}/nix-instantiate' && chmod 755 '${stubDir}/nix-instantiate'`, stub);
  run(
    "mkdir -p /etc/cdktf-nixos-installer && cat > /etc/cdktf-nixos-installer/sources.json && jq -r '.sources[].locked.path' /etc/cdktf-nixos-installer/sources.json | xargs mkdir -p",
    fs.readFileSync(path.join(ROOT, "lab", "target", "installer-sources.json"), "utf8"),
  );
}

/**
 * The commands nix/installer/commands.nix lists for an environment: what the NixOS
 * initrd (`initrd`) or the kexec installer (`installer`) really has on PATH.
 */
export function listedCommands(env: "initrd" | "installer"): string[] {
  const out = execFileSync(
    "nix-instantiate",
    ["--eval", "--strict", "--json", "-E", `builtins.concatMap (c: c.names) (import ${path.join(ROOT, "nix", "installer", "commands.nix")}).${env}.commands`],
    { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] },
  );
  return [...new Set(JSON.parse(out) as string[])].sort();
}

/**
 * Makes `dir` in the guest hold one link for each command the environment's list names
 * and nothing else, so a script run with PATH=dir can call only what that environment
 * has. `extraDirs` are searched besides the guest's own PATH (uploaded scripts, stubs).
 * Returns the listed commands the guest lacks (the lab image does not carry them).
 */
export function guestCommandDir(t: SshTarget, env: "initrd" | "installer", dir: string, extraDirs: string[] = []): { missing: string[] } {
  const search = [...extraDirs, "/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/usr/lib/systemd"].join(":");
  const script = [
    `rm -rf '${dir}' && mkdir -p '${dir}'`,
    "while IFS= read -r n; do",
    `  if p=$(PATH='${search}' type -P -- "$n"); then ln -s "$p" '${dir}'/"$n"; else printf 'missing %s\\n' "$n"; fi`,
    "done",
  ].join("\n");
  const out = sshOk(t, `bash -c '${script.replace(/'/g, "'\\''")}'`, { input: listedCommands(env).join("\n") + "\n" });
  return { missing: out.split("\n").filter((l) => l.startsWith("missing ")).map((l) => l.slice(8)) };
}
