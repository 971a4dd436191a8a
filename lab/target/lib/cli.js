"use strict";
// lab-host up|down|role: one simulated host for the deploy scripts (see ../README.md).
const fs = require("fs");
const path = require("path");
const { spawn, execFileSync } = require("child_process");
const { loadProfile, initialDiskState, writeJson, readJson } = require("./common");

// Every directory of ../profiles is a profile (recorded facts of one kind of machine).
const PROFILES = fs.readdirSync(path.join(__dirname, "..", "profiles")).sort();
const FAULTS = ["kexec-noop", "kexec-file-fails", "low-ram", "wrong-arch", "existing-pool", "nixos-install-fails", "grub-fails",
  "drop-ssh-in-probe", "drop-ssh-in-kexec", "drop-ssh-in-install", "drop-ssh-in-unlock", "drop-ssh-in-verify", "slow-nixos-install", "switch-root-cuts-unlock"];

function usage() {
  return `Usage:
  lab-host up --dir DIR --name NAME --address 127.0.0.N --port P --unlock-port U
              [--profile ${PROFILES.join("|")}] [--fault F]...
  lab-host down --dir DIR
  lab-host role --dir DIR

Faults: ${FAULTS.join(", ")}
`;
}

function abort(msg, code = 1) {
  process.stderr.write(`error: ${msg}\n`);
  process.exit(code);
}

function parse(args) {
  const o = { faults: [], profile: "hcloud-x86" };
  for (let i = 0; i < args.length; i++) {
    const k = args[i];
    const v = () => {
      if (i + 1 >= args.length) abort(`${k} needs a value (see --help)`, 2);
      return args[++i];
    };
    if (k === "--dir") o.dir = path.resolve(v());
    else if (k === "--name") o.name = v();
    else if (k === "--address") o.address = v();
    else if (k === "--port") o.port = Number(v());
    else if (k === "--unlock-port") o.unlockPort = Number(v());
    else if (k === "--profile") o.profile = v();
    else if (k === "--fault") o.faults.push(v());
    else if (k === "--help" || k === "-h") {
      process.stdout.write(usage());
      process.exit(0);
    } else abort(`unknown argument: ${k} (see --help)`, 2);
  }
  return o;
}

const sleepMs = (ms) => execFileSync("sleep", [String(ms / 1000)]);

function up(o) {
  if (!o.dir) abort("--dir DIR is required", 2);
  if (!o.name || !/^[a-z0-9-]{1,63}$/.test(o.name)) abort(`--name must be a-z, 0-9, '-', got: '${o.name}'`, 2);
  if (!/^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(o.address || "")) abort(`--address must be a loopback address 127.x.y.z, got: '${o.address}'`, 2);
  for (const k of ["port", "unlockPort"]) if (!Number.isInteger(o[k]) || o[k] < 1024 || o[k] > 65535) abort(`--${k === "port" ? "port" : "unlock-port"} must be 1024-65535, got: '${o[k]}'`, 2);
  if (!PROFILES.includes(o.profile)) abort(`--profile must be one of ${PROFILES.join(", ")}, got: '${o.profile}'`, 2);
  for (const f of o.faults) if (!FAULTS.includes(f)) abort(`--fault must be one of ${FAULTS.join(", ")}, got: '${f}'`, 2);
  if (process.getuid() !== 0) abort("lab-host needs root (mount namespaces, sshd)");
  for (const port of [o.port, o.unlockPort]) {
    const taken = listenersOn(o.address, port);
    if (taken) abort(`port ${port} is already in use in this network namespace (another lab run, or a leftover from one?):\n${taken}\nstop it (lab-host down --dir …) or run the lab in its own network namespace (ip netns exec …)`);
  }
  const pidFile = path.join(o.dir, "supervisor.pid");
  if (fs.existsSync(pidFile) && alive(Number(fs.readFileSync(pidFile, "utf8")))) abort(`a lab host already runs in ${o.dir}; run lab-host down --dir ${o.dir} first`);
  for (const d of ["records", "control", "disk/mnt", "keys", "client", "roles", "logs", "ns"]) fs.mkdirSync(path.join(o.dir, d), { recursive: true });
  fs.chmodSync(o.dir, 0o700);
  const key = (f, comment) => {
    if (!fs.existsSync(f)) execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", f]);
  };
  key(path.join(o.dir, "keys", "base_host_ed25519_key"), `lab-base@${o.name}`);
  key(path.join(o.dir, "client", "id_ed25519"), `lab-client@${o.name}`);
  const profile = loadProfile(path.join(__dirname, "..", "profiles", o.profile));
  const stateFile = path.join(o.dir, "disk", "state.json");
  if (!fs.existsSync(stateFile)) writeJson(stateFile, initialDiskState(profile, o.faults));
  writeJson(path.join(o.dir, "config.json"), { name: o.name, address: o.address, port: o.port, unlockPort: o.unlockPort, profile: o.profile, faults: o.faults });
  fs.rmSync(path.join(o.dir, "role"), { force: true });
  fs.appendFileSync(path.join(o.dir, "supervisor.log"), "");
  const log = fs.openSync(path.join(o.dir, "supervisor.out"), "a");
  const child = spawn(process.execPath, [path.join(__dirname, "supervisor.js"), o.dir], { detached: true, stdio: ["ignore", log, log] });
  fs.writeFileSync(pidFile, `${child.pid}\n`);
  child.unref();
  // the supervisor gives the base role 45 s to answer; a little more here
  const upWaitS = 50;
  const deadline = Date.now() + upWaitS * 1000;
  for (;;) {
    const role = readRole(o.dir);
    if (role === "base" && fs.readFileSync(path.join(o.dir, "supervisor.log"), "utf8").includes("base answers")) break;
    const failed = /did not answer|cannot start|ended unexpectedly/.test(fs.readFileSync(path.join(o.dir, "supervisor.log"), "utf8"));
    if (failed || !alive(child.pid) || Date.now() > deadline) {
      stop(o.dir);
      // The logs go into the error itself: a CI log is often all there is.
      abort(`the lab host did not come up within ${upWaitS} s; see ${o.dir}/supervisor.log and ${o.dir}/logs/\n${tailOf(o.dir)}`);
    }
    sleepMs(100);
  }
  const baseHostKey = fs.readFileSync(path.join(o.dir, "keys", "base_host_ed25519_key.pub"), "utf8").split(" ").slice(0, 2).join(" ");
  process.stdout.write(JSON.stringify({ baseHostKey, clientKey: path.join(o.dir, "client", "id_ed25519"), address: o.address, port: o.port, unlockPort: o.unlockPort, profile: o.profile, faults: o.faults }) + "\n");
}

