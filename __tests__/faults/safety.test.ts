// The fault suite for issue 10, "nothing destroyed by surprise": data disks and stacked
// storage (S1, S2), Ctrl-C during the install (S3), deadlines (S4), SSH masters after a
// kill (S5), the records on the deploy machine across replacements (S6), passphrases
// with a line break (S12) and virtual network interfaces (S14). The real terraform runs
// the chain against lab hosts (lab/target/) whose disks are the VM lab's recordings of
// real layouts (profiles stacked-*); __tests__/vm/stacked-storage.test.ts runs the
// same checks on those layouts on a real kernel. Rows go to docs/RELIABILITY.md.
import * as fs from "fs";
import * as path from "path";
import { execFileSync } from "child_process";
import { KexecBundle, PassphraseSource } from "../../lib";
import { canary, DISK_TOOLS, must, noLeftovers, phasesRun, quote, TIMEOUTS, toolCalls, verified } from "../../lab/faults/checks";
import { firstError, Fleet, hostLines, labHostRoleAsync, labRecords, TfRun } from "../../lab/faults/fault-lab";
import { fleetSuite, hostSeconds, scenario } from "../../lab/faults/scenario";
import { ROOT } from "../../lab/lab";
import { ssh } from "../target/lab-helpers";

const WORK = path.join(ROOT, ".lab", "faults", "safety");
const TEST_TIMEOUT = 480_000;
const { pool, fleetOf } = fleetSuite(3);

const profile = (name: string) => JSON.parse(fs.readFileSync(path.join(ROOT, "lab", "target", "profiles", name, "profile.json"), "utf8"));
/** The by-id path a profile gives kernel disk `kname`. */
const byId = (name: string, kname: string) => `/dev/disk/by-id/${Object.entries(profile(name).byId as Record<string, string>).find(([, k]) => k === kname)![0]}`;
/** Terraform's lines of one phase resource of a host (its script's lines and the target scripts' stderr). */
const phaseLines = (f: Fleet, run: TfRun, name: string, phase: string) => run.output.split("\n").filter((l) => l.startsWith(`${f.address(name, phase)} (local-exec): `));
/** The same, without Terraform's prefix. */
const phaseOutput = (f: Fleet, run: TfRun, name: string, phase: string) => phaseLines(f, run, name, phase).map((l) => l.replace(/^.*?\(local-exec\): /, "")).join("\n");
/** The first line of a phase's output that matches. */
const line = (f: Fleet, run: TfRun, name: string, phase: string, re: RegExp) => phaseOutput(f, run, name, phase).split("\n").find((l) => re.test(l)) ?? "";
/** The role each lab host of the fleet plays now (asked before the hosts go down). */
const rolesOf = async (f: Fleet) => Object.fromEntries(await Promise.all(Object.keys(f.hosts).map(async (n) => [n, await labHostRoleAsync(f.hosts[n].dir)]))) as Record<string, string>;

/** The stopped-at-probe checks: refused by the target script, nothing kexec'd or touched, still base. */
function refusedAtProbe(f: Fleet, run: TfRun, roles: Record<string, string>, name: string): string {
  const e = firstError(run.output, name);
  must(e.startsWith(`[${name} probe] error: write-runtime-info refused the host`), `probe should refuse, got: ${e}`, run, name);
  must(toolCalls(f, name, ...DISK_TOOLS, "kexec").length === 0, "no disk tool and no kexec may run");
  must(roles[name] === "base", `the host should still run its base system, is ${roles[name]}`);
  return e;
}

// ---- S1, S2: data disks and stacked storage, as the base system shows them -----------

const disksRun = pool.add(async () => {
  const passphrase = canary();
  const f = await fleetOf({
    work: path.join(WORK, "disks"),
    passphrase,
    hosts: [
      { name: "data-disk", address: "127.0.9.151", profile: "stacked-data-disk", props: { disks: [byId("stacked-data-disk", "sda"), byId("stacked-data-disk", "sdd")] } },
      { name: "md-root", address: "127.0.9.152", profile: "stacked-md-root" },
      { name: "md-root-named", address: "127.0.9.153", profile: "stacked-md-root", props: { disks: [byId("stacked-md-root", "sdb"), byId("stacked-md-root", "sdc")] } },
      // probe and kexec with wipe everything, then the install with base-system: the installer looks again
      { name: "data-recheck", address: "127.0.9.154", profile: "stacked-data-disk", wipe: "everything", props: { disks: [byId("stacked-data-disk", "sda"), byId("stacked-data-disk", "sdd")] } },
    ],
    timeouts: TIMEOUTS,
  });
  try {
    const probed = await f.apply({ targets: ["data-disk", "md-root", "md-root-named"].map((n) => f.address(n, "probe")).concat(f.address("data-recheck", "kexec")), timeoutMs: 300_000 });
    f.resynth((m) => (m.name === "data-recheck" ? { ...m, wipe: "base-system" } : m));
    const recheck = await f.apply({ targets: [f.address("data-recheck", "install")], timeoutMs: 300_000 });
    return { f, passphrase, probed, recheck, roles: await rolesOf(f) };
  } finally {
    await f.close();
  }
});

