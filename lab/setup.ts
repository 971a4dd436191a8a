// What the local lab needs on the machine, and how `npm run demo` gets it: on Debian or
// Ubuntu, as root, it installs the missing packages itself (saying what it installs);
// elsewhere it stops with what to install.
import { spawnSync } from "child_process";
import * as fs from "fs";

/** Each tool the lab runs, with the Debian package that ships it. */
export const LAB_TOOLS: Readonly<Record<string, string>> = {
  sshd: "openssh-server",
  ssh: "openssh-client",
  "ssh-keyscan": "openssh-client",
  "ssh-keygen": "openssh-client",
  unshare: "util-linux",
  lsblk: "util-linux",
  mount: "mount",
  ip: "iproute2",
  ps: "procps",
  cpio: "cpio",
  gzip: "gzip",
  tar: "tar",
  curl: "curl",
  timeout: "coreutils",
};

/** Terraform is no Debian package: it is named, never installed. */
export const TERRAFORM_HINT =
  "terraform ≥ 1.4 is not packaged by Debian: install it from HashiCorp (https://developer.hashicorp.com/terraform/install, apt repository apt.releases.hashicorp.com) or OpenTofu ≥ 1.6 as `terraform`";

export interface LabSetupPlan {
  /** Debian packages to install with apt-get (empty: nothing to install). */
  readonly install: string[];
  /** Why the demo cannot go on, and what to do (undefined: it can, after `install`). */
  readonly stop?: string;
}

/** The tools of LAB_TOOLS (and terraform) that are not on the PATH. */
export function missingLabTools(): string[] {
  // /usr/sbin is not on every root PATH (sshd lives there).
  const has = (tool: string) => spawnSync("sh", ["-c", `command -v ${tool} || test -x /usr/sbin/${tool}`], { stdio: "ignore" }).status === 0;
  return ["terraform", ...Object.keys(LAB_TOOLS)].filter((tool) => !has(tool));
}

/** Whether /etc/os-release (its text) names Debian, Ubuntu or a derivative of them. */
export function isDebianLike(osRelease: string): boolean {
  const field = (name: string) => new RegExp(`^${name}="?([^"\\n]*)"?$`, "m").exec(osRelease)?.[1] ?? "";
  return ["debian", "ubuntu"].includes(field("ID")) || field("ID_LIKE").split(/\s+/).some((id) => id === "debian" || id === "ubuntu");
}

/** What to do about the missing tools, on a machine described by `root` and its os-release. */
export function planLabSetup(missing: string[], machine: { root: boolean; osRelease: string }): LabSetupPlan {
  const packages = [...new Set(missing.filter((t) => t !== "terraform").map((t) => LAB_TOOLS[t]))];
  if (missing.includes("terraform")) return { install: [], stop: `the lab needs terraform: ${TERRAFORM_HINT}` + (packages.length ? `; and: ${packages.join(" ")}` : "") };
  if (packages.length === 0) return { install: [] };
  const wanted = `${missing.join(", ")} (Debian packages: ${packages.join(" ")})`;
  if (!isDebianLike(machine.osRelease)) return { install: [], stop: `the lab needs ${wanted}: install them with your system's package manager` };
  if (!machine.root) return { install: [], stop: `the lab needs ${wanted} and root: run \`sudo npm run demo\` (it installs them), or apt-get install -y ${packages.join(" ")}` };
  return { install: packages };
}

/** Runs the plan for this machine: installs what is missing (printing what), or throws what to do. */
export function ensureLabTools(log: (line: string) => void): void {
  const missing = missingLabTools();
  if (missing.length === 0) return;
  const osRelease = fs.existsSync("/etc/os-release") ? fs.readFileSync("/etc/os-release", "utf8") : "";
  const plan = planLabSetup(missing, { root: process.getuid?.() === 0, osRelease });
  if (plan.stop) throw new Error(plan.stop);
  log(`lab: missing ${missing.join(", ")}; installing: apt-get install -y --no-install-recommends ${plan.install.join(" ")}`);
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  for (const args of [["update", "-qq"], ["install", "-y", "-qq", "--no-install-recommends", ...plan.install]]) {
    const r = spawnSync("apt-get", args, { stdio: "inherit", env });
    if (r.status !== 0) throw new Error(`apt-get ${args.join(" ")} failed (exit ${r.status}); install ${plan.install.join(" ")} yourself and run npm run demo again`);
  }
  const still = missingLabTools();
  if (still.length > 0) throw new Error(`after apt-get install, still missing: ${still.join(", ")}`);
}
