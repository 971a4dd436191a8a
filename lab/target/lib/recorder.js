"use strict";
// One recorder for every destructive or hardware tool inside a lab role, called as
// `recorder.js TOOL ARGS...` by the wrappers that enter-role.sh puts over the real
// tools. It checks its arguments (unknown forms fail loudly), records the call
// (never raw stdin: only its sha256), updates the simulated disk in /.lab/disk and
// asks the supervisor for a role change through /.lab/control/request.json.
const fs = require("fs");
const path = require("path");
const crypto = require("crypto");
const zlib = require("zlib");
const { execFileSync, spawnSync } = require("child_process");
const { readJson, writeJson, sha256, partName, loadProfile, blockRows, syncDevices } = require("./common");
const { askFile } = require("./ask-file");
const nixosSystem = require("./nixos-system");

const LAB = process.env.LAB_ROOT || "/.lab";
const STATE = `${LAB}/disk/state.json`;
const config = readJson(`${LAB}/role/config.json`);
const role = config.role;
const [tool, ...argv] = process.argv.slice(2);
const record = { time: new Date().toISOString(), role, boot: config.boot, tool, argv, cwd: process.cwd(), env: { ...process.env } };
let state = readJson(STATE);
let profile = loadProfile(`${LAB}/profile`);

class Refusal extends Error {
  constructor(message, code = 1) {
    super(message);
    this.code = code;
  }
}
const fail = (msg, code = 1) => {
  throw new Refusal(msg, code);
};
const unsupported = () => fail(`lab ${tool} recorder: unsupported form: ${tool} ${argv.join(" ")}`, 2);

function saveState() {
  writeJson(STATE, state);
}

function readStdin() {
  let buf;
  try {
    buf = fs.readFileSync(0);
  } catch (e) {
    buf = Buffer.alloc(0);
  }
  record.stdinSha256 = sha256(buf);
  record.stdinBytes = buf.length;
  return buf;
}

function requestRole(to, reason, delayMs = 0) {
  writeJson(`${LAB}/control/request.json`, { to, reason, delayMs, from: role, boot: config.boot, time: new Date().toISOString() });
  record.requested = to;
}

function requireRole(...roles) {
  if (!roles.includes(role)) fail(`lab: refusing ${tool} in role ${role}: it is only simulated in ${roles.join("/")} (a script ran it on the wrong system)`);
}

/** kname of a /dev path (by-id links resolved), or undefined. */
function kernelName(devPath) {
  if (!devPath.startsWith("/dev/")) return undefined;
  try {
    return path.basename(fs.realpathSync(devPath));
  } catch {
    return undefined;
  }
}

function rows() {
  return blockRows(profile, state, role);
}

function findPart(devPath) {
  const k = kernelName(devPath);
  for (const [disk, d] of Object.entries(state.disks)) {
    for (const p of d.parts || d.extraParts || []) if (p.name === k) return { disk, part: p };
  }
  return undefined;
}

function wholeDisk(devPath) {
  const k = kernelName(devPath);
  const row = rows().find((r) => r.NAME === k);
  if (!row || row.TYPE !== "disk") fail(`${tool}: ${devPath} is not a whole disk in this host (see ls -l /dev/disk/by-id)`);
  return row;
}

function refreshDevices() {
  syncDevices("/dev", profile, state, role);
}

// Optional flags `-o k=v` into an object; returns [options, rest].
function takeOptions(args, flag) {
  const opts = {};
  const rest = [];
  for (let i = 0; i < args.length; i++) {
    if (args[i] === flag) {
      const [k, v] = (args[++i] || "").split("=");
      opts[k] = v;
    } else rest.push(args[i]);
  }
  return [opts, rest];
}

// ---------------------------------------------------------------------------
// faults: the hook issue 5 builds on

function fired(name) {
  return state.faultsFired.includes(name);
}

function fire(name) {
  state.faultsFired.push(name);
  saveState();
  record.fault = name;
}

/** drop-ssh-in-PHASE: kill this SSH session's sshd (the connection drops, the host stays). */
function dropSession(name) {
  fire(name);
  let pid = process.pid;
  for (let i = 0; i < 32; i++) {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
    if (ppid === 1) {
      writeRecord(137);
      process.kill(pid, "SIGKILL");
      return;
    }
    pid = ppid;
  }
}

const DROP_TRIGGERS = {
  "drop-ssh-in-probe": () => tool === "lsblk" && role === "base",
  "drop-ssh-in-kexec": () => tool === "kexec" && argv.includes("-l"),
  "drop-ssh-in-install": () => tool === "nixos-install",
  "drop-ssh-in-unlock": () => tool === "systemd-reply-password",
  "drop-ssh-in-verify": () => tool === "nixos-version" && role === "installed",
};

function applyFaults() {
  for (const f of config.faults) {
    if (DROP_TRIGGERS[f] && !fired(f) && DROP_TRIGGERS[f]()) {
      dropSession(f);
      // In unlock the drop comes before the answer: the passphrase never reaches the
      // initrd, which keeps waiting. (A session cut after the answer is the fault
      // switch-root-cuts-unlock.)
      if (f === "drop-ssh-in-unlock") process.exit(137);
    }
  }
}

const has = (f) => config.faults.includes(f);

// ---------------------------------------------------------------------------
// fact sources

