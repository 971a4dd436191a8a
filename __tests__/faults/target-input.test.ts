// Fault scenario 11: bad input to the target-side scripts, the cases that
// __tests__/target/write-runtime-info.test.ts does not have yet (it covers a hostname
// that is not one label or too long, odd --disk paths, a missing disk, no global
// address, a bond, a VLAN, hcloud without its id; its profiles cover several NICs and
// IPv6-only). Here: do-install reading malformed, wrong-version or wrong-typed
// runtime-info; write-runtime-info with no IPv6 at all and with a by-id disk name with
// unusual characters (skipped); and do-install's copy of a read-only template.
import Ajv2020 from "ajv/dist/2020";
import * as fs from "fs";
import * as path from "path";
import { writeReliabilityDoc } from "../../lab/faults/report";
import { scenario } from "../../lab/faults/scenario";
import { LabHost, labDown, labUp, records, repo, sendStandInBundle, ssh, upload, waitForRole } from "../target/lab-helpers";
import type { RuntimeInfo } from "../../lib";

const schema = JSON.parse(fs.readFileSync(path.join(repo, "schema", "runtime-info.v1.schema.json"), "utf8"));
const validate = new Ajv2020({ allErrors: true }).compile(schema);
const PASSPHRASE = "canary-target-input-5d1e";
const DISK_TOOLS = ["sgdisk", "wipefs", "mkfs.vfat", "zpool", "zfs", "mount", "nixos-install"];

let base: LabHost;
let installer: LabHost;
let installerKey = "";

beforeAll(async () => {
  base = labUp("ti-base", "127.0.9.121", 23121, "hcloud-x86");
  installer = labUp("ti-inst", "127.0.9.122", 23122, "hcloud-x86");
  upload(base, base.baseHostKey, "write-runtime-info");
  // The installer host: write-runtime-info, a stand-in bundle, run-installer, kexec.
  upload(installer, installer.baseHostKey, "write-runtime-info");
  upload(installer, installer.baseHostKey, "run-installer");
  sendStandInBundle(installer, installer.baseHostKey);
  expect(ssh(installer, installer.baseHostKey, "/tmp/write-runtime-info --hostname web-1 --out /tmp/ri.json").status).toBe(0);
  const r = ssh(installer, installer.baseHostKey, "cat > /tmp/ak && /tmp/run-installer --bundle /tmp/bundle --runtime-info /tmp/ri.json --authorized-keys /tmp/ak", fs.readFileSync(`${installer.clientKey}.pub`));
  expect(r.status).toBe(0);
  installerKey = /^installer-host-key: (ssh-ed25519 \S+)$/m.exec(r.stdout)![1];
  await waitForRole(installer, "installer", 20_000);
  upload(installer, installerKey, "do-install");
  expect(ssh(installer, installerKey, "mkdir -p /tmp/tpl && echo '{ outputs = _: { }; }' > /tmp/tpl/flake.nix").status).toBe(0);
}, 120_000);

afterAll(() => {
  labDown(base);
  labDown(installer);
  writeReliabilityDoc();
}, 60_000);

const DO_INSTALL = "/tmp/do-install --runtime-info /tmp/bad.json --template /tmp/tpl --authorized-keys /etc/ssh/authorized_keys.d/root";
const GOOD = "/etc/cdktf-nixos-installer/runtime-info.json";

