// The fault suite (issue 5): the real terraform applies the synthesized install chain
// against simulated hosts (lab/target/) with one fault each. The runs start at once
// (a RunPool keeps a few side by side, each on its own loopback addresses 127.0.9.x);
// the tests below check what each run did and write a row of docs/RELIABILITY.md.
// Needs root, sshd and terraform (see .ci/run).
import { randomBytes } from "crypto";
import * as fs from "fs";
import * as path from "path";
import { filesContaining } from "../../lab/canary";
import { startImpostor } from "../../lab/impostor";
import { canary, must, noLeftovers, PHASES, phasesRun, quote, TIMEOUTS, toolCalls, verified } from "../../lab/faults/checks";
import { firstError, hostLines, labHostDownAsync, labHostRoleAsync, labRecords, leftoverTempDirs, startSilentPort } from "../../lab/faults/fault-lab";
import { fleetSuite, hostSeconds, scenario } from "../../lab/faults/scenario";
import { ROOT } from "../../lab/lab";

const WORK = path.join(ROOT, ".lab", "faults");
// The longest scenario runs two applies of up to 300 s each (their own deadlines) after its hosts start.
const TEST_TIMEOUT = 660_000;

const { pool, fleetOf } = fleetSuite(4);

// ---- 1: the SSH connection drops in the middle of each phase ---------------------

const drops = pool.add(async () => {
  const passphrase = canary();
  const f = await fleetOf({
    work: path.join(WORK, "drops"),
    passphrase,
    hosts: PHASES.map((p, i) => ({ name: `drop-${p}`, address: `127.0.9.${11 + i}`, faults: [`drop-ssh-in-${p}`] })),
    timeouts: TIMEOUTS,
  });
  try {
    const first = await f.apply({ timeoutMs: 300_000 });
    const second = await f.apply({ timeoutMs: 300_000 });
    const roles = Object.fromEntries(await Promise.all(Object.values(f.hosts).map(async (h) => [h.name, await labHostRoleAsync(h.dir)])));
    return { f, passphrase, first, second, roles };
  } finally {
    await f.close();
  }
});

PHASES.forEach((phase, i) => {
  scenario(
    {
      id: `1.${i + 1}`,
      title: `SSH connection drops in the middle of the ${phase} phase`,
      expected: `${phase} fails saying the connection was lost (not that the host refused); the next terraform apply resumes and verifies the host`,
      timeoutMs: TEST_TIMEOUT,
      file: __filename,
    },
    async () => {
      const { value: r } = await drops;
      const name = `drop-${phase}`;
      const error = firstError(r.first.output, name);
      must(r.first.code !== 0, "the first apply should fail", r.first);
      must(error.startsWith(`[${name} ${phase}] error: the SSH connection to `) && error.includes("was lost while"), `${phase} should fail naming the lost connection, got: ${error}`, r.first, name);
      must(!verified(r.first, name), "the first apply must not verify the host", r.first, name);
      must(firstError(r.second.output, name) === "", "the second apply should finish this host without an error", r.second, name);
      must(verified(r.second, name), "the second apply should verify the host", r.second, name);
      must(r.roles[name] === "installed", `the host should be installed, is ${r.roles[name]}`);
      noLeftovers(r.f, r.passphrase);
      const skipped = hostLines(r.second.output, name).filter((l) => /nothing to|already/.test(l)).length;
      return {
        happened: `apply 1 stopped in ${phase}: ${quote(error)}; apply 2 resumed${skipped ? ` (${skipped} phase(s) found their work already done)` : ""} and verified the host; no temp dir or passphrase left`,
        seconds: hostSeconds(name, r.first.output, r.second.output),
      };
    },
  );
});

// ---- 1.7: terraform interrupted (a cancelled CI job) in the middle of a phase --------

const interruptRun = pool.add(async () => {
  // A port that accepts and never answers keeps probe waiting, so the interrupt lands mid-phase.
  const silent = await startSilentPort("127.0.9.143", 10022);
  try {
    const f = await fleetOf({ work: path.join(WORK, "interrupt"), passphrase: canary(), hosts: [], absent: [{ name: "interrupted", address: "127.0.9.143" }], timeouts: { ...TIMEOUTS, probe: 6 } });
    // Interrupt once the phase is running (its temp dir exists), not after a fixed delay:
    // on a busy machine terraform may still be planning after a few seconds.
    const first = await f.apply({ timeoutMs: 60_000, signal: { when: () => leftoverTempDirs(f.tmpDir).length > 0, signal: "SIGINT", group: false } });
    const leftAtKill = leftoverTempDirs(f.tmpDir);
    // The orphaned phase script notices within one poll (a 5 s key scan at most here).
    const deadline = Date.now() + 15_000;
    while (leftoverTempDirs(f.tmpDir).length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 250));
    const leftAfterWait = leftoverTempDirs(f.tmpDir);
    // A directory whose owner died outright (SIGKILL) is removed by the next run.
    const fake = path.join(f.tmpDir, "ni.killed");
    fs.mkdirSync(fake, { mode: 0o700 });
    fs.writeFileSync(path.join(fake, "owner"), "2147483646 interrupted probe\n");
    const second = await f.apply({ timeoutMs: 60_000 });
    return { f, first, leftAtKill, leftAfterWait, second };
  } finally {
    await silent.close();
  }
});