scenario(
  {
    id: "S1.1",
    title: "issue 10 item 1: wipe base-system, disks = the root disk and a data disk holding a mounted ext4 and LUKS (holding LVM)",
    expected: "probe refuses before kexec, naming the data disk, every layer on it (lsblk view) and the way forward (wipe = \"everything\"); nothing is wiped",
    timeoutMs: TEST_TIMEOUT,
    file: __filename,
  },
  async () => {
    const { value: r } = await disksRun;
    const e = refusedAtProbe(r.f, r.probed, r.roles, "data-disk");
    const why = line(r.f, r.probed, "data-disk", "probe", /^error: disk /);
    must(
      why === `error: disk ${byId("stacked-data-disk", "sdd")} (sdd) is not blank: sdd1 (part, ext4, mounted at /srv/data), sdd2 (part, crypto_LUKS), secret (crypt, LVM2_member), vgdata-home (lvm, ext4); wipe = "base-system" replaces only the disk(s) holding the running root filesystem (sda): leave this disk out of disks, or set wipe = "everything" to wipe it (what it holds is lost)`,
      `the target should name the disk and each layer, got: ${why}`,
      r.probed,
      "data-disk",
    );
    return { happened: `refused at probe: ${quote(e)}, target: "${why}"; 0 disk tool calls, no kexec, host still base; lost: nothing`, seconds: hostSeconds("data-disk", r.probed.output) };
  },
);

scenario(
  {
    id: "S1.2",
    title: "issue 10 item 1: the installer looks again (probe passed with wipe everything, the install runs with base-system)",
    expected: "do-install refuses the data disk from its own lsblk view before anything is wiped; the host stays in the installer",
    timeoutMs: TEST_TIMEOUT,
    file: __filename,
  },
  async () => {
    const { value: r } = await disksRun;
    const name = "data-recheck";
    must(r.probed.code === 0 || phasesRun(r.probed, name).includes("kexec"), "probe and kexec should have run", r.probed, name);
    const e = firstError(r.recheck.output, name);
    must(e.startsWith(`[${name} install] error: do-install failed; nothing was rebooted`), `install should fail, got: ${e}`, r.recheck, name);
    const why = line(r.f, r.recheck, name, "install", /^error: disk /);
    must(why.startsWith(`error: disk ${byId("stacked-data-disk", "sdd")} is not blank: sdd1 (part, ext4), sdd2 (part, crypto_LUKS), secret (crypt, LVM2_member), vgdata-home (lvm, ext4); wipe = "base-system" replaces only the disk(s) that held the base system's root filesystem`), `do-install should name the disk and its layers, got: ${why}`, r.recheck, name);
    must(toolCalls(r.f, name, ...DISK_TOOLS).length === 0, "no disk tool may run");
    must(r.roles[name] === "installer", `the host should stay in the installer, is ${r.roles[name]}`);
    return { happened: `do-install refused: "${why.slice(0, 220)}…"; 0 disk tool calls; host still installer; lost: nothing`, seconds: hostSeconds(name, r.recheck.output) };
  },
);

scenario(
  {
    id: "S2.1",
    title: "issue 10 item 2: / on md RAID1 over two disks (and a ZFS pool on a further md array), no disks given",
    expected: "probe refuses to pick one RAID member and names both disks to give; nothing is wiped",
    timeoutMs: TEST_TIMEOUT,
    file: __filename,
  },
  async () => {
    const { value: r } = await disksRun;
    const e = refusedAtProbe(r.f, r.probed, r.roles, "md-root");
    const why = line(r.f, r.probed, "md-root", "probe", /^error: \/ is on /);
    must(
      why === `error: / is on md0 (raid1) over the disks sdb, sdc, not on one disk; refusing to pick one: name the disks to install on, e.g. disks = ["${byId("stacked-md-root", "sdb")}", "${byId("stacked-md-root", "sdc")}"] (two or more make a mirrored pool)`,
      `the target should name both members, got: ${why}`,
      r.probed,
      "md-root",
    );
    return { happened: `refused at probe: ${quote(e)}, target: "${why}"; 0 disk tool calls, no kexec, host still base; lost: nothing`, seconds: hostSeconds("md-root", r.probed.output) };
  },
);

