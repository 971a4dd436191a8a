// A stand-in kexec bundle for the lab: the layout of `nix build .#kexec` (kernel,
// initrd, cmdline, manifest.json) with a fake kernel and a small real gzip cpio
// initrd, so the chain's upload, checksum and initrd-append paths run for real.
import { execFileSync } from "child_process";
import { createHash } from "crypto";
import * as fs from "fs";
import * as path from "path";
import { gzipSync } from "zlib";

export interface LabBundle {
  readonly dir: string;
  readonly tarball: string;
  readonly sha256: string;
  readonly system: "x86_64-linux";
}

/** One newc cpio archive of regular files (the format the kernel unpacks). */
export function newcCpio(files: Record<string, Buffer>): Buffer {
  const parts: Buffer[] = [];
  let ino = 1;
  const pad4 = (n: number) => Buffer.alloc((4 - (n % 4)) % 4);
  const entry = (name: string, mode: number, data: Buffer) => {
    const nameBuf = Buffer.from(`${name}\0`);
    const fields = [ino++, mode, 0, 0, 1, 0, data.length, 0, 0, 0, 0, nameBuf.length, 0];
    const header = Buffer.from(`070701${fields.map((f) => f.toString(16).padStart(8, "0")).join("")}`);
    parts.push(header, nameBuf, pad4(header.length + nameBuf.length), data, pad4(data.length));
  };
  for (const [name, data] of Object.entries(files)) entry(name, 0o100644, data);
  entry("TRAILER!!!", 0, Buffer.alloc(0));
  return Buffer.concat(parts);
}

export interface LabBundleOptions {
  /**
   * Ship a `kexec` in the bundle, as `nix build .#kexec` does (a static kexec-tools): here
   * a stand-in that hands its arguments to the lab's kexec recorder. For profiles whose
   * base system has no kexec (Debian 13).
   * @default false (run-installer uses the base system's kexec)
   */
  readonly kexec?: boolean;
}

export function makeLabBundle(root: string, options: LabBundleOptions = {}): LabBundle {
  const dir = path.join(root, "kexec");
  fs.rmSync(root, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  const kernel = Buffer.alloc(256 * 1024, "LAB-KERNEL ");
  const initrd = gzipSync(newcCpio({ "init": Buffer.from("#!/bin/sh\n# lab installer stand-in\n"), "etc/lab-installer": Buffer.from("lab\n") }));
  const cmdline = Buffer.from("init=/nix/store/00000000000000000000000000000000-nixos-system-installer/init console=ttyS0 loglevel=4\n");
  const files: Record<string, Buffer> = { kernel, initrd, cmdline };
  // Runs inside the lab role, where the recorder lies under /.lab/code and node where it is here.
  if (options.kexec) files.kexec = Buffer.from(`#!/bin/sh\nexec ${process.execPath} /.lab/code/lib/recorder.js kexec "$@"\n`);
  for (const [name, data] of Object.entries(files)) fs.writeFileSync(path.join(dir, name), data, { mode: name === "kexec" ? 0o755 : 0o644 });
  const manifest = {
    version: 1,
    system: "x86_64-linux",
    nixosVersion: "26.05.20261101.lab",
    files: Object.fromEntries(Object.entries(files).map(([name, data]) => [name, { size: data.length, sha256: sha256(data) }])),
  };
  fs.writeFileSync(path.join(dir, "manifest.json"), `${JSON.stringify(manifest, null, 2)}\n`);
  const tarball = path.join(root, "kexec-x86_64-linux.tar.gz");
  execFileSync("tar", ["-C", root, "-czf", tarball, "kexec"]);
  return { dir, tarball, sha256: sha256(fs.readFileSync(tarball)), system: "x86_64-linux" };
}

function sha256(data: Buffer): string {
  return createHash("sha256").update(data).digest("hex");
}
