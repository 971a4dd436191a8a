// The local lab: the real terraform applies a synthesized install chain against a
// simulated host on a loopback address (lab/target/). Used by `npm run demo`, the lab
// tests and the benchmarks.
import { execFileSync, spawn } from "child_process";
import * as fs from "fs";
import * as http from "http";
import * as net from "net";
import * as path from "path";
import { HostConfiguration, KexecBundle, PHASES, readRuntimeInfo, RuntimeInfo } from "../lib";
import { ExistingHostRebuild, ExistingHostSettings, synthExistingHost } from "../examples/existing-host/main";
import { makeLabBundle } from "./bundle";
import { missingLabTools, planLabSetup } from "./setup";

export const ROOT = path.resolve(__dirname, "..");
const LAB_HOST = path.join(ROOT, "lab", "target", "lab-host");

export interface LabHost {
  readonly dir: string;
  readonly name: string;
  readonly address: string;
  readonly port: number;
  readonly unlockPort: number;
  readonly baseHostKey: string;
  readonly clientKey: string;
}

export interface LabHostOptions {
  readonly dir: string;
  readonly name: string;
  readonly address: string;
  readonly port?: number;
  readonly unlockPort?: number;
  readonly profile?: string;
  readonly faults?: string[];
}

export function requireRoot(): void {
  if (process.getuid?.() !== 0) {
    throw new Error("the lab needs root: it runs each simulated host in its own mount namespace (unshare, overlayfs); run it as root, e.g. in a VM or container");
  }
  // One list of tools (lab/setup.ts) for this check and for the demo's own set-up.
  const plan = planLabSetup(missingLabTools(), { root: true, osRelease: "ID=debian" });
  if (plan.stop) throw new Error(plan.stop);
  if (plan.install.length > 0) throw new Error(`the lab needs: apt-get install -y ${plan.install.join(" ")} (npm run demo installs them itself)`);
}

export function labHostUp(o: LabHostOptions): LabHost {
  const args = ["up", "--dir", o.dir, "--name", o.name, "--address", o.address, "--port", String(o.port ?? 10022), "--unlock-port", String(o.unlockPort ?? 10023)];
  if (o.profile) args.push("--profile", o.profile);
  for (const f of o.faults ?? []) args.push("--fault", f);
  const out = execFileSync(LAB_HOST, args, { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"], timeout: 60_000 });
  const info = JSON.parse(out.trim().split("\n").pop() as string);
  return { dir: o.dir, name: o.name, address: o.address, port: info.port, unlockPort: info.unlockPort, baseHostKey: info.baseHostKey, clientKey: info.clientKey };
}

export function labHostDown(dir: string): void {
  execFileSync(LAB_HOST, ["down", "--dir", dir], { stdio: ["ignore", "ignore", "inherit"], timeout: 60_000 });
}

export function labHostRole(dir: string): string {
  return execFileSync(LAB_HOST, ["role", "--dir", dir], { encoding: "utf8", timeout: 10_000 }).trim();
}

/** One line of a lab host's records/records.jsonl: a recorded tool call or a role change. */
export interface LabRecord {
  tool: string;
  argv?: string[];
  role?: string;
  exit?: number;
  [k: string]: unknown;
}

/** The simulated host's records (records.jsonl): every recorded tool call and role change. */
export function labRecords(host: { dir: string }): LabRecord[] {
  const f = path.join(host.dir, "records", "records.jsonl");
  if (!fs.existsSync(f)) return [];
  return fs.readFileSync(f, "utf8").trim().split("\n").filter(Boolean).map((l) => JSON.parse(l) as LabRecord);
}

/** Whether something accepts TCP connections on address:port (bounded: 1 s). */
function listening(address: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: address, port, timeout: 1000 });
    const done = (result: boolean) => {
      socket.destroy();
      resolve(result);
    };
    socket.once("connect", () => done(true));
    socket.once("timeout", () => done(false));
    socket.once("error", () => done(false));
  });
}

