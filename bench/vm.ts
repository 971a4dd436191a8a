// npm run bench:vm — the VM lab's figures on one chain, as the deploy scripts drive it:
// boot of the base system to SSH (pinned key), run-installer's kexec into the
// zfs-capable installer stand-in to SSH (pinned installer key), and do-install's disk
// layout + encrypted pool + datasets (nixos-install stubbed: NixOS cannot be built here).
// Also the image build (cold or from the cache). qemu runs with software emulation.
//
//   npm run bench:vm                    the lab as the tests run it, 3 rounds, medians
//   npm run bench:vm -- --rounds 5      more rounds
//   npm run bench:vm -- --tb-size 1024  with qemu's default translation cache: shows
//                                       the slow kexec of docs/decisions/vm-lab-guest.md
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

interface BenchArgs {
  readonly tbSizeMiB?: number;
  readonly rounds: number;
}

function parseArgs(argv: string[]): BenchArgs {
  let tbSizeMiB: number | undefined;
  let rounds = 3;
  for (let i = 0; i < argv.length; i += 2) {
    const [flag, value] = [argv[i], argv[i + 1] ?? ""];
    if (!/^[1-9][0-9]*$/.test(value)) throw new Error(`usage: npm run bench:vm [-- --rounds N] [--tb-size MIB]; ${flag} needs a positive number, got: ${value || "nothing"}`);
    if (flag === "--tb-size") tbSizeMiB = Number(value);
    else if (flag === "--rounds") rounds = Number(value);
    else throw new Error(`usage: npm run bench:vm [-- --rounds N] [--tb-size MIB]; unknown option: ${flag}`);
  }
  return { tbSizeMiB, rounds };
}

type Figures = Map<string, number[]>;

function record(figures: Figures, what: string, seconds: number): void {
  figures.set(what, [...(figures.get(what) ?? []), seconds]);
}

const BOOT = "boot to SSH (base system)";
const KEXEC = "kexec to SSH (run-installer to pinned installer key)";

/** One round: a fresh VM boots, gets the bundle, kexecs; the last round also lays out the disk. */
async function round(args: BenchArgs, figures: Figures, withLayout: boolean, tmp: string): Promise<number> {
  const vm = vmUp({ name: NAME, role: "base", zfs: true, tbSizeMiB: args.tbSizeMiB });
  try {
    record(figures, BOOT, vm.bootSeconds);
    const base = { address: vm.address, port: vm.port, hostKey: vm.hostKey, clientKey: vm.clientKey };
    const t1 = Date.now();
    uploadDirs(base, { [path.join(ROOT, "nix", "installer")]: "/root/cdktf/installer", [vm.bundle]: "/root/cdktf/bundle" });
    record(figures, `bundle upload (${(dirSize(vm.bundle) / 2 ** 20).toFixed(0)} MiB over SSH)`, (Date.now() - t1) / 1000);
    const deploy = makeClientKey(tmp, `bench-deploy-${Date.now()}`);
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
    record(figures, KEXEC, (Date.now() - t2) / 1000);
    if (withLayout) {
      uploadDirs(installer, { [path.join(ROOT, "nix", "installer")]: "/root/cdktf/installer", [path.join(ROOT, "nix", "templates", "host")]: "/root/cdktf/template" });
      sshOk(installer, "mkdir -p /usr/local/bin && cat > /usr/local/bin/nixos-install && chmod 755 /usr/local/bin/nixos-install", { input: STUB });
      sshOk(installer, "cat > /root/cdktf/authorized_keys", { input: deploy.pub });
      const t3 = Date.now();
      const r = sshRun(installer, "/root/cdktf/installer/do-install --runtime-info /etc/cdktf-nixos-installer/runtime-info.json --template /root/cdktf/template --authorized-keys /root/cdktf/authorized_keys", { input: `bench-${randomBytes(8).toString("hex")}`, timeoutMs: 600_000 });
      if (r.code !== 0) throw new Error(`do-install failed (${r.code}):\n${r.stderr}`);
      record(figures, "layout: do-install (GPT, ESP, encrypted pool, datasets, export)", (Date.now() - t3) / 1000);
    }
    return vm.tbSizeMiB;
  } finally {
    vmDown(NAME);
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  requireVmPrereqs({ zfs: true });
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "vm-bench-"));
  const figures: Figures = new Map();
  let tbSizeMiB = 0;
  try {
    const t0 = Date.now();
    buildVmImages({ zfs: true });
    record(figures, "image build (cache as found)", (Date.now() - t0) / 1000);
    // timings under emulation vary by a few seconds from run to run: several rounds, medians
    for (let i = 1; i <= args.rounds; i++) tbSizeMiB = await round(args, figures, i === args.rounds, tmp);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  console.log(`\nVM lab (qemu TCG, translation cache ${tbSizeMiB} MiB, Debian 12 kernel 6.1, 1 vCPU), ${args.rounds} rounds`);
  console.log("  median s  (min–max)      what");
  for (const [what, xs] of figures) {
    const range = xs.length > 1 ? `(${Math.min(...xs).toFixed(1)}–${Math.max(...xs).toFixed(1)})` : "";
    console.log(`  ${median(xs).toFixed(1).padStart(8)}  ${range.padEnd(14)} ${what}`);
  }
  // the same kernel boots twice: once from qemu, once from kexec (plus run-installer's work)
  const ratio = median(figures.get(KEXEC) ?? [0]) / median(figures.get(BOOT) ?? [1]);
  console.log(`  ${ratio.toFixed(2).padStart(8)}  ${"".padEnd(14)} × kexec to SSH / boot to SSH (medians)`);
}

function dirSize(dir: string): number {
  return fs.readdirSync(dir).reduce((n, f) => n + fs.statSync(path.join(dir, f)).size, 0);
}

main().catch((error) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
