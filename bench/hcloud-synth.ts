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
import { execFileSync, spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

type Kind = "construct" | "bare";
/**
 * `compiled`: plain node on dist/ (the published package in a JavaScript app).
 * `ts-node`: the sources through ts-node, as `cdktf synth` runs a TypeScript app. ts-node
 * source-maps every stack trace, and cdktf captures one for every token it makes, so
 * this runtime is several times slower for the same work.
 */
type Runtime = "compiled" | "ts-node";

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

function measure(kind: Kind, count: number, skipValidation: boolean, runtime: Runtime): Measurement {
  const outdir = fs.mkdtempSync(path.join(os.tmpdir(), `hcloud-bench-${kind}-${count}-`));
  try {
    const run = spawnSync(
      process.execPath,
      [path.join(__dirname, "hcloud-synth-child.js"), runtime, kind, String(count), outdir, String(skipValidation)],
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
  const skipValidation = args.includes("--skip-validation");
  const rest = args.filter((a) => a !== "--skip-validation");
  const counts = rest.length ? rest.map(Number) : [1, 10, 100, 1000];
  if (counts.some((n) => !Number.isInteger(n) || n < 1)) {
    process.stderr.write("usage: npm run bench:hcloud [-- [--skip-validation] COUNT...]   (positive integers; default 1 10 100 1000)\n");
    process.exit(2);
  }
  process.stdout.write(`node ${process.version}, ${os.cpus().length} CPUs, ${os.platform()} ${os.arch()}${skipValidation ? ", App({ skipValidation: true })" : ""}\n`);
  process.stdout.write(
    `${"runtime".padEnd(8)} ${pad("count", 5)} | ${pad("bare synth", 10)} ${pad("RSS", 8)} | ${pad("nixos synth", 11)} ${pad("RSS", 8)} ${pad("cdk.tf.json", 11)} | ${pad("time ×", 6)} ${pad("RSS ×", 6)}\n`,
  );
  execFileSync("npm", ["run", "--silent", "build"], { cwd: path.resolve(__dirname, ".."), stdio: "inherit" });
  for (const runtime of ["compiled", "ts-node"] as Runtime[]) for (const count of counts) {
    const bare = measure("bare", count, skipValidation, runtime);
    const full = measure("construct", count, skipValidation, runtime);
    process.stdout.write(
      [
        `${runtime.padEnd(8)} ${pad(String(count), 5)}`,
        `${pad(`${(bare.synthMs / 1000).toFixed(2)} s`, 10)} ${pad(`${bare.peakRssMiB.toFixed(0)} MiB`, 8)}`,
        `${pad(`${(full.synthMs / 1000).toFixed(2)} s`, 11)} ${pad(`${full.peakRssMiB.toFixed(0)} MiB`, 8)} ${pad(`${full.outputKiB.toFixed(0)} KiB`, 11)}`,
        `${pad((full.synthMs / bare.synthMs).toFixed(2), 6)} ${pad((full.peakRssMiB / bare.peakRssMiB).toFixed(2), 6)}`,
      ].join(" | ") + "\n",
    );
  }
  process.stdout.write("synth = constructs built + app.synth() (module loading excluded); RSS = peak of the child process.\n");
}

main();
