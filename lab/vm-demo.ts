// npm run demo -- --vm: the chain against a real kernel in qemu (lab/vm/). probe and
// kexec run for real (a real kexec into the installer stand-in, with the appended
// cpio); install runs do-install for real (GPT, ESP, natively encrypted ZFS pool with
// the passphrase on stdin, host keys) up to nixos-install, which the stand-in answers
// with a refusal, so the phase fails there, loudly, as it would on any failed install.
// unlock and verify need the installed NixOS and cannot run here.
import { execFileSync } from "child_process";
import { randomBytes } from "crypto";
import * as fs from "fs";
import * as path from "path";
import { KexecBundle } from "../lib";
import { phaseAddress, phaseFigures, ROOT, synthAtRoot, terraform } from "./lab";
import { carryInstallerSources } from "./vm/vm-lab";

const VM_TARGET = path.join(ROOT, "lab", "vm", "vm-target");

const NIXOS_INSTALL_STAND_IN = `#!/bin/sh
echo "nixos-install (VM lab stand-in): NixOS cannot be built here; the disk layout and the pool above are real" >&2
exit 1
`;

/** Runs a command in the VM's installer over its pinned host key; returns stdout. */
function sshToInstaller(vm: { address: string; port: number; clientKey: string }, pin: string): (command: string, input?: string) => string {
  const knownHosts = `${pin}.known_hosts`;
  fs.writeFileSync(knownHosts, `[${vm.address}]:${vm.port} ${fs.readFileSync(pin, "utf8")}`);
  return (command, input) =>
    execFileSync(
      "ssh",
      ["-F", "/dev/null", "-T", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes", "-o", `UserKnownHostsFile=${knownHosts}`, "-o", "ConnectTimeout=10",
        "-i", vm.clientKey, "-o", "IdentitiesOnly=yes", "-p", String(vm.port), `root@${vm.address}`, command],
      { encoding: "utf8", input, timeout: 60_000 },
    );
}

export async function runVmDemo(): Promise<number> {
  const work = path.join(ROOT, ".lab", "demo-vm");
  fs.rmSync(work, { recursive: true, force: true });
  fs.mkdirSync(work, { recursive: true });
  console.log("lab: booting the VM target (Debian kernel under qemu, ZFS modules; the first run builds them, ~4 min)");
  const vm = JSON.parse(execFileSync(VM_TARGET, ["up", "--zfs", "--name", "demo"], { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] }).trim().split("\n").pop() as string);
  try {
    const rel = (p: string) => path.relative(ROOT, p);
    const outdir = path.join(work, "cdktf.out");
    synthAtRoot(
      {
        host: vm.address,
        port: vm.port,
        unlockPort: 2222,
        hostKey: vm.baseHostKey,
        hostName: "vm-1",
        authorizedKeys: [execFileSync("ssh-keygen", ["-y", "-f", vm.clientKey], { encoding: "utf8" }).trim()],
        identityFile: rel(vm.clientKey),
        bundle: KexecBundle.fromPath(rel(vm.bundle)),
        passphraseEnv: "LAB_DISK_PASSPHRASE",
        hostsDir: rel(path.join(work, "hosts")),
        // The guest's root is an initramfs: name the disk (a real host needs no --disk).
        disks: ["/dev/sda"],
        // Software emulation: the second kernel takes about a minute to unpack its initrd.
        timeouts: { probe: 120, kexec: 600, install: 600 },
      },
      { outdir: rel(outdir) },
    );
    const stackDir = path.join(outdir, "stacks", "existing-host");
    fs.rmSync(path.join(work, "terraform.existing-host.tfstate"), { force: true });
    const env = { LAB_DISK_PASSPHRASE: `vm-${randomBytes(12).toString("hex")}` };
    const init = await terraform(stackDir, ["init", "-input=false", "-no-color"], env);
    if (init.code !== 0) throw new Error(`terraform init failed:\n${init.output}`);
    const first = await terraform(stackDir, ["apply", "-auto-approve", "-input=false", "-no-color", `-target=${phaseAddress(stackDir, "kexec")}`], env, true);
    if (first.code !== 0) {
      console.error("lab (VM): probe or kexec failed (see above)");
      return 1;
    }
    // The installer stand-in has no nixos-install: give it one that refuses, after the
    // layout and the pool were made for real.
    const installer = sshToInstaller(vm, path.join(work, "hosts", "vm-1", "pins", "installer"));
    installer("mkdir -p /usr/local/bin && cat > /usr/local/bin/nixos-install && chmod 755 /usr/local/bin/nixos-install", NIXOS_INSTALL_STAND_IN);
    // and the sources the Nix-built installer carries, which do-install locks the host flake to
    carryInstallerSources(installer, "/usr/local/bin");
    const apply = await terraform(stackDir, ["apply", "-auto-approve", "-input=false", "-no-color"], env, true);
    const figures = { ...phaseFigures(first.output), ...phaseFigures(apply.output) };
    const stoppedAtNixos = /nixos-install \(VM lab stand-in\)/.test(apply.output) && apply.code !== 0;
    if (stoppedAtNixos) {
      console.log("\nlab (VM): the disk as do-install left it, read back from the guest");
      console.log(installer("sgdisk -p /dev/sda | sed -n '/^Number/,$p'; zfs get -H -o property,value encryption,keyformat,keylocation,keystatus rpool"));
    }
    console.log("\nlab (VM): what ran for real");
    console.log(`  probe    ${figures.probe ? `done in ${figures.probe.seconds.toFixed(1)} s` : "FAILED"}`);
    console.log(`  kexec    ${figures.kexec ? `done in ${figures.kexec.seconds.toFixed(1)} s (real kexec, appended cpio, pinned installer key)` : "FAILED"}`);
    console.log(`  install  ${stoppedAtNixos ? "disk layout, ESP, encrypted pool and host keys made for real; stopped at nixos-install (needs the Nix-built installer)" : apply.code === 0 ? "unexpectedly finished" : "FAILED before nixos-install"}`);
    console.log("  unlock   needs the installed NixOS (its initrd): not run");
    console.log("  verify   needs the installed NixOS: not run");
    return figures.probe && figures.kexec && stoppedAtNixos ? 0 : 1;
  } finally {
    execFileSync(VM_TARGET, ["down", "--name", "demo"], { stdio: ["ignore", "ignore", "inherit"] });
  }
}
