// Test support for the fault suite (__tests__/faults/): several simulated hosts, one
// fleet stack over them, terraform runs that are bounded (the whole process group is
// killed at the deadline) and a private TMPDIR per run so leftovers can be counted.
// Everything here is asynchronous so that scenarios can run side by side.
import { execFile } from "child_process";
import * as fs from "fs";
import * as net from "net";
import * as os from "os";
import * as path from "path";
import { PhaseTimeouts, WipePolicy } from "../../lib";
import { makeLabBundle } from "../bundle";
import { LabHost, requireRoot, ROOT, RunResult, terraform, TerraformSignal } from "../lab";
import { FleetMember, synthFleet } from "./fleet-stack";

const LAB_HOST = path.join(ROOT, "lab", "target", "lab-host");
export const PASSPHRASE_ENV = "LAB_DISK_PASSPHRASE";

function run(file: string, args: string[], timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { encoding: "utf8", timeout: timeoutMs, killSignal: "SIGKILL" }, (error, stdout, stderr) => {
      // execFile kills at the timeout with no word of it in the message: say so (a busy machine starts hosts slowly).
      const why = error?.killed ? `killed after ${timeoutMs / 1000} s (its time limit here; is the machine busy? load ${os.loadavg()[0].toFixed(1)})` : error?.message;
      if (error) reject(new Error(`${path.basename(file)} ${args.join(" ")} failed: ${why}\n${stderr}`));
      else resolve(stdout);
    });
  });
}

export interface LabHostSpec {
  readonly name: string;
  readonly address: string;
  readonly profile?: string;
  readonly faults?: string[];
  readonly wipe?: WipePolicy;
  /** The NixosInstall props of this host that differ from the fleet's (see FleetMember). */
  readonly props?: Pick<FleetMember, "disks" | "passphrase" | "timeouts" | "bundle" | "hostsDir">;
}

/** `lab-host up`, without blocking the event loop (lab.ts's labHostUp is synchronous). */
export async function labHostUpAsync(dir: string, s: LabHostSpec): Promise<LabHost> {
  const args = ["up", "--dir", dir, "--name", s.name, "--address", s.address, "--port", "10022", "--unlock-port", "10023"];
  if (s.profile) args.push("--profile", s.profile);
  for (const f of s.faults ?? []) args.push("--fault", f);
  const out = await run(LAB_HOST, args, 60_000);
  const info = JSON.parse(out.trim().split("\n").pop() as string);
  return { dir, name: s.name, address: s.address, port: info.port, unlockPort: info.unlockPort, baseHostKey: info.baseHostKey, clientKey: info.clientKey };
}

export async function labHostDownAsync(dir: string): Promise<void> {
  await run(LAB_HOST, ["down", "--dir", dir], 60_000);
}

export async function labHostRoleAsync(dir: string): Promise<string> {
  return (await run(LAB_HOST, ["role", "--dir", dir], 10_000)).trim();
}

/** What one terraform run gave (see lab/lab.ts `terraform`). */
export type TfRun = RunResult;

export interface FleetOptions {
  /** Working directory of the scenario (under .lab/, removed first). */
  readonly work: string;
  readonly hosts: LabHostSpec[];
  readonly passphrase: string;
  readonly timeouts?: PhaseTimeouts;
  /** Hosts that are not lab hosts: an address where nothing (or something silent) answers on 10022. */
  readonly absent?: { name: string; address: string }[];
}

export interface TfOptions {
  readonly env?: NodeJS.ProcessEnv;
  readonly timeoutMs?: number;
  readonly signal?: TerraformSignal;
}

export interface Fleet {
  readonly work: string;
  readonly stackDir: string;
  readonly hostsDir: string;
  /** TMPDIR of every terraform run: the deploy scripts' mktemp -d directories live here. */
  readonly tmpDir: string;
  readonly hosts: Record<string, LabHost>;
  readonly env: NodeJS.ProcessEnv;
  tf(args: string[], o?: TfOptions): Promise<TfRun>;
  apply(o?: TfOptions & { targets?: string[]; replace?: string[] }): Promise<TfRun>;
  /** Synthesizes the stack again with some hosts' props changed (as a user edits the stack), in place. */
  resynth(change: (member: FleetMember) => FleetMember): void;
  /** Terraform address of a host's phase resource, e.g. terraform_data.web-1_kexec_1A2B3C4D. */
  address(name: string, phase: string): string;
  /** Stops every lab host of the fleet (idempotent). */
  close(): Promise<void>;
}

/** Starts the hosts (in parallel), synthesizes the fleet stack against them and runs terraform init. */
/** Lab hosts started at once by startFleet. */
const START_AT_ONCE = 6;

