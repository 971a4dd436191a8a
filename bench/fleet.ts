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
 * and the CPU of the apply: the deploy side's (terraform and its reaped children)
 * against the whole machine's (lab hosts and any other work). Below the rows it names
 * what serialized the hosts. Run it when the machine is quiet: the rows carry the
 * 1-minute load average before and after. Figures only; no test judges them.
 */
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
  const fleet = await startFleet({
    work: path.join(ROOT, ".lab", "bench-fleet", `${hosts}-${attempt}`),
    passphrase,
    hosts: Array.from({ length: hosts }, (_, i) => ({ name: `node-${i + 1}`, address: `127.0.9.${i + 1}` })),
    timeouts: TIMEOUTS,
  });
  try {
    const load0 = os.loadavg()[0];
    const peak: Sample = { rssBytes: 0, processes: 0, ssh: 0, phases: 0, deployCpuTicks: 0 };
    let tf: string | undefined;
    const supervisors = new Set(Object.values(fleet.hosts).map((h) => (read(path.join(h.dir, "supervisor.pid")) ?? "").trim()));
    const lab0 = treeCpuTicks(supervisors);
    const m0 = machineTicks();
    const timer = setInterval(() => {
      tf ??= findTerraform(fleet.stackDir);
      if (!tf) return;
      const s = sample(tf);
      for (const k of Object.keys(peak) as (keyof Sample)[]) peak[k] = Math.max(peak[k], s[k]);
    }, 500);
    // Terraform's own limit on resources applied at once, at least the host count.
    const apply = await fleet.tf(["apply", "-auto-approve", "-input=false", "-no-color", `-parallelism=${Math.max(10, hosts)}`], { timeoutMs: 1_800_000 });
    clearInterval(timer);
    const m1 = machineTicks();
    const lab1 = treeCpuTicks(supervisors);
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
      deployCpuSeconds: peak.deployCpuTicks / TICKS,
      labCpuSeconds: (lab1 - lab0) / TICKS,
      machineCpuSeconds: (m1.busy - m0.busy) / TICKS,
      bytesPerHost: figures.reduce((a, f) => a + f.bytes, 0) / hosts,
      mastersPerHost: figures.reduce((a, f) => a + f.masters, 0) / hosts,
      phaseSeconds,
      load: [load0, os.loadavg()[0]],
    };
  } finally {
    await fleet.close();
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
    "deployRSS: peak of the summed RSS of terraform's process group (shared pages counted per process); procs, ssh (established TCP to the lab's SSH ports), phases: peaks; tf CPU: the deploy side (terraform's process group); lab CPU: the lab hosts (their supervisors' process trees); all CPU: the whole machine during the apply, other work included; sent/h: bytes the SSH masters sent a host.",
  );
  for (const hosts of rows.filter((n) => n !== 1)) {
    const best = all.filter((r) => r.hosts === hosts).sort((a, b) => a.seconds - b.seconds)[0];
    if (!best || !base) continue;
    console.log(`\n${hosts} hosts (fastest run, ${(best.seconds / base.seconds).toFixed(2)}× one host):`);
    for (const line of limits(best, base)) console.log(`  - ${line}`);
  }
}

main().catch((error) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