scenario(
  {
    id: "1.7",
    title: "terraform apply interrupted in the middle of a phase (SIGINT, as a cancelled CI job)",
    expected: "the phase script, orphaned when terraform kills its shell, stops at its next poll and cleans up; a dir left by a script killed outright is removed (and its masters ended) by the next run",
    timeoutMs: TEST_TIMEOUT,
    file: __filename,
  },
  async () => {
    const { value: r } = await interruptRun;
    must(/Interrupt received/.test(r.first.output), "the first apply should be interrupted", r.first);
    must(r.leftAtKill.length === 1, `the phase should still have its temp dir right after the interrupt, has: ${r.leftAtKill.join(", ") || "none"}`, r.first);
    must(r.leftAfterWait.length === 0, `the orphaned phase should end itself and remove ${r.leftAfterWait.join(", ")}`, r.first);
    const reaped = hostLines(r.second.output, "interrupted").find((l) => l.includes(`removed ${path.join(r.f.tmpDir, "ni.killed")}, left by a killed run (interrupted probe)`));
    must(reaped, "the next run should remove the dir of a run that was killed outright", r.second, "interrupted");
    const left = leftoverTempDirs(r.f.tmpDir);
    must(left.length === 0, `temp dirs left after the next run: ${left.join(", ")}`);
    return {
      happened: `terraform killed the shell ("signal: killed"); the orphaned phase script saw its parent gone at its next poll and removed ${r.leftAtKill[0]} itself; a dir whose owner died outright was removed by the next apply ("removed …, left by a killed run"); TMPDIR empty`,
      seconds: r.first.seconds + r.second.seconds,
    };
  },
);

// ---- 3: a man in the middle at every phase boundary -------------------------------

const BOUNDARIES = ["before probe", "probe → kexec", "kexec → install", "install → unlock", "unlock → verify"];

const mitm = pool.add(async () => {
  const passphrase = canary();
  const f = await fleetOf({
    work: path.join(WORK, "mitm"),
    passphrase,
    hosts: BOUNDARIES.map((_, k) => ({ name: `mitm-${k}`, address: `127.0.9.${21 + k}` })),
    timeouts: TIMEOUTS,
  });
  const impostors: Awaited<ReturnType<typeof startImpostor>>[] = [];
  try {
    // Host k has run the phases before boundary k.
    const targets = BOUNDARIES.flatMap((_, k) => (k > 0 ? [f.address(`mitm-${k}`, PHASES[k - 1])] : []));
    const before = await f.apply({ targets, timeoutMs: 240_000 });
    must(before.code === 0, "the phases before each boundary should apply", before);
    const roles = await Promise.all(BOUNDARIES.map((_, k) => labHostRoleAsync(f.hosts[`mitm-${k}`].dir)));
    // The real hosts go away; an impostor with its own host key answers where the next phase connects.
    await Promise.all(Object.values(f.hosts).map((h) => labHostDownAsync(h.dir)));
    for (const [k, role] of roles.entries()) {
      const h = f.hosts[`mitm-${k}`];
      impostors.push(await startImpostor({ dir: path.join(f.work, "impostors", h.name), address: h.address, port: role === "initrd" ? h.unlockPort : h.port, clientPublicKey: `${h.clientKey}.pub` }));
    }
    const after = await f.apply({ timeoutMs: 240_000 });
    const received = impostors.map((i) => i.received());
    return { f, passphrase, before, after, roles, received };
  } finally {
    await Promise.all(impostors.map((i) => i.stop()));
    await f.close();
  }
});

