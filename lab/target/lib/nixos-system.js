"use strict";
// The installed system's generations, for the recorders of nixos-rebuild, nix-env,
// switch-to-configuration and systemd-run/systemctl (recorder.js calls these). The
// simulated /nix is the disk's (enter-role.sh binds DIR/disk/mnt/nix there), so the
// generations survive a reboot as they do on a real host:
//   /nix/store/HASH-nixos-system-NAME-26.05.lab   a "built" system: bin/switch-to-configuration
//       (a wrapper back to the recorder), etc/ssh/authorized_keys.d/root (root's keys of that
//       generation), flake/ (the flake it was built from, with its lab markers)
//   /nix/var/nix/profiles/system -> system-N-link -> /nix/store/…   as nix-env makes them
//   /run/current-system -> /nix/store/…   what was activated last (this boot)
// A flake.nix holding one of these comments makes its generation misbehave:
//   "# lab: build fails"    nixos-rebuild build fails (a builder error)
//   "# lab: switch fails"   switch-to-configuration activates, then exits 4 (units failed)
//   "# lab: cuts ssh"       activation locks root out of sshd (no authorized key) and ends
//                           every SSH session and what runs in it, as a broken sshd,
//                           network or firewall configuration would
//   "# lab: new host key"   activation gives sshd a host key of its own (as a configuration
//                           that moves services.openssh.hostKeys would); to the deploy
//                           machine that looks exactly like a man in the middle taking
//                           the address. Activating any other generation brings the
//                           host's own key back.
// Transient units (systemd-run) live in /run/lab-systemd/ (gone at reboot, like real ones);
// each runs as a process of its own outside every SSH session (transient-unit.js).
const fs = require("fs");
const path = require("path");
const { spawnSync } = require("child_process");
const { sha256 } = require("./common");

const PROFILES = "/nix/var/nix/profiles";
const UNITS = "/run/lab-systemd";
const MARKERS = { buildFails: "# lab: build fails", switchFails: "# lab: switch fails", cutsSsh: "# lab: cuts ssh", newHostKey: "# lab: new host key" };
/** The key sshd offers (sshd_config's HostKey), and the host's own while another is offered. */
const ACTIVE_HOST_KEY = "/run/lab-sshd/ssh_host_ed25519_key";
const OWN_HOST_KEY = "/run/lab-sshd/ssh_host_ed25519_key.own";
/** systemd's default PATH for a unit (what a transient service gets unless told). */
const UNIT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/** The files of a flake directory (relative path -> content), `result` links left out. */
function flakeFiles(dir, prefix = "") {
  const out = {};
  for (const e of fs.readdirSync(path.join(dir, prefix), { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
    const rel = path.join(prefix, e.name);
    if (e.isSymbolicLink() && e.name === "result") continue;
    if (e.isDirectory()) Object.assign(out, flakeFiles(dir, rel));
    else out[rel] = fs.readFileSync(path.join(dir, rel));
  }
  return out;
}

/**
 * "Builds" the system of a flake into the store under root ("" on the installed system,
 * "/mnt" in the installer): the same flake content gives the same store path, as Nix does.
 */
function buildToplevel(root, flakeDir, attribute) {
  const files = flakeFiles(flakeDir);
  const hash = sha256(Buffer.concat(Object.entries(files).flatMap(([k, v]) => [Buffer.from(`${k}\0${v.length}\0`), v]))).slice(0, 32);
  const toplevel = `/nix/store/${hash}-nixos-system-${attribute}-26.05.lab`;
  const dir = `${root}${toplevel}`;
  if (!fs.existsSync(dir)) {
    fs.mkdirSync(`${dir}/bin`, { recursive: true });
    fs.mkdirSync(`${dir}/etc/ssh/authorized_keys.d`, { recursive: true });
    fs.mkdirSync(`${dir}/flake`, { recursive: true });
    for (const [rel, data] of Object.entries(files)) {
      fs.mkdirSync(path.dirname(`${dir}/flake/${rel}`), { recursive: true });
      fs.writeFileSync(`${dir}/flake/${rel}`, data);
    }
    // root's keys as the flake gives them: lib.mkHosts' hosts/ATTR/ (runtime-info and keys
    // there), else the template's authorized_keys beside flake.nix
    const own = `hosts/${attribute}`;
    const keys = files[`${own}/runtime-info.json`] !== undefined && files[`${own}/authorized_keys`] !== undefined ? files[`${own}/authorized_keys`] : files.authorized_keys;
    fs.writeFileSync(`${dir}/etc/ssh/authorized_keys.d/root`, keys ?? "");
    fs.writeFileSync(`${dir}/nixos-version`, "26.05.20260420.5e1f2a3\n");
    if (marker(toplevel, "newHostKey", root)) {
      spawnSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "lab-new-host-key", "-f", `${dir}/etc/ssh/ssh_host_ed25519_key`], { stdio: "ignore" });
    }
    fs.writeFileSync(
      `${dir}/bin/switch-to-configuration`,
      `#!/bin/sh\nexec env LAB_TOPLEVEL=${toplevel} ${process.execPath} /.lab/code/lib/recorder.js switch-to-configuration "$@"\n`,
      { mode: 0o755 },
    );
  }
  return toplevel;
}

