"use strict";
// Shared by the supervisor (outside the namespace) and the recorders (inside it):
// the simulated disk (partitions, pool, mounts) and the fake block devices.
const fs = require("fs");
const path = require("path");
const crypto = require("crypto");

function readJson(file, fallback) {
  try {
    return JSON.parse(fs.readFileSync(file, "utf8"));
  } catch (e) {
    if (fallback !== undefined && e.code === "ENOENT") return fallback;
    throw e;
  }
}

/** Writes JSON atomically (tmp + rename) so a reader never sees half a file. */
function writeJson(file, value) {
  const tmp = `${file}.tmp.${process.pid}`;
  fs.writeFileSync(tmp, JSON.stringify(value, null, 2) + "\n");
  fs.renameSync(tmp, file);
}

function sha256(buf) {
  return crypto.createHash("sha256").update(buf).digest("hex");
}

/** The kernel's partition name: sda + 1 = sda1, nvme0n1 + 1 = nvme0n1p1. */
function partName(kname, n) {
  return /\d$/.test(kname) ? `${kname}p${n}` : `${kname}${n}`;
}

/** Rows of an lsblk -P file: [{NAME: "sda", KNAME: "sda", TYPE: "disk", ...}] (KNAME is NAME where the file has none). */
function parseLsblk(text) {
  return text
    .split("\n")
    .filter((l) => l.trim() !== "")
    .map((line) => {
      const row = {};
      for (const m of line.matchAll(/([A-Z:-]+)="([^"]*)"/g)) row[m[1]] = m[2];
      row.KNAME = row.KNAME || row.NAME;
      return row;
    });
}