BOUNDARIES.forEach((boundary, k) => {
  const next = PHASES[k];
  scenario(
    {
      id: `3.${k + 1}`,
      title: `host key changes between two phases (${boundary})`,
      expected: `${next} stops at the unknown key, before any session or secret reaches the impostor`,
      timeoutMs: TEST_TIMEOUT,
      file: __filename,
    },
    async () => {
      const { value: r } = await mitm;
      const name = `mitm-${k}`;
      const error = firstError(r.after.output, name);
      must(error.startsWith(`[${name} ${next}] error: `) && /offers host key SHA256:\S+, which is none of the keys this chain pinned/.test(error), `${next} should stop at the unknown key, got: ${error}`, r.after, name);
      must(error.includes("nothing secret was sent"), "the message should say that nothing secret was sent", r.after, name);
      const later = phasesRun(r.after, name).filter((p) => PHASES.indexOf(p as (typeof PHASES)[number]) > k);
      must(later.length === 0, `no later phase may run, ran: ${later.join(", ")}`, r.after, name);
      must(r.received[k].length === 0, `the impostor got ${r.received[k].length} session(s)`);
      noLeftovers(r.f, r.passphrase);
      return {
        happened: `host was ${r.roles[k]} when the impostor took its address; ${next} stopped: ${quote(error.replace(/ pinned: .*?(this may be)/, " … $1"))}; impostor sessions: 0; passphrase found nowhere`,
        seconds: hostSeconds(name, r.after.output),
      };
    },
  );
});

// ---- 10 and 12: the canary passphrase, then terraform destroy ----------------------

/** Samples every process's argv on this machine while `during` runs. */
async function watchArgv<T>(secret: string, during: () => Promise<T>): Promise<{ value: T; samples: number; hits: string[] }> {
  const hits: string[] = [];
  let samples = 0;
  const needle = Buffer.from(secret);
  const timer = setInterval(() => {
    samples += 1;
    for (const pid of fs.readdirSync("/proc")) {
      if (!/^\d+$/.test(pid)) continue;
      try {
        const argv = fs.readFileSync(`/proc/${pid}/cmdline`);
        if (argv.includes(needle)) hits.push(`${pid}: ${argv.toString().replace(/\0/g, " ")}`);
      } catch {
        // gone already
      }
    }
  }, 100);
  try {
    return { value: await during(), samples, hits };
  } finally {
    clearInterval(timer);
  }
}

const canaryRun = pool.add(async () => {
  const passphrase = canary();
  const name = "canary";
  const f = await fleetOf({ work: path.join(WORK, "canary"), passphrase, hosts: [{ name, address: "127.0.9.91" }], timeouts: TIMEOUTS });
  try {
    const trace = { TF_LOG: "TRACE" };
    const plan = await f.tf(["plan", "-input=false", "-no-color", `-out=${path.join(f.work, "tfplan")}`], { env: trace });
    must(plan.code === 0, "terraform plan -out should succeed", plan);
    const show = await f.tf(["show", "-json", "-no-color", path.join(f.work, "tfplan")]);
    fs.writeFileSync(path.join(f.work, "tfplan.json"), show.output);
    const watched = await watchArgv(passphrase, () => f.tf(["apply", "-input=false", "-no-color", path.join(f.work, "tfplan")], { env: trace, timeoutMs: 300_000 }));
    const apply = watched.value;
    const state = await f.tf(["show", "-json", "-no-color"]);
    fs.writeFileSync(path.join(f.work, "state.json"), state.output);
    const role = await labHostRoleAsync(f.hosts[name].dir);
    const host = f.hosts[name];
    const destroy = await f.tf(["destroy", "-auto-approve", "-input=false", "-no-color"], { timeoutMs: 120_000 });
    return { f, passphrase, name, host, plan, apply, watched, role, destroy };
  } finally {
    await f.close();
  }
});

scenario(
  {
    id: "10",
    title: "canary passphrase searched everywhere it must not be",
    expected: "zero hits in cdk.tf.json, state, plan (binary and JSON), TRACE output, recorded argv and env, kernel command line, lab target files, argv of every process during apply",
    timeoutMs: TEST_TIMEOUT,
    file: __filename,
  },
  async () => {
    const { value: r, seconds } = await canaryRun;
    must(r.apply.code === 0 && verified(r.apply, r.name), "the planned apply should install and verify the host", r.apply);
    must(r.role === "installed", `the host should be installed, is ${r.role}`);
    must(r.apply.output.includes("[TRACE]") && r.plan.output.includes("[TRACE]"), "plan and apply output should be TRACE logs");
    const where = ["cdktf.out/stacks/fleet/cdk.tf.json", "terraform.fleet.tfstate", "tfplan", "tfplan.json", "state.json"].map((p) => path.join(r.f.work, p));
    for (const w of where) must(fs.existsSync(w), `${path.relative(r.f.work, w)} should exist to be searched`);
    const records = labRecords(r.host);
    const kexecLoad = records.find((x) => x.tool === "kexec" && typeof x.cmdline === "string");
    must(kexecLoad, "the kexec load should be recorded with its command line");
    must(records.some((x) => x.tool === "zpool" && x.argv?.[0] === "create" && Number(x.stdinBytes) > 0), "the passphrase should reach zpool create on stdin");
    const recordHits = records.filter((x) => JSON.stringify(x).includes(r.passphrase)).length;
    must(recordHits === 0, `${recordHits} record(s) (argv, env, kernel command line) hold the passphrase`);
    must(r.watched.hits.length === 0, `process argv held the passphrase: ${r.watched.hits.join("; ")}`);
    // Every file of the run: configuration, state, plans, logs, hosts/, the lab target's records, logs and disk.
    let files = 0;
    const count = (d: string): void => {
      for (const e of fs.readdirSync(d, { withFileTypes: true })) e.isDirectory() ? count(path.join(d, e.name)) : (files += 1);
    };
    count(r.f.work);
    must(filesContaining(r.passphrase, [r.f.work]).length === 0, `the passphrase is in ${filesContaining(r.passphrase, [r.f.work]).join(", ")}`);
    const traceMb = (r.plan.output.length + r.apply.output.length) / 1e6;
    return {
      happened: `0 hits: ${files} files (config, state, binary and JSON plan, ${traceMb.toFixed(1)} MB of TRACE output, lab target records/logs/disk), ${records.length} records with argv+env, kexec cmdline "${String(kexecLoad?.cmdline).slice(0, 40)}…", ${r.watched.samples} samples of every process's argv during apply`,
      seconds,
    };
  },
);

