// Debian 13 (trixie) as the base system: the whole chain applied by the real terraform
// against the lab host's hcloud-debian13 profile (iproute2 6.15's address format, no
// kexec-tools on the base system). Needs root, sshd and terraform, like __tests__/lab.
import { randomBytes } from "crypto";
import * as fs from "fs";
import * as path from "path";
import { labHostRole, labRecords, phaseFigures, ROOT, startLab } from "../../lab/lab";

jest.setTimeout(400_000); // one whole apply in beforeAll, on a loaded machine

const PROFILE = path.join(ROOT, "lab", "target", "profiles", "hcloud-debian13");

describe("a Debian 13 base system in the lab", () => {
  const passphrase = `canary-${randomBytes(16).toString("hex")}`;
  const work = path.join(ROOT, ".lab", "test-debian13");
  let lab: Awaited<ReturnType<typeof startLab>>;
  let apply: { code: number; output: string };

  beforeAll(async () => {
    lab = await startLab({ work, passphrase, profile: "hcloud-debian13", address: "127.0.0.3" });
    apply = await lab.apply();
  });
  afterAll(async () => {
    await lab?.close();
  });

  test("terraform apply takes it through probe, kexec, install, unlock and verify", () => {
    if (apply.code !== 0) throw new Error(`terraform apply failed:\n${apply.output.split("\n").filter((l) => /\[web-1 |Error/.test(l)).join("\n")}`);
    expect(Object.keys(phaseFigures(apply.output))).toEqual(["probe", "kexec", "install", "unlock", "verify"]);
    expect(labHostRole(lab.host.dir)).toBe("installed");
  });

  test("the probe reads iproute2 6.15's address lines (with 'proto kernel_ll') into the same facts", () => {
    expect(fs.readFileSync(path.join(PROFILE, "ip-o-addr.txt"), "utf8")).toMatch(/ proto kernel_ll /);
    const info = lab.runtimeInfo();
    expect(info).toMatchObject({
      system: "x86_64-linux",
      bootMode: "bios",
      disks: [{ path: "/dev/disk/by-id/scsi-0QEMU_QEMU_HARDDISK_120210839", kernelName: "sda", holdsBaseSystem: true }],
      interfaces: [{ name: "eth0", mac: "96:00:04:a1:5c:2e", mtu: 1500, addresses: ["203.0.113.41/32", "2a01:4f8:1c1b:5a3e::1/64"], gateways: ["172.31.1.1", "fe80::1"] }],
      nameservers: ["185.12.64.1", "185.12.64.2", "2a01:4ff:ff00::add:1"],
    });
  });

  test("with no kexec on the base system, run-installer kexecs with the bundle's own", () => {
    expect(apply.output).toMatch(/run-installer: using the bundle's kexec/);
    const kexec = labRecords(lab.host).filter((r: any) => r.tool === "kexec");
    expect(kexec.map((r: any) => r.argv[0])).toEqual(["-s", "-e"]);
    expect(kexec.every((r: any) => r.role === "base")).toBe(true);
  });
});
