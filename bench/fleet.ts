/**
 * npm run bench:fleet [-- [--repeat N] COUNT...] — lab hosts installed by one
 * `terraform apply` with `-parallelism` at least the host count (default rows: 1, 10, 25
 * and 50 hosts, each measured twice). The fleet is the fault suite's (lab/faults/: the
 * FleetStack of NixosInstalls over simulated hosts on 127.0.9.x).
 *
 * Per row it prints the wall time of the apply and its ratio to one host, and what a
 * sampler saw every 0.5 s: the deploy side (terraform and everything in its process
 * group: the phase scripts, ssh, timeout, …) as peak summed RSS and processes, SSH
 * connections open (established TCP to the lab's SSH ports), phases running at once,
 * and the CPU of the apply: the deploy side's, the lab hosts' and the whole machine's.
 * The CPU is counted by two control groups of the bench's own (cgroup v1 cpuacct, or v2
 * cpu.stat), one for the lab hosts and one for terraform: the kernel charges a group for
 * every process in it and every process such a process starts, whatever reaps it, so
 * the lab's killed namespaces (sshd, sessions, recorders) are counted too. Without
 * cgroups (not root, no cpuacct) it falls back to summing /proc's process trees, which
 * misses those, and says so. Below the rows it names what serialized the hosts. Run it
 * when the machine is quiet: the rows carry the 1-minute load average before and after.
 * Figures only; no test judges them.
 */
import { execFileSync } from "child_process";
import { randomBytes } from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { PHASES } from "../lib";
import { startFleet } from "../lab/faults/fault-lab";
import { allPhaseFigures, ROOT } from "../lab/lab";

const TIMEOUTS = { probe: 300, kexec: 600, install: 600, unlock: 600, verify: 300 };
/** The ports lab hosts serve SSH on (lab-host up --port 10022 --unlock-port 10023). */
const LAB_SSH_PORTS = new Set([10022, 10023]);
const PAGE = 4096;
const TICKS = 100; // USER_HZ: /proc's clock ticks a second on Linux

interface Sample {
  rssBytes: number;
  processes: number;
  ssh: number;
  phases: number;
  deployCpuTicks: number;
}

interface Row {
  hosts: number;
  seconds: number;
  failed: number;
  peak: Sample;
  deployCpuSeconds: number;
  labCpuSeconds: number;
  machineCpuSeconds: number;
  bytesPerHost: number;
  mastersPerHost: number;
  phaseSeconds: Record<string, number>;
  load: [number, number];
  /** How the CPU columns were counted: "cgroup" (exact) or "proc trees" (the fallback). */
  cpuBy: string;
}

const read = (file: string): string | undefined => {
  try {
    return fs.readFileSync(file, "utf8");
  } catch {
    return undefined; // the process ended between the listing and the read
  }
};

/** Fields of /proc/PID/stat after the command name (field 3 is index 0). */
function statFields(pid: string): string[] | undefined {
  const stat = read(`/proc/${pid}/stat`);
  return stat === undefined ? undefined : stat.slice(stat.lastIndexOf(")") + 2).split(" ");
}

/** Busy and total jiffies of the whole machine (/proc/stat's cpu line). */
function machineTicks(): { busy: number; total: number } {
  const f = (read("/proc/stat") ?? "").split("\n")[0].trim().split(/\s+/).slice(1).map(Number);
  const total = f.reduce((a, b) => a + b, 0);
  return { busy: total - f[3] - (f[4] ?? 0), total };
}

/** Established TCP connections to a lab SSH port, from this network namespace's tables. */
function sshConnections(): number {
  let n = 0;
  for (const table of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    for (const line of (read(table) ?? "").split("\n").slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols.length < 4 || cols[3] !== "01") continue;
      if (LAB_SSH_PORTS.has(parseInt(cols[2].split(":")[1], 16))) n++;
    }
  }
  return n;
}

/** The terraform process applying in stackDir (its pid is its process group: lab.ts starts it detached). */
function findTerraform(stackDir: string): string | undefined {
  for (const pid of fs.readdirSync("/proc").filter((p) => /^\d+$/.test(p))) {
    const argv = (read(`/proc/${pid}/cmdline`) ?? "").split("\0");
    if (path.basename(argv[0]) === "terraform" && argv.includes(`-chdir=${stackDir}`) && argv.includes("apply")) return pid;
  }
  return undefined;
}