scenario(
  {
    id: "12",
    title: "terraform destroy of an installed host",
    expected: "the chain's records of the host (pins, runtime-info, public keys, connection record) are archived in hosts/NAME/archive/<time>/, none stays live (a new machine under the name starts afresh), nothing is deleted; no deploy temp dir, private key or passphrase is left on the deploy machine",
    timeoutMs: TEST_TIMEOUT,
    file: __filename,
  },
  async () => {
    const { value: r } = await canaryRun;
    must(r.destroy.code === 0 && /Destroy complete! Resources: 5 destroyed\./.test(r.destroy.output), "terraform destroy should destroy the 5 phases", r.destroy);
    const dir = path.join(r.f.hostsDir, r.name);
    const live = ["pins", "runtime-info.json", "ssh_host_ed25519_key.pub", "initrd_ssh_host_ed25519_key.pub", "connection.json"].filter((f) => fs.existsSync(path.join(dir, f)));
    must(live.length === 0, `no record may stay live in hosts/${r.name}: ${live.join(", ")}`);
    const archives = fs.existsSync(path.join(dir, "archive")) ? fs.readdirSync(path.join(dir, "archive")) : [];
    must(archives.length === 1, `one archive expected in hosts/${r.name}/archive, found: ${archives.join(", ")}`);
    const archive = path.join(dir, "archive", archives[0]);
    const archivedPins = fs.readdirSync(path.join(archive, "pins")).sort();
    must(archivedPins.join(",") === "base,initrd,installed,installer" && ["runtime-info.json", "connection.json"].every((f) => fs.existsSync(path.join(archive, f))), `the archive should hold the 4 pins, runtime-info and connection.json, holds: ${fs.readdirSync(archive).join(", ")}; pins: ${archivedPins.join(", ")}`);
    const left = leftoverTempDirs(r.f.tmpDir);
    must(left.length === 0, `deploy temp dirs left: ${left.join(", ")}`);
    // The deploy machine's side of the run; targets/ is the simulated host itself.
    const deploySide = fs.readdirSync(r.f.work).filter((e) => e !== "targets").map((e) => path.join(r.f.work, e));
    const privateKeys = filesContaining("PRIVATE KEY", deploySide);
    must(privateKeys.length === 0, `private keys left: ${privateKeys.join(", ")}`);
    must(filesContaining(r.passphrase, [r.f.work]).length === 0, "the passphrase should be nowhere");
    const state = JSON.parse(fs.readFileSync(path.join(r.f.work, "terraform.fleet.tfstate"), "utf8"));
    must(state.resources.length === 0, `the state should be empty, holds ${state.resources.length} resource(s)`);
    return {
      happened: `destroy removed 5 phases and archived hosts/${r.name}/ (${archivedPins.length} pins, runtime-info, public keys) in archive/${archives[0]}/, no record left live; TMPDIR holds no ni.* dir; 0 private keys, 0 passphrase hits in ${deploySide.length} deploy-side paths; state empty`,
      seconds: r.destroy.seconds,
    };
  },
);

// ---- 2: kexec silently does not happen; kexec_file_load refused ------------------

const kexecRun = pool.add(async () => {
  const passphrase = canary();
  const f = await fleetOf({
    work: path.join(WORK, "kexec"),
    passphrase,
    hosts: [
      { name: "kexec-noop", address: "127.0.9.31", faults: ["kexec-noop"] },
      { name: "kexec-file-fails", address: "127.0.9.32", faults: ["kexec-file-fails"] },
    ],
    timeouts: TIMEOUTS,
  });
  try {
    const apply = await f.apply({ timeoutMs: 300_000 });
    const roles = { noop: await labHostRoleAsync(f.hosts["kexec-noop"].dir), file: await labHostRoleAsync(f.hosts["kexec-file-fails"].dir) };
    return { f, passphrase, apply, roles };
  } finally {
    await f.close();
  }
});

