// VM level: the real do-install on a real kernel and a real (virtual) disk: GPT layout
// with sgdisk, the FAT32 ESP, the natively encrypted ZFS pool and its datasets, with
// Debian's zfs-dkms modules built for the guest kernel. Only nixos-install is a stub
// (NixOS cannot be built here); everything before and after it runs for real. The
// layout is then read back from the disk (sgdisk -p, lsblk --json) and the pool is
// imported again with the passphrase on stdin.
import { randomBytes } from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import {
  buildVmImages, makeClientKey, requireVmPrereqs, ROOT, serialTail, sshOk, sshRun,
  SshTarget, uploadDirs, vmDown, VmTarget, vmUp,
} from "../../lab/vm/vm-lab";

jest.setTimeout(1_200_000);

const NAME = "test-disk";
const PASSPHRASE = `vm-lab-${randomBytes(12).toString("hex")}`;
const MiB = 2 ** 20;
const GiB = 2 ** 30;
// GPT type GUIDs of sgdisk's codes EF02, EF00 and BF00
const TYPE = {
  bios: "21686148-6449-6e6f-744e-656564454649",
  esp: "c12a7328-f81f-11d2-ba4b-00a0c93ec93b",
  zfs: "6a85cf4d-1dd2-11b2-99a6-080020736631", // sgdisk BF00 "Solaris root", as disko uses
};

// nixos-install stand-in: records how it was called and what it found under /mnt
const NIXOS_INSTALL_STUB = `#!/bin/sh
# VM lab stand-in for nixos-install (NixOS cannot be built here)
printf '%s\\n' "$*" > /run/nixos-install.args
{ findmnt -rn -o TARGET,SOURCE,FSTYPE -R /mnt; ls /mnt/etc/nixos; } > /run/nixos-install.saw
mkdir -p /mnt/persist/var/lib && echo stub > /mnt/persist/var/lib/nixos-install-stub
echo "nixos-install stub: nothing built"
`;

let vm: VmTarget | undefined;
let t: SshTarget;
let tmp: string;
let diskId: string;

beforeAll(() => {
  requireVmPrereqs({ zfs: true });
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "vm-disk-"));
  buildVmImages({ zfs: true });
  // straight into the installer stand-in with the ZFS layer; kexec has its own test
  vm = vmUp({ name: NAME, role: "installer", zfs: true, memoryMiB: 2048 });
  t = { address: vm.address, port: vm.port, hostKey: vm.hostKey, clientKey: vm.clientKey };
});