/** Serves one file over http on 127.0.0.1 and counts the bytes it served. */
export async function serveFile(file: string): Promise<{ url: string; served: () => number; close: () => Promise<void> }> {
  let served = 0;
  const server = http.createServer((req, res) => {
    const data = fs.readFileSync(file);
    served += data.length;
    res.writeHead(200, { "content-type": "application/gzip", "content-length": data.length });
    res.end(data);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  return { url: `http://127.0.0.1:${port}/${path.basename(file)}`, served: () => served, close: () => new Promise((r) => server.close(() => r())) };
}

export interface RunResult {
  readonly code: number;
  readonly output: string;
  readonly seconds: number;
  /** The run hit its deadline and its process group was killed. */
  readonly timedOut: boolean;
  /** When `signal` was sent (ms since the epoch), if it was. */
  readonly signalledAt?: number;
}

/** A signal sent to a running terraform once a condition holds (polled every 200 ms). */
export interface TerraformSignal {
  readonly when: () => boolean;
  readonly signal: NodeJS.Signals;
  /**
   * To terraform's whole process group, local-exec children included, as a terminal's
   * Ctrl-C (SIGINT) or a CI runner's kill (SIGKILL) does; else to terraform alone.
   */
  readonly group: boolean;
}

export interface TerraformRunOptions {
  /** Echo terraform's output while it runs. @default false */
  readonly echo?: boolean;
  /** Kill terraform and its local-exec children after this long. @default 1 hour */
  readonly timeoutMs?: number;
  /** Send a signal when a condition holds. @default never */
  readonly signal?: TerraformSignal;
}

/**
 * Runs terraform with -chdir in its own process group, keeping (and optionally echoing)
 * its output. At the deadline the whole group goes, local-exec children included: a
 * hung phase cannot outlive its caller.
 */
export function terraform(stackDir: string, args: string[], env: NodeJS.ProcessEnv = {}, options: TerraformRunOptions | boolean = {}): Promise<RunResult> {
  const o = typeof options === "boolean" ? { echo: options } : options;
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn("terraform", [`-chdir=${stackDir}`, ...args], {
      cwd: ROOT,
      env: { ...process.env, TF_IN_AUTOMATION: "1", CHECKPOINT_DISABLE: "1", ...env },
      stdio: ["ignore", "pipe", "pipe"],
      detached: true,
    });
    const chunks: Buffer[] = [];
    const take = (chunk: Buffer) => {
      chunks.push(chunk);
      if (o.echo) process.stdout.write(chunk);
    };
    child.stdout.on("data", take);
    child.stderr.on("data", take);
    let timedOut = false;
    const killGroup = (signal: NodeJS.Signals) => {
      try {
        process.kill(-(child.pid as number), signal);
      } catch {
        // the group is gone already
      }
    };
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup("SIGTERM");
      setTimeout(() => killGroup("SIGKILL"), 5000).unref();
    }, o.timeoutMs ?? 3_600_000);
    let signalledAt: number | undefined;
    const watch = o.signal
      ? setInterval(() => {
          if (signalledAt !== undefined || !o.signal!.when()) return;
          signalledAt = Date.now();
          if (o.signal!.group) killGroup(o.signal!.signal);
          else child.kill(o.signal!.signal);
        }, 200)
      : undefined;
    const settle = () => {
      clearTimeout(timer);
      if (watch) clearInterval(watch);
    };
    child.on("error", (error) => {
      settle();
      reject(error);
    });
    child.on("close", (code) => {
      settle();
      resolve({ code: code ?? 1, output: Buffer.concat(chunks).toString(), seconds: (Date.now() - started) / 1000, timedOut, signalledAt });
    });
  });
}

export interface LabRunOptions {
  /** Working directory of this run (gitignored under .lab/). */
  readonly work: string;
  readonly hostName?: string;
  readonly address?: string;
  readonly profile?: string;
  readonly faults?: string[];
  /** Synthesize HCL (cdktf synth --hcl) instead of JSON. */
  readonly hcl?: boolean;
  /** The host downloads the bundle from a URL instead of an upload. */
  readonly url?: boolean;
  /**
   * The bundle comes from `KexecBundle.fromFlake`, built by a stand-in `nix` (put first
   * on terraform's PATH) that logs each call to WORK/nix-calls and prints the lab bundle.
   */
  readonly flake?: boolean;
  readonly resourceType?: "terraform_data" | "null_resource";
  /** Install this flake directory (HostConfiguration.fromFlake) instead of the template. */
  readonly flakeDir?: string;
  /** Where the system is built ("deployer": the deploy side's Nix, CDKTF_NIXOS_INSTALLER_NIX). @default "target" */
  readonly buildOn?: string;
  /** hosts/ of the run. @default WORK/hosts */
  readonly hostsDir?: string;
  readonly passphrase: string;
  readonly echo?: boolean;
  readonly extraEnv?: NodeJS.ProcessEnv;
  /** The stack also rebuilds the installed host (NixosRebuild). @default - install only */
  readonly rebuild?: ExistingHostRebuild;
}