scenario(
  {
    id: "2.1",
    title: "kexec silently does not happen (the base system answers again)",
    expected: "kexec fails after the grace period (NI_KEXEC_GRACE, 20 s) with its own message; the base system is never taken for the installer; install never runs",
    timeoutMs: TEST_TIMEOUT,
    file: __filename,
  },
  async () => {
    const { value: r } = await kexecRun;
    const name = "kexec-noop";
    const error = firstError(r.apply.output, name);
    must(error.startsWith(`[${name} kexec] error: kexec did not happen: `), `kexec should report that kexec did not happen, got: ${error}`, r.apply, name);
    must(!phasesRun(r.apply, name).some((p) => ["install", "unlock", "verify"].includes(p)), "no later phase may run", r.apply, name);
    must(r.roles.noop === "base", `the host should still run its base system, is ${r.roles.noop}`);
    must(toolCalls(r.f, name, "kexec").some((x) => x.argv?.join(" ") === "-e" && x.fault === "kexec-noop"), "kexec -e should have been called (and done nothing)");
    const seconds = hostSeconds(name, r.apply.output.split("\n").filter((l) => l.includes(`[${name} kexec]`)).join("\n"));
    must(seconds >= 20, `the grace period should be waited out, kexec took ${seconds} s`);
    noLeftovers(r.f, r.passphrase);
    return { happened: `kexec stopped after ${seconds.toFixed(1)} s: ${quote(error)}; host still base; install, unlock, verify never ran`, seconds: hostSeconds(name, r.apply.output) };
  },
);

scenario(
  {
    id: "2.2",
    title: "kexec_file_load refused (lockdown, Secure Boot)",
    expected: "run-installer falls back to kexec_load and the chain finishes",
    timeoutMs: TEST_TIMEOUT,
    file: __filename,
  },
  async () => {
    const { value: r } = await kexecRun;
    const name = "kexec-file-fails";
    must(firstError(r.apply.output, name) === "" && verified(r.apply, name), "the chain should finish", r.apply, name);
    const loads = toolCalls(r.f, name, "kexec").filter((x) => x.argv?.includes("-l")).map((x) => `${x.syscall}:${x.exit}`);
    must(loads.join(" ") === "kexec_file_load:1 kexec_load:0", `expected kexec_file_load to fail and kexec_load to work, got ${loads.join(" ")}`);
    must(r.roles.file === "installed", `the host should be installed, is ${r.roles.file}`);
    return { happened: `kexec loads: ${loads.join(", ")} (syscall:exit); installed and verified`, seconds: hostSeconds(name, r.apply.output) };
  },
);

// ---- 4: wrong passphrase at unlock, then the right one ----------------------------

const unlockRun = pool.add(async () => {
  const passphrase = canary();
  const wrong = `wrong-${randomBytes(12).toString("hex")}`;
  const name = "unlock";
  const f = await fleetOf({ work: path.join(WORK, "unlock"), passphrase, hosts: [{ name, address: "127.0.9.41" }], timeouts: TIMEOUTS });
  try {
    const install = await f.apply({ targets: [f.address(name, "install")] });
    must(install.code === 0, "probe, kexec and install should apply", install, name);
    const short = await f.apply({ env: { LAB_DISK_PASSPHRASE: "short" } });
    const bad = await f.apply({ env: { LAB_DISK_PASSPHRASE: wrong } });
    const roleAfterBad = await labHostRoleAsync(f.hosts[name].dir);
    const good = await f.apply();
    const role = await labHostRoleAsync(f.hosts[name].dir);
    return { f, passphrase, wrong, name, short, bad, roleAfterBad, good, role };
  } finally {
    await f.close();
  }
});

