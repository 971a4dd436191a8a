// What the fault suites check after a run, shared by every test file in __tests__/faults/.
import { randomBytes } from "crypto";
import * as path from "path";
import { filesContaining } from "../canary";
import { Fleet, hostLines, labRecords, leftoverTempDirs, TfRun } from "./fault-lab";

export const PHASES = ["probe", "kexec", "install", "unlock", "verify"] as const;
/** The tools that change a disk: none of them may run where a scenario expects a refusal. */
export const DISK_TOOLS = ["sgdisk", "wipefs", "zpool", "zfs", "mkfs.vfat", "mount"];
/** Generous for a loaded 2-core machine, small enough that a hang ends the run. */
export const TIMEOUTS = { probe: 60, kexec: 90, install: 120, unlock: 90, verify: 60 };

/** A passphrase to search for afterwards: it must be nowhere on disk. */
export const canary = () => `canary-${randomBytes(16).toString("hex")}`;

/** Throws `what` with the end of the run's output (or of one host's lines) when cond is false. */
export function must(cond: unknown, what: string, run?: TfRun, name?: string): void {
  if (cond) return;
  const context = run ? (name ? hostLines(run.output, name) : run.output.split("\n")).slice(-20).join("\n") : "";
  throw new Error(`${what}${context ? `\n${context}` : ""}`);
}

/** A deploy script's line as a quote for the table, without the `[name phase]` prefixes. */
export const quote = (s: string) => `"${s.replace(/^\[[^\]]+\] /, "").replace(/\[[^\]]+\]\s+/g, "")}"`;
export const verified = (run: TfRun, name: string) => hostLines(run.output, name).some((l) => l.startsWith(`[${name} verify] verified:`));
export const phasesRun = (run: TfRun, name: string) => [...new Set(hostLines(run.output, name).map((l) => l.slice(name.length + 2).split("]")[0]))];
export const toolCalls = (f: Fleet, name: string, ...tools: string[]) => labRecords(f.hosts[name]).filter((r) => tools.includes(r.tool));

/** No deploy-script temp dir left, and none of the secrets in any file of the scenario. */
export function noLeftovers(f: Fleet, ...secrets: string[]): void {
  const left = leftoverTempDirs(f.tmpDir);
  must(left.length === 0, `deploy-script temp dirs left in TMPDIR: ${left.join(", ")}`);
  for (const s of secrets) {
    const hits = filesContaining(s, [f.work]);
    must(hits.length === 0, `a secret is in ${hits.map((h) => path.relative(f.work, h)).join(", ")}`);
  }
}
