/**
 * How synth scales with HcloudNixosServer: synthesizes 1, 10, 100 and 1000 of them and,
 * as the baseline, the same numbers of bare typed `hcloud_server`s. Each measurement runs
 * in its own child process so peak RSS belongs to that measurement alone.
 *
 *   npm run bench:hcloud [-- 1 10 100 1000]
 *
 * `--skip-validation` synthesizes with App({ skipValidation: true }): cdktf then skips the
 * construct validations, among them the `terraform version` run that every
 * terraform_data resource (DataResource) registers, which dominates otherwise.
 *
 * Prints, per count: synth time (constructs built + app.synth() writing cdk.tf.json and
 * assets), the child's peak RSS, and the ratio to the bare baseline. Numbers only: the
 * target (1000 servers < 5 s, ≤ 2× bare) is judged by a person, never by a test.
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

type Kind = "construct" | "bare";

interface Measurement {
  kind: Kind;
  count: number;
  /** Milliseconds from the first construct to the end of app.synth(). */
  synthMs: number;
  /** Milliseconds the child process lived (module loading included). */
  processMs: number;
  /** Peak resident set size of the child in MiB. */
  peakRssMiB: number;
  /** Size of the written cdk.tf.json in KiB. */
  outputKiB: number;
}

const ADMIN_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGJlbmNobWFya2tleWJlbmNobWFya2tleWJlbmNobWFyaw bench@example";

function child(kind: Kind, count: number, outdir: string, skipValidation: boolean): void {
  // Loaded here, not at the top, so the parent stays small and loading is not timed as synth.
  /* eslint-disable @typescript-eslint/no-require-imports */
  const { App, TerraformStack } = require("cdktf") as typeof import("cdktf");
  const { HcloudProvider } = require("../.gen/providers/hcloud/provider") as typeof import("../.gen/providers/hcloud/provider");
  const { Server } = require("../.gen/providers/hcloud/server") as typeof import("../.gen/providers/hcloud/server");
  const { SshKey } = require("../.gen/providers/hcloud/ssh-key") as typeof import("../.gen/providers/hcloud/ssh-key");
  const { HcloudNixosServer } = require("../lib/hcloud-nixos-server") as typeof import("../lib/hcloud-nixos-server");
  const { KexecBundle } = require("../lib/kexec-bundle") as typeof import("../lib/kexec-bundle");
  const { PassphraseSource } = require("../lib/passphrase-source") as typeof import("../lib/passphrase-source");
  const loaded = process.hrtime.bigint();

  const app = new App({ outdir, skipValidation });
  const stack = new TerraformStack(app, "bench");
  new HcloudProvider(stack, "hcloud", {});
  const key = new SshKey(stack, "admin", { name: "admin", publicKey: ADMIN_KEY });
  const bundle = KexecBundle.fromUrl({ url: "https://example.org/kexec.tar.gz", sha256: "0".repeat(64), system: "x86_64-linux" });
  for (let i = 0; i < count; i++) {
    const name = `host-${String(i).padStart(4, "0")}`;
    if (kind === "bare") {
      new Server(stack, name, {
        name,
        serverType: "cx22",
        location: "fsn1",
        image: "debian-12",
        sshKeys: [key.id],
        publicNet: [{ ipv4Enabled: true, ipv6Enabled: true }],
      });
    } else {
      new HcloudNixosServer(stack, name, {
        hostName: name,
        serverType: "cx22",
        location: "fsn1",
        sshKeyIds: [key.id],
        authorizedKeys: [ADMIN_KEY],
        passphrase: PassphraseSource.fromEnv("DISK_PASSPHRASE"),
        bundle,
      });
    }
  }
  app.synth();
  const done = process.hrtime.bigint();
  const output = fs.statSync(path.join(outdir, "stacks", "bench", "cdk.tf.json")).size;
  const result: Measurement = {
    kind,
    count,
    synthMs: Number(done - loaded) / 1e6,
    processMs: process.uptime() * 1000,
    peakRssMiB: process.resourceUsage().maxRSS / 1024,
    outputKiB: output / 1024,
  };
  process.stdout.write(JSON.stringify(result) + "\n");
}

function measure(kind: Kind, count: number, skipValidation: boolean): Measurement {
  const outdir = fs.mkdtempSync(path.join(os.tmpdir(), `hcloud-bench-${kind}-${count}-`));
  try {
    const run = spawnSync(
      process.execPath,
      ["-r", "ts-node/register/transpile-only", __filename, "--child", kind, String(count), outdir, String(skipValidation)],
      { encoding: "utf8", cwd: path.resolve(__dirname, ".."), maxBuffer: 16 * 1024 * 1024 },
    );
    if (run.status !== 0) throw new Error(`child ${kind} ${count} failed (${run.status}):\n${run.stderr}`);
    const line = run.stdout.trim().split("\n").pop() as string;
    return JSON.parse(line) as Measurement;
  } finally {
    fs.rmSync(outdir, { recursive: true, force: true });
  }
}

function pad(value: string, width: number): string {
  return value.padStart(width);
}

function main(): void {
  const args = process.argv.slice(2);
  if (args[0] === "--child") return child(args[1] as Kind, Number(args[2]), args[3], args[4] === "true");
  const skipValidation = args.includes("--skip-validation");
  const rest = args.filter((a) => a !== "--skip-validation");
  const counts = rest.length ? rest.map(Number) : [1, 10, 100, 1000];
  if (counts.some((n) => !Number.isInteger(n) || n < 1)) {
    process.stderr.write("usage: npm run bench:hcloud [-- [--skip-validation] COUNT...]   (positive integers; default 1 10 100 1000)\n");
    process.exit(2);
  }
  process.stdout.write(`node ${process.version}, ${os.cpus().length} CPUs, ${os.platform()} ${os.arch()}${skipValidation ? ", App({ skipValidation: true })" : ""}\n`);
  process.stdout.write(
    `${pad("servers", 7)} | ${pad("bare synth", 10)} ${pad("RSS", 8)} | ${pad("nixos synth", 11)} ${pad("RSS", 8)} ${pad("cdk.tf.json", 11)} | ${pad("time ×", 6)} ${pad("RSS ×", 6)}\n`,
  );
  for (const count of counts) {
    const bare = measure("bare", count, skipValidation);
    const full = measure("construct", count, skipValidation);
    process.stdout.write(
      [
        pad(String(count), 7),
        `${pad(`${(bare.synthMs / 1000).toFixed(2)} s`, 10)} ${pad(`${bare.peakRssMiB.toFixed(0)} MiB`, 8)}`,
        `${pad(`${(full.synthMs / 1000).toFixed(2)} s`, 11)} ${pad(`${full.peakRssMiB.toFixed(0)} MiB`, 8)} ${pad(`${full.outputKiB.toFixed(0)} KiB`, 11)}`,
        `${pad((full.synthMs / bare.synthMs).toFixed(2), 6)} ${pad((full.peakRssMiB / bare.peakRssMiB).toFixed(2), 6)}`,
      ].join(" | ") + "\n",
    );
  }
  process.stdout.write("synth = constructs built + app.synth() (module loading excluded); RSS = peak of the child process.\n");
}

main();