function ip() {
  const a = argv.filter((x) => x !== "-o" && x !== "-oneline");
  const key = a.join(" ");
  const files = {
    "link": "ip-o-link.txt", "link show": "ip-o-link.txt", "l": "ip-o-link.txt",
    "addr": "ip-o-addr.txt", "addr show": "ip-o-addr.txt", "a": "ip-o-addr.txt", "address": "ip-o-addr.txt", "address show": "ip-o-addr.txt",
    "route show default": "ip-o-route-default.txt", "-4 route show default": "ip-o-route-default.txt", "route list default": "ip-o-route-default.txt",
    "-6 route show default": "ip-o-6-route-default.txt", "-6 route list default": "ip-o-6-route-default.txt",
  };
  if (!argv.includes("-o") && !/route/.test(key)) unsupported();
  if (!files[key]) unsupported();
  process.stdout.write(fs.readFileSync(`${LAB}/profile/${files[key]}`));
}

/** The rows of `lsblk DEV`: the device and everything stacked on it (any depth), as real lsblk lists them. */
function subtree(all, kname) {
  const at = all.findIndex((r) => r.KNAME === kname);
  if (at < 0) return [];
  const out = [all[at]];
  const inside = new Set([kname]);
  // Rows are in lsblk's order (depth first): the subtree is the run of rows whose parent is in it.
  for (let i = at + 1; i < all.length && inside.has(all[i].PKNAME); i++) {
    out.push(all[i]);
    inside.add(all[i].KNAME);
  }
  return out;
}

/** lsblk --json: the rows nested as children under their parents, values null when empty. */
function lsblkJson(list, cols, bytes) {
  const top = [];
  const stack = [];
  for (const r of list) {
    const node = {};
    for (const c of cols) {
      const v = r[c] ?? "";
      node[c.toLowerCase()] = v === "" ? null : c === "SIZE" && bytes ? Number(v) : v;
    }
    while (stack.length && stack[stack.length - 1].kname !== r.PKNAME) stack.pop();
    if (stack.length) (stack[stack.length - 1].node.children ??= []).push(node);
    else top.push(node);
    stack.push({ kname: r.KNAME, node });
  }
  return `${JSON.stringify({ blockdevices: top }, null, 3)}\n`;
}

function lsblk() {
  let pairs = false;
  let json = false;
  let bytes = false;
  let nodeps = false;
  let cols = ["NAME", "MAJ:MIN", "RM", "SIZE", "RO", "TYPE", "MOUNTPOINT"];
  const devices = [];
  for (let i = 0; i < argv.length; i++) {
    const x = argv[i];
    if (x === "-P" || x === "--pairs") pairs = true;
    else if (x === "-J" || x === "--json") json = true;
    else if (x === "-b" || x === "--bytes") bytes = true;
    else if (x === "-n" || x === "--noheadings") continue;
    else if (x === "-d" || x === "--nodeps") nodeps = true;
    else if (x === "-o" || x === "--output") cols = (argv[++i] || "").split(",");
    else if (x.startsWith("--output=")) cols = x.slice(9).split(",");
    else if (x.startsWith("/dev/")) devices.push(x);
    else unsupported();
  }
  if (pairs === json) fail("lab lsblk recorder: only -P or -J output is simulated", 2);
  const known = ["NAME", "KNAME", "TYPE", "SIZE", "FSTYPE", "PKNAME", "MOUNTPOINT", "PARTLABEL"];
  for (const c of cols) if (!known.includes(c)) fail(`lab lsblk recorder: column ${c} is not simulated (have ${known.join(",")})`, 2);
  if (cols.includes("SIZE") && !bytes) fail("lab lsblk recorder: SIZE without -b is not simulated", 2);
  const all = rows();
  let out = all;
  if (devices.length) {
    out = devices.flatMap((d) => {
      const k = kernelName(d);
      const tree = k ? subtree(all, k) : [];
      if (!tree.length) fail(`lsblk: ${d}: not a block device`, 32);
      return nodeps ? tree.slice(0, 1) : tree;
    });
  } else if (nodeps) out = all.filter((r) => !r.PKNAME);
  if (json) process.stdout.write(lsblkJson(out, cols, bytes));
  else for (const r of out) process.stdout.write(cols.map((c) => `${c}="${r[c] ?? ""}"`).join(" ") + "\n");
}

/** blkid's low-level probe of one device: what the profile's blkid.txt (real output) or its lsblk FSTYPE says. */
function blkid() {
  const a = argv.join(" ");
  const m = /^-p -o value -s TYPE (\/dev\/\S+)$/.exec(a);
  if (!m) unsupported();
  const k = kernelName(m[1]);
  const row = rows().find((r) => r.KNAME === k);
  if (!row) fail(`blkid: error: ${m[1]}: No such file or directory`, 2);
  const type = (profile.blkid[row.NAME] ?? profile.blkid[k])?.TYPE ?? row.FSTYPE;
  if (!type) {
    process.exitCode = 2; // blkid: nothing found
    return;
  }
  process.stdout.write(`${type}\n`);
}

function nixosVersion() {
  const version = "26.05.20260420.5e1f2a3 (Yarara)";
  if (argv.length === 0) process.stdout.write(`${version}\n`);
  else if (argv[0] === "--json") process.stdout.write(JSON.stringify({ nixosVersion: version.split(" ")[0], nixpkgsRevision: "5e1f2a3" }) + "\n");
  else unsupported();
}

// ---------------------------------------------------------------------------
// kexec