export interface Lab {
  readonly host: LabHost;
  readonly stackDir: string;
  readonly hostsDir: string;
  readonly tfEnv: NodeJS.ProcessEnv;
  apply(): Promise<RunResult>;
  destroy(echo?: boolean): Promise<RunResult>;
  /**
   * Synthesizes the stack again, as an edit of the project would (no init needed): after
   * the flake directory changed, or with some settings changed.
   */
  synth(changes?: Partial<ExistingHostSettings>): void;
  runtimeInfo(): RuntimeInfo;
  close(): Promise<void>;
}

/** Tools the profile's base system does not have (profile.json `baseLacks`). */
function baseLacks(profile: string): string[] {
  const file = path.join(ROOT, "lab", "target", "profiles", profile, "profile.json");
  return fs.existsSync(file) ? ((JSON.parse(fs.readFileSync(file, "utf8")) as { baseLacks?: string[] }).baseLacks ?? []) : [];
}

/** Starts a lab host, synthesizes the existing-host example against it and runs `terraform init`. */
export async function startLab(o: LabRunOptions): Promise<Lab> {
  requireRoot();
  const work = path.resolve(o.work);
  // A lab host left running from an earlier run of the same work dir goes first.
  if (fs.existsSync(path.join(work, "target", "supervisor.pid"))) labHostDown(path.join(work, "target"));
  fs.rmSync(work, { recursive: true, force: true });
  fs.mkdirSync(work, { recursive: true });
  const name = o.hostName ?? "web-1";
  // A profile whose base system lacks kexec gets the bundle's own, as the real bundle ships one.
  const bundle = makeLabBundle(path.join(work, "bundle"), { kexec: baseLacks(o.profile ?? "hcloud-x86").includes("kexec") });
  const server = o.url ? await serveFile(bundle.tarball) : undefined;
  const address = o.address ?? "127.0.0.2";
  for (const port of [10022, 10023]) {
    if (await listening(address, port)) {
      await server?.close();
      throw new Error(`${address}:${port} is already in use (a lab host left running? lab/target/lab-host down --dir <its dir>, or pick another address)`);
    }
  }
  const host = labHostUp({ dir: path.join(work, "target"), name, address, profile: o.profile, faults: o.faults });
  const closeAll = async () => {
    try {
      labHostDown(host.dir);
    } finally {
      await server?.close();
    }
  };
  try {
    const rel = (p: string) => path.relative(ROOT, p);
    const outdir = path.join(work, "cdktf.out");
    const hostsDir = o.hostsDir ?? path.join(work, "hosts");
    // Made again at each synth: fromFlake reads the flake directory as it is then.
    const settings = (): ExistingHostSettings => ({
      host: host.address,
      port: host.port,
      unlockPort: host.unlockPort,
      hostKey: host.baseHostKey,
      hostName: name,
      authorizedKeys: [fs.readFileSync(`${host.clientKey}.pub`, "utf8").trim()],
      identityFile: rel(host.clientKey),
      bundle: server
        ? KexecBundle.fromUrl({ url: server.url, sha256: bundle.sha256, system: bundle.system })
        : o.flake
          ? KexecBundle.fromFlake({ flake: "github:cdktf-nixos-installer/cdktf-nixos-installer", system: bundle.system })
          : KexecBundle.fromPath(rel(bundle.dir)),
      passphraseEnv: "LAB_DISK_PASSPHRASE",
      hostsDir: rel(hostsDir),
      resourceType: o.resourceType,
      configuration: o.flakeDir ? HostConfiguration.fromFlake({ dir: rel(o.flakeDir) }) : undefined,
      buildOn: o.buildOn,
      rebuild: o.rebuild,
    });
    const synth = (changes: Partial<ExistingHostSettings> = {}) => synthAtRoot({ ...settings(), ...changes }, { outdir: rel(outdir), hcl: o.hcl });
    synth();
    const stackDir = path.join(outdir, "stacks", "existing-host");
    // The state lives beside the project (the example's backend path); start clean.
    fs.rmSync(path.join(outdir, "..", "terraform.existing-host.tfstate"), { force: true });
    const tfEnv: NodeJS.ProcessEnv = { LAB_DISK_PASSPHRASE: o.passphrase, ...(o.flake ? { PATH: `${fakeNix(work, bundle.dir)}:${process.env.PATH}` } : {}), ...(o.extraEnv ?? {}) };
    const init = await terraform(stackDir, ["init", "-input=false", "-no-color"], tfEnv, false);
    if (init.code !== 0) throw new Error(`terraform init failed:\n${init.output}`);
    return {
      host,
      stackDir,
      hostsDir,
      tfEnv,
      apply: () => terraform(stackDir, ["apply", "-auto-approve", "-input=false", "-no-color"], tfEnv, o.echo),
      destroy: (echo = o.echo) => terraform(stackDir, ["destroy", "-auto-approve", "-input=false", "-no-color"], tfEnv, echo),
      synth,
      runtimeInfo: () => readRuntimeInfo(path.join(hostsDir, name, "runtime-info.json")),
      close: closeAll,
    };
  } catch (error) {
    await closeAll();
    throw error;
  }
}