scenario(
  {
    id: "4.1",
    title: "wrong passphrase at unlock, then a retry with the right one",
    expected: "a too short passphrase is refused before anything is sent; a wrong one gets a clear error and the host keeps waiting in its initrd; the retry with the right one unlocks and verifies",
    timeoutMs: TEST_TIMEOUT,
    file: __filename,
  },
  async () => {
    const { value: r } = await unlockRun;
    const shortError = firstError(r.short.output, r.name);
    must(/\[unlock unlock\] error: the disk passphrase from the env source 'LAB_DISK_PASSPHRASE' is shorter than 8 characters/.test(shortError), `a short passphrase should be refused, got: ${shortError}`, r.short, r.name);
    const badError = firstError(r.bad.output, r.name);
    must(badError.startsWith("[unlock unlock] error: the initrd did not accept the disk passphrase"), `the wrong passphrase should be named, got: ${badError}`, r.bad, r.name);
    must(/^unlock: |error: wrong passphrase for pool rpool/m.test(r.bad.output) && r.bad.output.includes("error: wrong passphrase for pool rpool"), "the target's own message should be shown", r.bad, r.name);
    must(r.roleAfterBad === "initrd", `after the wrong passphrase the host should wait in its initrd, is ${r.roleAfterBad}`);
    must(r.good.code === 0 && verified(r.good, r.name), "the retry should unlock and verify", r.good, r.name);
    must(r.role === "installed", `the host should be installed, is ${r.role}`);
    const replies = toolCalls(r.f, r.name, "systemd-reply-password").map((x) => String(x.result));
    must(replies.join(",") === "wrong passphrase: asked again,key loaded", `expected one wrong and one right reply, got ${replies.join(", ")}`);
    noLeftovers(r.f, r.passphrase, r.wrong);
    return {
      happened: `short: ${quote(shortError.split(" (")[0])}; wrong: ${quote(badError)} + target "error: wrong passphrase for pool rpool (the initrd asks again)", host stayed in initrd; retry unlocked and verified (${r.good.seconds.toFixed(1)} s); neither passphrase left anywhere`,
      seconds: r.short.seconds + r.bad.seconds + r.good.seconds,
    };
  },
);

const switchRootRun = pool.add(async () => {
  const passphrase = canary();
  const name = "cut-unlock";
  const f = await fleetOf({ work: path.join(WORK, "cut-unlock"), passphrase, hosts: [{ name, address: "127.0.9.42", faults: ["switch-root-cuts-unlock"] }], timeouts: TIMEOUTS });
  try {
    const apply = await f.apply({ timeoutMs: 300_000 });
    const role = await labHostRoleAsync(f.hosts[name].dir);
    return { f, passphrase, name, apply, role };
  } finally {
    await f.close();
  }
});