export async function startFleet(o: FleetOptions): Promise<Fleet> {
  requireRoot();
  const work = path.resolve(o.work);
  fs.rmSync(work, { recursive: true, force: true });
  const tmpDir = path.join(work, "tmp");
  fs.mkdirSync(tmpDir, { recursive: true });
  const bundle = makeLabBundle(path.join(work, "bundle"));
  const started: LabHost[] = [];
  // every host whose start began: one killed at its time limit may come up later
  const attempted: string[] = [];
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    await Promise.all(attempted.map((dir) => labHostDownAsync(dir).catch(() => undefined)));
  };
  try {
    // A few at a time: each start (namespaces, sshd, the supervisor's first checks) takes
    // CPU, and fifty at once on two cores outlast lab-host up's time limit.
    const queue = [...o.hosts];
    await Promise.all(
      Array.from({ length: Math.min(START_AT_ONCE, queue.length) }, async () => {
        for (let s = queue.shift(); s !== undefined; s = queue.shift()) {
          const dir = path.join(work, "targets", s.name);
          attempted.push(dir);
          started.push(await labHostUpAsync(dir, s));
        }
      }),
    );
    const hosts = Object.fromEntries(started.map((h) => [h.name, h]));
    const rel = (p: string) => path.relative(ROOT, p);
    const outdir = path.join(work, "cdktf.out");
    const hostsDir = path.join(work, "hosts");
    const stackName = "fleet";
    // An absent host still needs a pinned first-contact key and an identity in the stack.
    const absentKey = path.join(work, "absent", "id_ed25519");
    if (o.absent?.length) {
      fs.mkdirSync(path.dirname(absentKey), { recursive: true });
      await run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "lab-absent", "-f", absentKey], 10_000);
    }
    const absentPub = () => fs.readFileSync(`${absentKey}.pub`, "utf8").split(" ").slice(0, 2).join(" ");
    let members: FleetMember[] = [
      ...o.hosts.map((s) => {
        const h = hosts[s.name];
        return { name: s.name, address: h.address, port: h.port, unlockPort: h.unlockPort, hostKey: h.baseHostKey, authorizedKey: fs.readFileSync(`${h.clientKey}.pub`, "utf8").trim(), identityFile: rel(h.clientKey), wipe: s.wipe, ...(s.props ?? {}) };
      }),
      ...(o.absent ?? []).map((a) => ({ name: a.name, address: a.address, port: 10022, unlockPort: 10023, hostKey: absentPub(), authorizedKey: absentPub(), identityFile: rel(absentKey) })),
    ];
    const synth = () => {
      const cwd = process.cwd();
      process.chdir(ROOT);
      try {
        synthFleet({ members, bundleDir: rel(bundle.dir), passphraseEnv: PASSPHRASE_ENV, hostsDir: rel(hostsDir), timeouts: o.timeouts }, { outdir: rel(outdir), stackName });
      } finally {
        process.chdir(cwd);
      }
    };
    synth();
    const stackDir = path.join(outdir, "stacks", stackName);
    const env: NodeJS.ProcessEnv = { [PASSPHRASE_ENV]: o.passphrase, TMPDIR: tmpDir };
    let runs = 0;
    // Each run's output is kept in the scenario's directory (and searched for the canary with it).
    const tf = async (args: string[], t: TfOptions = {}) => {
      const r = await terraform(stackDir, args, { ...env, ...(t.env ?? {}) }, { timeoutMs: t.timeoutMs ?? 180_000, signal: t.signal });
      runs += 1;
      fs.writeFileSync(path.join(work, `terraform-${String(runs).padStart(2, "0")}-${args[0]}.log`), `$ terraform ${args.join(" ")}\n${r.output}\nexit ${r.code}${r.timedOut ? " (timed out)" : ""}, ${r.seconds} s\n`);
      return r;
    };
    const init = await tf(["init", "-input=false", "-no-color"], { timeoutMs: 60_000 });
    if (init.code !== 0) throw new Error(`terraform init failed:\n${init.output}`);
    const address = (name: string, phase: string) => {
      const config = JSON.parse(fs.readFileSync(path.join(stackDir, "cdk.tf.json"), "utf8"));
      const found = Object.entries(config.resource.terraform_data as Record<string, any>).find(([, r]) => r["//"]?.metadata?.path === `${stackName}/${name}/${phase}`);
      if (!found) throw new Error(`no ${phase} phase for ${name} in the fleet stack`);
      return `terraform_data.${found[0]}`;
    };
    return {
      work,
      stackDir,
      hostsDir,
      tmpDir,
      hosts,
      env,
      tf,
      apply: (a = {}) =>
        tf(["apply", "-auto-approve", "-input=false", "-no-color", ...(a.targets ?? []).map((t) => `-target=${t}`), ...(a.replace ?? []).map((t) => `-replace=${t}`)], a),
      resynth: (change) => {
        members = members.map(change);
        synth();
      },
      address,
      close,
    };
  } catch (error) {
    await close();
    throw error;
  }
}

/** The lines the deploy scripts printed for one host (`[name phase] …`), without Terraform's prefix. */
export function hostLines(output: string, name: string): string[] {
  const tag = `[${name} `;
  // Only the streamed lines: terraform's error summary repeats them, wrapped.
  return output
    .split("\n")
    .filter((l) => l.includes(" (local-exec): "))
    .map((l) => l.replace(/^.*?\(local-exec\): /, ""))
    .filter((l) => l.startsWith(tag));
}

/** The first `error:` line a host's phase printed, with its hints, as one string. */
export function firstError(output: string, name: string): string {
  const lines = hostLines(output, name);
  const at = lines.findIndex((l) => / error: /.test(l));
  if (at < 0) return "";
  const out = [lines[at]];
  for (const l of lines.slice(at + 1)) {
    if (!/^\[[^\]]+\]   /.test(l)) break;
    out.push(l);
  }
  return out.join(" ").replace(/\s+/g, " ");
}

export { labRecords } from "../lab";
export type { LabRecord } from "../lab";

/** Deploy-script temp directories (mktemp -d "$TMPDIR/ni.XXXXXX") left in a TMPDIR. */
export function leftoverTempDirs(tmpDir: string): string[] {
  return fs.existsSync(tmpDir) ? fs.readdirSync(tmpDir).filter((f) => f.startsWith("ni.")) : [];
}

/** A TCP port that accepts connections and never says a word (a hung sshd, a tarpit). */
export async function startSilentPort(address: string, port: number): Promise<{ close: () => Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    sockets.add(s);
    s.on("error", () => undefined);
    s.on("close", () => sockets.delete(s));
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, address, resolve);
  });
  return {
    close: () =>
      new Promise((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