/** newc entries of a cpio archive: {name: Buffer data}. */
function parseNewc(buf) {
  const files = {};
  let off = 0;
  while (off + 110 <= buf.length) {
    const magic = buf.toString("latin1", off, off + 6);
    if (magic !== "070701" && magic !== "070702") throw new Error(`bad cpio magic at ${off}`);
    const field = (i) => parseInt(buf.toString("latin1", off + 6 + i * 8, off + 14 + i * 8), 16);
    const mode = field(1);
    const size = field(6);
    const nameSize = field(11);
    const name = buf.toString("latin1", off + 110, off + 110 + nameSize - 1);
    off = (off + 110 + nameSize + 3) & ~3;
    if (name === "TRAILER!!!") return files;
    if ((mode & 0o170000) === 0o100000) files[name.replace(/^\.?\//, "")] = { mode: mode & 0o7777, data: buf.subarray(off, off + size) };
    off = (off + size + 3) & ~3;
  }
  throw new Error("cpio archive without trailer");
}

const PAYLOAD = ["etc/ssh/authorized_keys.d/root", "etc/ssh/ssh_host_ed25519_key", "etc/ssh/ssh_host_ed25519_key.pub", "etc/cdktf-nixos-installer/runtime-info.json"];

/** The cpio run-installer appended: the last gzip member that is a newc archive with our files. */
function extractAppended(initrd) {
  for (let i = initrd.length - 18; i >= 0; i--) {
    if (initrd[i] !== 0x1f || initrd[i + 1] !== 0x8b || initrd[i + 2] !== 0x08) continue;
    try {
      const files = parseNewc(zlib.gunzipSync(initrd.subarray(i)));
      if (PAYLOAD.every((p) => files[p])) return { offset: i, files };
    } catch {
      // not the start of our member: keep looking
    }
  }
  return undefined;
}

function kexec() {
  if (argv.length === 1 && argv[0] === "-e") return kexecExec();
  if (argv.length === 1 && argv[0] === "-u") {
    fs.rmSync(`${LAB}/control/installer`, { recursive: true, force: true });
    return;
  }
  let mode;
  let kernel;
  let initrd;
  let cmdline;
  for (let i = 0; i < argv.length; i++) {
    const x = argv[i];
    if (x === "-s" || x === "--kexec-file-syscall") mode = "kexec_file_load";
    else if (x === "-c" || x === "--kexec-syscall") mode = "kexec_load";
    else if (x === "-l" || x === "--load") kernel = argv[++i];
    else if (x.startsWith("--initrd=")) initrd = x.slice(9);
    else if (x === "--initrd") initrd = argv[++i];
    else if (x.startsWith("--command-line=")) cmdline = x.slice(15);
    else if (x.startsWith("--append=")) cmdline = x.slice(9);
    else unsupported();
  }
  if (!mode || !kernel || !initrd || cmdline === undefined) unsupported();
  requireRole("base");
  record.syscall = mode;
  record.cmdline = cmdline;
  if (mode === "kexec_file_load" && has("kexec-file-fails")) fail("kexec_file_load failed: Operation not permitted");
  if (!fs.existsSync(kernel) || fs.statSync(kernel).size === 0) fail(`kexec: cannot read kernel ${kernel}`);
  const data = fs.readFileSync(initrd);
  record.initrdSha256 = sha256(data);
  const found = extractAppended(data);
  if (!found) fail(`lab kexec recorder: ${initrd} holds no appended gzip newc cpio with ${PAYLOAD.join(", ")}`);
  record.cpioFiles = Object.keys(found.files).sort();
  record.cpioOffset = found.offset;
  const dir = `${LAB}/control/installer`;
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  for (const p of PAYLOAD) fs.writeFileSync(path.join(dir, path.basename(p)), found.files[p].data, { mode: found.files[p].mode || 0o600 });
  // The private key must belong to the public one that run-installer printed.
  const derived = execFileSync("ssh-keygen", ["-y", "-f", path.join(dir, "ssh_host_ed25519_key")]).toString().split(" ").slice(0, 2).join(" ");
  const pub = found.files["etc/ssh/ssh_host_ed25519_key.pub"].data.toString().split(" ").slice(0, 2).join(" ");
  if (derived.trim() !== pub.trim()) fail("lab kexec recorder: the appended host key does not match its .pub");
  fs.writeFileSync(path.join(dir, "cmdline"), cmdline);
  writeJson(path.join(dir, "loaded.json"), { boot: config.boot, syscall: mode, kernel, initrd, cmdline });
}

function sleepUntilKilled(what) {
  writeRecord(0);
  recorded = true;
  const deadline = Date.now() + 15000;
  while (Date.now() < deadline) execFileSync("sleep", ["0.2"]);
  fail(`lab: the supervisor did not ${what} within 15 s (see supervisor.log)`);
}

function kexecExec() {
  const loaded = readJson(`${LAB}/control/installer/loaded.json`, null);
  if (!loaded || loaded.boot !== config.boot) fail("Nothing has been loaded!");
  if (has("kexec-noop")) {
    record.fault = "kexec-noop";
    return; // kexec "happened" but the old system goes on answering
  }
  requestRole("installer", "kexec -e");
  sleepUntilKilled("switch to the installer");
}

// ---------------------------------------------------------------------------
// power

function nextAfterReboot() {
  if (role === "installer") {
    const touched = Object.values(state.disks).some((d) => d.parts);
    if (state.installed && state.pool && !state.pool.imported) return "initrd";
    return touched ? "off" : "base";
  }
  if (role === "installed") return "initrd";
  return role;
}

function reboot() {
  const ok = [[], ["now"], ["-f"]].some((f) => f.join(" ") === argv.join(" "));
  if (!ok) unsupported();
  const to = nextAfterReboot();
  record.note = `reboot from ${role} boots ${to}`;
  requestRole(to, "reboot");
  sleepUntilKilled("reboot");
}

function poweroff() {
  requestRole("off", tool);
  sleepUntilKilled("power off");
}

function shutdown() {
  const a = argv.join(" ");
  if (a === "-r now" || a === "-r +0") return reboot0();
  if (a === "-h now" || a === "-P now" || a === "now") return poweroff();
  unsupported();
}

function reboot0() {
  const to = nextAfterReboot();
  requestRole(to, "reboot");
  sleepUntilKilled("reboot");
}

function systemctl() {
  const a = argv.join(" ");
  if (a === "reboot") return reboot0();
  if (a === "poweroff" || a === "halt") return poweroff();
  if (a === "is-system-running") {
    process.stdout.write(role === "initrd" ? "starting\n" : "running\n");
    return;
  }
  const stop = /^stop ([A-Za-z0-9_.@-]+\.timer)$/.exec(a);
  if (stop) return system.stopUnit(stop[1]);
  if (a === "list-jobs") {
    process.stdout.write(role === "initrd" ? "JOB UNIT TYPE STATE\n1 zfs-import-rpool.service start running\n" : "No jobs running.\n");
    return;
  }
  unsupported();
}

// ---------------------------------------------------------------------------
// disks

function sgdisk() {
  requireRole("installer");
  const disk = argv[argv.length - 1];
  const opts = argv.slice(0, -1);
  if (!disk) unsupported();
  const row = wholeDisk(disk);
  const d = (state.disks[row.NAME] = state.disks[row.NAME] || {});
  if (opts.length === 1 && (opts[0] === "--zap-all" || opts[0] === "-Z")) {
    d.parts = [];
    delete d.extraParts;
    saveState();
    refreshDevices();
    return;
  }
  if (opts.length === 1 && (opts[0] === "-p" || opts[0] === "--print")) {
    for (const p of d.parts || []) process.stdout.write(`${p.n} ${p.typecode} ${p.label}\n`);
    return;
  }
  const parts = {};
  for (const o of opts) {
    const m = /^--(new|typecode|change-name)=(\d+):(.*)$/.exec(o);
    if (!m) unsupported();
    const p = (parts[m[2]] = parts[m[2]] || { n: Number(m[2]) });
    if (m[1] === "new") p.range = m[3];
    else if (m[1] === "typecode") p.typecode = m[3].toUpperCase();
    else p.label = m[3];
  }
  const hasOld = (d.parts && d.parts.length) || (!d.parts && profile.rows.some((r) => r.PKNAME === row.NAME)) || (d.extraParts || []).length;
  if (hasOld) fail(`Could not create partition ${Object.keys(parts)[0]} on ${disk}: the disk still has partitions (zap it first with sgdisk --zap-all)`);
  const size = Number(row.SIZE);
  const units = { K: 1024, M: 1024 ** 2, G: 1024 ** 3, T: 1024 ** 4 };
  let used = 1024 ** 2;
  d.parts = Object.values(parts)
    .sort((a, b) => a.n - b.n)
    .map((p) => {
      if (!p.range || !p.typecode || !p.label) fail(`sgdisk: partition ${p.n} needs --new, --typecode and --change-name (got ${JSON.stringify(p)})`, 2);
      const m = /^0:(\+(\d+)([KMGT])|0)$/.exec(p.range);
      if (!m) fail(`lab sgdisk recorder: unsupported range ${p.range}`, 2);
      const bytes = m[2] ? Number(m[2]) * units[m[3]] : size - used - 1024 ** 2;
      if (bytes <= 0 || used + bytes > size) fail(`sgdisk: partition ${p.n} does not fit on ${disk}`);
      used += bytes;
      return { n: p.n, name: partName(row.NAME, p.n), label: p.label, typecode: p.typecode, fstype: "", size: bytes };
    });
  record.layout = d.parts.map((p) => ({ n: p.n, typecode: p.typecode, label: p.label, size: p.size }));
  saveState();
  refreshDevices();
}

function wipefs() {
  requireRole("installer");
  if (argv.length !== 2 || !(argv[0] === "-a" || argv[0] === "--all")) unsupported();
  const dev = argv[1];
  if (!fs.existsSync(dev)) fail(`wipefs: error: ${dev}: probing initialization failed: No such file or directory`);
  const found = findPart(dev);
  const baseRow = rows().find((r) => r.NAME === kernelName(dev) && r.TYPE === "part");
  if (found) {
    found.part.fstype = "";
  } else if (baseRow) {
    const d = (state.disks[baseRow.PKNAME] = state.disks[baseRow.PKNAME] || {});
    d.wipedParts = [...(d.wipedParts || []), baseRow.NAME];
  } else {
    const row = wholeDisk(dev);
    (state.disks[row.NAME] = state.disks[row.NAME] || {}).signatureWiped = true;
  }
  saveState();
}

function mkfsVfat() {
  requireRole("installer");
  const a = [...argv];
  const dev = a.pop();
  const s = a.join(" ");
  if (!/^-F 32( -n [A-Z0-9_-]{1,11})?$/.test(s)) unsupported();
  const found = dev && findPart(dev);
  if (!found) fail(`mkfs.fat: unable to open ${dev}: not a partition of a simulated disk`);
  if (found.part.typecode !== "EF00") fail(`lab mkfs.vfat recorder: ${dev} is partition type ${found.part.typecode}, not an ESP (EF00)`);
  found.part.fstype = "vfat";
  saveState();
}

// ---------------------------------------------------------------------------
// ZFS

function pool() {
  return state.pool && state.pool.imported ? state.pool : undefined;
}

function datasetOf(name) {
  const p = pool();
  if (!p) fail(`cannot open '${name}': no such pool`);
  const ds = p.datasets[name];
  if (!ds) fail(`cannot open '${name}': dataset does not exist`);
  return ds;
}

function zpool() {
  const [sub, ...a] = argv;
  if (sub === "create") return zpoolCreate(a);
  if (sub === "list") {
    // zpool list -H -o name [POOL]: the imported pools (or that one)
    if (a.length === 3 && a.join(" ") === "-H -o name") {
      if (pool()) process.stdout.write(`${pool().name}\n`);
      return;
    }
    const name = a[a.length - 1];
    // zpool list -v -H -P POOL: the pool, then its vdevs by full path
    if (a.length === 4 && a.slice(0, 3).join(" ") === "-v -H -P") {
      if (!pool() || pool().name !== name) fail(`cannot open '${name}': no such pool`);
      process.stdout.write(`${name}\t-\n${pool().mirror ? "\tmirror-0\t-\n" : ""}${pool().devs.map((d) => `\t${d}\t-\n`).join("")}`);
      return;
    }
    if (!(a.length === 4 && a[0] === "-H" && a[1] === "-o" && a[2] === "name")) unsupported();
    if (!pool() || pool().name !== name) fail(`cannot open '${name}': no such pool`);
    process.stdout.write(`${name}\n`);
    return;
  }
  if (sub === "export" || sub === "destroy") {
    const name = a[a.length - 1];
    if (!(a.length === 1 || (a.length === 2 && a[0] === "-f"))) unsupported();
    if (!pool() || pool().name !== name) fail(`cannot open '${name}': no such pool`);
    const busy = state.mounts.find((m) => m.fstype === "zfs" && m.source.split("/")[0] === name);
    if (busy) fail(`cannot unmount '${busy.target}': pool or dataset is busy`);
    if (sub === "export") {
      state.pool.imported = false;
      state.pool.exported = true;
    } else {
      for (const d of Object.values(state.disks)) for (const p of d.parts || []) if (p.fstype === "zfs_member") p.fstype = "";
      state.pool = null;
    }
    saveState();
    return;
  }
  if (sub === "labelclear") {
    if (!(a.length === 2 && a[0] === "-f")) unsupported();
    requireRole("installer");
    const found = findPart(a[1]);
    if (found) found.part.fstype = "";
    saveState();
    return;
  }
  if (sub === "status") {
    const p = pool();
    if (!p) fail("no pools available");
    process.stdout.write(`  pool: ${p.name}\n state: ONLINE\n`);
    return;
  }
  unsupported();
}

function zpoolCreate(args) {
  requireRole("installer");
  let force = false;
  const o = {};
  const O = {};
  let altroot;
  let i = 0;
  for (; i < args.length && args[i].startsWith("-"); i++) {
    const x = args[i];
    if (x === "-f") force = true;
    else if (x === "-o" || x === "-O") {
      const [k, v] = (args[++i] || "").split("=");
      (x === "-o" ? o : O)[k] = v;
    } else if (x === "-R") altroot = args[++i];
    else unsupported();
  }
  const [name, ...vdevSpec] = args.slice(i);
  const mirror = vdevSpec[0] === "mirror";
  const devs = mirror ? vdevSpec.slice(1) : vdevSpec;
  record.pool = { name, mirror, devs, o, O, altroot, force };
  const need = { encryption: "aes-256-gcm", keyformat: "passphrase", keylocation: "prompt" };
  for (const [k, v] of Object.entries(need)) if (O[k] !== v) fail(`lab zpool recorder: the pool must be created with -O ${k}=${v} (got ${O[k]})`);
  if (o.ashift !== "12") fail("lab zpool recorder: the pool must be created with -o ashift=12");
  if (altroot !== "/mnt") fail("lab zpool recorder: the pool must be created with -R /mnt");
  if (!name || !devs.length) unsupported();
  if (devs.length > 1 && !mirror) fail("lab zpool recorder: several disks without 'mirror' would stripe them: refused");
  if (mirror && devs.length < 2) fail("lab zpool recorder: a mirror needs at least two devices");
  if (pool()) fail(`cannot create '${name}': pool already exists`);
  const parts = devs.map((dev) => {
    const found = findPart(dev);
    if (!found) fail(`cannot open '${dev}': no such device in /dev`);
    if (found.part.typecode !== "BF00") fail(`lab zpool recorder: ${dev} is partition type ${found.part.typecode}, not BF00`);
    if (found.part.fstype === "zfs_member" && !force) fail(`${dev} is part of exported pool '${name}'; use -f to override`);
    return found.part;
  });
  const stdin = readStdin();
  // zfs reads a passphrase from a non-tty stdin up to a newline.
  const passphrase = stdin.toString("utf8").replace(/\n.*$/s, "");
  if (passphrase.length < 8 || passphrase.length > 512) fail("Passphrase too short (min 8).");
  const salt = crypto.randomBytes(16).toString("hex");
  for (const p of parts) p.fstype = "zfs_member";
  state.pool = {
    name,
    mirror,
    devs,
    imported: true,
    exported: false,
    keystatus: "available",
    keystore: { salt, hash: sha256(Buffer.from(salt + passphrase)) },
    datasets: { [name]: { ...O, canmount: "on" } },
    snapshots: [],
  };
  state.installed = false;
  saveState();
}

function zfs() {
  const [sub, ...a] = argv;
  if (sub === "create") {
    requireRole("installer");
    const [props, rest] = takeOptions(a, "-o");
    if (rest.length !== 1) unsupported();
    const name = rest[0];
    const p = pool();
    if (!p) fail(`cannot create '${name}': no such pool`);
    if (p.datasets[name]) fail(`cannot create '${name}': dataset already exists`);
    if (!p.datasets[name.split("/").slice(0, -1).join("/")]) fail(`cannot create '${name}': parent does not exist`);
    p.datasets[name] = props;
    saveState();
    return;
  }
  if (sub === "snapshot") {
    requireRole("installer");
    if (a.length !== 1 || !a[0].includes("@")) unsupported();
    const [ds] = a[0].split("@");
    datasetOf(ds);
    state.pool.snapshots.push(a[0]);
    saveState();
    return;
  }
  if (sub === "get") {
    if (!(a.length === 5 && a[0] === "-H" && a[1] === "-o" && a[2] === "value")) unsupported();
    const [prop, name] = a.slice(3);
    const ds = datasetOf(name);
    const rootName = name.split("/")[0];
    let value;
    if (prop === "keystatus") value = state.pool.keystatus;
    else if (prop in ds) value = ds[prop];
    else if (prop in state.pool.datasets[rootName]) value = state.pool.datasets[rootName][prop];
    else value = "-";
    process.stdout.write(`${value}\n`);
    return;
  }
  if (sub === "list") {
    const p = pool();
    if (!p) fail("no datasets available");
    for (const n of Object.keys(p.datasets)) process.stdout.write(`${n}\n`);
    return;
  }
  unsupported();
}

// ---------------------------------------------------------------------------
// mounts

function mount() {
  requireRole("installer");
  const a = [...argv];
  if (a[0] !== "-t") unsupported();
  const fstype = a[1];
  let opts = "";
  let rest = a.slice(2);
  if (rest[0] === "-o") {
    opts = rest[1];
    rest = rest.slice(2);
  }
  if (rest.length !== 2) unsupported();
  const [source, target] = rest;
  if (!target.startsWith("/mnt")) fail(`lab mount recorder: refusing to mount on ${target} (only below /mnt)`);
  if (!fs.existsSync(target) || !fs.statSync(target).isDirectory()) fail(`mount: ${target}: mount point does not exist.`);
  if (state.mounts.some((m) => m.target === target)) fail(`mount: ${target}: already mounted`);
  if (fstype === "zfs") {
    const ds = datasetOf(source);
    if (ds.mountpoint !== "legacy") fail(`filesystem '${source}' cannot be mounted using 'mount'. Use 'zfs set mountpoint=legacy'`);
    if (state.pool.keystatus !== "available") fail(`cannot mount '${source}': encryption key not loaded`);
  } else if (fstype === "vfat") {
    const found = findPart(source);
    if (!found || found.part.fstype !== "vfat") fail(`mount: ${target}: wrong fs type, bad option, bad superblock on ${source}`);
  } else fail(`lab mount recorder: only zfs and vfat sources are simulated, got -t ${fstype}`, 2);
  state.mounts.push({ fstype, source, target, opts });
  saveState();
}

function umount() {
  requireRole("installer");
  if (argv.length === 2 && argv[0] === "-R") {
    const t = argv[1].replace(/\/$/, "");
    const before = state.mounts.length;
    state.mounts = state.mounts.filter((m) => !(m.target === t || m.target.startsWith(t + "/")));
    if (before === state.mounts.length) fail(`umount: ${t}: not mounted`, 32);
  } else if (argv.length === 1) {
    const i = state.mounts.findIndex((m) => m.target === argv[0]);
    if (i < 0) fail(`umount: ${argv[0]}: not mounted`, 32);
    state.mounts.splice(i, 1);
  } else unsupported();
  saveState();
}

// ---------------------------------------------------------------------------
// nixos-install

function nixosInstall() {
  requireRole("installer");
  const a = argv.join(" ");
  // the host flake is on the persistent dataset (do-install's write_flake)
  // a system built on the deploy machine, its closure copied into /mnt's store by nix copy
  const built = /^--no-root-passwd --root \/mnt --no-channel-copy --system (\/nix\/store\/[0-9a-z]{32}-[A-Za-z0-9+._?=-]+)$/.exec(a);
  if (built) return installBuiltSystem(built[1]);
  const m = /^--no-root-passwd --root \/mnt --flake \/mnt\/persist\/etc\/nixos#([A-Za-z_][A-Za-z0-9_-]*)$/.exec(a);
  if (!m) unsupported();
  const host = m[1];
  const flake = "/mnt/persist/etc/nixos";
  requireLaidOut();
  // Stands in for evaluating nixosConfigurations.HOST: the template's runtime-info.json
  // and authorized_keys beside flake.nix, or lib.mkHosts' hosts/HOST/runtime-info.json
  // with hosts/HOST/authorized_keys, else the flake's own authorized_keys.
  const own = `${flake}/hosts/${host}`;
  const mkHosts = fs.existsSync(`${own}/runtime-info.json`);
  const riFile = mkHosts ? `${own}/runtime-info.json` : `${flake}/runtime-info.json`;
  const keysFile = mkHosts && fs.existsSync(`${own}/authorized_keys`) ? `${own}/authorized_keys` : `${flake}/authorized_keys`;
  if (!fs.existsSync(riFile)) fail(`error: flake 'path:${flake}' does not provide attribute 'nixosConfigurations.${host}' (lab: neither runtime-info.json nor hosts/${host}/runtime-info.json is there)`);
  if (!fs.existsSync(keysFile)) fail(`lab nixos-install recorder: ${keysFile} is missing (the installed system would have no authorized keys)`);
  // every file nixos-install sees, as sha256 and mode, for the tests to compare
  record.flakeFiles = {};
  const walk = (rel) => {
    for (const e of fs.readdirSync(path.join(flake, rel), { withFileTypes: true })) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) walk(r);
      else record.flakeFiles[r] = { sha256: sha256(fs.readFileSync(path.join(flake, r))), mode: (fs.lstatSync(path.join(flake, r)).mode & 0o777).toString(8) };
    }
  };
  walk("");
  // the flake and the lock nixos-install evaluates, kept in the record; a locked source
  // missing from the store would make the real one fetch or fail
  if (!fs.existsSync("/mnt/persist/etc/nixos/flake.lock")) fail("lab nixos-install recorder: /mnt/persist/etc/nixos/flake.lock is missing (the real one would resolve the inputs from the network)");
  record.flakeNix = fs.readFileSync("/mnt/persist/etc/nixos/flake.nix", "utf8");
  record.flakeLock = fs.readFileSync("/mnt/persist/etc/nixos/flake.lock", "utf8");
  const lock = readJson("/mnt/persist/etc/nixos/flake.lock");
  for (const [key, node] of Object.entries(lock.nodes || {})) {
    const p = node.locked && node.locked.path;
    if (key !== lock.root && !(p && fs.existsSync(p))) fail(`error: lock node '${key}' is not locked to a path in this store (${JSON.stringify(node.locked)}); cannot fetch it without the network`);
  }
  const ri = readJson(riFile);
  if (ri.hostName !== host) fail(`error: flake '/mnt/persist/etc/nixos' does not provide attribute 'nixosConfigurations.${host}' (runtime-info says ${ri.hostName})`);
  const say = (l) => process.stdout.write(l + "\n");
  say(`building the flake in path:/mnt/persist/etc/nixos?narHash=sha256-lab#nixosConfigurations."${host}".config.system.build.toplevel...`);
  if (has("slow-nixos-install") && !fired("slow-nixos-install")) slowInstall();
  for (let i = 1; i <= 45; i++) say(`copying path '/nix/store/${sha256(String(i)).slice(0, 32)}-lab-path-${i}' from 'https://cache.nixos.org'...`);
  if (has("nixos-install-fails")) {
    say(`error: builder for '/nix/store/${sha256("drv").slice(0, 32)}-nixos-system-${host}-26.05.drv' failed with exit code 1`);
    fail("nixos-install: build of the system failed", 1);
  }
  say("installing the boot loader...");
  if (has("grub-fails")) {
    say("Installing for i386-pc platform.");
    say("/nix/store/lab-grub-2.12/sbin/grub-install: error: cannot find EFI directory.");
    say("installation of GRUB on /dev/disk/by-id/... failed: No such file or directory");
    fail("nixos-install: boot loader installation failed", 1);
  }
  fs.mkdirSync("/mnt/nix/var/nix/profiles", { recursive: true });
  // the installed role's host name (root's keys are the generation's, below)
  fs.writeFileSync("/mnt/nix/var/nix/profiles/system.lab", `${host}\n`);
  // the first generation of the system profile, built from the flake as a rebuild builds
  record.toplevel = nixosSystem.buildToplevel("/mnt", "/mnt/persist/etc/nixos", host);
  record.generation = nixosSystem.setProfile("/mnt", record.toplevel);
  say("installation finished!");
  state.installed = true;
  saveState();
}

