// VM level: the real do-install on a real kernel and a real (virtual) disk: GPT layout
// with sgdisk, the FAT32 ESP, the natively encrypted ZFS pool and its datasets, with
// Debian's zfs-dkms modules built for the guest kernel. Only nixos-install is a stub
// (NixOS cannot be built here); everything before and after it runs for real, with
// PATH holding only the installer's commands (nix/installer/commands.nix). The layout
// is then read back from the disk (sgdisk -p, lsblk --json, zpool/zfs get) and compared
// with nix/lib/disko-layout.nix, the installed system's view of it: every partition,
// pool and dataset property do-install made is one the layout declares, and no more.
import { randomBytes } from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { execFileSync } from "child_process";
import { evalNix, UPSTREAM } from "../nix/upstream/upstream";
import {
  buildVmImages, carryInstallerSources, guestCommandDir, makeClientKey, requireVmPrereqs, ROOT, serialTail, sshOk, sshRun,
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

// nixos-install stand-in: records how it was called and what it found under /mnt, and
// leaves what a real nixos-install of a host with impermanence leaves for do-install:
// the system profile (store links that resolve only inside /mnt) whose etc lists the
// persisted paths and links root's authorized keys, and a /var/lib/nixos with the uid
// map on the root dataset.
const NIXOS_INSTALL_STUB = `#!/bin/sh
# VM lab stand-in for nixos-install (NixOS cannot be built here)
printf '%s\\n' "$*" > /run/nixos-install.args
{ findmnt -rn -o TARGET,SOURCE,FSTYPE -R /mnt; ls /mnt/persist/etc/nixos; } > /run/nixos-install.saw
etc=/nix/store/0000000000000000000000000000000a-etc
sys=/nix/store/0000000000000000000000000000000b-nixos-system-vm-disk
mkdir -p /mnt$etc/etc/cdktf-nixos-installer /mnt$sys /mnt/nix/var/nix/profiles /mnt/var/lib/nixos
printf '/var/log\\n/var/lib/nixos\\n/etc/machine-id\\n' > /mnt$etc/etc/cdktf-nixos-installer/persisted-paths
ln -s $etc/etc /mnt$sys/etc
ln -s $sys /mnt/nix/var/nix/profiles/system-1-link
ln -s system-1-link /mnt/nix/var/nix/profiles/system
echo 'sshd:996' > /mnt/var/lib/nixos/uid-map
# root's keys as NixOS's sshd module writes users.users.root.openssh.authorizedKeys
# (the template reads them from authorized_keys): a store file linked from etc
keys=/nix/store/0000000000000000000000000000000c-root-authorized_keys
cp /mnt/persist/etc/nixos/authorized_keys /mnt$keys
mkdir -p /mnt$etc/etc/ssh/authorized_keys.d
ln -s $keys /mnt$etc/etc/ssh/authorized_keys.d/root
echo "nixos-install stub: nothing built"
`;
// the sources carryInstallerSources gives the guest
const SOURCES = path.join(ROOT, "lab", "target", "installer-sources.json");
const INSTALLER_PATH = "/run/installer-bin";

interface Layout {
  disko: {
    disk: Record<string, { content: { partitions: Record<string, { priority: number; size: string; type: string; content?: { extraArgs?: string[] } }> } }>;
    zpool: Record<string, { options: Record<string, string>; rootFsOptions: Record<string, string>; datasets: Record<string, { options: Record<string, string>; postCreateHook?: string }> }>;
  };
}
let runtimeInfoText = "";
// what the disk holds, read back by the property test, for the comparison with disko
const readBack: { pool?: Record<string, string>; datasets?: Record<string, Record<string, string>> } = {};
let layoutCache: Layout | undefined;
/** nix/lib's view of this VM's disk (host-facts of the runtime-info do-install read). */
function layout(): Layout {
  if (!layoutCache) {
    const file = path.join(tmp, "runtime-info.json");
    fs.writeFileSync(file, runtimeInfoText);
    layoutCache = JSON.parse(execFileSync("nix-instantiate", ["--eval", "--strict", "--json", path.join(ROOT, "nix", "tests", "eval-host.nix"), "--argstr", "runtimeInfo", file], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] }));
  }
  return layoutCache!;
}

let vm: VmTarget | undefined;
let t: SshTarget;
let tmp: string;
let diskId: string;