/** A stand-in for `nix` that records its argv and answers `nix build … --print-out-paths` with the lab bundle. */
function fakeNix(work: string, bundleDir: string): string {
  const bin = path.join(work, "fake-nix-bin");
  fs.mkdirSync(bin, { recursive: true });
  fs.writeFileSync(
    path.join(bin, "nix"),
    `#!/bin/sh
printf '%s\\n' "$*" >> '${path.join(work, "nix-calls")}'
# (the chain enables flakes for its call: nix's own option, before the command)
[ "$1" = --extra-experimental-features ] && shift 2
[ "$1" = build ] || { echo "lab nix: only build is simulated" >&2; exit 2; }
printf '%s\\n' '${bundleDir}'
`,
    { mode: 0o755 },
  );
  return bin;
}

/** Synthesizes examples/existing-host from the project root, as `cdktf synth` would. */
export function synthAtRoot(settings: ExistingHostSettings, options: { outdir: string; hcl?: boolean }): void {
  const cwd = process.cwd();
  process.chdir(ROOT);
  try {
    synthExistingHost(settings, options);
  } finally {
    process.chdir(cwd);
  }
}

/** The Terraform address of one phase of the (JSON) stack in stackDir. */
export function phaseAddress(stackDir: string, phase: string): string {
  const file = path.join(stackDir, "cdk.tf.json");
  const resources = JSON.parse(fs.readFileSync(file, "utf8")).resource.terraform_data as Record<string, { triggers_replace: { phase: string } }>;
  const id = Object.entries(resources).find(([, r]) => r.triggers_replace.phase === phase)?.[0];
  if (!id) throw new Error(`no ${phase} phase in ${file}`);
  return `terraform_data.${id}`;
}

/** What one phase of one host reported in its `ssh: N master connection(s), B bytes sent, S s` line. */
export interface PhaseFigure {
  readonly host: string;
  readonly phase: string;
  readonly masters: number;
  readonly bytes: number;
  readonly seconds: number;
}

/** Every phase figure the deploy scripts printed, of every host, in output order. */
export function allPhaseFigures(output: string): PhaseFigure[] {
  const re = /\[([a-z0-9-]+) ([a-z]+)\] ssh: (\d+) master connection\(s\), (\d+) bytes sent, ([0-9.]+) s/g;
  return [...output.matchAll(re)]
    .filter((m) => (PHASES as readonly string[]).includes(m[2]))
    .map((m) => ({ host: m[1], phase: m[2], masters: Number(m[3]), bytes: Number(m[4]), seconds: Number(m[5]) }));
}

/** Per-phase figures of a one-host run (the last line of each phase). */
export function phaseFigures(output: string): Record<string, { masters: number; bytes: number; seconds: number }> {
  const figures: Record<string, { masters: number; bytes: number; seconds: number }> = {};
  for (const f of allPhaseFigures(output)) figures[f.phase] = { masters: f.masters, bytes: f.bytes, seconds: f.seconds };
  return figures;
}