/** A control group that counts CPU, and how to read it. */
interface CpuGroup {
  readonly dir: string;
  /** Moves a process (and what it starts from then on) into the group. */
  enter(pid: number): void;
  /** CPU-seconds charged to the group since it was made. */
  seconds(): number;
  remove(): void;
}

/** The hierarchy that counts CPU: cgroup v2's, or v1's cpuacct. */
interface CgroupRoot {
  readonly dir: string;
  readonly v2: boolean;
  /** The group this process is in, to return to (its path in /proc/self/cgroup, below dir). */
  readonly home: string;
  /** Unmounts it, when the bench mounted it. */
  readonly release: () => void;
}

/**
 * The CPU-counting hierarchy this process is in (/proc/self/cgroup: a v1 line naming
 * cpuacct, else the v2 line). It is at /sys/fs/cgroup; under `ip netns exec`, which
 * mounts a sysfs of the network namespace's own without it, the bench mounts the same
 * hierarchy on a temporary directory (in the private mount namespace that `ip netns
 * exec` made; it goes with it).
 */
let cgroupRoot: CgroupRoot | string | undefined;
function findCgroupRoot(): CgroupRoot | string {
  const lines = (read("/proc/self/cgroup") ?? "").split("\n").map((l) => l.split(":"));
  const v1 = lines.find(([, controllers]) => controllers !== undefined && controllers.split(",").includes("cpuacct"));
  const line = v1 ?? lines.find(([id, controllers]) => id === "0" && controllers === "");
  if (!line) return "no cpuacct (v1) or unified (v2) line in /proc/self/cgroup";
  const v2 = !v1;
  const where = line[2];
  const atSys = v1 ? `/sys/fs/cgroup/${v1[1]}` : "/sys/fs/cgroup";
  if (fs.existsSync(`${atSys}/cgroup.procs`)) return { dir: atSys, v2, home: path.join(atSys, where), release: () => {} };
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "bench-cgroup-"));
  try {
    execFileSync("mount", v1 ? ["-t", "cgroup", "-o", v1[1], "none", dir] : ["-t", "cgroup2", "none", dir], { stdio: "pipe" });
  } catch (error) {
    fs.rmdirSync(dir);
    return `no cgroup hierarchy at ${atSys}, and mounting one failed: ${String((error as { stderr?: Buffer }).stderr ?? error).trim()}`;
  }
  return {
    dir,
    v2,
    home: path.join(dir, where),
    release: () => {
      try {
        execFileSync("umount", [dir], { stdio: "pipe" });
        fs.rmdirSync(dir);
      } catch {
        // left for the mount namespace's end
      }
    },
  };
}

/** A new CPU-counting group beside the hierarchy's root one, or why there is none. */
function cpuGroup(root: CgroupRoot, name: string): CpuGroup | string {
  const dir = path.join(root.dir, name);
  try {
    fs.mkdirSync(dir);
  } catch (error) {
    return `cannot make ${dir}: ${(error as Error).message}`;
  }
  const usage = () =>
    root.v2 ? Number(/^usage_usec (\d+)$/m.exec(read(path.join(dir, "cpu.stat")) ?? "")?.[1]) / 1e6 : Number(read(path.join(dir, "cpuacct.usage"))) / 1e9;
  return {
    dir,
    enter: (pid) => fs.writeFileSync(path.join(dir, "cgroup.procs"), `${pid}\n`),
    seconds: usage,
    remove: () => {
      try {
        fs.rmdirSync(dir);
      } catch (error) {
        console.error(`bench: could not remove ${dir} (${(error as Error).message}); remove it once its processes are gone`);
      }
    },
  };
}

/** The lab's and the deploy side's groups, and the way back for this process; or why not. */
function cpuGroups(tag: string): { lab: CpuGroup; deploy: CpuGroup; home: () => void; remove: () => void } | string {
  cgroupRoot ??= findCgroupRoot();
  const root = cgroupRoot;
  if (typeof root === "string") return root;
  const lab = cpuGroup(root, `cdktf-bench-lab-${tag}`);
  if (typeof lab === "string") return lab;
  const deploy = cpuGroup(root, `cdktf-bench-deploy-${tag}`);
  if (typeof deploy === "string") {
    lab.remove();
    return deploy;
  }
  return {
    lab,
    deploy,
    home: () => fs.writeFileSync(path.join(root.home, "cgroup.procs"), `${process.pid}\n`),
    remove: () => {
      lab.remove();
      deploy.remove();
    },
  };
}