/** What nixos-install needs of do-install's layout, either way: the mounts, the flake, the host keys. */
function requireLaidOut() {
  const mounted = (t, fstype) => state.mounts.some((x) => x.target === t && x.fstype === fstype);
  if (!mounted("/mnt", "zfs") || !mounted("/mnt/nix", "zfs") || !mounted("/mnt/boot", "vfat"))
    fail("lab nixos-install recorder: /mnt, /mnt/nix (zfs) and /mnt/boot (vfat) must be mounted");
  for (const f of ["persist/etc/nixos/flake.nix", "persist/etc/ssh/ssh_host_ed25519_key", "persist/etc/secrets/initrd/ssh_host_ed25519_key"])
    if (!fs.existsSync(`/mnt/${f}`)) fail(`lab nixos-install recorder: /mnt/${f} is missing`);
}

/**
 * nixos-install --system PATH: what nixos-install does with a closure already in /mnt's
 * store (nix-env --set of the system profile, the boot loader), after checking that it
 * is there and valid in /mnt's real Nix database (the copy went through a real
 * `nix-store --serve --write`, Debian's Nix on the host), closure and all.
 */
function installBuiltSystem(system) {
  requireLaidOut();
  const store = ["--store", "local?root=/mnt"];
  const valid = spawnSync("nix-store", [...store, "--check-validity", system], { encoding: "utf8" });
  if (valid.error) fail(`lab nixos-install recorder: cannot run nix-store (${valid.error.message}); the lab needs Debian's nix-bin`);
  if (valid.status !== 0) fail(`error: path '${system}' is not valid in /mnt's store (${(valid.stderr || "").trim().split("\n").pop()})`);
  const closure = spawnSync("nix-store", [...store, "--query", "--requisites", system], { encoding: "utf8" });
  if (closure.status !== 0) fail(`error: cannot read the closure of ${system} in /mnt's store: ${(closure.stderr || "").trim()}`);
  record.system = system;
  record.closure = closure.stdout.split("\n").filter(Boolean);
  record.flakeNix = fs.readFileSync("/mnt/persist/etc/nixos/flake.nix", "utf8");
  if (fs.existsSync("/mnt/persist/etc/nixos/flake.lock")) record.flakeLock = fs.readFileSync("/mnt/persist/etc/nixos/flake.lock", "utf8");
  const say = (l) => process.stdout.write(l + "\n");
  say("installing the boot loader...");
  fs.mkdirSync("/mnt/nix/var/nix/profiles", { recursive: true });
  const ri = readJson("/etc/cdktf-nixos-installer/runtime-info.json", null) ?? {};
  fs.writeFileSync("/mnt/nix/var/nix/profiles/system.lab", `${ri.hostName ?? "nixos"}\n`);
  record.toplevel = system;
  record.generation = nixosSystem.setProfile("/mnt", system);
  say("installation finished!");
  state.installed = true;
  saveState();
}