afterAll(() => {
  vmDown(NAME);
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

describe("do-install on a real disk", () => {
  let installOut: string;

  test("the guest kernel runs Debian's ZFS modules", () => {
    expect(sshOk(t, "cat /sys/module/zfs/version").trim()).toMatch(/^2\.\d+\.\d+/);
    expect(sshOk(t, "zpool version")).toMatch(/zfs-kmod-2/);
    diskId = sshOk(t, "ls /dev/disk/by-id/").trim();
    expect(diskId).toMatch(/^scsi-0QEMU_QEMU_HARDDISK_\d+$/);
  });

  test("do-install lays out the disk, creates the encrypted pool and exports it (nixos-install stubbed)", () => {
    uploadDirs(t, {
      [path.join(ROOT, "nix", "installer")]: "/root/cdktf/installer",
      [path.join(ROOT, "nix", "templates", "host")]: "/root/cdktf/template",
    });
    sshOk(t, "mkdir -p /usr/local/bin && cat > /usr/local/bin/nixos-install && chmod 755 /usr/local/bin/nixos-install", { input: NIXOS_INSTALL_STUB });
    sshOk(t, `/root/cdktf/installer/write-runtime-info --hostname vm-disk --disk /dev/disk/by-id/${diskId} --out /root/cdktf/runtime-info.json`);
    sshOk(t, "cat > /root/cdktf/authorized_keys", { input: makeClientKey(tmp, "installed-root").pub });
    const started = Date.now();
    const r = sshRun(t, "/root/cdktf/installer/do-install --runtime-info /root/cdktf/runtime-info.json --template /root/cdktf/template --authorized-keys /root/cdktf/authorized_keys", { input: PASSPHRASE, timeoutMs: 600_000 });
    if (r.code !== 0) throw new Error(`do-install exited ${r.code}:\n${r.stderr}\n${r.stdout}\nserial console:\n${serialTail(vm!)}`);
    console.log(`vm: do-install (layout, ESP, encrypted pool, datasets; nixos-install stubbed) ${((Date.now() - started) / 1000).toFixed(1)} s`);
    installOut = r.stdout;
    expect(installOut).toMatch(/^host-key: ssh-ed25519 AAAA\S+$/m);
    expect(installOut).toMatch(/^initrd-host-key: ssh-ed25519 AAAA\S+$/m);
    // nixos-install was called for the flake written from the template, onto the mounted pool
    expect(sshOk(t, "cat /run/nixos-install.args").trim()).toBe("--no-root-passwd --root /mnt --flake /mnt/etc/nixos#vm-disk");
    const saw = sshOk(t, "cat /run/nixos-install.saw");
    for (const m of [/^\/mnt rpool\/local\/root zfs$/m, /^\/mnt\/nix rpool\/local\/nix zfs$/m, /^\/mnt\/persist rpool\/safe\/persist zfs$/m, /^\/mnt\/home rpool\/safe\/home zfs$/m, /^\/mnt\/boot \/dev\/\S+ vfat$/m, /^flake\.nix$/m, /^runtime-info\.json$/m, /^authorized_keys$/m]) {
      expect(saw).toMatch(m);
    }
    // and the pool is exported at the end
    expect(sshOk(t, "zpool list -H -o name").trim()).toBe("");
  });

  test("the partition table read back from the disk is the promised layout", () => {
    const sg = sshOk(t, "sgdisk -p /dev/sda");
    const rows = sg.split("\n").filter((l) => /^\s+\d+\s+\d+\s+\d+/.test(l)).map((l) => {
      const [num, start, end, , , code, ...name] = l.trim().split(/\s+/);
      return { num: Number(num), sectors: Number(end) - Number(start) + 1, code, name: name.join(" ") };
    });
    expect(sg).toMatch(/Sector size \(logical\/physical\): 512\/512 bytes/);
    expect(rows.map(({ num, code, name }) => ({ num, code, name }))).toEqual([
      { num: 1, code: "EF02", name: "disk-disk0-bios" },
      { num: 2, code: "EF00", name: "disk-disk0-esp" },
      { num: 3, code: "BF00", name: "disk-disk0-zfs" },
    ]);
    expect(rows[0].sectors * 512).toBe(1 * MiB);
    expect(rows[1].sectors * 512).toBe(1 * GiB);
    // the rest of the 10 GiB disk (less alignment and the backup GPT) is the pool
    expect(rows[2].sectors * 512).toBeGreaterThan(8.9 * GiB);

    // lsblk reads udev's database; the guest's udev stand-in refreshes it on settle
    sshOk(t, "udevadm settle");
    const lsblk = JSON.parse(sshOk(t, "lsblk --json -b -o NAME,SIZE,TYPE,PARTLABEL,PARTTYPE,FSTYPE /dev/sda"));
    const disk = lsblk.blockdevices[0];
    expect(disk).toMatchObject({ name: "sda", type: "disk", size: 10 * GiB });
    expect(disk.children.map((c: Record<string, unknown>) => ({ name: c.name, partlabel: c.partlabel, parttype: c.parttype, fstype: c.fstype }))).toEqual([
      { name: "sda1", partlabel: "disk-disk0-bios", parttype: TYPE.bios, fstype: null },
      { name: "sda2", partlabel: "disk-disk0-esp", parttype: TYPE.esp, fstype: "vfat" },
      { name: "sda3", partlabel: "disk-disk0-zfs", parttype: TYPE.zfs, fstype: "zfs_member" },
    ]);
    // the ESP is FAT32
    expect(sshOk(t, "blkid -p -o value -s VERSION /dev/sda2").trim()).toBe("FAT32");
  });

  test("the pool imports again and unlocks only with the passphrase on stdin", () => {
    sshOk(t, "zpool import -N -d /dev/disk/by-partlabel rpool");
    const props = () => sshOk(t, "zfs get -H -o property,value encryption,keyformat,keylocation,keystatus rpool");
    expect(props()).toBe("encryption\taes-256-gcm\nkeyformat\tpassphrase\nkeylocation\tprompt\nkeystatus\tunavailable\n");
    const wrong = sshRun(t, "zfs load-key rpool", { input: "not-the-passphrase" });
    expect(wrong.code).not.toBe(0);
    expect(sshOk(t, "zfs get -H -o value keystatus rpool").trim()).toBe("unavailable");
    sshOk(t, "zfs load-key rpool", { input: PASSPHRASE });
    expect(props()).toBe("encryption\taes-256-gcm\nkeyformat\tpassphrase\nkeylocation\tprompt\nkeystatus\tavailable\n");
    // the datasets of the layout, all encrypted under the pool's key
    expect(sshOk(t, "zfs list -H -o name,encryption,encryptionroot -r rpool").trim().split("\n")).toEqual([
      "rpool\taes-256-gcm\trpool",
      "rpool/local\taes-256-gcm\trpool",
      "rpool/local/nix\taes-256-gcm\trpool",
      "rpool/local/root\taes-256-gcm\trpool",
      "rpool/safe\taes-256-gcm\trpool",
      "rpool/safe/home\taes-256-gcm\trpool",
      "rpool/safe/persist\taes-256-gcm\trpool",
    ]);
    expect(sshOk(t, "zfs list -H -t snapshot -o name -r rpool").trim()).toBe("rpool/local/root@blank");
    // what do-install left in the pool: host keys made on the target, the stub's trace
    sshOk(t, "mkdir -p /tmp/persist && mount -t zfs rpool/safe/persist /tmp/persist");
    const hostKey = installOut.match(/^host-key: (.*)$/m)![1];
    expect(sshOk(t, "cut -d' ' -f1,2 /tmp/persist/etc/ssh/ssh_host_ed25519_key.pub").trim()).toBe(hostKey);
    expect(sshOk(t, "stat -c %a /tmp/persist/etc/secrets").trim()).toBe("700");
    expect(sshOk(t, "cat /tmp/persist/var/lib/nixos-install-stub").trim()).toBe("stub");
    sshOk(t, "umount /tmp/persist && zpool export rpool");
  });

  test("the passphrase is nowhere on the disk in plain text", () => {
    sshOk(t, "sync");
    // the host reads the guest's disk image directly (qcow2 keeps data clusters as is)
    const image = path.join(vm!.stateDir, "disk.qcow2");
    const data = fs.readFileSync(image);
    expect(data.length).toBeGreaterThan(10 * MiB); // the pool and the ESP were written
    expect(data.indexOf(PASSPHRASE)).toBe(-1);
  });
});
