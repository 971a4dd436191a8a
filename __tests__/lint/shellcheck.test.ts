import { spawnSync } from "child_process";
import * as path from "path";
import { installerDir, repo, shellcheckAvailable } from "./lab-helpers";

const scripts = [
  ...["write-runtime-info", "run-installer", "do-install", "unlock"].map((s) => path.join(installerDir, s)),
  path.join(repo, "lab", "target", "lab-host"),
  path.join(repo, "lab", "target", "lib", "enter-role.sh"),
];

describe("target-side scripts", () => {
  it("have shellcheck available (apt-get install shellcheck)", () => {
    expect(shellcheckAvailable()).toBe(true);
  });

  it.each(scripts.map((s) => [path.relative(repo, s), s]))("%s is shellcheck-clean", (_name, script) => {
    const r = spawnSync("shellcheck", ["-x", script], { encoding: "utf8", cwd: path.dirname(script) });
    expect(r.error).toBeUndefined();
    expect(r.stdout + r.stderr).toBe("");
    expect(r.status).toBe(0);
  });
});