const badRuntimeInfo: [string, string, string, RegExp][] = [
  ["11.1", "truncated runtime-info (malformed JSON)", `head -c 100 ${GOOD}`, /^error: runtime-info \/tmp\/bad\.json is not a JSON object \(malformed or truncated\?\); run the probe phase again/m],
  ["11.2", "runtime-info of another version (2)", `jq '.version = 2' ${GOOD}`, /^error: runtime-info \/tmp\/bad\.json has version 2; this installer reads version 1/m],
  ["11.3", "runtime-info version as a string (\"1\")", `jq '.version = "1"' ${GOOD}`, /^error: runtime-info \/tmp\/bad\.json has version "1"; this installer reads version 1 \(a number\)/m],
  ["11.4", "runtime-info without hostName", `jq 'del(.hostName)' ${GOOD}`, /^error: runtime-info hostName must be a valid hostname .*, got: null$/m],
  ["11.5", "runtime-info hostName that is not one (Web_1)", `jq '.hostName = "Web_1"' ${GOOD}`, /^error: runtime-info hostName must be a valid hostname .*, got: "Web_1"$/m],
  ["11.6", "runtime-info with disks that are not a list", `jq '.disks = "/dev/sda"' ${GOOD}`, /^error: runtime-info \/tmp\/bad\.json must list at least one disk as \{"path": "\/dev\/\.\.\."\}, got disks: "\/dev\/sda"$/m],
  ["11.7", "runtime-info disk path with shell characters", `jq '.disks[0].path = "/dev/sda;reboot"' ${GOOD}`, /^error: runtime-info disk path must be a path under \/dev .*, got: '\/dev\/sda;reboot'$/m],
  ["11.8", "runtime-info disk path leaving /dev (..)", `jq '.disks[0].path = "/dev/../etc/passwd"' ${GOOD}`, /^error: runtime-info disk path must be a path under \/dev .*\(no '\.\.'\), got: '\/dev\/\.\.\/etc\/passwd'$/m],
];

badRuntimeInfo.forEach(([id, title, make, message]) => {
  scenario(
    { id, title: `do-install: ${title}`, expected: "one clear error line, exit 1, no disk tool called, nothing written to /mnt", timeoutMs: 60_000, file: __filename },
    async () => {
      const started = Date.now();
      const before = records(installer).length;
      const r = ssh(installer, installerKey, `${make} > /tmp/bad.json; ${DO_INSTALL}; echo "rc=$?"; ls -A /mnt | wc -l`, `${PASSPHRASE}\n`);
      const errors = r.stderr.split("\n").filter((l) => l.startsWith("error: "));
      if (!message.test(r.stderr) || errors.length !== 1) throw new Error(`expected one error matching ${message}, got:\n${r.stderr}`);
      if (!/rc=1\n0\n$/.test(r.stdout)) throw new Error(`expected exit 1 and an empty /mnt, got:\n${r.stdout}`);
      const called = records(installer).slice(before).filter((x) => DISK_TOOLS.includes(x.tool));
      if (called.length) throw new Error(`disk tools were called: ${called.map((x) => x.tool).join(", ")}`);
      return { happened: `exit 1: "${errors[0]}"; 0 disk tool calls; /mnt empty`, seconds: (Date.now() - started) / 1000 };
    },
  );
});

scenario(
  {
    id: "11.9",
    title: "write-runtime-info: `ip` shows no IPv6 at all (no global inet6, no IPv6 default route)",
    expected: "valid runtime-info v1 with the IPv4 address and gateway only (IPv6 is optional), no error",
    timeoutMs: 60_000,
    file: __filename,
  },
  async () => {
    const started = Date.now();
    const shim = `#!/bin/sh\ncase "$*" in\n"-o addr") /usr/local/sbin/ip -o addr | grep -v ' inet6 ';;\n"-o -6 route show default") exit 0;;\n*) exec /usr/local/sbin/ip "$@";;\nesac\n`;
    expect(ssh(base, base.baseHostKey, "mkdir -p /tmp/shim6 && cat > /tmp/shim6/ip && chmod 755 /tmp/shim6/ip", shim).status).toBe(0);
    const r = ssh(base, base.baseHostKey, "rm -f /tmp/v4.json; PATH=/tmp/shim6:$PATH /tmp/write-runtime-info --hostname web-1 --out /tmp/v4.json && cat /tmp/v4.json");
    if (r.status !== 0) throw new Error(`write-runtime-info failed:\n${r.stderr}`);
    const info = JSON.parse(r.stdout) as RuntimeInfo;
    if (!validate(info)) throw new Error(`not valid runtime-info v1: ${JSON.stringify(validate.errors)}`);
    const eth0 = info.interfaces.find((i) => i.name === "eth0") as RuntimeInfo["interfaces"][number];
    if (eth0.addresses.some((a: string) => a.includes(":")) || eth0.gateways.some((g: string) => g.includes(":"))) throw new Error(`IPv6 appeared: ${JSON.stringify(eth0)}`);
    return { happened: `valid runtime-info v1: eth0 ${eth0.addresses.join(" ")} via ${eth0.gateways.join(", ")}; no IPv6 address or gateway; stderr empty: ${r.stderr === ""}`, seconds: (Date.now() - started) / 1000 };
  },
);