function marker(toplevel, name, root = "") {
  const flake = `${root}${toplevel}/flake/flake.nix`;
  return fs.existsSync(flake) && fs.readFileSync(flake, "utf8").includes(MARKERS[name]);
}

/** The generation numbers of the system profile, and the current one. */
function generations(root = "") {
  const dir = `${root}${PROFILES}`;
  const list = fs.existsSync(dir)
    ? fs.readdirSync(dir).map((f) => /^system-(\d+)-link$/.exec(f)).filter(Boolean).map((m) => Number(m[1])).sort((a, b) => a - b)
    : [];
  let current;
  try {
    current = Number(/^system-(\d+)-link$/.exec(fs.readlinkSync(`${dir}/system`))[1]);
  } catch {
    current = undefined;
  }
  return { list, current };
}

/** nix-env --set: a new generation N+1 of the profile pointing at toplevel, made current. */
function setProfile(root, toplevel) {
  const dir = `${root}${PROFILES}`;
  fs.mkdirSync(dir, { recursive: true });
  const n = Math.max(0, ...generations(root).list) + 1;
  fs.symlinkSync(toplevel, `${dir}/system-${n}-link`);
  switchProfile(root, n);
  return n;
}

function switchProfile(root, n) {
  const dir = `${root}${PROFILES}`;
  fs.rmSync(`${dir}/system.tmp`, { force: true });
  fs.symlinkSync(`system-${n}-link`, `${dir}/system.tmp`);
  fs.renameSync(`${dir}/system.tmp`, `${dir}/system`);
}

