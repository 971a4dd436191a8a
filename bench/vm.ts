// npm run bench:vm — the VM lab's figures on one chain, as the deploy scripts drive it:
// boot of the base system to SSH (pinned key), run-installer's kexec into the
// zfs-capable installer stand-in to SSH (pinned installer key), and do-install's disk
// layout + encrypted pool + datasets (nixos-install stubbed: NixOS cannot be built here).
// Also the image build (cold or from the cache). qemu runs with software emulation.
import { randomBytes } from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import {
  buildVmImages, makeClientKey, requireVmPrereqs, ROOT, serialTail, sshOk, sshRun, uploadDirs,
  vmDown, vmUp, waitForSsh,
} from "../lab/vm/vm-lab";

const NAME = "bench";

const STUB = "#!/bin/sh\n# VM lab stand-in for nixos-install\necho 'nixos-install stub: nothing built'\n";

async function main(): Promise<void> {
  requireVmPrereqs({ zfs: true });
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "vm-bench-"));
  const figures: [string, number][] = [];
  const t0 = Date.now();
  buildVmImages({ zfs: true });
  figures.push(["image build (cache as found)", (Date.now() - t0) / 1000]);
  const vm = vmUp({ name: NAME, role: "base", zfs: true });
  try {
    figures.push(["boot to SSH (base system)", vm.bootSeconds]);
    const base = { address: vm.address, port: vm.port, hostKey: vm.hostKey, clientKey: vm.clientKey };
    const t1 = Date.now();
    uploadDirs(base, { [path.join(ROOT, "nix", "installer")]: "/root/cdktf/installer", [vm.bundle]: "/root/cdktf/bundle" });
    figures.push([`bundle upload (${(dirSize(vm.bundle) / 2 ** 20).toFixed(0)} MiB over SSH)`, (Date.now() - t1) / 1000]);
    const deploy = makeClientKey(tmp, "bench-deploy");
    sshOk(base, "cat > /root/cdktf/authorized_keys", { input: deploy.pub });
    sshOk(base, "/root/cdktf/installer/write-runtime-info --hostname vm-bench --disk /dev/disk/by-id/$(ls /dev/disk/by-id | head -n1) --out /root/cdktf/runtime-info.json");
    const t2 = Date.now();
    const out = sshOk(base, "/root/cdktf/installer/run-installer --bundle /root/cdktf/bundle --runtime-info /root/cdktf/runtime-info.json --authorized-keys /root/cdktf/authorized_keys");
    const key = (out.match(/^installer-host-key: (.*)$/m) ?? [])[1];
    if (!key) throw new Error(`run-installer printed no installer-host-key:\n${out}`);
    const installer = { address: vm.address, port: vm.port, hostKey: key.trim(), clientKey: deploy.key };
    await waitForSsh(installer, 240, "kexec into the installer stand-in").catch((e) => {
      throw new Error(`${e.message}\n${serialTail(vm)}`);
    });
    figures.push(["kexec to SSH (run-installer to pinned installer key)", (Date.now() - t2) / 1000]);
    uploadDirs(installer, { [path.join(ROOT, "nix", "installer")]: "/root/cdktf/installer", [path.join(ROOT, "nix", "templates", "host")]: "/root/cdktf/template" });
    sshOk(installer, "mkdir -p /usr/local/bin && cat > /usr/local/bin/nixos-install && chmod 755 /usr/local/bin/nixos-install", { input: STUB });
    sshOk(installer, "cat > /root/cdktf/authorized_keys", { input: deploy.pub });
    const t3 = Date.now();
    const r = sshRun(installer, "/root/cdktf/installer/do-install --runtime-info /etc/cdktf-nixos-installer/runtime-info.json --template /root/cdktf/template --authorized-keys /root/cdktf/authorized_keys", { input: `bench-${randomBytes(8).toString("hex")}`, timeoutMs: 600_000 });
    if (r.code !== 0) throw new Error(`do-install failed (${r.code}):\n${r.stderr}`);
    figures.push(["layout: do-install (GPT, ESP, encrypted pool, datasets, export)", (Date.now() - t3) / 1000]);
  } finally {
    vmDown(NAME);
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  console.log("\nVM lab (qemu TCG, Debian 12 kernel 6.1, 1 vCPU)");
  for (const [what, s] of figures) console.log(`  ${s.toFixed(1).padStart(6)} s  ${what}`);
}

function dirSize(dir: string): number {
  return fs.readdirSync(dir).reduce((n, f) => n + fs.statSync(path.join(dir, f)).size, 0);
}

main().catch((error) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