beforeAll(() => {
  if (!UPSTREAM) console.log("skipped one test: UPSTREAM_NIX_SOURCES is not set (__tests__/nix/upstream/README.md)");
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
    sshOk(t, "mkdir -p /root/cdktf/stub && cat > /root/cdktf/stub/nixos-install && chmod 755 /root/cdktf/stub/nixos-install", { input: NIXOS_INSTALL_STUB });
    carryInstallerSources((c, input) => sshOk(t, c, { input }), "/root/cdktf/stub");
    const { missing } = guestCommandDir(t, "installer", INSTALLER_PATH, ["/root/cdktf/stub"]);
    if (missing.length > 0) console.log(`vm: installer commands the lab guest lacks (left off PATH): ${missing.join(" ")}`);
    sshOk(t, `/root/cdktf/installer/write-runtime-info --hostname vm-disk --disk /dev/disk/by-id/${diskId} --out /root/cdktf/runtime-info.json`);
    runtimeInfoText = sshOk(t, "cat /root/cdktf/runtime-info.json");
    sshOk(t, "cat > /root/cdktf/authorized_keys", { input: makeClientKey(tmp, "installed-root").pub });
    const started = Date.now();
    const r = sshRun(t, `env -i PATH=${INSTALLER_PATH} bash /root/cdktf/installer/do-install --runtime-info /root/cdktf/runtime-info.json --template /root/cdktf/template --authorized-keys /root/cdktf/authorized_keys`, { input: PASSPHRASE, timeoutMs: 600_000 });
    if (r.code !== 0) throw new Error(`do-install exited ${r.code}:\n${r.stderr}\n${r.stdout}\nserial console:\n${serialTail(vm!)}`);
    console.log(`vm: do-install (layout, ESP, encrypted pool, datasets; nixos-install stubbed) ${((Date.now() - started) / 1000).toFixed(1)} s`);
    installOut = r.stdout;
    // root's keys of the built system, read through its store links with the installer's tools
    expect(r.stderr).toMatch(/^do-install: the installed system lets the chain's key\(s\) in as root \(SHA256:[A-Za-z0-9+/]{43}\)$/m);
    expect(installOut).toMatch(/^host-key: ssh-ed25519 AAAA\S+$/m);
    expect(installOut).toMatch(/^initrd-host-key: ssh-ed25519 AAAA\S+$/m);
    // nixos-install was called for the flake written from the template, onto the mounted pool
    expect(sshOk(t, "cat /run/nixos-install.args").trim()).toBe("--no-root-passwd --root /mnt --flake /mnt/persist/etc/nixos#vm-disk");
    const saw = sshOk(t, "cat /run/nixos-install.saw");
    for (const m of [/^\/mnt rpool\/local\/root zfs$/m, /^\/mnt\/nix rpool\/local\/nix zfs$/m, /^\/mnt\/persist rpool\/safe\/persist zfs$/m, /^\/mnt\/home rpool\/safe\/home zfs$/m, /^\/mnt\/boot \/dev\/\S+ vfat$/m, /^flake\.nix$/m, /^runtime-info\.json$/m, /^authorized_keys$/m, /^flake\.lock$/m]) {
      expect(saw).toMatch(m);
    }
    // and the pool is exported at the end
    expect(sshOk(t, "zpool list -H -o name").trim()).toBe("");
  });

  test("the partition table read back from the disk is the layout the installed system declares", () => {
    const sg = sshOk(t, "sgdisk -p /dev/sda");
    const rows = sg.split("\n").filter((l) => /^\s+\d+\s+\d+\s+\d+/.test(l)).map((l) => {
      const [num, start, end, , , code, ...name] = l.trim().split(/\s+/);
      return { num: Number(num), sectors: Number(end) - Number(start) + 1, code, name: name.join(" ") };
    });
    expect(sg).toMatch(/Sector size \(logical\/physical\): 512\/512 bytes/);
    // disko creates the partitions in priority order, named disk-<disk>-<partition>
    const declared = Object.entries(layout().disko.disk.disk0.content.partitions).sort(([, a], [, b]) => a.priority - b.priority);
    expect(rows.map(({ num, code, name }) => ({ num, code, name }))).toEqual(declared.map(([name, p], i) => ({ num: i + 1, code: p.type, name: `disk-disk0-${name}` })));
    const bytes: Record<string, number> = { "1M": MiB, "1G": GiB };
    declared.forEach(([, p], i) => {
      if (p.size === "100%") expect(rows[i].sectors * 512).toBeGreaterThan(8.9 * GiB); // the rest of the 10 GiB disk
      else expect(rows[i].sectors * 512).toBe(bytes[p.size]);
    });

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
    // the ESP is FAT32, as the layout's mkfs arguments say
    expect(layout().disko.disk.disk0.content.partitions.esp.content?.extraArgs).toEqual(["-F", "32"]);
    expect(sshOk(t, "blkid -p -o value -s VERSION /dev/sda2").trim()).toBe("FAT32");
  });

  test("every pool and dataset property do-install set is one the layout declares, and no more", () => {
    sshOk(t, "zpool import -N -d /dev/disk/by-partlabel rpool");
    const declared = layout().disko.zpool.rpool;
    const poolLocal = sshOk(t, "zpool get -H -o property,value,source all rpool").trim().split("\n").map((l) => l.split("\t"))
      .filter(([prop, , source]) => source === "local" && !prop.startsWith("feature@"));
    readBack.pool = Object.fromEntries(poolLocal.map(([prop, value]) => [prop, value]));
    expect(readBack.pool).toEqual(declared.options);
    // set at creation only, so ZFS shows their source as "-"
    const once = Object.fromEntries(sshOk(t, "zfs get -H -o property,value encryption,keyformat rpool").trim().split("\n").map((l) => l.split("\t")));
    const local: Record<string, Record<string, string>> = {};
    for (const [name, prop, value] of sshOk(t, "zfs get -H -o name,property,value -s local -t filesystem all -r rpool").trim().split("\n").map((l) => l.split("\t"))) {
      (local[name] ??= {})[prop] = value;
    }
    local.rpool = { ...local.rpool, ...once };
    readBack.datasets = local;
    expect(local).toEqual({
      rpool: declared.rootFsOptions,
      ...Object.fromEntries(Object.entries(declared.datasets).map(([name, d]) => [`rpool/${name}`, d.options])),
    });
    // and the snapshot the layout takes after creating the root
    expect(declared.datasets["local/root"].postCreateHook).toBe("zfs snapshot rpool/local/root@blank");
    expect(sshOk(t, "zfs list -H -t snapshot -o name -r rpool").trim()).toBe("rpool/local/root@blank");
    sshOk(t, "zpool export rpool");
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
    // the host flake is on /persist, which the installed system links /etc/nixos to
    expect(sshOk(t, "cat /tmp/persist/etc/nixos/flake.nix")).toBe(fs.readFileSync(path.join(ROOT, "nix", "templates", "host", "flake.nix"), "utf8"));
    expect(sshOk(t, "cat /tmp/persist/etc/nixos/runtime-info.json")).toBe(runtimeInfoText);
    // locked to the carried sources, beside it
    const lock = JSON.parse(sshOk(t, "cat /tmp/persist/etc/nixos/flake.lock"));
    expect(lock.nodes["cdktf-nixos-installer"].locked).toEqual(JSON.parse(fs.readFileSync(SOURCES, "utf8")).sources["cdktf-nixos-installer"].locked);
    // what the installed system keeps on /persist starts as nixos-install left it on /
    // (the first boot rolls / back to @blank): the uid map; a listed path nixos-install
    // did not make (/etc/machine-id) is not made up
    expect(sshOk(t, "cat /tmp/persist/var/lib/nixos/uid-map").trim()).toBe("sshd:996");
    expect(sshOk(t, "ls /tmp/persist/var/log").trim()).toBe("cdktf-nixos-installer-install.log");
    expect(sshRun(t, "test -e /tmp/persist/etc/machine-id").code).not.toBe(0);
    sshOk(t, "umount /tmp/persist && zpool export rpool");
  });

  // Issue 11 test 14 with disko's own code: needs the upstream trees (__tests__/nix/upstream/README.md)
  (UPSTREAM ? test : test.skip)("what the disk holds is what disko's own create script would make (upstream trees)", () => {
    const file = path.join(tmp, "runtime-info.json");
    const script = evalNix<string>(path.join(ROOT, "__tests__", "nix", "upstream", "eval-host.nix"), { upstream: UPSTREAM, runtimeInfo: file }, "diskoCreate");
    const lines = script.replace(/\\\n\s*/g, " ").split("\n").map((l) => l.trim().replace(/\s+/g, " "));
    const props = (words: string[], flag: string) => Object.fromEntries(words.flatMap((w, i) => (words[i - 1] === flag ? [w.split("=", 2)] : [])));
    const zpool = lines.find((l) => l.startsWith('zpool create -f "rpool"'))!.split(" ");
    expect(readBack.pool).toEqual(props(zpool, "-o"));
    const datasets = Object.fromEntries(lines.filter((l) => l.startsWith("zfs create -up ")).map((l) => [l.split(" ")[3].replace(/"/g, ""), props(l.split(" "), "-o")]));
    expect(readBack.datasets).toEqual({ rpool: props(zpool, "-O"), ...datasets });
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
