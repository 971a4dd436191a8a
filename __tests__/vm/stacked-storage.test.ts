// VM level: the disk checks of write-runtime-info (probe) and do-install (installer)
// against real stacked storage on a real kernel: md RAID1, a ZFS pool on md, LUKS
// holding LVM, a mounted data disk, built with mdadm, zpool, cryptsetup and lvm by
// lab/vm/stacked-layouts on four virtual disks. The base system's view (its / on md0,
// or on a plain partition) is a mount namespace chrooted into that root filesystem.
// The same layouts are the loopback lab's profiles stacked-md-root and
// stacked-data-disk: the first test proves the recorded text is what the kernel shows
// (RECORD_PROFILES=1 writes it afresh).
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import {
  carryInstallerSources,
  buildVmImages, makeClientKey, requireVmPrereqs, ROOT, serialTail, sshOk, sshRun,
  SshTarget, uploadDirs, vmDown, VmTarget, vmUp,
} from "../../lab/vm/vm-lab";

jest.setTimeout(1_800_000);

// lsblk's FSTYPE is udev's record of a device, written by udev's own probe after the
// kernel's change event (zpool export, mkfs): read it only once udev has caught up, or
// on a loaded machine it lags do-install's last write (seen once in CI: "sdd3" without
// zfs_member right after the pool's export).
const SETTLED = "udevadm settle --timeout=30 &&";
// The VM's name makes its disk serials, which the recorded profiles' by-id names hold.
const NAME = "stacked";
const SCENES = { "md-root": "stacked-md-root", "data-disk": "stacked-data-disk" } as const;
// The disks as the profiles name them: MAIN is the VM's main disk, X1..X3 the further ones.
const CANONICAL: Record<string, string> = { MAIN: "sda", X1: "sdb", X2: "sdc", X3: "sdd" };
const NIXOS_INSTALL_STUB = "#!/bin/sh\n# VM lab stand-in for nixos-install (NixOS cannot be built here)\necho 'nixos-install stub: nothing built'\n";

let vm: VmTarget | undefined;
let t: SshTarget;
let tmp: string;
/** Kernel names this boot gave the disks (the kernel probes SCSI disks in parallel). */
let k: Record<"MAIN" | "X1" | "X2" | "X3", string>;
/** Stable by-id path of each disk role. */
let id: Record<"MAIN" | "X1" | "X2" | "X3", string>;

const S = "/root/cdktf/stacked-layouts";
const W = "sh /root/cdktf/installer/write-runtime-info --hostname vm-stacked";
const D = "bash /root/cdktf/installer/do-install --template /root/cdktf/template --authorized-keys /root/cdktf/authorized_keys";