/**
 * utime + stime + cutime + cstime: a process's CPU and that of the children it reaped.
 * Summed over the live processes of a tree at one instant, every process that ever ran
 * in it is counted once (in itself, or in the process that reaped it).
 */
const cpuTicks = (f: string[]) => [11, 12, 13, 14].reduce((a, i) => a + Number(f[i]), 0);

/** pid → stat fields of every process, at one instant. */
function processTable(): Map<string, string[]> {
  const table = new Map<string, string[]>();
  for (const pid of fs.readdirSync("/proc").filter((p) => /^\d+$/.test(p))) {
    const f = statFields(pid);
    if (f) table.set(pid, f);
  }
  return table;
}

/** CPU ticks of the process trees under `roots` (the lab hosts' supervisors), at one instant. */
function treeCpuTicks(roots: Set<string>, table = processTable()): number {
  const inTree = new Map<string, boolean>();
  const member = (pid: string): boolean => {
    if (roots.has(pid)) return true;
    const known = inTree.get(pid);
    if (known !== undefined) return known;
    inTree.set(pid, false); // (cycle guard)
    const ppid = table.get(pid)?.[1];
    const yes = ppid !== undefined && ppid !== "0" && member(ppid);
    inTree.set(pid, yes);
    return yes;
  };
  let ticks = 0;
  for (const [pid, f] of table) if (member(pid)) ticks += cpuTicks(f);
  return ticks;
}

/** One look at the deploy side: every process in terraform's process group. */
function sample(tf: string): Sample {
  const s: Sample = { rssBytes: 0, processes: 0, ssh: sshConnections(), phases: 0, deployCpuTicks: 0 };
  const scripts = new Map<string, string>(); // pid → ppid of the phase scripts' bash processes
  for (const [pid, f] of processTable()) {
    if (f[2] !== tf) continue; // field 5: process group
    s.processes++;
    s.rssBytes += Number((read(`/proc/${pid}/statm`) ?? "0 0").split(" ")[1]) * PAGE;
    s.deployCpuTicks += cpuTicks(f);
    if (/phase-[a-z]+\.sh/.test(read(`/proc/${pid}/cmdline`) ?? "") && (read(`/proc/${pid}/comm`) ?? "").trim() === "bash") scripts.set(pid, f[1]);
  }
  // A running phase is a script whose parent is not itself a script (subshells fork bash).
  s.phases = [...scripts.values()].filter((ppid) => !scripts.has(ppid)).length;
  return s;
}