/** Output of `blkid` (one device a line: `/dev/X: KEY="value" …`) by device name (sda1, md0, vg-lv). */
function parseBlkid(text) {
  const out = {};
  for (const line of text.split("\n")) {
    const m = /^\/dev\/(?:mapper\/)?(\S+): (.*)$/.exec(line);
    if (!m) continue;
    out[m[1]] = Object.fromEntries([...m[2].matchAll(/([A-Z_]+)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
  }
  return out;
}

function loadProfile(profileDir) {
  const profile = readJson(path.join(profileDir, "profile.json"));
  profile.rows = parseLsblk(fs.readFileSync(path.join(profileDir, "lsblk.txt"), "utf8"));
  const blkid = path.join(profileDir, "blkid.txt");
  profile.blkid = fs.existsSync(blkid) ? parseBlkid(fs.readFileSync(blkid, "utf8")) : {};
  return profile;
}

/**
 * Block devices as the host sees them now: the profile's devices with every disk that
 * the simulated tools touched replaced by its simulated partition table.
 * Mount points are the base system's only in the base role.
 */
function blockRows(profile, state, role) {
  const out = [];
  const present = new Set();
  for (const r of profile.rows) {
    const d = r.TYPE === "part" ? state.disks[r.PKNAME] : undefined;
    if (d && d.parts) continue;
    // What was stacked on a partition that is gone (zapped) is gone with it.
    if (r.PKNAME && !present.has(r.PKNAME)) continue;
    present.add(r.KNAME);
    const row = { ...r };
    if (role !== "base") row.MOUNTPOINT = "";
    if (d && (d.wipedParts || []).includes(row.NAME)) row.FSTYPE = "";
    if (row.TYPE === "disk" && state.disks[row.NAME] && state.disks[row.NAME].signatureWiped) row.FSTYPE = "";
    out.push(row);
    if (r.TYPE !== "disk") continue;
    const disk = state.disks[r.NAME] || {};
    const parts = disk.parts || disk.extraParts || [];
    for (const p of parts) {
      present.add(p.name);
      out.push({ NAME: p.name, KNAME: p.name, TYPE: "part", SIZE: String(p.size), FSTYPE: p.fstype || "", PKNAME: r.NAME, MOUNTPOINT: "", PARTLABEL: p.label || "" });
    }
  }
  return out;
}

/** Creates the fake disks under devRoot: regular files (never block devices) and by-id links. */
function syncDevices(devRoot, profile, state, role) {
  const all = blockRows(profile, state, role);
  const rows = all.filter((r) => r.TYPE === "disk" || r.TYPE === "part");
  const byIdDir = path.join(devRoot, "disk", "by-id");
  const mapperDir = path.join(devRoot, "mapper");
  fs.mkdirSync(byIdDir, { recursive: true });
  fs.mkdirSync(mapperDir, { recursive: true });
  // Every device lsblk lists (disks, partitions, md arrays, device-mapper devices) as an
  // empty regular file; dm devices also under /dev/mapper by their names, as udev makes them.
  const devices = all.filter((r) => !["loop", "rom"].includes(r.TYPE));
  const wanted = new Set(devices.map((r) => r.KNAME));
  // Remove devices that are gone (partitions after sgdisk --zap-all, and what stood on them).
  for (const f of fs.readdirSync(devRoot)) {
    const full = path.join(devRoot, f);
    if (fs.lstatSync(full).isFile() && !wanted.has(f) && /^(sd|vd|nvme|xvd|md|dm-)/.test(f)) fs.rmSync(full);
  }
  for (const f of fs.readdirSync(mapperDir)) fs.rmSync(path.join(mapperDir, f));
  for (const r of devices) {
    const f = path.join(devRoot, r.KNAME);
    if (!fs.existsSync(f)) fs.writeFileSync(f, "");
    if (r.KNAME.startsWith("dm-") && !fs.existsSync(path.join(mapperDir, r.NAME))) fs.symlinkSync(`../${r.KNAME}`, path.join(mapperDir, r.NAME));
  }
  for (const f of fs.readdirSync(byIdDir)) fs.rmSync(path.join(byIdDir, f));
  for (const [id, kname] of Object.entries(profile.byId)) {
    if (/-part\d+$/.test(id)) continue;
    fs.symlinkSync(`../../${kname}`, path.join(byIdDir, id));
    for (const r of rows) {
      if (r.TYPE !== "part" || r.PKNAME !== kname) continue;
      const n = r.NAME.slice(kname.length).replace(/^p/, "");
      fs.symlinkSync(`../../${r.NAME}`, path.join(byIdDir, `${id}-part${n}`));
    }
  }
}

/**
 * The profile's network interfaces as /sys/class/net shows them, for judging what an
 * interface is (lab/target/lib/enter-role.sh): from ip-o-link.txt (index, name, the
 * @link, master, link type) and profile.json `net` (NAME: physical | bond | vlan |
 * bridge | veth | tun | virtual; default: physical for an Ethernet interface, a veth for
 * NAME@PEER, loopback for lo).
 */
function syncNet(netRoot, profileDir, profile) {
  const links = [];
  for (const line of fs.readFileSync(path.join(profileDir, "ip-o-link.txt"), "utf8").split("\n")) {
    const m = /^(\d+): ([^:@ ]+)(?:@([^: ]+))?: <[^>]*>(.*)$/.exec(line);
    if (m) links.push({ index: Number(m[1]), name: m[2], link: m[3], master: /\bmaster (\S+)/.exec(m[4])?.[1], ether: /link\/ether /.test(m[4]) });
  }
  const indexOf = (name) => links.find((l) => l.name === name)?.index;
  for (const l of links) {
    const kind = (profile.net ?? {})[l.name] ?? (l.name === "lo" ? "loopback" : l.link ? "veth" : l.ether ? "physical" : "virtual");
    const dir = path.join(netRoot, l.name);
    fs.mkdirSync(dir, { recursive: true });
    const devtype = { bond: "bond", vlan: "vlan", bridge: "bridge" }[kind];
    fs.writeFileSync(path.join(dir, "uevent"), `${devtype ? `DEVTYPE=${devtype}\n` : ""}INTERFACE=${l.name}\nIFINDEX=${l.index}\n`);
    fs.writeFileSync(path.join(dir, "ifindex"), `${l.index}\n`);
    fs.writeFileSync(path.join(dir, "iflink"), `${(kind === "veth" && indexOf(l.link)) || l.index}\n`);
    if (kind === "physical") fs.mkdirSync(path.join(dir, "device"));
    if (kind === "bond") fs.mkdirSync(path.join(dir, "bonding"));
    if (kind === "tun") fs.writeFileSync(path.join(dir, "tun_flags"), "0x1001\n");
    if (kind === "bridge") {
      fs.mkdirSync(path.join(dir, "bridge"));
      fs.mkdirSync(path.join(dir, "brif"));
      for (const port of links.filter((p) => p.master === l.name)) fs.mkdirSync(path.join(dir, "brif", port.name));
    }
  }
}

function initialDiskState(profile, faults) {
  const state = { disks: {}, pool: null, mounts: [], installed: false, faultsFired: [] };
  if (faults.includes("existing-pool")) {
    const disk0 = profile.rows.find((r) => r.TYPE === "disk");
    state.disks[disk0.NAME] = {
      extraParts: [{ n: 9, name: partName(disk0.NAME, 9), label: "disk-disk0-zfs", typecode: "BF00", fstype: "zfs_member", size: 10737418240 }],
    };
    state.pool = { name: "rpool", imported: false, exported: true, keystatus: "unavailable", datasets: {}, keystore: null, fromEarlierInstall: true };
  }
  return state;
}

module.exports = { readJson, writeJson, sha256, partName, parseLsblk, loadProfile, blockRows, syncDevices, syncNet, initialDiskState };

// `node common.js mkdev PROFILE_DIR STATE_FILE DEV_ROOT ROLE` and
// `node common.js mknet PROFILE_DIR NET_ROOT`: used by enter-role.sh.
if (require.main === module) {
  const [cmd, profileDir, ...rest] = process.argv.slice(2);
  if (cmd === "mkdev") syncDevices(rest[1], loadProfile(profileDir), readJson(rest[0]), rest[2]);
  else if (cmd === "mknet") syncNet(rest[0], profileDir, loadProfile(profileDir));
  else {
    process.stderr.write("usage: common.js mkdev PROFILE_DIR STATE_FILE DEV_ROOT ROLE | mknet PROFILE_DIR NET_ROOT\n");
    process.exit(2);
  }
}