function tools(ctx) {
  const { argv, record, fail, unsupported, requireRole } = ctx;

  function nixosRebuild() {
    requireRole("installed");
    if (argv.length !== 3 || argv[0] !== "build" || argv[1] !== "--flake") unsupported();
    const m = /^(\/[^#]+)#([A-Za-z0-9_-]+)$/.exec(argv[2]);
    if (!m) fail(`error: lab nixos-rebuild recorder: --flake must be an absolute path and #attribute, got: ${argv[2]}`, 2);
    const [, flakeDir, attribute] = m;
    record.flake = flakeDir;
    if (!fs.existsSync(`${flakeDir}/flake.nix`)) fail(`error: path '${flakeDir}/flake.nix' does not exist`);
    if (!fs.existsSync(`${flakeDir}/flake.lock`)) fail(`lab nixos-rebuild recorder: ${flakeDir}/flake.lock is missing (the real one would resolve the inputs from the network)`);
    const ri = `${flakeDir}/runtime-info.json`;
    if (fs.existsSync(ri) && JSON.parse(fs.readFileSync(ri, "utf8")).hostName !== attribute)
      fail(`error: flake 'path:${flakeDir}' does not provide attribute 'nixosConfigurations.${attribute}' (runtime-info says ${JSON.parse(fs.readFileSync(ri, "utf8")).hostName})`);
    process.stderr.write("building the system configuration...\n");
    if (fs.readFileSync(`${flakeDir}/flake.nix`, "utf8").includes(MARKERS.buildFails)) {
      process.stderr.write(`error: builder for '/nix/store/${sha256("lab-broken").slice(0, 32)}-nixos-system-${attribute}-26.05.lab.drv' failed with exit code 1\n`);
      fail("error: 1 dependencies of derivation failed to build", 1);
    }
    const toplevel = buildToplevel("", flakeDir, attribute);
    fs.rmSync("result", { force: true });
    fs.symlinkSync(toplevel, "result");
    record.toplevel = toplevel;
  }

  function nixEnv() {
    requireRole("installed");
    const a = argv.join(" ");
    let m;
    if ((m = /^-p \/nix\/var\/nix\/profiles\/system --set (\/nix\/store\/\S+)$/.exec(a))) {
      if (!fs.existsSync(`${m[1]}/bin/switch-to-configuration`)) fail(`error: path '${m[1]}' is not valid (not a built system in this store)`);
      record.generation = setProfile("", m[1]);
      record.toplevel = m[1];
    } else if ((m = /^-p \/nix\/var\/nix\/profiles\/system --switch-generation (\d+)$/.exec(a))) {
      const n = Number(m[1]);
      if (!generations().list.includes(n)) fail(`error: generation ${n} does not exist`);
      process.stderr.write(`switching profile from version ${generations().current} to ${n}\n`);
      switchProfile("", n);
      record.generation = n;
    } else if (a === "-p /nix/var/nix/profiles/system --list-generations") {
      const g = generations();
      for (const n of g.list) process.stdout.write(`${String(n).padStart(4)}   ${n === g.current ? "(current)" : ""}\n`);
    } else unsupported();
  }

  /** End every SSH session and what runs in it (pid 1 is the listening sshd; units are not in a session). */
  function endSshSessions() {
    const procs = fs.readdirSync("/proc").filter((p) => /^\d+$/.test(p)).map((pid) => {
      try {
        const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
        const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
        return { pid: Number(pid), ppid: Number(rest[1]), comm: stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")")) };
      } catch {
        return undefined;
      }
    }).filter(Boolean);
    const doomed = new Set(procs.filter((p) => p.ppid === 1 && p.comm === "sshd").map((p) => p.pid));
    for (let more = true; more; ) {
      more = false;
      for (const p of procs) if (doomed.has(p.ppid) && !doomed.has(p.pid)) (doomed.add(p.pid), (more = true));
    }
    record.endedSessions = doomed.size;
    writeRecordNow();
    for (const pid of doomed) if (pid !== process.pid) try { process.kill(pid, "SIGKILL"); } catch { /* gone */ }
    if (doomed.has(process.pid)) process.kill(process.pid, "SIGKILL");
  }

  let writeRecordNow = () => undefined;

  function switchToConfiguration() {
    requireRole("installed");
    const toplevel = process.env.LAB_TOPLEVEL;
    const action = argv[0];
    if (argv.length !== 1 || !["switch", "boot", "test", "dry-activate"].includes(action)) unsupported();
    record.toplevel = toplevel;
    record.action = action;
    if (action === "dry-activate") return;
    if (action !== "test") {
      const profile = fs.realpathSync(`${PROFILES}/system`);
      // The boot loader's default entry is the profile's generation: switching to a
      // system that is not it would boot something else next time (a script bug).
      if (profile !== toplevel) fail(`lab switch-to-configuration recorder: the system profile is ${profile}, not ${toplevel}: nix-env -p ${PROFILES}/system --set comes first`);
      record.bootDefault = generations().current;
    }
    if (action === "boot") return;
    fs.rmSync("/run/current-system", { force: true });
    fs.symlinkSync(toplevel, "/run/current-system");
    fs.copyFileSync(`${toplevel}/etc/ssh/authorized_keys.d/root`, "/etc/ssh/authorized_keys.d/root");
    process.stdout.write(`activating the configuration...\n`);
    activateHostKey(toplevel);
    if (marker(toplevel, "cutsSsh")) {
      fs.writeFileSync("/etc/ssh/authorized_keys.d/root", "");
      record.cutSsh = true;
      endSshSessions();
    }
    if (marker(toplevel, "switchFails")) {
      process.stdout.write("warning: the following units failed: lab-broken.service\n");
      process.exitCode = 4;
    }
  }

  /**
   * The host key of the generation: its own with "# lab: new host key", else the host's.
   * sshd (pid 1 of the role's namespace) rereads it on SIGHUP; sessions stay.
   */
  function activateHostKey(toplevel) {
    const own = marker(toplevel, "newHostKey") ? `${toplevel}/etc/ssh/ssh_host_ed25519_key` : undefined;
    if (own !== undefined) {
      if (!fs.existsSync(OWN_HOST_KEY)) fs.copyFileSync(ACTIVE_HOST_KEY, OWN_HOST_KEY);
      fs.copyFileSync(own, ACTIVE_HOST_KEY);
    } else if (fs.existsSync(OWN_HOST_KEY)) {
      fs.copyFileSync(OWN_HOST_KEY, ACTIVE_HOST_KEY);
      fs.rmSync(OWN_HOST_KEY);
    } else {
      return;
    }
    fs.chmodSync(ACTIVE_HOST_KEY, 0o600);
    record.hostKey = own === undefined ? "own" : "new";
    process.kill(1, "SIGHUP");
  }

  /** systemd-run: a transient service (started now) or timer (fires once, --on-active). */
  function systemdRun() {
    requireRole("installed");
    const o = { env: { PATH: UNIT_PATH } };
    let i = 0;
    for (; i < argv.length && argv[i].startsWith("--"); i++) {
      const [k, ...v] = argv[i].split("=");
      const value = v.join("=");
      if (k === "--unit") o.unit = value.replace(/\.service$/, "");
      else if (k === "--description") o.description = value;
      else if (k === "--on-active") o.onActive = Number(value);
      else if (k === "--setenv") o.env[value.split("=")[0]] = value.split("=").slice(1).join("=");
      else if (k === "--service-type" && value === "exec") continue;
      else if (["--collect", "--no-ask-password", "--quiet"].includes(k) && value === "") continue;
      else if (k === "--wait" && value === "") o.wait = true;
      else unsupported();
    }
    const command = argv.slice(i);
    if (!o.unit || !/^[A-Za-z0-9_.@-]+$/.test(o.unit)) fail("lab systemd-run recorder: give --unit=NAME (the scripts name their units)", 2);
    if (command.length === 0 || !command[0].startsWith("/")) fail(`lab systemd-run recorder: the command must be an absolute path (a unit does not search this shell's PATH), got: ${command[0]}`, 2);
    fs.accessSync(command[0], fs.constants.X_OK);
    if (o.onActive !== undefined && !(o.onActive > 0)) fail(`Failed to parse timer value: ${o.onActive}`);
    fs.mkdirSync(UNITS, { recursive: true });
    const name = o.onActive !== undefined ? `${o.unit}.timer` : `${o.unit}.service`;
    if (fs.existsSync(`${UNITS}/${name}.json`) || fs.existsSync(`${UNITS}/${o.unit}.service.json`)) fail(`Failed to start transient ${name.endsWith("timer") ? "timer" : "service"} unit: Unit ${name} was already loaded or has a fragment file.`);
    record.unit = name;
    record.onActive = o.onActive;
    // setsid -f: the unit's process leaves this session at once (its parent exits), as a
    // real unit is a child of the service manager, not of the SSH session.
    fs.writeFileSync(`${UNITS}/${name}.json`, JSON.stringify({ name, command, env: o.env, delay: o.onActive ?? 0 }) + "\n");
    const r = spawnSync("setsid", ["-f", process.execPath, path.join(__dirname, "transient-unit.js"), `${UNITS}/${name}.json`], { stdio: "ignore" });
    if (r.status !== 0) fail(`lab systemd-run recorder: could not start ${name}`);
    if (o.onActive !== undefined) {
      process.stderr.write(`Running timer as unit: ${o.unit}.timer\nWill run service as unit: ${o.unit}.service\n`);
      return;
    }
    if (!o.wait) return;
    // --wait: until the service ends; its exit status is systemd-run's.
    const exitFile = `${UNITS}/${o.unit}.service.exit`;
    while (!fs.existsSync(exitFile)) spawnSync("sleep", ["0.1"]);
    process.exitCode = Number(fs.readFileSync(exitFile, "utf8"));
  }

  /** systemctl stop NAME.timer: the timer goes before it fires (a unit not loaded: exit 5). */
  function stopUnit(name) {
    requireRole("installed");
    const file = `${UNITS}/${name}.json`;
    let unit;
    try {
      unit = JSON.parse(fs.readFileSync(file, "utf8"));
    } catch {
      fail(`Failed to stop ${name}: Unit ${name} not loaded.`, 5);
    }
    if (unit.pid) try { process.kill(unit.pid, "SIGKILL"); } catch { /* fired meanwhile */ }
    fs.rmSync(file, { force: true });
    record.stopped = name;
  }

  return {
    "nixos-rebuild": nixosRebuild,
    "nix-env": nixEnv,
    "switch-to-configuration": switchToConfiguration,
    "systemd-run": systemdRun,
    stopUnit,
    setWriteRecord: (f) => (writeRecordNow = f),
  };
}

module.exports = { buildToplevel, setProfile, generations, tools, MARKERS, UNITS };
