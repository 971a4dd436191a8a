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

/** Rows of an lsblk -P file: [{NAME: "sda", TYPE: "disk", ...}]. */
function parseLsblk(text) {
  return text
    .split("\n")
    .filter((l) => l.trim() !== "")
    .map((line) => {
      const row = {};
      for (const m of line.matchAll(/([A-Z:-]+)="([^"]*)"/g)) row[m[1]] = m[2];
      return row;
    });
}

function loadProfile(profileDir) {
  const profile = readJson(path.join(profileDir, "profile.json"));
  profile.rows = parseLsblk(fs.readFileSync(path.join(profileDir, "lsblk.txt"), "utf8"));
  return profile;
}

/**
 * Block devices as the host sees them now: the profile's devices with every disk that
 * the simulated tools touched replaced by its simulated partition table.
 * Mount points are the base system's only in the base role.
 */
function blockRows(profile, state, role) {
  const out = [];
  for (const r of profile.rows) {
    const d = r.TYPE === "part" ? state.disks[r.PKNAME] : undefined;
    if (d && d.parts) continue;
    const row = { ...r };
    if (role !== "base") row.MOUNTPOINT = "";
    if (d && (d.wipedParts || []).includes(row.NAME)) row.FSTYPE = "";
    if (row.TYPE === "disk" && state.disks[row.NAME] && state.disks[row.NAME].signatureWiped) row.FSTYPE = "";
    out.push(row);
    if (r.TYPE !== "disk") continue;
    const disk = state.disks[r.NAME] || {};
    const parts = disk.parts || disk.extraParts || [];
    for (const p of parts) {
      out.push({ NAME: p.name, TYPE: "part", SIZE: String(p.size), FSTYPE: p.fstype || "", PKNAME: r.NAME, MOUNTPOINT: "", PARTLABEL: p.label || "" });
    }
  }
  return out;
}

/** Creates the fake disks under devRoot: regular files (never block devices) and by-id links. */
function syncDevices(devRoot, profile, state, role) {
  const rows = blockRows(profile, state, role).filter((r) => r.TYPE === "disk" || r.TYPE === "part");
  const byIdDir = path.join(devRoot, "disk", "by-id");
  fs.mkdirSync(byIdDir, { recursive: true });
  const wanted = new Set(rows.map((r) => r.NAME));
  // Remove partitions that are gone (after sgdisk --zap-all).
  for (const f of fs.readdirSync(devRoot)) {
    const full = path.join(devRoot, f);
    if (fs.lstatSync(full).isFile() && !wanted.has(f) && /^(sd|vd|nvme|xvd)/.test(f)) fs.rmSync(full);
  }
  for (const r of rows) {
    const f = path.join(devRoot, r.NAME);
    if (!fs.existsSync(f)) fs.writeFileSync(f, "");
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

module.exports = { readJson, writeJson, sha256, partName, parseLsblk, loadProfile, blockRows, syncDevices, initialDiskState };

// `node common.js mkdev PROFILE_DIR STATE_FILE DEV_ROOT ROLE`: used by enter-role.sh.
if (require.main === module) {
  const [cmd, profileDir, stateFile, devRoot, role] = process.argv.slice(2);
  if (cmd !== "mkdev") {
    process.stderr.write("usage: common.js mkdev PROFILE_DIR STATE_FILE DEV_ROOT ROLE\n");
    process.exit(2);
  }
  syncDevices(devRoot, loadProfile(profileDir), readJson(stateFile), role);
}
