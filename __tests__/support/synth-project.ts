// Synthesizes a stack the way `cdktf synth` does in a throwaway project directory, and
// runs terraform on the result (init and validate need no provider for terraform_data).
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { App, LocalBackend, TerraformStack } from "cdktf";

export interface SynthProject {
  /** The project directory (where synth ran). */
  readonly project: string;
  /** cdktf.out/stacks/s */
  readonly stackDir: string;
  remove(): void;
}

/** Builds stack "s" (with a local backend beside the project) in a new temp project and synthesizes it, JSON or HCL. */
export function synthInProject(build: (stack: TerraformStack) => void, options: { hcl?: boolean } = {}): SynthProject {
  const project = fs.mkdtempSync(path.join(os.tmpdir(), "ni-project-"));
  const cwd = process.cwd();
  const hcl = options.hcl ?? false;
  process.chdir(project);
  // cdktf's stacks read the HCL switch from the environment, as `cdktf synth --hcl` sets it.
  process.env.SYNTH_HCL_OUTPUT = String(hcl);
  try {
    const app = new App({ outdir: "cdktf.out", hclOutput: hcl });
    const stack = new TerraformStack(app, "s");
    new LocalBackend(stack, { path: "../../../terraform.s.tfstate" });
    build(stack);
    app.synth();
  } finally {
    delete process.env.SYNTH_HCL_OUTPUT;
    process.chdir(cwd);
  }
  return { project, stackDir: path.join(project, "cdktf.out", "stacks", "s"), remove: () => fs.rmSync(project, { recursive: true, force: true }) };
}

/** `terraform init -backend=false` and `terraform validate -json` of a synthesized stack. */
export function terraformValidate(stackDir: string): { valid: boolean; warning_count: number; diagnostics: unknown[] } {
  execFileSync("terraform", [`-chdir=${stackDir}`, "init", "-backend=false", "-input=false", "-no-color"], { encoding: "utf8" });
  return JSON.parse(execFileSync("terraform", [`-chdir=${stackDir}`, "validate", "-json", "-no-color"], { encoding: "utf8" }));
}