/**
 * slow-nixos-install: the first build takes 40 s, announced in the records when it
 * starts and beating while it runs (one line "MS PID" every 0.25 s appended to
 * records/nixos-install.heartbeat), so a test sees whether it still runs after the
 * deploy side was interrupted. Later builds are quick.
 */
function slowInstall() {
  fire("slow-nixos-install");
  fs.appendFileSync(`${LAB}/records/records.jsonl`, JSON.stringify({ time: new Date().toISOString(), role, boot: config.boot, tool: "nixos-install", event: "started", pid: process.pid }) + "\n");
  const until = Date.now() + 40_000;
  while (Date.now() < until) {
    fs.appendFileSync(`${LAB}/records/nixos-install.heartbeat`, `${Date.now()} ${process.pid}\n`);
    execFileSync("sleep", ["0.25"]);
  }
}

// ---------------------------------------------------------------------------
// initrd

function replyPassword() {
  requireRole("initrd");
  if (argv.length !== 2 || argv[0] !== "1") unsupported();
  const socket = argv[1];
  const dir = "/run/systemd/ask-password";
  const ask = fs.readdirSync(dir).find((f) => f.startsWith("ask.") && fs.readFileSync(path.join(dir, f), "utf8").includes(`Socket=${socket}\n`));
  if (!ask) fail(`Failed to send: no pending request on ${socket}`);
  const line = readStdin().toString("utf8").replace(/\n.*$/s, "");
  fs.rmSync(path.join(dir, ask));
  const store = state.pool && state.pool.keystore;
  if (store && sha256(Buffer.from(store.salt + line)) === store.hash) {
    state.pool.keystatus = "available";
    saveState();
    record.result = "key loaded";
    // the boot goes on: the initrd's sshd stops when the system switches root
    if (has("switch-root-cuts-unlock") && !fired("switch-root-cuts-unlock")) {
      // a fast boot: switch-root ends the session before unlock has seen the key loaded
      requestRole("installed", "passphrase accepted", 0);
      dropSession("switch-root-cuts-unlock");
    } else requestRole("installed", "passphrase accepted", 1500);
  } else {
    record.result = "wrong passphrase: asked again";
    const id = crypto.randomBytes(4).toString("hex");
    fs.writeFileSync(path.join(dir, `ask.${id}`), askFile(id));
  }
}


