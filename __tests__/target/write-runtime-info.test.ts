import Ajv2020 from "ajv/dist/2020";
import * as fs from "fs";
import * as path from "path";
import { LabHost, labDown, labUp, repo, ssh, upload } from "./lab-helpers";

const schema = JSON.parse(fs.readFileSync(path.join(repo, "schema", "runtime-info.v1.schema.json"), "utf8"));
const validate = new Ajv2020({ allErrors: true }).compile(schema);
const profiles = ["hcloud-x86", "hcloud-arm-ipv6", "hcloud-private", "dedicated-2disk"];
const profileJson = (p: string) => JSON.parse(fs.readFileSync(path.join(repo, "lab", "target", "profiles", p, "profile.json"), "utf8"));
const quote = (a: string[]) => a.map((x) => `'${x.replace(/'/g, `'\\''`)}'`).join(" ");

describe("write-runtime-info in the lab base system", () => {
  const hosts: Record<string, LabHost> = {};

  beforeAll(() => {
    profiles.forEach((p, i) => (hosts[p] = labUp(`wri-${i}`, `127.0.0.${21 + i}`, 23021 + i, p)));
    hosts["existing-pool"] = labUp("wri-pool", "127.0.0.25", 23025, "hcloud-x86", ["existing-pool"]);
    hosts["stacked-md-root"] = labUp("wri-md", "127.0.0.26", 23026, "stacked-md-root");
    hosts["hcloud-cilium"] = labUp("wri-cilium", "127.0.0.28", 23028, "hcloud-cilium");
    hosts["stacked-data-disk"] = labUp("wri-data", "127.0.0.27", 23027, "stacked-data-disk");
    for (const h of Object.values(hosts)) upload(h, h.baseHostKey, "write-runtime-info");
  }, 90000);

  afterAll(() => Object.values(hosts).forEach(labDown), 60000);

  it.each(profiles)("writes the facts of %s as valid runtime-info v1", (p) => {
    const h = hosts[p];
    const r = ssh(h, h.baseHostKey, `/tmp/write-runtime-info ${quote(profileJson(p).writeRuntimeInfoArgs)} --out /tmp/ri.json && cat /tmp/ri.json`);
    // docker's bridge holds an address of its own: left out, and said so
    const notes: Record<string, string> = { "hcloud-private": "note: skipping docker0 (bridge, no network card behind it) with 172.17.0.1/16: not an address of the machine itself\n" };
    expect(r.stderr).toBe(notes[p] ?? "");
    expect(r.status).toBe(0);
    const written = JSON.parse(r.stdout);
    expect(validate(written) ? [] : validate.errors).toEqual([]);
    const expected = JSON.parse(fs.readFileSync(path.join(repo, "__tests__", "fixtures", "runtime-info", profileJson(p).fixture), "utf8"));
    expect(written).toEqual(expected);
  });

  const bad: [string, string, string, RegExp][] = [
    ["a hostname that is not one label", "", "--hostname Web_1", /^error: --hostname must be a valid hostname .*got: 'Web_1'/m],
    ["a hostname longer than 63", "", `--hostname ${"a".repeat(64)}`, /^error: --hostname must be a valid hostname/m],
    ["a disk path with odd characters", "", "--hostname web-1 --disk '/dev/sda;rm -rf x'", /^error: --disk must be a path under \/dev/m],
    ["a disk that does not exist", "", "--hostname web-1 --disk /dev/sdz", /^error: disk \/dev\/sdz does not exist/m],
    ["no global address", "addr=/dev/null", "--hostname web-1", /^error: no physical network interface with a global address/m],
    ["a bond holding the address", "bond", "--hostname web-1", /^error: interface bond0 \(a bond\) holds a global address; bonds and VLANs are not supported yet/m],
    ["a VLAN holding the address", "vlan", "--hostname web-1", /^error: interface eth0\.4000@eth0 \(a VLAN\) holds a global address; VLANs and bonds are not supported yet/m],
    ["hcloud without its server id", "", "--hostname web-1 --hoster hcloud --hcloud-location fsn1", /^error: --hoster hcloud needs/m],
  ];

  // A shim `ip` in front of the lab's, for network shapes no profile has.
  const shims: Record<string, string> = {
    "addr=/dev/null": `case "$*" in "-o addr") exit 0;; esac; exec /usr/local/sbin/ip "$@"`,
    bond: `case "$*" in
