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
    for (const h of Object.values(hosts)) upload(h, h.baseHostKey, "write-runtime-info");
  }, 90000);

  afterAll(() => Object.values(hosts).forEach(labDown), 60000);

  it.each(profiles)("writes the facts of %s as valid runtime-info v1", (p) => {
    const h = hosts[p];
    const r = ssh(h, h.baseHostKey, `/tmp/write-runtime-info ${quote(profileJson(p).writeRuntimeInfoArgs)} --out /tmp/ri.json && cat /tmp/ri.json`);
    expect(r.stderr).toBe("");
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
    ["a VLAN holding the address", "vlan", "--hostname web-1", /^error: interface eth0\.4000@eth0 \(a VLAN or macvlan\) holds a global address/m],
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
*) exec /usr/local/sbin/ip "$@";; esac`,
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
});
