"use strict";
// The supervisor of one simulated host: runs outside the namespaces, starts the role's
// sshd in a fresh namespace (enter-role.sh), watches DIR/control/request.json for
// role changes asked by the recorders, and switches like a reboot: old namespace
// killed (every connection drops, its tmpfs is gone), 0.5 s pause, next role started.
// Only DIR/disk (the simulated disk) survives a switch.
const fs = require("fs");
const path = require("path");
const net = require("net");
const { spawn, execFileSync } = require("child_process");
const { readJson, writeJson, loadProfile } = require("./common");

const dir = process.argv[2];
const cfg = readJson(path.join(dir, "config.json"));
const code = path.resolve(__dirname, "..");
const profileDir = path.join(code, "profiles", cfg.profile);
const profile = loadProfile(profileDir);
let current = null; // { role, child, boot }
/** How long a role's sshd may take to answer after its namespace starts. */
const START_MS = 45_000;
let boot = 0;
let stopping = false;

function log(msg) {
  fs.appendFileSync(path.join(dir, "supervisor.log"), `${new Date().toISOString()} ${msg}\n`);
}

function event(what, extra = {}) {
  fs.appendFileSync(path.join(dir, "records", "records.jsonl"), JSON.stringify({ time: new Date().toISOString(), tool: "lab", event: what, boot, ...extra }) + "\n");
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function copyKey(from, to, mode) {
  if (!fs.existsSync(from)) throw new Error(`missing ${from}`);
  fs.copyFileSync(from, to);
  fs.chmodSync(to, mode);
}

/** Keys and names of a role, from where that role's system would take them. */
function prepareRole(role) {
  const rd = path.join(dir, "roles", role);
  fs.rmSync(rd, { recursive: true, force: true });
  fs.mkdirSync(rd, { recursive: true });
  const mnt = path.join(dir, "disk", "mnt");
  let hostKey;
  let authorized;
  let uts = profile.baseHostName;
  const port = role === "initrd" ? cfg.unlockPort : cfg.port;
  if (role === "base") {
    hostKey = path.join(dir, "keys", "base_host_ed25519_key");
    authorized = path.join(dir, "client", "id_ed25519.pub");
  } else if (role === "installer") {
    hostKey = path.join(dir, "control", "installer", "ssh_host_ed25519_key");
    authorized = path.join(dir, "control", "installer", "root");
    uts = "nixos-installer";
  } else {
    hostKey = path.join(mnt, role === "initrd" ? "persist/etc/secrets/initrd/ssh_host_ed25519_key" : "persist/etc/ssh/ssh_host_ed25519_key");
    // root's keys of the generation the boot loader starts (the system profile's): its
    // initrd was built with them, and its activation installs them (enter-role.sh)
    const profiles = path.join(mnt, "nix", "var", "nix", "profiles");
    const toplevel = fs.readlinkSync(path.join(profiles, fs.readlinkSync(path.join(profiles, "system"))));
    authorized = path.join(mnt, toplevel, "etc", "ssh", "authorized_keys.d", "root");
    uts = fs.readFileSync(path.join(mnt, "nix", "var", "nix", "profiles", "system.lab"), "utf8").trim();
  }
  copyKey(hostKey, path.join(rd, "ssh_host_ed25519_key"), 0o600);
  copyKey(authorized, path.join(rd, "authorized_keys"), 0o644);
  let arch = profile.uname;
  if (cfg.faults.includes("wrong-arch")) arch = arch === "x86_64" ? "aarch64" : "x86_64";
  fs.writeFileSync(path.join(rd, "uname"), `${arch}\n`);
  const avail = cfg.faults.includes("low-ram") && role === "base" ? 400 * 1024 : profile.memAvailableKiB;
  fs.writeFileSync(
    path.join(rd, "meminfo"),
    `MemTotal:       ${profile.memTotalKiB} kB\nMemFree:        ${avail} kB\nMemAvailable:   ${avail} kB\nBuffers:           20480 kB\nCached:           204800 kB\nSwapTotal:             0 kB\nSwapFree:              0 kB\n`,
  );
  fs.writeFileSync(
    path.join(rd, "sshd_config"),
    [
      `ListenAddress ${cfg.address}:${port}`,
      "HostKey /run/lab-sshd/ssh_host_ed25519_key",
      "AuthorizedKeysFile /etc/ssh/authorized_keys.d/%u",
      "PermitRootLogin prohibit-password",
      "PasswordAuthentication no",
      "KbdInteractiveAuthentication no",
      "UsePAM no",
      "StrictModes no",
      "LogLevel VERBOSE",
      "PidFile none",
      "PrintMotd no",
      "UseDNS no",
      "MaxSessions 64",
      "MaxStartups 64:30:128",
      "Subsystem sftp internal-sftp",
      "",
    ].join("\n"),
  );
  writeJson(path.join(rd, "config.json"), { role, boot, name: cfg.name, faults: cfg.faults, profile: cfg.profile, address: cfg.address, port });
  const env = {
    LAB_NODE: process.execPath,
    LAB_CODE: code,
    LAB_PROFILE: profileDir,
    LAB_BOOT_MODE: profile.bootMode,
    LAB_UTS_NAME: uts,
  };
  fs.writeFileSync(path.join(rd, "config.env"), Object.entries(env).map(([k, v]) => `${k}='${v}'`).join("\n") + "\n");
  return port;
}

/** The disk as the new boot finds it: nothing mounted; what is imported depends on who booted. */
function bootDisk(role) {
  const file = path.join(dir, "disk", "state.json");
  const state = readJson(file);
  state.mounts = [];
  if (state.pool && !state.pool.fromEarlierInstall) {
    if (role === "initrd") {
      state.pool.imported = true;
      state.pool.keystatus = "unavailable";
    } else if (role === "installed") {
      state.pool.imported = true;
    } else {
      state.pool.imported = false;
      state.pool.keystatus = "unavailable";
    }
  }
  writeJson(file, state);
}

function portOpen(port) {
  return new Promise((resolve) => {
    const s = net.connect({ host: cfg.address, port, timeout: 300 });
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
    s.once("timeout", () => {
      s.destroy();
      resolve(false);
    });
  });
}

async function startRole(role) {
  boot += 1;
  fs.writeFileSync(path.join(dir, "role"), `${role}\n`);
  if (role === "off") {
    current = { role, child: null, boot };
    event("role", { role });
    log(`boot ${boot}: powered off, nothing answers`);
    return;
  }
  let port;
  try {
    bootDisk(role);
    port = prepareRole(role);
  } catch (e) {
    log(`boot ${boot}: cannot start ${role}: ${e.message}`);
    event("role-failed", { role, error: e.message });
    current = { role: "off", child: null, boot };
    fs.writeFileSync(path.join(dir, "role"), "off\n");
    return;
  }
  const out = fs.openSync(path.join(dir, "logs", `${String(boot).padStart(2, "0")}-${role}.log`), "a");
  const child = spawn(
    "unshare",
    ["--mount", "--pid", "--fork", "--uts", "--propagation", "private", "--kill-child=SIGKILL", "bash", path.join(code, "lib", "enter-role.sh"), dir, role],
    { stdio: ["ignore", out, out] },
  );
  fs.closeSync(out);
  current = { role, child, boot, exited: false };
  const me = current;
  child.on("exit", (c, sig) => {
    me.exited = true;
    if (!me.expected) log(`boot ${me.boot}: ${role} ended unexpectedly (code ${c}, signal ${sig})`);
  });
  // generous: on a shared 2-core machine under load a namespace and sshd take long to start
  const deadline = Date.now() + START_MS;
  while (Date.now() < deadline && !me.exited) {
    if (await portOpen(port)) {
      log(`boot ${boot}: ${role} answers on ${cfg.address}:${port}`);
      event("role", { role, port });
      return;
    }
    await sleep(100);
  }
  log(`boot ${boot}: ${role} did not answer on ${cfg.address}:${port} within ${START_MS / 1000} s`);
  event("role-failed", { role, error: "sshd did not start" });
}

async function stopRole() {
  const c = current;
  if (!c || !c.child) return;
  c.expected = true;
  if (!c.exited) {
    try {
      process.kill(c.child.pid, "SIGKILL");
    } catch {
      // already gone
    }
    const deadline = Date.now() + 5000;
    while (!c.exited && Date.now() < deadline) await sleep(50);
  }
}

async function watch() {
  const req = path.join(dir, "control", "request.json");
  for (;;) {
    if (stopping) return;
    if (fs.existsSync(req)) {
      let r;
      try {
        r = readJson(req);
      } catch {
        await sleep(50);
        continue;
      }
      fs.renameSync(req, path.join(dir, "control", `request.${boot}.json`));
      log(`boot ${boot}: ${r.from} asks for ${r.to} (${r.reason})`);
      if (r.delayMs) await sleep(r.delayMs);
      await stopRole();
      await sleep(500);
      await startRole(r.to);
    }
    await sleep(100);
  }
}

async function shutdown() {
  if (stopping) return;
  stopping = true;
  await stopRole();
  fs.writeFileSync(path.join(dir, "role"), "down\n");
  log("supervisor stopped");
  process.exit(0);
}

process.on("SIGTERM", shutdown);
process.on("SIGINT", shutdown);

(async () => {
  log(`supervisor ${process.pid} for ${cfg.name} (${cfg.profile}; faults: ${cfg.faults.join(",") || "none"})`);
  void execFileSync;
  await startRole("base");
  await watch();
})();
