// VM level: the real write-runtime-info and run-installer on a real Debian 12 kernel
// (qemu, software emulation). run-installer kexecs for real into a second kernel and
// initrd (the lab's installer stand-in, a bundle per docs/contracts.md); the test then
// logs in to that new kernel with the key run-installer printed, StrictHostKeyChecking
// on, and checks from inside that the appended cpio arrived.
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import {
  buildVmImages, makeClientKey, requireVmPrereqs, ROLE_MARKER_TEST, ROOT, serialTail,
  sshOk, sshRun, SshTarget, uploadDirs, vmDown, VmTarget, vmUp, waitForSsh,
} from "../../lab/vm/vm-lab";

jest.setTimeout(900_000);

const NAME = "test-kexec";
let vm: VmTarget | undefined;
let tmp: string;

beforeAll(() => {
  requireVmPrereqs();
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "vm-kexec-"));
  buildVmImages();
  vm = vmUp({ name: NAME, role: "base" });
});

afterAll(() => {
  vmDown(NAME);
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

describe("run-installer on a real kernel", () => {
  let base: SshTarget;
  let baseBootId: string;
  let runtimeInfo: string;
  let installerKey: string;
  let installer: SshTarget;
  let deployKey: { key: string; pub: string };
  let kexecOut: string;

  test("the base system boots from Debian's packages and answers with its pinned host key", () => {
    base = { address: vm!.address, port: vm!.port, hostKey: vm!.hostKey, clientKey: vm!.clientKey };
    expect(sshOk(base, ROLE_MARKER_TEST).trim()).toBe("base");
    expect(sshOk(base, "uname -r").trim()).toMatch(/^6\.1\.0-\d+-amd64$/);
    expect(sshOk(base, "cat /proc/cmdline")).toContain("cdktf-vm.boot=base");
    baseBootId = sshOk(base, "cat /proc/sys/kernel/random/boot_id").trim();
    // the disk is a virtio-scsi disk named as on Hetzner Cloud, and nothing but sshd is reachable
    expect(sshOk(base, "readlink -f /dev/disk/by-id/scsi-0QEMU_QEMU_HARDDISK_*").trim()).toBe("/dev/sda");
  });

  test("write-runtime-info collects the facts of the VM", () => {
    uploadDirs(base, { [path.join(ROOT, "nix", "installer")]: "/root/cdktf/installer" });
    sshOk(base, "/root/cdktf/installer/write-runtime-info --hostname vm-kexec --disk /dev/disk/by-id/scsi-0QEMU_QEMU_HARDDISK_$(tail -c +5 /sys/block/sda/device/vpd_pg80 | tr -d '\\000 ') --out /root/cdktf/runtime-info.json");
    runtimeInfo = sshOk(base, "cat /root/cdktf/runtime-info.json");
    const info = JSON.parse(runtimeInfo);
    expect(info).toMatchObject({ version: 1, hostName: "vm-kexec", system: "x86_64-linux", bootMode: "bios", nameservers: ["10.0.2.3"] });
    expect(info.disks).toEqual([expect.objectContaining({ kernelName: "sda", sizeBytes: 10 * 2 ** 30, path: expect.stringMatching(/^\/dev\/disk\/by-id\/scsi-0QEMU_QEMU_HARDDISK_\d+$/) })]);
    expect(info.interfaces[0]).toMatchObject({ name: "eth0", mac: "96:00:00:0a:00:01", addresses: ["10.0.2.15/24"] });
  });

  test("run-installer kexecs into the bundle and prints the installer host key", () => {
    uploadDirs(base, { [vm!.bundle]: "/root/cdktf/bundle" });
    // the installer accepts a key the base system never had: it can only come from the cpio
    deployKey = makeClientKey(tmp, "deploy-installer");
    sshOk(base, "cat > /root/cdktf/authorized_keys", { input: deployKey.pub });
    // a stock Debian or Ubuntu image has no kexec-tools: the bundle's own kexec must do
    sshOk(base, "mv /usr/sbin/kexec /root/kexec-of-the-base-system && ! command -v kexec");
    const started = Date.now();
    const r = sshRun(base, "/root/cdktf/installer/run-installer --bundle /root/cdktf/bundle --runtime-info /root/cdktf/runtime-info.json --authorized-keys /root/cdktf/authorized_keys", { timeoutMs: 120_000 });
    if (r.code !== 0) throw new Error(`run-installer exited ${r.code}: ${r.stderr}`);
    expect(r.stderr).toMatch(/^run-installer: using the bundle's kexec$/m);
    kexecOut = r.stdout;
    const line = kexecOut.split("\n").find((l) => l.startsWith("installer-host-key: "));
    expect(line).toMatch(/^installer-host-key: ssh-ed25519 AAAA[0-9A-Za-z+/]+=*$/);
    installerKey = line!.replace("installer-host-key: ", "").trim();
    expect(installerKey).not.toBe(vm!.hostKey);
    installer = { address: vm!.address, port: vm!.port, hostKey: installerKey, clientKey: deployKey.key };
    // the SSH session ended cleanly before kexec -e (delayed one second)
    expect((Date.now() - started) / 1000).toBeLessThan(60);
  });

  test("the installer answers with the printed key (StrictHostKeyChecking=yes) after a real kexec", async () => {
    const seconds = await waitForSsh(installer, 180, "kexec into the installer stand-in").catch((e) => {
      throw new Error(`${e.message}\nserial console:\n${serialTail(vm!)}`);
    });
    console.log(`vm: kexec to SSH ${seconds.toFixed(1)} s`);
    // a new kernel: another boot id, the bundle's command line, the installer role
    expect(sshOk(installer, "cat /proc/sys/kernel/random/boot_id").trim()).not.toBe(baseBootId);
    const cmdline = sshOk(installer, "cat /proc/cmdline").trim();
    expect(cmdline).toBe(fs.readFileSync(path.join(vm!.bundle, "cmdline"), "utf8").trim());
    expect(cmdline).not.toContain("cdktf-vm.boot=base");
    expect(sshOk(installer, ROLE_MARKER_TEST).trim()).toBe("installer");
    // the base system's files are gone: this is a fresh root, not the old one
    expect(sshRun(installer, "test -e /root/cdktf/runtime-info.json").code).not.toBe(0);
    // and the base system's host key is no longer offered
    expect(sshRun(base, "true").code).not.toBe(0);
  });

  test("the appended cpio arrived: authorized keys, installer host key, runtime-info", () => {
    expect(sshOk(installer, "cat /etc/ssh/authorized_keys.d/root")).toBe(deployKey.pub);
    expect(sshOk(installer, "cat /etc/cdktf-nixos-installer/runtime-info.json")).toBe(runtimeInfo);
    // the private key sshd serves is the one whose public half run-installer printed
    expect(sshOk(installer, "stat -c %a /etc/ssh/ssh_host_ed25519_key").trim()).toBe("600");
    expect(sshOk(installer, "ssh-keygen -y -f /etc/ssh/ssh_host_ed25519_key").trim().split(" ").slice(0, 2).join(" ")).toBe(installerKey);
    expect(sshOk(installer, "cut -d' ' -f1,2 /etc/ssh/ssh_host_ed25519_key.pub").trim()).toBe(installerKey);
  });

  test("no secret on the kernel command line", () => {
    const cmdline = sshOk(installer, "cat /proc/cmdline");
    const privateKeyBody = sshOk(installer, "sed -n 2p /etc/ssh/ssh_host_ed25519_key").trim();
    expect(cmdline).not.toContain("PRIVATE KEY");
    expect(cmdline).not.toContain(privateKeyBody.slice(0, 24));
    expect(cmdline).not.toContain(deployKey.pub.split(" ")[1].slice(0, 24));
    expect(cmdline).not.toContain("vm-kexec"); // nothing from runtime-info either
  });
});