async function one(hosts: number, attempt: number): Promise<Row> {
  const passphrase = `bench-${randomBytes(8).toString("hex")}`;
  // The lab hosts are born in the lab's group (this process enters it while it starts
  // them, and leaves it after); terraform is born in the deploy side's (below).
  const groups = cpuGroups(`${process.pid}-${hosts}-${attempt}`);
  if (typeof groups === "string") console.error(`bench: CPU counted from /proc's process trees, which miss the lab's killed namespaces (${groups})`);
  else groups.lab.enter(process.pid);
  const fleet = await startFleet({
    work: path.join(ROOT, ".lab", "bench-fleet", `${hosts}-${attempt}`),
    passphrase,
    hosts: Array.from({ length: hosts }, (_, i) => ({ name: `node-${i + 1}`, address: `127.0.9.${i + 1}` })),
    timeouts: TIMEOUTS,
  }).finally(() => {
    if (typeof groups !== "string") groups.home();
  });
  try {
    const load0 = os.loadavg()[0];
    const peak: Sample = { rssBytes: 0, processes: 0, ssh: 0, phases: 0, deployCpuTicks: 0 };
    let tf: string | undefined;
    const supervisors = new Set(Object.values(fleet.hosts).map((h) => (read(path.join(h.dir, "supervisor.pid")) ?? "").trim()));
    const lab0 = treeCpuTicks(supervisors);
    const g0 = typeof groups === "string" ? undefined : { lab: groups.lab.seconds(), deploy: groups.deploy.seconds() };
    const m0 = machineTicks();
    const timer = setInterval(() => {
      tf ??= findTerraform(fleet.stackDir);
      if (!tf) return;
      const s = sample(tf);
      for (const k of Object.keys(peak) as (keyof Sample)[]) peak[k] = Math.max(peak[k], s[k]);
    }, 500);
    // Terraform's own limit on resources applied at once, at least the host count.
    // (terraform is spawned before fleet.tf returns: it starts in the deploy side's group
    // and this process, whose sampling is no part of the chain, goes back at once)
    if (typeof groups !== "string") groups.deploy.enter(process.pid);
    const applying = fleet.tf(["apply", "-auto-approve", "-input=false", "-no-color", `-parallelism=${Math.max(10, hosts)}`], { timeoutMs: 1_800_000 });
    if (typeof groups !== "string") groups.home();
    const apply = await applying;
    clearInterval(timer);
    const m1 = machineTicks();
    const lab1 = treeCpuTicks(supervisors);
    const g1 = typeof groups === "string" ? undefined : { lab: groups.lab.seconds(), deploy: groups.deploy.seconds() };
    fs.writeFileSync(path.join(fleet.work, "apply.log"), apply.output);
    const figures = allPhaseFigures(apply.output);
    const verified = new Set(apply.output.split("\n").filter((l) => / verified: /.test(l)).map((l) => /\[([a-z0-9-]+) verify\]/.exec(l)?.[1]));
    const phaseSeconds: Record<string, number> = {};
    for (const phase of PHASES) {
      const of = figures.filter((f) => f.phase === phase);
      phaseSeconds[phase] = of.length ? of.reduce((a, f) => a + f.seconds, 0) / of.length : NaN;
    }
    return {
      hosts,
      seconds: apply.seconds,
      failed: hosts - verified.size,
      peak,
      deployCpuSeconds: g0 && g1 ? g1.deploy - g0.deploy : peak.deployCpuTicks / TICKS,
      labCpuSeconds: g0 && g1 ? g1.lab - g0.lab : (lab1 - lab0) / TICKS,
      cpuBy: g0 && g1 ? "cgroup" : "proc trees",
      machineCpuSeconds: (m1.busy - m0.busy) / TICKS,
      bytesPerHost: figures.reduce((a, f) => a + f.bytes, 0) / hosts,
      mastersPerHost: figures.reduce((a, f) => a + f.masters, 0) / hosts,
      phaseSeconds,
      load: [load0, os.loadavg()[0]],
    };
  } finally {
    await fleet.close();
    if (typeof groups !== "string") groups.remove();
  }
}

const pad = (v: string | number, w: number) => String(v).padStart(w);

function printRow(r: Row, base: Row | undefined): void {
  const cores = os.cpus().length;
  const busy = (100 * r.machineCpuSeconds) / (r.seconds * cores);
  console.log(
    [
      pad(r.hosts, 5),
      pad(`${r.seconds.toFixed(1)} s`, 8),
      pad(base ? `${(r.seconds / base.seconds).toFixed(2)}×` : "", 6),
      pad(r.failed ? `${r.failed} FAILED` : "all", 8),
      pad(`${(r.peak.rssBytes / 1048576).toFixed(0)} MiB`, 9),
      pad(`${(r.peak.rssBytes / 1048576 / r.hosts).toFixed(1)}`, 6),
      pad(r.peak.processes, 5),
      pad(r.peak.ssh, 4),
      pad(r.peak.phases, 6),
      pad(`${r.deployCpuSeconds.toFixed(1)} s`, 8),
      pad(`${r.labCpuSeconds.toFixed(1)} s`, 8),
      pad(`${r.machineCpuSeconds.toFixed(1)} s`, 8),
      pad(`${busy.toFixed(0)} %`, 5),
      pad(`${(r.bytesPerHost / 1024).toFixed(0)} KiB`, 8),
      `${r.load[0].toFixed(2)}→${r.load[1].toFixed(2)}`,
    ].join(" "),
  );
}