scenario(
  {
    id: "11.10",
    title: "write-runtime-info: the root disk has a by-id name with unusual characters (a space)",
    expected: "that name is skipped with a warning: the next stable by-id name is used, or /dev/NAME when there is none; runtime-info stays valid",
    timeoutMs: 60_000,
    file: __filename,
  },
  async () => {
    const started = Date.now();
    const odd = "/dev/disk/by-id/ata-LAB SSD 860";
    const run = (setup: string) => {
      const r = ssh(base, base.baseHostKey, `${setup}; rm -f /tmp/odd.json; /tmp/write-runtime-info --hostname web-1 --out /tmp/odd.json && cat /tmp/odd.json`);
      if (r.status !== 0) throw new Error(`write-runtime-info failed:\n${r.stderr}`);
      const lines = r.stderr.trim().split("\n");
      if (!lines.every((l) => l === `warning: skipping ${odd} (unusual characters in the name)`)) throw new Error(`expected only the warning, got:\n${r.stderr}`);
      const info = JSON.parse(r.stdout) as RuntimeInfo;
      if (!validate(info)) throw new Error(`not valid runtime-info v1: ${JSON.stringify(validate.errors)}`);
      return info.disks[0].path;
    };
    const beside = run(`ln -sf ../../sda '${odd}'`);
    if (beside !== "/dev/disk/by-id/scsi-0QEMU_QEMU_HARDDISK_127368955") throw new Error(`expected the scsi by-id name, got ${beside}`);
    // Only the odd name left (the namespace's own /dev; the lab rebuilds it at the next boot).
    const alone = run("rm -f /dev/disk/by-id/scsi-0QEMU_QEMU_HARDDISK_127368955");
    if (alone !== "/dev/sda") throw new Error(`expected /dev/sda, got ${alone}`);
    return { happened: `warning "skipping ${odd} (unusual characters in the name)"; disk path ${beside} beside a good name, ${alone} alone; runtime-info valid both times`, seconds: (Date.now() - started) / 1000 };
  },
);

scenario(
  {
    id: "11.11",
    title: "do-install with a read-only template (as from the Nix store)",
    expected: "the install succeeds and the host's /etc/nixos copy is writable by its owner",
    timeoutMs: 60_000,
    file: __filename,
  },
  async () => {
    const started = Date.now();
    const prep = ssh(installer, installerKey, "mkdir -p /tmp/rotpl/modules && echo '{ outputs = _: { }; }' > /tmp/rotpl/flake.nix && echo '{ }' > /tmp/rotpl/modules/host.nix && chmod 0444 /tmp/rotpl/flake.nix /tmp/rotpl/modules/host.nix && chmod 0555 /tmp/rotpl/modules /tmp/rotpl");
    expect(prep.status).toBe(0);
    const r = ssh(installer, installerKey, `/tmp/do-install --runtime-info ${GOOD} --template /tmp/rotpl --authorized-keys /etc/ssh/authorized_keys.d/root`, `${PASSPHRASE}\n`);
    if (r.status !== 0) throw new Error(`do-install failed:\n${r.stderr.split("\n").slice(-10).join("\n")}`);
    const etc = path.join(installer.dir, "disk", "mnt", "persist", "etc", "nixos");
    const modes = ["", "flake.nix", "modules", "modules/host.nix"].map((p) => [p || ".", fs.statSync(path.join(etc, p)).mode & 0o777] as const);
    const readOnly = modes.filter(([, m]) => !(m & 0o200));
    if (readOnly.length) throw new Error(`not writable by the owner: ${readOnly.map(([p, m]) => `${p} ${m.toString(8)}`).join(", ")}`);
    return { happened: `installed; /etc/nixos modes ${modes.map(([p, m]) => `${p} ${m.toString(8)}`).join(", ")} (template 555/444)`, seconds: (Date.now() - started) / 1000 };
  },
);