// ---------------------------------------------------------------------------

let recorded = false;
function writeRecord(exit, error) {
  if (recorded) return;
  recorded = true;
  record.exit = exit;
  if (error) record.error = error;
  fs.appendFileSync(`${LAB}/records/records.jsonl`, JSON.stringify(record) + "\n");
}

const system = nixosSystem.tools({ argv, record, fail, unsupported, requireRole });
system.setWriteRecord(() => writeRecord(0));

const TOOLS = {
  "nixos-rebuild": system["nixos-rebuild"], "nix-env": system["nix-env"],
  "switch-to-configuration": system["switch-to-configuration"], "systemd-run": system["systemd-run"],
  ip, lsblk, blkid, "nixos-version": nixosVersion, kexec, reboot, poweroff, halt: poweroff, shutdown, systemctl,
  sgdisk, wipefs, "mkfs.vfat": mkfsVfat, "mkfs.fat": mkfsVfat, zpool, zfs, mount, umount,
  "nixos-install": nixosInstall, "systemd-reply-password": replyPassword,
  udevadm: () => (["settle", "trigger"].includes(argv[0]) ? undefined : unsupported()),
  partprobe: () => undefined,
  dmesg: () => process.stdout.write("[    0.000000] lab: no kernel log in the simulated host\n"),
};

function main() {
  const fn = TOOLS[tool];
  try {
    if (!fn) fail(`lab recorder: unknown tool ${tool}`, 2);
    applyFaults();
    fn();
    writeRecord(process.exitCode ?? 0);
  } catch (e) {
    const code = e instanceof Refusal ? e.code : 1;
    process.stderr.write(`${e.message}\n`);
    writeRecord(code, e.message);
    process.exitCode = code;
  }
}

module.exports = { parseNewc, extractAppended };
if (require.main === module) main();