scenario(
  {
    id: "4.2",
    title: "the initrd switches root before unlock reports (the session ends with the right passphrase)",
    expected: "the unlock phase sees the initrd's key gone and goes on; the installed system answers with its pinned key and verifies",
    timeoutMs: TEST_TIMEOUT,
    file: __filename,
  },
  async () => {
    const { value: r } = await switchRootRun;
    must(r.apply.code === 0 && verified(r.apply, r.name), "the apply should unlock and verify the host", r.apply, r.name);
    const seen = hostLines(r.apply.output, r.name).find((l) => /the initrd's SSH server went away after the passphrase was sent/.test(l)) ?? "";
    must(seen !== "", "the unlock phase should say why a lost session is no failure here", r.apply, r.name);
    must(r.role === "installed", `the host should be installed, is ${r.role}`);
    const replies = toolCalls(r.f, r.name, "systemd-reply-password").map((x) => String(x.result));
    must(replies.join(",") === "key loaded", `expected one reply that loaded the key, got ${replies.join(", ")}`);
    noLeftovers(r.f, r.passphrase);
    return { happened: `session cut by switch-root right after the key loaded; unlock said ${quote(seen.replace(/^.*\] /, ""))}; the host verified (${r.apply.seconds.toFixed(1)} s)`, seconds: r.apply.seconds };
  },
);

// ---- 5: target unreachable or port closed -----------------------------------------

const unreachableRun = pool.add(async () => {
  const silent = await startSilentPort("127.0.9.52", 10022);
  try {
    const f = await fleetOf({
      work: path.join(WORK, "unreachable"),
      passphrase: canary(),
      hosts: [],
      absent: [
        { name: "port-closed", address: "127.0.9.51" },
        { name: "silent", address: "127.0.9.52" },
      ],
      timeouts: { ...TIMEOUTS, probe: 5 },
    });
    const apply = await f.apply({ timeoutMs: 60_000 });
    return { f, apply };
  } finally {
    await silent.close();
  }
});

[
  ["5.1", "port-closed", "127.0.9.51", "target port closed (connection refused)"],
  ["5.2", "silent", "127.0.9.52", "target unreachable (a port that accepts and never answers)"],
].forEach(([id, name, address, title]) => {
  scenario(
    { id, title, expected: "probe fails within its timeout (timeouts.probe = 5 s) naming host, port and what it waited for", timeoutMs: TEST_TIMEOUT, file: __filename },
    async () => {
      const { value: r } = await unreachableRun;
      const error = firstError(r.apply.output, name);
      must(error.startsWith(`[${name} probe] error: timed out after 5 s waiting for the base system's SSH server on ${address}:10022`), `probe should time out naming ${address}:10022, got: ${error}`, r.apply, name);
      const seconds = hostSeconds(name, r.apply.output);
      // Bounded, not fast: each poll is cut to the time left (at least 1 s), so the probe ends
      // at its 5 s deadline plus one last 1 s poll and process exits. The margin up to a
      // second timeout's worth absorbs a loaded CI machine (8.2 s was seen at load 20); a
      // wait that ignored its deadline would run to ssh's own 10 s ConnectTimeout or beyond.
      must(seconds > 0 && seconds < 5 + 5, `probe should end at its 5 s deadline (plus its last 1 s poll), well before a second 5 s; took ${seconds} s`);
      noLeftovers(r.f);
      return { happened: `probe stopped after ${seconds.toFixed(1)} s: ${quote(error)}`, seconds };
    },
  );
});

// ---- 6: too little RAM, wrong architecture ---------------------------------------

const refuseRun = pool.add(async () => {
  const f = await fleetOf({
    work: path.join(WORK, "refuse"),
    passphrase: canary(),
    hosts: [
      { name: "low-ram", address: "127.0.9.61", faults: ["low-ram"] },
      { name: "wrong-arch", address: "127.0.9.62", faults: ["wrong-arch"] },
    ],
    timeouts: TIMEOUTS,
  });
  try {
    const apply = await f.apply();
    const roles = { "low-ram": await labHostRoleAsync(f.hosts["low-ram"].dir), "wrong-arch": await labHostRoleAsync(f.hosts["wrong-arch"].dir) };
    return { f, apply, roles };
  } finally {
    await f.close();
  }
});

[
  ["6.1", "low-ram", "too little RAM for the kexec bundle", "kexec", /error: run-installer refused to kexec/, /error: not enough memory for kexec: MemAvailable is 400 MiB/],
  ["6.2", "wrong-arch", "wrong architecture (aarch64 host, x86_64 bundle)", "probe", /error: 127\.0\.9\.62 is aarch64-linux but the kexec bundle is built for x86_64-linux/, /./],
].forEach(([id, name, title, phase, error, detail]) => {
  scenario(
    { id: id as string, title: title as string, expected: `refused in ${phase}, before any kexec call; the host keeps running its base system`, timeoutMs: TEST_TIMEOUT, file: __filename },
    async () => {
      const { value: r } = await refuseRun;
      const n = name as "low-ram" | "wrong-arch";
      const e = firstError(r.apply.output, n);
      must(e.startsWith(`[${n} ${phase}] `) && (error as RegExp).test(e), `expected a refusal in ${phase}, got: ${e}`, r.apply, n);
      must((detail as RegExp).test(r.apply.output), "the target's own reason should be shown", r.apply, n);
      must(toolCalls(r.f, n, "kexec").length === 0, "kexec must never be called");
      must(toolCalls(r.f, n, "sgdisk", "wipefs", "zpool", "mkfs.vfat").length === 0, "no disk tool may run");
      must(r.roles[n] === "base", `the host should still run its base system, is ${r.roles[n]}`);
      const reason = n === "low-ram" ? ` (target: "${/error: not enough memory[^\n]*/.exec(r.apply.output)?.[0].slice(7, 90)}…")` : "";
      return { happened: `refused in ${phase}: ${quote(e)}${reason}; 0 kexec calls, 0 disk tool calls; host still base`, seconds: hostSeconds(n, r.apply.output) };
    },
  );
});

// ---- 7: the disk holds a pool from an earlier install -----------------------------

const poolRun = pool.add(async () => {
  const passphrase = canary();
  const f = await fleetOf({
    work: path.join(WORK, "pool"),
    passphrase,
    hosts: [
      { name: "pool-keep", address: "127.0.9.71", faults: ["existing-pool"] },
      { name: "pool-wipe", address: "127.0.9.72", faults: ["existing-pool"], wipe: "everything" },
    ],
    timeouts: TIMEOUTS,
  });
  try {
    const apply = await f.apply({ timeoutMs: 300_000 });
    const diskState = JSON.parse(fs.readFileSync(path.join(f.hosts["pool-keep"].dir, "disk", "state.json"), "utf8"));
    return { f, passphrase, apply, diskState };
  } finally {
    await f.close();
  }
});

scenario(
  {
    id: "7.1",
    title: "disk holds a pool from an earlier install, wipe policy base-system (the default)",
    expected: "probe refuses and names wipe = \"everything\"; no disk tool runs; the old pool is untouched",
    timeoutMs: TEST_TIMEOUT,
    file: __filename,
  },
  async () => {
    const { value: r } = await poolRun;
    const name = "pool-keep";
    const e = firstError(r.apply.output, name);
    must(e.startsWith(`[${name} probe] error: write-runtime-info refused the host`), `probe should refuse, got: ${e}`, r.apply, name);
    const reason = /error: disk \S+ holds a ZFS pool from an earlier install \([^)]*\); set wipe = "everything" to replace it/.exec(r.apply.output);
    must(reason, "the target's reason should name the pool and the wipe policy", r.apply, name);
    must(toolCalls(r.f, name, "sgdisk", "wipefs", "zpool", "zfs", "mkfs.vfat", "kexec").length === 0, "no disk tool and no kexec may run");
    must(r.diskState.pool?.fromEarlierInstall === true && r.diskState.disks.sda?.extraParts?.length === 1, "the earlier pool and its partition must be untouched");
    return { happened: `probe refused: "${reason![0]}"; 0 disk tool calls, earlier pool and partition untouched`, seconds: hostSeconds(name, r.apply.output) };
  },
);