beforeAll(() => {
  requireVmPrereqs({ zfs: true });
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "vm-stacked-"));
  buildVmImages({ zfs: true });
  vm = vmUp({ name: NAME, zfs: true, memoryMiB: 2048, extraDisks: 3 });
  t = { address: vm.address, port: vm.port, hostKey: vm.hostKey, clientKey: vm.clientKey };
  uploadDirs(t, {
    [path.join(ROOT, "nix", "installer")]: "/root/cdktf/installer",
    [path.join(ROOT, "nix", "templates", "host")]: "/root/cdktf/template",
  });
  sshOk(t, `cat > ${S} && chmod 755 ${S}`, { input: fs.readFileSync(path.join(ROOT, "lab", "vm", "stacked-layouts")) });
  sshOk(t, "mkdir -p /usr/local/bin && cat > /usr/local/bin/nixos-install && chmod 755 /usr/local/bin/nixos-install", { input: NIXOS_INSTALL_STUB });
  carryInstallerSources((c, input) => sshOk(t, c, { input }), "/usr/local/bin");
  sshOk(t, "cat > /root/cdktf/authorized_keys", { input: makeClientKey(tmp, "installed-root").pub });
  const started = Date.now();
  const built = sshRun(t, `${S} build`, { timeoutMs: 1_200_000 });
  if (built.code !== 0) throw new Error(`stacked-layouts build failed:\n${built.stderr}\nserial console:\n${serialTail(vm)}`);
  console.log(`vm: stacked layouts (md RAID1, ZFS on md, LUKS > LVM, ext4) built in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  sshOk(t, `${S} record md-root /root/rec/md-root && ${S} record data-disk /root/rec/data-disk`, { timeoutMs: 600_000 });
  const roles = Object.fromEntries(sshOk(t, "cat /root/rec/md-root/disks.txt").trim().split("\n").map((l) => l.split(" ")));
  k = roles as typeof k;
  const byId = Object.fromEntries(sshOk(t, "cat /root/rec/md-root/by-id.txt").trim().split("\n").map((l) => l.split(" ").reverse()));
  id = Object.fromEntries(Object.entries(k).map(([role, kname]) => [role, `/dev/disk/by-id/${byId[kname]}`])) as typeof id;
});

afterAll(() => {
  vmDown(NAME);
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

/** This boot's kernel names turned into the profiles' (sda = MAIN, …), disks sorted as lsblk sorts them. */
function canonical(text: string): string {
  const rename = new Map(Object.entries(k).map(([role, kname]) => [kname, CANONICAL[role]]));
  const swap = (s: string) => s.replace(/\bsd[a-z](?=\d*\b)/g, (m) => rename.get(m) ?? m);
  return swap(text);
}

function sortDiskBlocks(lsblk: string): string {
  const blocks: string[][] = [];
  for (const line of lsblk.trim().split("\n")) {
    if (/PKNAME=""/.test(line)) blocks.push([line]);
    else blocks[blocks.length - 1].push(line);
  }
  const name = (b: string[]) => /NAME="([^"]+)"/.exec(b[0])![1];
  return `${blocks.sort((a, b) => name(a).localeCompare(name(b))).flat().join("\n")}\n`;
}

/** device → its signature as blkid reports it (TYPE, LABEL, PARTLABEL; UUIDs are new at every build). */
function signatures(blkid: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of blkid.trim().split("\n")) {
    const [dev, rest] = line.split(/: (.*)/);
    const keep = [...rest.matchAll(/\b(TYPE|LABEL|PARTLABEL)="([^"]*)"/g)].map((m) => `${m[1]}=${m[2]}`).join(" ");
    out[dev] = keep;
  }
  return out;
}

describe("the disk checks on real stacked storage", () => {
  test("the lab profiles stacked-md-root and stacked-data-disk are what this kernel shows for the layouts", () => {
    for (const [scene, profile] of Object.entries(SCENES)) {
      const dir = path.join(ROOT, "lab", "target", "profiles", profile);
      const lsblk = sortDiskBlocks(canonical(sshOk(t, `cat /root/rec/${scene}/lsblk.txt`)));
      const blkid = canonical(sshOk(t, `cat /root/rec/${scene}/blkid.txt`));
      const byId = Object.fromEntries(canonical(sshOk(t, `cat /root/rec/${scene}/by-id.txt`)).trim().split("\n").map((l) => l.split(" ")));
      if (process.env.RECORD_PROFILES) {
        fs.writeFileSync(path.join(dir, "lsblk.txt"), lsblk);
        fs.writeFileSync(path.join(dir, "blkid.txt"), blkid);
        console.log(`recorded ${profile}: lsblk.txt, blkid.txt (byId in profile.json: ${JSON.stringify(byId)})`);
      }
      expect(lsblk).toBe(fs.readFileSync(path.join(dir, "lsblk.txt"), "utf8"));
      expect(signatures(blkid)).toEqual(signatures(fs.readFileSync(path.join(dir, "blkid.txt"), "utf8")));
      expect(byId).toEqual(JSON.parse(fs.readFileSync(path.join(dir, "profile.json"), "utf8")).byId);
    }
  });

  test("probe: / on md RAID1 over two disks is not one disk: write-runtime-info refuses to pick a member and names both", () => {
    const r = sshRun(t, `${S} enter md-root ${W} --check-disks base-system --out /root/ri.json`, { timeoutMs: 600_000 });
    expect(r.stderr).toBe(
      `error: / is on md0 (raid1) over the disks ${[k.X1, k.X2].sort().join(", ")}, not on one disk; refusing to pick one: name the disks to install on, e.g. disks = [${[k.X1, k.X2].sort().map((x) => `"${x === k.X1 ? id.X1 : id.X2}"`).join(", ")}] (two or more make a mirrored pool)\n`,
    );
    expect(r.code).toBe(1);
  });

  test("probe: the ZFS pool on a further md array of the root disks is seen through md and the partition", () => {
    const r = sshRun(t, `${S} enter md-root ${W} --disk ${id.X1} --disk ${id.X2} --check-disks base-system --out /root/ri.json`, { timeoutMs: 600_000 });
    expect(r.stderr).toBe(
      `error: disk ${id.X1} holds the running root filesystem but also what the base system does not run from: ${k.X1}3 (part, linux_raid_member), md1p1 (part, zfs_member, partlabel zfs-tank); wipe = "base-system" replaces only what the running system uses: move that data off the disk, or set wipe = "everything" to wipe all of it\n`,
    );
    expect(r.code).toBe(1);
    expect(sshRun(t, "test -e /root/ri.json").code).not.toBe(0);
  });

  test("probe: a data disk beside the root disk (mounted ext4, LUKS holding LVM) is refused with every layer named", () => {
    const r = sshRun(t, `${S} enter data-disk ${W} --disk ${id.MAIN} --disk ${id.X3} --check-disks base-system --out /root/ri.json`, { timeoutMs: 600_000 });
    expect(r.stderr).toBe(
      `error: disk ${id.X3} (${k.X3}) is not blank: ${k.X3}1 (part, ext4, mounted at /srv/data), ${k.X3}2 (part, crypto_LUKS), secret (crypt, LVM2_member), vgdata-home (lvm, ext4); wipe = "base-system" replaces only the disk(s) holding the running root filesystem (${k.MAIN}): leave this disk out of disks, or set wipe = "everything" to wipe it (what it holds is lost)\n`,
    );
    expect(r.code).toBe(1);
    // the root disk alone is the base system's: / , its ESP and BIOS boot partition
    const ok = sshRun(t, `${S} enter data-disk ${W} --check-disks base-system --out /root/ri-main.json && cat /root/ri-main.json`, { timeoutMs: 600_000 });
    expect(ok.stderr).toBe("");
    expect(JSON.parse(ok.stdout).disks).toEqual([{ path: id.MAIN, kernelName: k.MAIN, sizeBytes: 10 * 2 ** 30, holdsBaseSystem: true }]);
  });

  test("installer: do-install looks again and refuses the data disk under base-system; nothing changes", () => {
    sshOk(t, `${S} enter data-disk ${W} --disk ${id.MAIN} --disk ${id.X3} --check-disks everything --out /root/ri-data.json`, { timeoutMs: 600_000 });
    const before = sshOk(t, "lsblk -o NAME,FSTYPE,PARTLABEL; cat /proc/mdstat; dmsetup ls; zpool list -H -o name");
    const r = sshRun(t, `${D} --runtime-info /root/ri-data.json`, { input: "vm-stacked-passphrase\n", timeoutMs: 600_000 });
    expect(r.stderr).toBe(
      `error: disk ${id.X3} is not blank: ${k.X3}1 (part, ext4), ${k.X3}2 (part, crypto_LUKS), secret (crypt, LVM2_member), vgdata-home (lvm, ext4); wipe = "base-system" replaces only the disk(s) that held the base system's root filesystem when the probe ran (runtime-info holdsBaseSystem): leave this disk out of disks, or set wipe = "everything" to wipe it (what it holds is lost)\n`,
    );
    expect(r.code).toBe(1);
    expect(sshOk(t, "lsblk -o NAME,FSTYPE,PARTLABEL; cat /proc/mdstat; dmsetup ls; zpool list -H -o name")).toBe(before);
  });

  test("installer: wipe everything takes down the imported pool on md and both arrays, then lays out a mirror", () => {
    sshOk(t, `${S} enter md-root ${W} --disk ${id.X1} --disk ${id.X2} --check-disks everything --out /root/ri-md.json`, { timeoutMs: 600_000 });
    expect(sshOk(t, "zpool list -H -o name").trim()).toBe("tank");
    const started = Date.now();
    const r = sshRun(t, `${D} --runtime-info /root/ri-md.json --wipe everything`, { input: "vm-stacked-passphrase\n", timeoutMs: 900_000 });
    if (r.code !== 0) throw new Error(`do-install exited ${r.code}:\n${r.stderr}\nserial console:\n${serialTail(vm!)}`);
    console.log(`vm: do-install --wipe everything over md RAID1 + ZFS on md: ${((Date.now() - started) / 1000).toFixed(1)} s`);
    expect(r.stderr).toMatch(/^do-install: exporting pool tank \(it stands on md1p1\)$/m);
    expect(r.stderr).toMatch(/^do-install: stopping md array md1 \(raid1\)$/m);
    expect(r.stderr).toMatch(/^do-install: stopping md array md0 \(raid1\)$/m);
    expect(sshOk(t, "cat /proc/mdstat")).not.toMatch(/^md\d/m);
    // the new layout on both disks; the data disk and the main disk are as they were
    const after = sshOk(t, `${SETTLED} lsblk -n -o NAME,FSTYPE,PARTLABEL -r /dev/${k.X1} /dev/${k.X2} /dev/${k.X3}`);
    for (const [disk, n] of [[k.X1, 0], [k.X2, 1]] as const) {
      expect(after).toContain(`${disk}1  disk-disk${n}-bios`);
      expect(after).toContain(`${disk}2 vfat disk-disk${n}-esp`);
      expect(after).toContain(`${disk}3 zfs_member disk-disk${n}-zfs`);
    }
    expect(after).toMatch(new RegExp(`^${k.X3}2 crypto_LUKS $`, "m"));
    expect(after).toMatch(/^vgdata-home ext4 $/m);
  });

  test("installer: a volume something holds open stops wipe everything before anything is removed, naming the device and what to do", () => {
    sshOk(t, `${S} enter data-disk ${W} --disk ${id.X3} --check-disks everything --out /root/ri-x3.json`, { timeoutMs: 600_000 });
    const state = "lsblk -o NAME,FSTYPE,PARTLABEL; dmsetup ls; blkid -p /dev/mapper/vgdata-home";
    const before = sshOk(t, state);
    // a reader that holds the LVM volume open, as a forgotten shell or backup job would
    sshOk(t, "setsid sh -c 'exec sleep 300 </dev/mapper/vgdata-home' >/dev/null 2>&1 &");
    try {
      const r = sshRun(t, `${D} --runtime-info /root/ri-x3.json --wipe everything --pool data`, { input: "vm-stacked-passphrase\n", timeoutMs: 600_000 });
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/^error: device-mapper device vgdata-home is still held open after retrying for 5 s; see 'dmsetup info vgdata-home' and 'fuser -vm \/dev\/mapper\/vgdata-home', close what holds it, then run the install phase again$/m);
      expect(r.stderr).not.toMatch(/removing device-mapper device secret/);
    } finally {
      sshOk(t, "pkill -x -f 'sleep 300' ; sleep 1; true");
    }
    expect(sshOk(t, state)).toBe(before);
  });

  test("installer: wipe everything closes the LUKS mapping and the LVM volume on it, then lays out the disk", () => {
    sshOk(t, `${S} enter data-disk ${W} --disk ${id.X3} --check-disks everything --out /root/ri-x3.json`, { timeoutMs: 600_000 });
    const r = sshRun(t, `${D} --runtime-info /root/ri-x3.json --wipe everything --pool data`, { input: "vm-stacked-passphrase\n", timeoutMs: 900_000 });
    if (r.code !== 0) throw new Error(`do-install exited ${r.code}:\n${r.stderr}\nserial console:\n${serialTail(vm!)}`);
    expect(r.stderr).toMatch(/^do-install: removing device-mapper device vgdata-home \(lvm\)\ndo-install: removing device-mapper device secret \(crypt\)$/m);
    expect(sshOk(t, "dmsetup ls").trim()).toBe("No devices found");
    expect(sshOk(t, `${SETTLED} lsblk -n -o NAME,FSTYPE,PARTLABEL -r /dev/${k.X3}`)).toBe(`${k.X3}  \n${k.X3}1  disk-disk0-bios\n${k.X3}2 vfat disk-disk0-esp\n${k.X3}3 zfs_member disk-disk0-zfs\n`);
  });
});