"-o link") printf '%s\\n' '2: eth0: <BROADCAST,MULTICAST,SLAVE,UP,LOWER_UP> mtu 1500 qdisc mq master bond0 state UP mode DEFAULT group default qlen 1000\\    link/ether a8:a1:59:0e:4b:21 brd ff:ff:ff:ff:ff:ff' '3: bond0: <BROADCAST,MULTICAST,MASTER,UP,LOWER_UP> mtu 1500 qdisc noqueue state UP mode DEFAULT group default qlen 1000\\    link/ether a8:a1:59:0e:4b:21 brd ff:ff:ff:ff:ff:ff';;
"-o addr") printf '%s\\n' '3: bond0    inet 148.251.77.10/27 scope global bond0\\       valid_lft forever preferred_lft forever';;
*) exec /usr/local/sbin/ip "$@";; esac`,
    vlan: `case "$*" in
"-o link") printf '%s\\n' '2: eth0: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc mq state UP mode DEFAULT group default qlen 1000\\    link/ether a8:a1:59:0e:4b:21 brd ff:ff:ff:ff:ff:ff' '3: eth0.4000@eth0: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1400 qdisc noqueue state UP mode DEFAULT group default qlen 1000\\    link/ether a8:a1:59:0e:4b:21 brd ff:ff:ff:ff:ff:ff';;
"-o addr") printf '%s\\n' '3: eth0.4000    inet 10.0.4.2/24 scope global eth0.4000\\       valid_lft forever preferred_lft forever';;
*) exec /usr/local/sbin/ip "$@";; esac
# what eth0.4000 is, in the lab's /sys/class/net (ip only names it)
mkdir -p /sys/class/net/eth0.4000 && printf 'DEVTYPE=vlan\\nINTERFACE=eth0.4000\\n' > /sys/class/net/eth0.4000/uevent`,
  };

  it.each(bad)("refuses %s with a clear error and writes nothing", (_what, shim, args, message) => {
    const h = hosts["hcloud-x86"];
    let prefix = "";
    if (shim) {
      const w = ssh(h, h.baseHostKey, `mkdir -p /tmp/shim && cat > /tmp/shim/ip && chmod 755 /tmp/shim/ip`, `#!/bin/sh\n${shims[shim]}\n`);
      expect(w.status).toBe(0);
      prefix = "PATH=/tmp/shim:$PATH ";
    }
    const r = ssh(h, h.baseHostKey, `rm -f /tmp/bad.json; ${prefix}/tmp/write-runtime-info ${args} --out /tmp/bad.json; echo "rc=$?"; ls /tmp/bad.json* 2>/dev/null | wc -l`);
    expect(r.stderr).toMatch(message);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(r.stdout).toMatch(/rc=[12]\n0\n$/);
  });

  it("skips virtual interfaces with a global address (a Cilium veth, a container bridge, a tunnel) by what they are, with a note", () => {
    const h = hosts["hcloud-cilium"];
    const r = ssh(h, h.baseHostKey, `/tmp/write-runtime-info ${quote(profileJson("hcloud-cilium").writeRuntimeInfoArgs)} --out /tmp/ri.json && cat /tmp/ri.json`);
    expect(r.stderr).toBe(
      [
        "note: skipping cilium_host@cilium_net (veth, no network card behind it) with 10.0.0.93/32: not an address of the machine itself",
        "note: skipping lxdbr0 (bridge, no network card behind it) with 10.87.210.1/24 fd42:9c1b:5e0e:1d4c::1/64: not an address of the machine itself",
        "",
      ].join("\n"),
    );
    // the same facts as the host without them (tun0 has no MAC: never a candidate)
    expect(JSON.parse(r.stdout)).toEqual(JSON.parse(fs.readFileSync(path.join(repo, "__tests__", "fixtures", "runtime-info", "hcloud-x86-fsn1.json"), "utf8")));
  });

  it("refuses a disk that holds a pool from an earlier install unless everything may be wiped", () => {
    const h = hosts["existing-pool"];
    const base = `/tmp/write-runtime-info --hostname web-1 --out /tmp/ri.json`;
    const refused = ssh(h, h.baseHostKey, `${base} --check-disks base-system; echo "rc=$?"; test -e /tmp/ri.json && echo written`);
    expect(refused.stderr).toBe(
      `error: disk /dev/disk/by-id/scsi-0QEMU_QEMU_HARDDISK_127368955 holds a ZFS pool from an earlier install (sda9: zfs_member, partlabel disk-disk0-zfs); set wipe = "everything" to replace it\n`,
    );
    expect(refused.stdout).toBe("rc=1\n");
    const allowed = ssh(h, h.baseHostKey, `${base} --check-disks everything && test -s /tmp/ri.json && echo written`);
    expect(allowed.stdout).toBe("written\n");
  });

  // Profiles recorded from real stacked layouts in the VM lab (lab/vm/stacked-layouts).
  const byId = (p: string, k: string) => `/dev/disk/by-id/${Object.entries(profileJson(p).byId as Record<string, string>).find(([, v]) => v === k)![0]}`;
  const run = (p: string, args: string) => ssh(hosts[p], hosts[p].baseHostKey, `rm -f /tmp/s.json; /tmp/write-runtime-info --hostname web-1 ${args} --out /tmp/s.json; echo "rc=$?"; cat /tmp/s.json 2>/dev/null`);

  it("refuses to pick one disk when / is on md RAID1 over two, and names both", () => {
    const r = run("stacked-md-root", "--check-disks base-system");
    expect(r.stderr).toBe(
      `error: / is on md0 (raid1) over the disks sdb, sdc, not on one disk; refusing to pick one: name the disks to install on, e.g. disks = ["${byId("stacked-md-root", "sdb")}", "${byId("stacked-md-root", "sdc")}"] (two or more make a mirrored pool)\n`,
    );
    expect(r.stdout).toBe("rc=1\n");
  });

  it("sees the ZFS pool on a further md array of the root disks and refuses base-system", () => {
    const disks = `--disk ${byId("stacked-md-root", "sdb")} --disk ${byId("stacked-md-root", "sdc")}`;
    const r = run("stacked-md-root", `${disks} --check-disks base-system`);
    expect(r.stderr).toBe(
      `error: disk ${byId("stacked-md-root", "sdb")} holds the running root filesystem but also what the base system does not run from: sdb3 (part, linux_raid_member), md1p1 (part, zfs_member, partlabel zfs-tank); wipe = "base-system" replaces only what the running system uses: move that data off the disk, or set wipe = "everything" to wipe all of it\n`,
    );
    expect(r.stdout).toBe("rc=1\n");
    const all = run("stacked-md-root", `${disks} --check-disks everything`);
    expect(all.stdout).toMatch(/^rc=0\n/);
    expect(JSON.parse(all.stdout.slice(5)).disks.map((d: { kernelName: string; holdsBaseSystem: boolean }) => `${d.kernelName}:${d.holdsBaseSystem}`)).toEqual(["sdb:true", "sdc:true"]);
  });

  it("refuses a data disk (mounted ext4, LUKS holding LVM) beside the root disk, listing each layer", () => {
    const r = run("stacked-data-disk", `--disk ${byId("stacked-data-disk", "sda")} --disk ${byId("stacked-data-disk", "sdd")} --check-disks base-system`);
    expect(r.stderr).toBe(
      `error: disk ${byId("stacked-data-disk", "sdd")} (sdd) is not blank: sdd1 (part, ext4, mounted at /srv/data), sdd2 (part, crypto_LUKS), secret (crypt, LVM2_member), vgdata-home (lvm, ext4); wipe = "base-system" replaces only the disk(s) holding the running root filesystem (sda): leave this disk out of disks, or set wipe = "everything" to wipe it (what it holds is lost)\n`,
    );
    expect(r.stdout).toBe("rc=1\n");
  });

  it("takes the root disk with its ESP and BIOS boot partition as the base system's own", () => {
    const r = run("stacked-data-disk", "--check-disks base-system");
    expect(r.stderr).toBe("");
    const info = JSON.parse(r.stdout.slice(5));
    expect(info.disks).toEqual([{ path: byId("stacked-data-disk", "sda"), kernelName: "sda", sizeBytes: 10737418240, holdsBaseSystem: true }]);
  });
});
