// npm run bench:lab — one lab install with the bundle uploaded and one with the host
// downloading it by URL: wall time per phase, SSH master connections and bytes the
// deploy machine sent (from each master's own count), and the whole apply.
import { randomBytes } from "crypto";
import * as path from "path";
import { PHASES } from "../lib";
import { phaseFigures, ROOT, startLab } from "../lab/lab";

async function one(mode: "upload" | "url"): Promise<void> {
  const lab = await startLab({ work: path.join(ROOT, ".lab", `bench-${mode}`), passphrase: `bench-${randomBytes(8).toString("hex")}`, url: mode === "url" });
  try {
    const apply = await lab.apply();
    if (apply.code !== 0) throw new Error(`terraform apply failed in the ${mode} run:\n${apply.output.slice(-3000)}`);
    const figures = phaseFigures(apply.output);
    console.log(`\nlab install, bundle by ${mode}: terraform apply ${apply.seconds.toFixed(1)} s`);
    console.log("  phase     seconds  ssh masters  bytes sent");
    let bytes = 0;
    for (const phase of PHASES) {
      const f = figures[phase];
      if (!f) throw new Error(`no figures for the ${phase} phase in terraform's output`);
      bytes += f.bytes;
      console.log(`  ${phase.padEnd(8)}  ${f.seconds.toFixed(2).padStart(7)}  ${String(f.masters).padStart(11)}  ${String(f.bytes).padStart(10)}`);
    }
    console.log(`  total bytes sent by the deploy machine: ${bytes} (${(bytes / 1024).toFixed(1)} KiB)`);
  } finally {
    await lab.close();
  }
}

async function main(): Promise<void> {
  await one("upload");
  await one("url");
}

main().catch((error) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