scenario(
  {
    id: "7.2",
    title: "disk holds a pool from an earlier install, wipe: \"everything\"",
    expected: "the disk is wiped (zap, labels cleared) and the install finishes",
    timeoutMs: TEST_TIMEOUT,
    file: __filename,
  },
  async () => {
    const { value: r } = await poolRun;
    const name = "pool-wipe";
    must(firstError(r.apply.output, name) === "" && verified(r.apply, name), "the chain should finish", r.apply, name);
    const wiped = toolCalls(r.f, name, "sgdisk", "wipefs", "zpool").filter((x) => x.argv?.[0] === "--zap-all" || x.tool === "wipefs" || x.argv?.[0] === "labelclear");
    must(wiped.some((x) => x.argv?.[0] === "--zap-all"), "the disk should be zapped");
    noLeftovers(r.f, r.passphrase);
    return { happened: `wiped (${wiped.map((x) => `${x.tool} ${x.argv?.[0]}`).join(", ")}), installed and verified`, seconds: hostSeconds(name, r.apply.output) };
  },
);

// ---- 8: nixos-install or the boot loader install fails ----------------------------

const installFailRun = pool.add(async () => {
  const passphrase = canary();
  const f = await fleetOf({
    work: path.join(WORK, "install-fails"),
    passphrase,
    hosts: [
      { name: "nixos-install-fails", address: "127.0.9.81", faults: ["nixos-install-fails"] },
      { name: "grub-fails", address: "127.0.9.82", faults: ["grub-fails"] },
    ],
    timeouts: TIMEOUTS,
  });
  try {
    const apply = await f.apply({ timeoutMs: 300_000 });
    const roles = { "nixos-install-fails": await labHostRoleAsync(f.hosts["nixos-install-fails"].dir), "grub-fails": await labHostRoleAsync(f.hosts["grub-fails"].dir) };
    return { f, passphrase, apply, roles };
  } finally {
    await f.close();
  }
});

[
  ["8.1", "nixos-install-fails", "nixos-install fails (a build error)", /error: builder for '\/nix\/store\/\S+-nixos-system-nixos-install-fails-26\.05\.drv' failed with exit code 1/],
  ["8.2", "grub-fails", "the boot loader install fails (grub-install)", /grub-install: error: cannot find EFI directory\./],
].forEach(([id, name, title, cause]) => {
  scenario(
    { id: id as string, title: title as string, expected: "install fails loudly with the tail of the installer log, never \"done\"; no reboot, the installer stays up for inspection", timeoutMs: TEST_TIMEOUT, file: __filename },
    async () => {
      const { value: r } = await installFailRun;
      const n = name as "nixos-install-fails" | "grub-fails";
      const e = firstError(r.apply.output, n);
      must(e.startsWith(`[${n} install] error: do-install failed; nothing was rebooted`), `install should fail loudly, got: ${e}`, r.apply, n);
      // The tail, as the user sees it in terraform's output for this resource.
      const own = r.apply.output.split("\n").filter((l) => l.startsWith(`terraform_data.${n}_install`)).join("\n");
      must(own.includes("--- last 40 lines of /run/cdktf-nixos-installer/nixos-install.log ---"), "the tail of the installer log should be shown", r.apply, n);
      must((cause as RegExp).test(own), "the tail should hold the cause", r.apply, n);
      must(/error: nixos-install failed \(exit 1\)/.test(own), "do-install should name the failure", r.apply, n);
      must(!/do-install: done|installation finished!/.test(own), "nothing may say done", r.apply, n);
      must(!phasesRun(r.apply, n).some((p) => p === "unlock" || p === "verify"), "unlock and verify must not run", r.apply, n);
      must(r.roles[n] === "installer", `the host should stay in the installer, is ${r.roles[n]}`);
      noLeftovers(r.f, r.passphrase);
      return { happened: `install failed: ${quote(e)}; log tail shown with "${(cause as RegExp).exec(own)![0].slice(0, 70)}…"; no "done", no reboot (host still installer)`, seconds: hostSeconds(n, r.apply.output) };
    },
  );
});
