// Where the tests find the upstream Nix sources they evaluate our modules with (nixpkgs'
// lib, disko, impermanence), and the nix-instantiate to run: see ./README.md. Without
// UPSTREAM_NIX_SOURCES these tests are skipped, and say why.
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as path from "path";

export const ROOT = path.resolve(__dirname, "..", "..", "..");
export const UPSTREAM = process.env.UPSTREAM_NIX_SOURCES ?? "";
/** nix-instantiate to use; every test here runs with Debian's 2.8 (see README.md). */
export const NIX_INSTANTIATE = process.env.UPSTREAM_NIX_INSTANTIATE ?? "nix-instantiate";
const TREES = ["nixpkgs-lib/lib/default.nix", "disko/lib/default.nix", "disko/module.nix", "impermanence/nixos.nix"];

/** `describe` when the upstream trees are given, else a skip with the reason printed once. */
export function describeWithUpstream(name: string, fn: () => void): void {
  if (!UPSTREAM) {
    console.log(`skipped "${name}": UPSTREAM_NIX_SOURCES is not set; it names a folder holding nixpkgs-lib/, disko/ and impermanence/ (__tests__/nix/upstream/README.md)`);
    describe.skip(name, fn);
    return;
  }
  const missing = TREES.filter((f) => !fs.existsSync(path.join(UPSTREAM, f)));
  // a folder that is set but incomplete is a mistake, not a reason to skip
  if (missing.length > 0) throw new Error(`UPSTREAM_NIX_SOURCES=${UPSTREAM} lacks ${missing.join(", ")}; lay it out as __tests__/nix/upstream/README.md says`);
  describe(name, fn);
}

/** Evaluates a Nix file with --strict --json; `args` are --arg pairs (Nix expressions), `argstr` --argstr pairs. */
export function evalNix<T>(file: string, args: Record<string, string>, attr?: string, argstr: Record<string, string> = {}): T {
  const argv = ["--eval", "--strict", "--json", file];
  for (const [k, v] of Object.entries(args)) argv.push("--arg", k, v);
  for (const [k, v] of Object.entries(argstr)) argv.push("--argstr", k, v);
  if (attr) argv.push("-A", attr);
  return JSON.parse(execFileSync(NIX_INSTANTIATE, argv, { cwd: ROOT, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], maxBuffer: 64 * 1024 * 1024, timeout: 120_000 }));
}

export const FIXTURES = path.join(ROOT, "__tests__", "fixtures", "runtime-info");
export const fixtureNames = fs.readdirSync(FIXTURES).filter((f) => f.endsWith(".json")).sort();
