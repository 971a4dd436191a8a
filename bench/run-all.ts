// npm run bench — every bench:* script of package.json in turn; each prints its figures.
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";

const root = path.resolve(__dirname, "..");
const scripts = Object.keys(JSON.parse(fs.readFileSync(path.join(root, "package.json"), "utf8")).scripts as Record<string, string>)
  .filter((name) => name.startsWith("bench:"))
  .sort();
let failed = 0;
for (const name of scripts) {
  console.log(`\n=== npm run ${name}`);
  const run = spawnSync("npm", ["run", "--silent", name], { cwd: root, stdio: "inherit" });
  if (run.status !== 0) {
    failed++;
    console.error(`${name} failed (exit ${run.status})`);
  }
}
process.exit(failed > 0 ? 1 : 0);