scenario(
  {
    id: "S2.2",
    title: "issue 10 item 2: the same server with both RAID disks named, wipe base-system",
    expected: "probe looks through md and the partition on md1 and refuses the ZFS pool there; nothing is wiped",
    timeoutMs: TEST_TIMEOUT,
    file: __filename,
  },
  async () => {
    const { value: r } = await disksRun;
    const name = "md-root-named";
    const e = refusedAtProbe(r.f, r.probed, r.roles, name);
    const why = line(r.f, r.probed, name, "probe", /^error: disk /);
    must(why.includes("holds the running root filesystem but also what the base system does not run from: sdb3 (part, linux_raid_member), md1p1 (part, zfs_member, partlabel zfs-tank)"), `the pool below md should be named, got: ${why}`, r.probed, name);
    return { happened: `refused at probe: ${quote(e)}, target: "${why}"; 0 disk tool calls, no kexec, host still base; lost: nothing`, seconds: hostSeconds(name, r.probed.output) };
  },
);

// ---- S3: Ctrl-C during the install, then an immediate second apply -------------------

/** Heartbeats of the lab's slow nixos-install: [ms, pid] a line. */
function heartbeats(f: Fleet, name: string): [number, number][] {
  const file = path.join(f.hosts[name].dir, "records", "nixos-install.heartbeat");
  if (!fs.existsSync(file)) return [];
  return fs.readFileSync(file, "utf8").trim().split("\n").filter(Boolean).map((l) => l.split(" ").map(Number) as [number, number]);
}

function interruptRun(name: string, address: string, group: boolean) {
  return pool.add(async () => {
    const passphrase = canary();
    const f = await fleetOf({ work: path.join(WORK, name), passphrase, hosts: [{ name, address, faults: ["slow-nixos-install"] }], timeouts: TIMEOUTS });
    try {
      const first = await f.apply({ timeoutMs: 300_000, signal: { when: () => heartbeats(f, name).length > 0, signal: "SIGINT", group } });
      const second = await f.apply({ timeoutMs: 300_000 });
      return { f, passphrase, first, second, beats: heartbeats(f, name), records: labRecords(f.hosts[name]), role: (await rolesOf(f))[name] };
    } finally {
      await f.close();
    }
  });
}

const sigintAlone = interruptRun("sigint-tf", "127.0.9.161", false);
const sigintGroup = interruptRun("sigint-pg", "127.0.9.162", true);

[
  ["S3.1", "sigint-tf", sigintAlone, "terraform alone (as a CI runner cancels it)"],
  ["S3.2", "sigint-pg", sigintGroup, "terraform's whole process group (as a terminal's Ctrl-C)"],
].forEach(([id, name, run, to]) => {
  scenario(
    {
      id: id as string,
      title: `issue 10 item 3: SIGINT to ${to} while do-install runs nixos-install, then at once a second terraform apply`,
      expected: "the deploy side ends the remote do-install (and nixos-install) within seconds; the second apply's do-install starts after the first is gone, never beside it, and installs and verifies",
      timeoutMs: TEST_TIMEOUT,
      file: __filename,
    },
    async () => {
      const { value: r } = await (run as typeof sigintAlone);
      const n = name as string;
      must(/Interrupt received/.test(r.first.output) && r.first.signalledAt, "the first apply should be interrupted", r.first);
      const firstPid = r.records.find((x) => x.tool === "nixos-install" && x.event === "started")?.pid;
      const lastBeat = Math.max(...r.beats.filter(([, pid]) => pid === firstPid).map(([ms]) => ms));
      const ended = (lastBeat - r.first.signalledAt!) / 1000;
      must(ended < 10, `the first nixos-install should end within 10 s of the interrupt, beat on for ${ended.toFixed(1)} s`);
      // the second do-install's first destructive step (releasing the first attempt's pool, or a wipe)
      const destroy = r.records.find((x) => x.role === "installer" && Date.parse(String(x.time)) > r.first.signalledAt! && ((x.tool === "zpool" && x.argv?.[0] === "destroy") || x.tool === "sgdisk" || x.tool === "wipefs"));
      must(destroy, "the second apply should redo the layout");
      const gap = (Date.parse(String(destroy!.time)) - lastBeat) / 1000;
      must(gap > 0, `the second do-install began ${(-gap).toFixed(1)} s before the first ended: two installs at once`);
      must(r.second.code === 0 && verified(r.second, n), "the second apply should install and verify", r.second, n);
      must(r.role === "installed", `the host should be installed, is ${r.role}`);
      noLeftovers(r.f, r.passphrase);
      return {
        happened: `first nixos-install ended ${ended.toFixed(1)} s after the SIGINT; the second apply's first destructive step (${destroy!.tool} ${(destroy!.argv ?? []).join(" ").slice(0, 40)}) came ${gap.toFixed(1)} s after the first's last sign of life; installed and verified; lost: nothing`,
        seconds: hostSeconds(n, r.first.output, r.second.output),
      };
    },
  );
});

