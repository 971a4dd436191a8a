// Every shell script of the repo is shellcheck-clean: the target-side scripts, the
// deploy scripts the constructs ship, the labs and CI. Found by their shebang or `.sh`
// name, so a new script is linted without being listed here.
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";

const repo = path.resolve(__dirname, "..", "..");
const SKIP = new Set(["node_modules", ".git", ".lab", "dist", "cdktf.out", ".terraform", ".gen"]);
const SHEBANG = /^#!\s*(\/bin\/sh|\/bin\/bash|\/usr\/bin\/env (ba)?sh)\b/;

function shellScripts(dir: string): string[] {
  const found: string[] = [];
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const file = path.join(dir, entry.name);
    if (entry.isDirectory()) {
      if (!SKIP.has(entry.name)) found.push(...shellScripts(file));
    } else if (entry.isFile()) {
      const head = fs.readFileSync(file, { encoding: "utf8", flag: "r" }).slice(0, 200);
      if (entry.name.endsWith(".sh") || SHEBANG.test(head)) found.push(file);
    }
  }
  return found.sort();
}

const scripts = shellScripts(repo);

describe("shell scripts", () => {
  it("have shellcheck available (apt-get install shellcheck)", () => {
    expect(spawnSync("shellcheck", ["--version"]).status).toBe(0);
  });

  it("are found where the chain keeps them", () => {
    const names = scripts.map((s) => path.relative(repo, s));
    expect(names).toEqual(expect.arrayContaining([
      "nix/installer/do-install", "nix/installer/run-installer", "lib/scripts/common.sh",
      "lib/scripts/phase-probe.sh", "lab/vm/vm-target", ".ci/run",
    ]));
  });

  it.each(scripts.map((s) => [path.relative(repo, s), s]))("%s is shellcheck-clean", (_name, script) => {
    // a file without a shebang (sourced, or wrapped by Nix) must name its shell
    const head = fs.readFileSync(script, "utf8").split("\n", 1)[0];
    if (!SHEBANG.test(head)) expect(fs.readFileSync(script, "utf8")).toMatch(/^# shellcheck shell=(sh|bash|dash)$/m);
    const r = spawnSync("shellcheck", ["-x", script], { encoding: "utf8", cwd: path.dirname(script) });
    expect(r.error).toBeUndefined();
    expect(r.stdout + r.stderr).toBe("");
    expect(r.status).toBe(0);
  });
});