// Listeners that would keep us from binding address:port, as ss prints them, or "" when there are none.
// Other lab hosts on other loopback addresses share the port number; only the same address or a wildcard conflicts.
function listenersOn(address, port) {
  let out = "";
  try {
    out = execFileSync("ss", ["-Hltnp", `sport = :${port}`], { encoding: "utf8" });
  } catch {
    return "";
  }
  const conflicts = new Set([`${address}:${port}`, `0.0.0.0:${port}`, `*:${port}`, `[::]:${port}`]);
  return out
    .split("\n")
    .filter((line) => conflicts.has(line.trim().split(/\s+/)[3]))
    .join("\n");
}

function tailOf(dir, lines = 20) {
  const files = [path.join(dir, "supervisor.log"), path.join(dir, "supervisor.out")];
  try {
    files.push(...fs.readdirSync(path.join(dir, "logs")).sort().map((f) => path.join(dir, "logs", f)));
  } catch {
    // no role started yet
  }
  return files
    .filter((f) => fs.existsSync(f) && fs.statSync(f).size > 0)
    .map((f) => `--- ${f} (last ${lines} lines)\n${fs.readFileSync(f, "utf8").trimEnd().split("\n").slice(-lines).join("\n")}`)
    .join("\n");
}

function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function readRole(dir) {
  try {
    return fs.readFileSync(path.join(dir, "role"), "utf8").trim();
  } catch {
    return "";
  }
}

function stop(dir) {
  const pidFile = path.join(dir, "supervisor.pid");
  if (!fs.existsSync(pidFile)) return;
  const pid = Number(fs.readFileSync(pidFile, "utf8"));
  if (alive(pid)) {
    process.kill(pid, "SIGTERM");
    const deadline = Date.now() + 8000;
    while (alive(pid) && Date.now() < deadline) sleepMs(100);
    if (alive(pid)) process.kill(pid, "SIGKILL");
  }
  fs.rmSync(pidFile, { force: true });
  // Every mount lived in the role's namespace; make sure none leaked to the host.
  const leaked = fs.readFileSync("/proc/self/mountinfo", "utf8").split("\n").filter((l) => l.includes(path.join(dir, "ns")));
  for (const l of leaked) {
    const mp = l.split(" ")[4];
    try {
      execFileSync("umount", ["-l", mp]);
    } catch {
      // best effort
    }
  }
}

function main() {
  const [cmd, ...rest] = process.argv.slice(2);
  if (!cmd || cmd === "--help" || cmd === "-h") {
    process.stdout.write(usage());
    process.exit(cmd ? 0 : 2);
  }
  const o = parse(rest);
  if (cmd === "up") return up(o);
  if (!o.dir) abort("--dir DIR is required", 2);
  if (cmd === "down") return stop(o.dir);
  if (cmd === "role") {
    process.stdout.write(`${readRole(o.dir) || "down"}\n`);
    return;
  }
  void readJson;
  abort(`unknown command: ${cmd} (see --help)`, 2);
}

main();