const lockRun = pool.add(async () => {
  const passphrase = canary();
  const name = "lock";
  const f = await fleetOf({ work: path.join(WORK, name), passphrase, hosts: [{ name, address: "127.0.9.163", faults: ["slow-nixos-install"] }], timeouts: TIMEOUTS });
  try {
    const apply = f.apply({ timeoutMs: 300_000 });
    const deadline = Date.now() + 120_000;
    while (heartbeats(f, name).length === 0 && Date.now() < deadline) await new Promise((res) => setTimeout(res, 250));
    const h = f.hosts[name];
    const installerKey = fs.readFileSync(path.join(f.hostsDir, name, "pins", "installer"), "utf8").trim();
    const holder = ssh(h, installerKey, "cat /run/cdktf-nixos-installer/lock.holder").stdout.trim();
    const before = labRecords(h).length;
    const dir = "/run/cdktf-nixos-installer";
    const second = ssh(h, installerKey, `bash ${dir}/do-install --runtime-info ${dir}/runtime-info.json --template ${dir}/template --authorized-keys ${dir}/authorized_keys --lock-wait 3`, `${passphrase}\n`);
    const during = labRecords(h).slice(before).filter((x) => DISK_TOOLS.includes(x.tool));
    const first = await apply;
    return { f, passphrase, name, holder, second, during, first };
  } finally {
    await f.close();
  }
});

scenario(
  {
    id: "S3.3",
    title: "issue 10 item 3: a second do-install on the host while the first one runs",
    expected: "the second waits (bounded, --lock-wait) and refuses naming the first one's PID and start time, touching nothing; the first finishes",
    timeoutMs: TEST_TIMEOUT,
    file: __filename,
  },
  async () => {
    const { value: r } = await lockRun;
    const [pid, started] = r.holder.split(" ");
    must(/^\d+$/.test(pid) && /^\d{4}-\d\d-\d\dT/.test(started), `the lock should name its holder, holds: ${r.holder}`);
    const refusal = r.second.stderr.split("\n").find((l) => l.startsWith("error: ")) ?? "";
    must(r.second.status === 1 && refusal === `error: another do-install (PID ${pid}, started ${started}) still holds the disks of this host after 3 s; nothing was touched: let it finish, or end it (kill ${pid}) if it belongs to an interrupted run, then run terraform apply again`, `the second do-install should refuse naming the first, got (exit ${r.second.status}): ${r.second.stderr}`);
    must(r.during.length === 0, `the second do-install touched the disks: ${r.during.map((x) => x.tool).join(", ")}`);
    must(r.first.code === 0 && verified(r.first, r.name), "the first install should finish and verify", r.first, r.name);
    noLeftovers(r.f, r.passphrase);
    return { happened: `second do-install: "${refusal}"; 0 disk tool calls while it waited; the first installed and verified; lost: nothing`, seconds: hostSeconds(r.name, r.first.output) };
  },
);

// ---- S4: no destructive step without the time to finish it ---------------------------

const deadlineRun = pool.add(async () => {
  const passphrase = canary();
  const work = path.join(WORK, "deadlines");
  fs.mkdirSync(work, { recursive: true });
  const flag = (n: string) => path.join(work, "flags", n);
  // the passphrase file, and a command that hangs (or is slow) once its flag exists
  const source = (n: string, sleep: number) => PassphraseSource.fromCommand(`test -e ${flag(n)} && sleep ${sleep}; cat ${path.join(work, "flags", "passphrase")}`);
  const fakeNix = path.join(work, "fake-nix-bin");
  const f = await fleetOf({
    work,
    passphrase,
    hosts: [
      { name: "hang-install", address: "127.0.9.171", props: { passphrase: source("hang", 90), timeouts: { ...TIMEOUTS, install: 20 } } },
      { name: "slow-install", address: "127.0.9.172", props: { passphrase: source("slow", 20), timeouts: { ...TIMEOUTS, install: 70 } } },
      { name: "nix-hangs", address: "127.0.9.173", props: { bundle: KexecBundle.fromFlake({ flake: "github:cdktf-nixos-installer/cdktf-nixos-installer", system: "x86_64-linux" }), timeouts: { ...TIMEOUTS, kexec: 15 } } },
    ],
    timeouts: TIMEOUTS,
  });
  try {
    fs.mkdirSync(path.dirname(flag("x")), { recursive: true });
    fs.writeFileSync(flag("passphrase"), `${passphrase}\n`, { mode: 0o600 });
    fs.mkdirSync(fakeNix, { recursive: true });
    fs.writeFileSync(path.join(fakeNix, "nix"), "#!/bin/sh\n# a nix build that never ends (a stuck substituter)\nexec sleep 600\n", { mode: 0o755 });
    const env = { PATH: `${fakeNix}:${process.env.PATH}` };
    const toInstaller = await f.apply({ targets: [f.address("hang-install", "kexec"), f.address("slow-install", "kexec")], env, timeoutMs: 300_000 });
    must(toInstaller.code === 0, "probe and kexec should bring both hosts to the installer", toInstaller);
    fs.writeFileSync(flag("hang"), "");
    fs.writeFileSync(flag("slow"), "");
    const apply = await f.apply({ env, timeoutMs: 300_000 });
    const all = await rolesOf(f);
    const roles = { hang: all["hang-install"], slow: all["slow-install"], nix: all["nix-hangs"] };
    const nixLeft = execFileSync("sh", ["-c", `ps -eo args | grep -c '^sleep 600$' || true`], { encoding: "utf8" }).trim();
    return { f, passphrase, apply, roles, nixLeft };
  } finally {
    await f.close();
  }
});