/** What held the hosts back in a row, in words, from the sampler's figures. */
function limits(r: Row, base: Row): string[] {
  const out: string[] = [];
  const cores = os.cpus().length;
  const busy = r.machineCpuSeconds / (r.seconds * cores);
  out.push(
    r.peak.phases >= r.hosts
      ? `no lock: all ${r.hosts} chains ran at once (peak ${r.peak.phases} phase scripts, ${r.peak.ssh} SSH connections)`
      : `at most ${r.peak.phases} of ${r.hosts} phase scripts ran at once: something serialized them (see the apply log)`,
  );
  if (busy >= 0.85) {
    const other = Math.max(0, r.machineCpuSeconds - r.deployCpuSeconds - r.labCpuSeconds);
    const users: [string, number][] = [
      ["the chain (deploy side)", r.deployCpuSeconds],
      ["the lab hosts", r.labCpuSeconds],
      ["other work on the machine", other],
    ];
    const [top] = [...users].sort((a, b) => b[1] - a[1]);
    out.push(
      `CPU: the ${cores} cores were ${(100 * busy).toFixed(0)} % busy; ` +
        users.map(([who, s]) => `${who} ${s.toFixed(1)} CPU-s`).join(", ") +
        ` (the chain ${(r.deployCpuSeconds / r.hosts).toFixed(2)} CPU-s a host, the lab ${(r.labCpuSeconds / r.hosts).toFixed(2)}): the limit is CPU, most of it used by ${top[0]}` +
        (top[0] === "the lab hosts" ? " — the lab, not the chain, is the limit" : ""),
    );
  } else {
    out.push(`CPU not saturated (${(100 * busy).toFixed(0)} % of ${cores} cores busy)`);
  }
  // What the chain alone would need of this machine, lab or no lab.
  const floor = r.deployCpuSeconds / cores;
  out.push(
    `the chain's own CPU (${r.deployCpuSeconds.toFixed(1)} CPU-s, counted by ${r.cpuBy}) on ${cores} cores takes at least ${floor.toFixed(0)} s, ${(floor / base.seconds).toFixed(1)}× one host's apply: ` +
      (floor <= 3 * base.seconds ? "the chain alone fits the 3× goal here; the rest is the lab's" : "the chain alone misses the 3× goal on this machine"),
  );
  const slower = PHASES.map((p) => `${p} ${(r.phaseSeconds[p] / base.phaseSeconds[p]).toFixed(1)}×`).join(", ");
  out.push(`each phase took longer than with one host (mean script seconds): ${slower}`);
  return out;
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const repeatAt = args.indexOf("--repeat");
  const repeat = repeatAt >= 0 ? Number(args[repeatAt + 1]) : 2;
  const counts = args.filter((_, i) => repeatAt < 0 || (i !== repeatAt && i !== repeatAt + 1)).map(Number);
  const rows = counts.length ? counts : [10, 25, 50];
  if (!Number.isInteger(repeat) || repeat < 1 || rows.some((n) => !Number.isInteger(n) || n < 1 || n > 250)) {
    console.error("usage: npm run bench:fleet [-- [--repeat N] COUNT...]   (1 to 250 hosts a row; default 10 25 50, each twice, after one host)");
    process.exit(2);
  }
  console.log(`node ${process.version}, ${os.cpus().length} CPUs, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, load ${os.loadavg().map((l) => l.toFixed(2)).join(" ")}`);
  console.log(`one terraform apply a row, -parallelism=max(10, hosts); each row ${repeat}×`);
  console.log(
    `${pad("hosts", 5)} ${pad("wall", 8)} ${pad("×1", 6)} ${pad("verified", 8)} ${pad("deployRSS", 9)} ${pad("/host", 6)} ${pad("procs", 5)} ${pad("ssh", 4)} ${pad("phases", 6)} ${pad("tf CPU", 8)} ${pad("lab CPU", 8)} ${pad("all CPU", 8)} ${pad("busy", 5)} ${pad("sent/h", 8)} load`,
  );
  const all: Row[] = [];
  let base: Row | undefined;
  for (const hosts of [1, ...rows.filter((n) => n !== 1)]) {
    for (let attempt = 1; attempt <= repeat; attempt++) {
      const r = await one(hosts, attempt);
      all.push(r);
      if (hosts === 1 && (!base || r.seconds < base.seconds)) base = r;
      printRow(r, base);
    }
  }
  console.log(
    "deployRSS: peak of the summed RSS of terraform's process group (shared pages counted per process); procs, ssh (established TCP to the lab's SSH ports), phases: peaks; tf CPU: the deploy side (terraform and every process it started); lab CPU: the lab hosts (every process of theirs, killed namespaces included, when counted by cgroup; their supervisors' live trees otherwise); all CPU: the whole machine during the apply, this bench's own sampling and other work included; sent/h: bytes the SSH masters sent a host.",
  );
  for (const hosts of rows.filter((n) => n !== 1)) {
    const best = all.filter((r) => r.hosts === hosts).sort((a, b) => a.seconds - b.seconds)[0];
    if (!best || !base) continue;
    console.log(`\n${hosts} hosts (fastest run, ${(best.seconds / base.seconds).toFixed(2)}× one host):`);
    for (const line of limits(best, base)) console.log(`  - ${line}`);
  }
  if (cgroupRoot !== undefined && typeof cgroupRoot !== "string") cgroupRoot.release();
}

main().catch((error) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