scenario(
  {
    id: "S4.1",
    title: "issue 10 item 4: the passphrase command hangs (90 s) in the install phase, timeouts.install = 20",
    expected: "the command is ended at the phase deadline and the phase stops naming it; do-install never starts, nothing is sent or wiped",
    timeoutMs: TEST_TIMEOUT,
    file: __filename,
  },
  async () => {
    const { value: r } = await deadlineRun;
    const name = "hang-install";
    const e = firstError(r.apply.output, name);
    must(e.startsWith(`[${name} install] error: the disk passphrase command did not finish within the 20 s of timeouts.install:`) && e.includes("nothing was sent to the host"), `the passphrase command should be named, got: ${e}`, r.apply, name);
    const seconds = hostSeconds(name, phaseLines(r.f, r.apply, name, "install").join("\n"));
    must(seconds < 20 + 5, `the phase should end at its deadline, took ${seconds} s`);
    must(toolCalls(r.f, name, ...DISK_TOOLS).length === 0, "no disk tool may run");
    must(r.roles.hang === "installer", `the host should stay in the installer, is ${r.roles.hang}`);
    return { happened: `install stopped after ${seconds.toFixed(1)} s: ${quote(e)}; do-install never ran, 0 disk tool calls; lost: nothing`, seconds };
  },
);

scenario(
  {
    id: "S4.2",
    title: "issue 10 item 4: a slow passphrase command leaves less than the layout's minimum (60 s) of timeouts.install = 70",
    expected: "do-install refuses to begin the layout, saying how much time was left and what to raise; nothing is wiped",
    timeoutMs: TEST_TIMEOUT,
    file: __filename,
  },
  async () => {
    const { value: r } = await deadlineRun;
    const name = "slow-install";
    const why = line(r.f, r.apply, name, "install", /^error: only \d+ s are left/);
    must(why.includes("laying out the disks needs at least 60 s; nothing was touched: raise timeouts.install"), `do-install should refuse for lack of time, got: ${why || firstError(r.apply.output, name)}`, r.apply, name);
    must(toolCalls(r.f, name, ...DISK_TOOLS).length === 0, "no disk tool may run");
    must(r.roles.slow === "installer", `the host should stay in the installer, is ${r.roles.slow}`);
    return { happened: `do-install: "${why}"; 0 disk tool calls; host still installer; lost: nothing`, seconds: hostSeconds(name, r.apply.output) };
  },
);

scenario(
  {
    id: "S4.3",
    title: "issue 10 item 4: KexecBundle.fromFlake whose nix build never ends, timeouts.kexec = 15",
    expected: "nix build is ended at the phase deadline (with all it started) and the phase stops naming it; nothing is sent, no kexec",
    timeoutMs: TEST_TIMEOUT,
    file: __filename,
  },
  async () => {
    const { value: r } = await deadlineRun;
    const name = "nix-hangs";
    const e = firstError(r.apply.output, name);
    must(e.startsWith(`[${name} kexec] error: nix build github:cdktf-nixos-installer/cdktf-nixos-installer#packages.x86_64-linux.kexec did not finish within the 15 s of timeouts.kexec`), `nix build should be named, got: ${e}`, r.apply, name);
    must(toolCalls(r.f, name, "kexec").length === 0, "kexec must never be called");
    must(r.roles.nix === "base", `the host should still run its base system, is ${r.roles.nix}`);
    must(r.nixLeft === "0", `the hung nix build should be ended, ${r.nixLeft} still run`);
    return { happened: `kexec stopped: ${quote(e)}; no nix process left, no kexec, host still base; lost: nothing`, seconds: hostSeconds(name, r.apply.output) };
  },
);

// ---- S5: an SSH master never outlives its phase ---------------------------------------

/** SSH client processes of this machine talking to address:port, and established TCP connections to it. */
function sshTo(address: string, port: number): { processes: string[]; connections: string[] } {
  const processes: string[] = [];
  for (const pid of fs.readdirSync("/proc").filter((p) => /^\d+$/.test(p))) {
    try {
      const argv = fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
      if (path.basename(argv[0]) === "ssh" && argv.includes(address) && argv.includes(String(port))) processes.push(`${pid}: ${argv.join(" ").slice(0, 120)}`);
    } catch {
      // gone
    }
  }
  const connections = execFileSync("ss", ["-Htn", "state", "established", "dst", `${address}:${port}`], { encoding: "utf8" }).trim().split("\n").filter(Boolean);
  return { processes, connections };
}

const killRun = pool.add(async () => {
  const name = "killed";
  const f = await fleetOf({ work: path.join(WORK, name), passphrase: canary(), hosts: [{ name, address: "127.0.9.181", faults: ["slow-nixos-install"] }], timeouts: TIMEOUTS });
  try {
    const h = f.hosts[name];
    let during = { processes: [] as string[], connections: [] as string[] };
    const run = await f.apply({
      timeoutMs: 300_000,
      signal: {
        when: () => {
          if (heartbeats(f, name).length === 0) return false;
          during = sshTo(h.address, h.port);
          return true;
        },
        signal: "SIGKILL",
        group: true,
      },
    });
    await new Promise((res) => setTimeout(res, 3000));
    return { f, name, run, during, after: sshTo(h.address, h.port) };
  } finally {
    await f.close();
  }
});

scenario(
  {
    id: "S5",
    title: "issue 10 item 5: SIGKILL to terraform's process group while the install phase runs",
    expected: "the phase's SSH master dies with the group: 3 s later no ssh process talks to the host and no connection to it is open (no authenticated root connection lingers)",
    timeoutMs: TEST_TIMEOUT,
    file: __filename,
  },
  async () => {
    const { value: r } = await killRun;
    must(r.run.signalledAt, "terraform's group should have been killed during the install", r.run);
    must(r.during.processes.length > 0 && r.during.connections.length > 0, `the install should have had a master when the group was killed: ${JSON.stringify(r.during)}`);
    must(r.after.processes.length === 0, `ssh processes left: ${r.after.processes.join("; ")}`);
    must(r.after.connections.length === 0, `connections to the host left: ${r.after.connections.join("; ")}`);
    return {
      happened: `at the kill: ${r.during.processes.length} ssh process(es), ${r.during.connections.length} connection(s) to the host; 3 s later: 0 ssh processes, 0 connections; lost: nothing`,
      seconds: r.run.seconds,
    };
  },
);

// ---- S6: records on the deploy machine survive every replacement ----------------------

const recordsRun = pool.add(async () => {
  const passphrase = canary();
  const name = "records";
  const f = await fleetOf({ work: path.join(WORK, name), passphrase, hosts: [{ name, address: "127.0.9.185" }], timeouts: TIMEOUTS });
  try {
    const install = await f.apply({ timeoutMs: 300_000 });
    must(install.code === 0 && verified(install, name), "the install should verify", install, name);
    const dir = path.join(f.hostsDir, name);
    // files of the user's, kept beside the records for lib.mkHosts
    fs.writeFileSync(path.join(dir, "configuration.nix"), "{ ... }: { services.nginx.enable = true; }\n");
    fs.writeFileSync(path.join(dir, "authorized_keys"), "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMm9bR4kQxg0n0Q9sRbJm0qG5wE1sZq7y2c4Vn8x3fLd ops@example\n");
    const snapshot = (d: string) => Object.fromEntries(fs.readdirSync(path.join(d, "pins")).map((p) => [p, fs.readFileSync(path.join(d, "pins", p), "utf8")]));
    const pins = snapshot(dir);
    // 1: an identity prop changes (disks named explicitly: the same disk)
    f.resynth((m) => ({ ...m, disks: [byId("hcloud-x86", "sda")] }));
    const disks = await f.apply({ timeoutMs: 300_000 });
    const afterDisks = snapshot(dir);
    // 2: the replace the chain's own messages suggest, on a host installed before the
    // probe wrote connection.json (README: the replace writes it and changes nothing else)
    const connection = path.join(dir, "connection.json");
    const installedWithRecord = fs.existsSync(connection);
    fs.rmSync(connection, { force: true });
    const replace = await f.apply({ replace: [f.address(name, "probe")], timeoutMs: 300_000 });
    const afterReplace = snapshot(dir);
    const recordAfterReplace = fs.existsSync(connection) ? JSON.parse(fs.readFileSync(connection, "utf8")) : undefined;
    // 3: hostsDir moves
    const moved = path.join(f.work, "hosts-moved");
    f.resynth((m) => ({ ...m, hostsDir: path.relative(ROOT, moved) }));
    const move = await f.apply({ timeoutMs: 300_000 });
    const afterMove = fs.existsSync(path.join(moved, name, "pins")) ? snapshot(path.join(moved, name)) : {};
    // 4: a real destroy
    const destroy = await f.tf(["destroy", "-auto-approve", "-input=false", "-no-color"], { timeoutMs: 120_000 });
    const archived = fs.existsSync(path.join(moved, name, "archive")) ? fs.readdirSync(path.join(moved, name, "archive")) : [];
    return { f, passphrase, name, dir, moved, pins, disks, afterDisks, replace, afterReplace, installedWithRecord, recordAfterReplace, move, afterMove, destroy, archived };
  } finally {
    await f.close();
  }
});

scenario(
  {
    id: "S6",
    title: "issue 10 item 6: an installed host's chain is replaced (disks changed, -replace=<probe>, hostsDir moved), then destroyed",
    expected: "each replacement keeps every record and pin (taken back from the archive its destroy step made) and finds the host installed; the move carries them to the new hostsDir; destroy archives them; the user's configuration.nix and authorized_keys are never touched",
    timeoutMs: TEST_TIMEOUT,
    file: __filename,
  },
  async () => {
    const { value: r } = await recordsRun;
    const n = r.name;
    for (const [what, run, pins] of [["disks change", r.disks, r.afterDisks], ["-replace=probe", r.replace, r.afterReplace], ["hostsDir move", r.move, r.afterMove]] as const) {
      must(run.code === 0 && verified(run, n), `after the ${what} the chain should verify the host`, run, n);
      must(hostLines(run.output, n).some((l) => l.includes("took back the records of records from")), `after the ${what} the probe should take the records back`, run, n);
      must(JSON.stringify(pins) === JSON.stringify(r.pins), `after the ${what} the pins should be the same: ${JSON.stringify(pins)}`);
      must(!/man in the middle/.test(run.output), `after the ${what} the host was called a man in the middle`, run, n);
    }
    must(r.installedWithRecord, "the install should have written hosts/NAME/connection.json");
    must(r.recordAfterReplace?.host === "127.0.9.185" && r.recordAfterReplace?.version === 1, `-replace=probe should write connection.json again, wrote: ${JSON.stringify(r.recordAfterReplace)}`);
    must(fs.readFileSync(path.join(r.dir, "configuration.nix"), "utf8").includes("nginx") && fs.existsSync(path.join(r.dir, "authorized_keys")), "the user's files must stay where they were");
    must(r.destroy.code === 0 && /Destroy complete! Resources: 5 destroyed\./.test(r.destroy.output), "terraform destroy should destroy the 5 phases", r.destroy);
    must(r.archived.length === 1 && fs.existsSync(path.join(r.moved, n, "archive", r.archived[0], "pins", "installed")), `destroy should archive the records, archive holds: ${r.archived.join(", ")}`);
    must(!fs.existsSync(path.join(r.moved, n, "pins")), "after destroy no live pins remain (a new machine starts afresh)");
    noLeftovers(r.f, r.passphrase);
    return {
      happened: `disks change, -replace=probe (of a host whose connection.json was removed: written again) and hostsDir move each: records archived by the destroy step, "took back the records" by the probe, ${Object.keys(r.pins).length} pins unchanged, all phases found the host installed and verified it; destroy archived them in hosts-moved/${n}/archive/${r.archived[0]}/; configuration.nix and authorized_keys untouched; lost: nothing`,
      seconds: hostSeconds(n, r.disks.output, r.replace.output, r.move.output),
    };
  },
);

// ---- S12, S14: a passphrase with a line break; virtual network interfaces ------------

const inputRun = pool.add(async () => {
  const passphrase = canary();
  const work = path.join(WORK, "input");
  // written once the fleet's work dir is made (startFleet empties it)
  const secrets: Record<string, string> = {};
  const file = (n: string, text: string) => {
    secrets[n] = text;
    return path.relative(ROOT, path.join(work, "secrets", n));
  };
  const good = `${canary()}-file`;
  const f = await fleetOf({
    work,
    passphrase,
    hosts: [
      { name: "nl-env", address: "127.0.9.191", props: { passphrase: PassphraseSource.fromEnv("LAB_NEWLINE_PASSPHRASE") } },
      { name: "nl-file", address: "127.0.9.192", props: { passphrase: PassphraseSource.fromFile(file("two-lines", "first-line-of-it\nsecond-line\n")) } },
      { name: "nl-command", address: "127.0.9.193", props: { passphrase: PassphraseSource.fromCommand("echo first-line-of-it; echo second-line") } },
      { name: "nl-file-crlf", address: "127.0.9.194", props: { passphrase: PassphraseSource.fromFile(file("crlf", "windows-line-end\r\n")) } },
      { name: "one-trailing-newline", address: "127.0.9.195", props: { passphrase: PassphraseSource.fromFile(file("good", `${good}\n`)) } },
      { name: "cilium", address: "127.0.9.196", profile: "hcloud-cilium" },
    ],
    timeouts: TIMEOUTS,
  });
  try {
    fs.mkdirSync(path.join(work, "secrets"), { recursive: true });
    for (const [n, text] of Object.entries(secrets)) fs.writeFileSync(path.join(work, "secrets", n), text, { mode: 0o600 });
    const apply = await f.apply({ env: { LAB_NEWLINE_PASSPHRASE: "first-line-of-it\nsecond-line" }, timeoutMs: 300_000 });
    return { f, passphrase, good, apply, roles: await rolesOf(f) };
  } finally {
    await f.close();
  }
});

[
  ["S12.1", "nl-env", "env", "the environment variable"],
  ["S12.2", "nl-file", "file", "a file (two lines)"],
  ["S12.3", "nl-command", "command", "a command (two lines of output)"],
  ["S12.4", "nl-file-crlf", "file", "a file with a Windows line end (CR LF)"],
].forEach(([id, name, kind, from]) => {
  scenario(
    {
      id,
      title: `issue 10 item 12: a passphrase with a line break from ${from}`,
      expected: "refused at apply time in the probe, before kexec and before anything is sent, naming the source; zfs would have taken only the first line",
      timeoutMs: TEST_TIMEOUT,
      file: __filename,
    },
    async () => {
      const { value: r } = await inputRun;
      const e = firstError(r.apply.output, name);
      must(e.startsWith(`[${name} probe] error: the disk passphrase from the ${kind} source '`) && e.includes("holds a line break (a newline or carriage return) inside"), `the passphrase should be refused at probe, got: ${e}`, r.apply, name);
      must(!phasesRun(r.apply, name).includes("kexec"), "kexec may not run", r.apply, name);
      must(toolCalls(r.f, name, ...DISK_TOOLS, "kexec", "lsblk").length === 0, "nothing may run on the host");
      must(r.roles[name] === "base", `the host should still run its base system, is ${r.roles[name]}`);
      return { happened: `refused at probe: ${quote(e)}; no session ran a tool on the host; lost: nothing`, seconds: hostSeconds(name, r.apply.output) };
    },
  );
});

scenario(
  {
    id: "S12.5",
    title: "issue 10 item 12: a passphrase file with its one trailing newline",
    expected: "accepted: the trailing newline is dropped, the pool's key is the line, unlock with the same file works",
    timeoutMs: TEST_TIMEOUT,
    file: __filename,
  },
  async () => {
    const { value: r } = await inputRun;
    const name = "one-trailing-newline";
    must(r.apply.code !== 0 || verified(r.apply, name), "the install should go through", r.apply, name);
    must(verified(r.apply, name), "the host should be installed, unlocked with the file and verified", r.apply, name);
    const create = toolCalls(r.f, name, "zpool").find((x) => x.argv?.[0] === "create");
    must(create?.stdinBytes === r.good.length, `zpool create should read the line without its newline (${r.good.length} bytes), read ${create?.stdinBytes}`);
    noLeftovers(r.f, r.passphrase);
    return { happened: `installed, unlocked and verified; zpool create read ${create?.stdinBytes} bytes (the line, its newline dropped); lost: nothing`, seconds: hostSeconds(name, r.apply.output) };
  },
);

scenario(
  {
    id: "S14",
    title: "issue 10 item 14: a host with Cilium's cilium_host@cilium_net (veth), a container bridge lxdbr0 and a tunnel, each holding a global address",
    expected: "the virtual interfaces are judged by /sys/class/net (not by name) and skipped with a note in the probe output; the machine's eth0 alone goes into runtime-info; the install verifies",
    timeoutMs: TEST_TIMEOUT,
    file: __filename,
  },
  async () => {
    const { value: r } = await inputRun;
    const name = "cilium";
    const notes = phaseOutput(r.f, r.apply, name, "probe").split("\n").filter((l) => l.startsWith("note: skipping "));
    must(notes.length === 2 && notes[0].startsWith("note: skipping cilium_host@cilium_net (veth, no network card behind it) with 10.0.0.93/32") && notes[1].startsWith("note: skipping lxdbr0 (bridge, no network card behind it)"), `the probe should note both skipped interfaces, got: ${notes.join(" | ")}`, r.apply, name);
    must(verified(r.apply, name), "the host should install and verify", r.apply, name);
    const info = JSON.parse(fs.readFileSync(path.join(r.f.hostsDir, name, "runtime-info.json"), "utf8"));
    must(info.interfaces.map((i: { name: string }) => i.name).join(",") === "eth0", `only eth0 should be in runtime-info, got ${info.interfaces.map((i: { name: string }) => i.name)}`);
    return { happened: `probe: "${notes[0]}" and "${notes[1].slice(0, 60)}…"; runtime-info interfaces: eth0 only; installed and verified`, seconds: hostSeconds(name, r.apply.output) };
  },
);
