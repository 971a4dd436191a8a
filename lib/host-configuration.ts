import { execFileSync } from "child_process";
import { createHash } from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { AssetType, TerraformAsset, TerraformStack } from "cdktf";
import { PropErrors } from "./prop-errors";

/** Where `runtimeInfoPath` puts the host's name. */
export const HOST_NAME_PLACEHOLDER = "{hostName}";

/** Where do-install places runtime-info.json in a user's flake unless told otherwise (`lib.mkHosts` reads it there). */
export const DEFAULT_RUNTIME_INFO_PATH = `hosts/${HOST_NAME_PLACEHOLDER}/runtime-info.json`;

/**
 * Files the chain writes into hosts/NAME/ on the deploy machine (docs/contracts.md). They
 * are records of an install, not configuration: never sent, never part of `contentHash`,
 * so committing them (or another host's) does not change the install's identity.
 */
export const RECORD_FILES = ["ssh_host_ed25519_key.pub", "initrd_ssh_host_ed25519_key.pub", "connection.json", "install.json"];
export const RECORD_DIRS = ["pins", "archive"];

/** Options of `HostConfiguration.fromFlake`. */
export interface HostConfigurationFromFlakeOptions {
  /**
   * The flake's directory (it holds `flake.nix`), relative to where `cdktf synth` runs or
   * absolute. In a git work tree exactly the files git tracks there are sent (what Nix
   * itself sees of a git flake), else every file; never `.git`, `result*` symlinks or the
   * chain's records (docs/decisions/config-user-flake.md).
   */
  readonly dir: string;
  /**
   * The `nixosConfigurations.<attribute>` nixos-install builds.
   * @default - the host's name (`hostName`)
   */
  readonly attribute?: string;
  /**
   * Where in the flake do-install places the host's runtime-info.json, relative to `dir`;
   * `{hostName}` stands for the host's name. Files the chain writes beside it (public keys,
   * pins/, archive/, connection.json, install.json) are neither sent nor hashed.
   * @default "hosts/{hostName}/runtime-info.json" (where `lib.mkHosts` reads it)
   */
  readonly runtimeInfoPath?: string;
}

/** One file as it is sent: path relative to the flake's directory, mode, content. */
interface SentFile {
  readonly rel: string;
  readonly mode: number;
  readonly bytes: Buffer;
}

/** The files of a flake directory as read at synth, or why they cannot be sent. */
interface Snapshot {
  readonly files: SentFile[];
  readonly hash: string;
  /** `[prop, rule, value]` for each problem. */
  readonly problems: [string, string, unknown][];
}

/**
 * What NixosInstall installs: the packaged host template (today's default), or a flake
 * directory of your infra repo (for example one that uses `lib.mkHosts` over `hosts/`).
 */
export class HostConfiguration {
  /**
   * The packaged host flake (`nix flake init -t …#host`): do-install adds runtime-info.json,
   * authorized_keys and a flake.lock pinned to the installer's sources.
   */
  static template(): HostConfiguration {
    return new HostConfiguration("template", {});
  }

  /**
   * Your own flake directory, sent to the installer over the pinned SSH connection and
   * installed with `nixos-install --flake DIR#<attribute>`. Its inputs must be sources the
   * installer carries: locked by your flake.lock (each node re-pinned to the carried store
   * path of the same narHash), or named by id when there is no flake.lock. Its
   * `contentHash` is part of the install's identity.
   */
  static fromFlake(options: HostConfigurationFromFlakeOptions): HostConfiguration {
    return new HostConfiguration("flake", { ...options });
  }

  private readonly snapshots = new Map<string, Snapshot>();

  private constructor(
    /** `template` or `flake`. */
    public readonly kind: string,
    private readonly options: Partial<HostConfigurationFromFlakeOptions>,
  ) {}

  /** The flake's directory (kind "flake"). */
  get dir(): string | undefined {
    return this.options.dir;
  }

  /** The attribute given (kind "flake"); the host's name when undefined. */
  get attribute(): string | undefined {
    return this.options.attribute;
  }

  /** Where do-install places runtime-info.json (kind "flake"), with `{hostName}` unexpanded. */
  get runtimeInfoPath(): string | undefined {
    return this.kind === "flake" ? (this.options.runtimeInfoPath ?? DEFAULT_RUNTIME_INFO_PATH) : undefined;
  }

  /**
   * sha256 (hex) over exactly the files that are sent, in sorted order: for each its path
   * relative to `dir`, its mode (644 or 755) and its bytes. Read once, at first use.
   * Throws when the directory cannot be sent (NixosInstall reports that at synth instead).
   * @default - undefined for the template
   */
  get contentHash(): string | undefined {
    if (this.kind !== "flake") return undefined;
    const snap = this.snapshot(undefined);
    if (snap.problems.length > 0) {
      const e = new PropErrors();
      for (const [prop, rule, value] of snap.problems) e.fail(prop, rule, value);
      throw new Error(`HostConfiguration.fromFlake: ${e.messages.join("; ")}`);
    }
    return snap.hash;
  }

  /**
   * Where do-install and a rebuild place this host's runtime-info.json in the flake
   * (kind "flake"): `runtimeInfoPath` with `{hostName}` expanded.
   * @internal
   */
  _runtimeInfoPathFor(hostName: string): string | undefined {
    return this.runtimeInfoPath?.split(HOST_NAME_PLACEHOLDER).join(hostName);
  }

  /**
   * The problems of these options for a stack written to `outdir`, each as NixosInstall's
   * validation reports it.
   * @internal
   */
  _validate(errors: PropErrors, prop: string, outdir: string): void {
    if (this.kind !== "flake") return;
    for (const [p, rule, value] of this.snapshot(outdir).problems) errors.fail(`${prop}.${p}`, rule, value);
  }

  /**
   * The content hash and the stack asset the flake is sent from (one a stack for each
   * distinct hash), or undefined for the template and for a directory with problems.
   * @internal
   */
  _bind(stack: TerraformStack, outdir: string): { hash: string; asset: TerraformAsset } | undefined {
    if (this.kind !== "flake") return undefined;
    const snap = this.snapshot(outdir);
    if (snap.problems.length > 0) return undefined;
    let byHash = assetsOfStack.get(stack);
    if (!byHash) assetsOfStack.set(stack, (byHash = new Map()));
    let asset = byHash.get(snap.hash);
    if (!asset) {
      asset = new TerraformAsset(stack, `nixos-install-host-flake-${snap.hash.slice(0, 12)}`, { path: stage(snap), type: AssetType.DIRECTORY, assetHash: snap.hash });
      byHash.set(snap.hash, asset);
    }
    return { hash: snap.hash, asset };
  }

  /** The files as they are sent, read once per outdir (the outdir decides one rule). */
  private snapshot(outdir: string | undefined): Snapshot {
    const key = outdir ?? "";
    let snap = this.snapshots.get(key);
    if (!snap) this.snapshots.set(key, (snap = readFlakeDir(this.options, outdir)));
    return snap;
  }
}

const assetsOfStack = new WeakMap<TerraformStack, Map<string, TerraformAsset>>();

/** Staged copies by content hash, all in one temporary directory of this process. */
const staged = new Map<string, string>();
let stagingRoot: string | undefined;

/**
 * A copy of exactly the files that are sent, for TerraformAsset (which copies a whole
 * directory at synth): one a content hash, in a temporary directory removed when the
 * process ends (one exit hook, however many flakes a fleet names).
 */
function stage(snap: Snapshot): string {
  let dir = staged.get(snap.hash);
  if (dir) return dir;
  if (!stagingRoot) {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), "cdktf-nixos-installer-flakes-"));
    process.once("exit", () => fs.rmSync(root, { recursive: true, force: true }));
    stagingRoot = root;
  }
  dir = path.join(stagingRoot, snap.hash);
  for (const f of snap.files) {
    const to = path.join(dir, ...f.rel.split("/"));
    fs.mkdirSync(path.dirname(to), { recursive: true });
    fs.writeFileSync(to, f.bytes, { mode: f.mode });
    // writeFileSync's mode passes through the umask
    fs.chmodSync(to, f.mode);
  }
  staged.set(snap.hash, dir);
  return dir;
}

/** A Nix attribute name nixos-install can be given on a shell command line. */
const ATTRIBUTE_PATTERN = /^[A-Za-z_][A-Za-z0-9_-]{0,127}$/;
/** A relative path of plain segments; `{hostName}` at most as one whole segment. */
const RELATIVE_PATH_PATTERN = /^(?!\/)(?:(?:[A-Za-z0-9_][A-Za-z0-9._-]*|\{hostName\})\/)*[A-Za-z0-9_][A-Za-z0-9._-]*$/;

function readFlakeDir(options: Partial<HostConfigurationFromFlakeOptions>, outdir: string | undefined): Snapshot {
  const problems: [string, string, unknown][] = [];
  const none = (): Snapshot => ({ files: [], hash: "", problems });
  const { dir, attribute } = options;
  const runtimeInfoPath = options.runtimeInfoPath ?? DEFAULT_RUNTIME_INFO_PATH;
  if (attribute !== undefined && !ATTRIBUTE_PATTERN.test(attribute)) {
    problems.push(["attribute", "be a Nix attribute name (A-Z a-z _ first, then A-Z a-z 0-9 _ -; at most 128), the NAME of nixosConfigurations.NAME", attribute]);
  }
  if (!RELATIVE_PATH_PATTERN.test(runtimeInfoPath) || runtimeInfoPath.split("/").includes("..") || runtimeInfoPath.split("/")[0] === ".git") {
    problems.push(["runtimeInfoPath", `be a path relative to \`dir\` (segments of A-Z a-z 0-9 . _ -, no '..', not in .git), where ${HOST_NAME_PLACEHOLDER} may stand for one segment`, runtimeInfoPath]);
  }
  if (typeof dir !== "string" || dir.length === 0) {
    problems.push(["dir", "be the path of a flake directory (it holds flake.nix)", dir]);
    return none();
  }
  const abs = path.resolve(dir);
  let stat: fs.Stats | undefined;
  try {
    stat = fs.statSync(abs);
  } catch {
    stat = undefined;
  }
  if (!stat?.isDirectory()) {
    problems.push(["dir", `be an existing directory (relative to where cdktf synth runs: ${process.cwd()}); create the flake there or correct the path`, dir]);
    return none();
  }
  if (outdir !== undefined) {
    const out = path.resolve(outdir);
    if (isInside(abs, out)) {
      problems.push(["dir", `lie outside the synth output directory ${out} (every synth rewrites it)`, dir]);
      return none();
    }
  }
  const work = gitWorkTree(abs);
  const out = outdir === undefined ? undefined : path.resolve(outdir);
  if (work === undefined && out !== undefined && isInside(out, abs)) {
    problems.push(["dir", `not hold the synth output directory ${out}: outside a git work tree every file of dir is sent; put the flake in a directory of its own, or make the repository a git work tree that does not track ${path.relative(abs, out)}`, dir]);
    return none();
  }
  let rels: string[];
  if (work !== undefined) {
    try {
      // -z: names exactly as git stores them; paths relative to `dir`, only files under it
      rels = execFileSync("git", ["-C", abs, "ls-files", "-z", "--cached"], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], maxBuffer: 64 << 20 }).split("\0").filter((r) => r !== "");
    } catch (cause) {
      const why = (cause as NodeJS.ErrnoException).code === "ENOENT" ? "git is not installed" : String((cause as { stderr?: string }).stderr ?? cause).trim().split("\n")[0];
      problems.push(["dir", `be readable with git: it lies in the git work tree ${work}, and Nix sees only the files git tracks there (${why}); install git or fix the repository`, dir]);
      return none();
    }
  } else {
    rels = walk(abs);
  }
  const records = recordMatcher(runtimeInfoPath);
  const files: SentFile[] = [];
  const seen = new Set<string>();
  for (const rel of rels.sort()) {
    if (seen.has(rel)) continue;
    seen.add(rel);
    const parts = rel.split("/");
    if (parts.includes(".git") || records(rel)) continue;
    const full = path.join(abs, ...parts);
    let st: fs.Stats;
    try {
      st = fs.lstatSync(full);
    } catch {
      // tracked by git but deleted in the work tree: Nix would not see it either
      continue;
    }
    if (st.isSymbolicLink()) {
      // `nix build` leaves result, result-dev, … links into the store
      if (/^result(-.*)?$/.test(parts[parts.length - 1])) continue;
      problems.push(["dir", `hold no symbolic link but result* (the installer gets files only): replace ${rel} by the file it points to, or remove it`, dir]);
      continue;
    }
    // a git submodule: Nix leaves it out of a git flake unless asked (?submodules=1)
    if (st.isDirectory()) continue;
    if (!st.isFile()) {
      problems.push(["dir", `hold only files and directories: remove ${rel} (neither)`, dir]);
      continue;
    }
    if (out !== undefined && isInside(full, out)) {
      problems.push(["dir", `not hold the synth output directory ${out} as files git tracks (Nix would see them): git tracks ${rel}; untrack it (git rm -r --cached ${path.relative(abs, out)}) and list it in .gitignore`, dir]);
      return none();
    }
    // git's and Nix's view of a file's mode: executable or not
    files.push({ rel, mode: st.mode & 0o100 ? 0o755 : 0o644, bytes: fs.readFileSync(full) });
  }
  if (problems.length > 0) return none();
  if (!files.some((f) => f.rel === "flake.nix")) {
    problems.push(["dir", work !== undefined ? "hold a flake.nix that git tracks (Nix sees only tracked files: git add flake.nix)" : "hold a flake.nix", dir]);
    return none();
  }
  return { files, hash: contentHashOf(files), problems };
}

/** sha256 over each file's path, mode and bytes, in the given (sorted) order. */
function contentHashOf(files: SentFile[]): string {
  const h = createHash("sha256");
  for (const f of files) {
    h.update(`${f.rel}\0${f.mode.toString(8)}\0${f.bytes.length}\0`);
    h.update(f.bytes);
  }
  return h.digest("hex");
}

function isInside(p: string, dir: string): boolean {
  const rel = path.relative(dir, p);
  return rel === "" || (!rel.startsWith("..") && !path.isAbsolute(rel));
}

/** The top of the git work tree that holds `dir`, found by its `.git`, or undefined. */
function gitWorkTree(dir: string): string | undefined {
  for (let d = dir; ; d = path.dirname(d)) {
    if (fs.existsSync(path.join(d, ".git"))) return d;
    if (path.dirname(d) === d) return undefined;
  }
}

/** Every entry below `dir` but directories, as '/'-separated relative paths; `.git` left out. */
function walk(dir: string, prefix = ""): string[] {
  const out: string[] = [];
  for (const entry of fs.readdirSync(path.join(dir, prefix), { withFileTypes: true })) {
    if (entry.name === ".git") continue;
    const rel = prefix === "" ? entry.name : `${prefix}/${entry.name}`;
    if (entry.isDirectory()) out.push(...walk(dir, rel));
    else out.push(rel);
  }
  return out;
}

/**
 * Whether a path is one of the chain's records: the runtime-info at `runtimeInfoPath` (of
 * any host when it holds `{hostName}`) and, beside it, the public keys, connection.json,
 * install.json, pins/ and archive/.
 */
function recordMatcher(runtimeInfoPath: string): (rel: string) => boolean {
  const parts = runtimeInfoPath.split("/");
  const file = parts.pop()!;
  const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  const dir = parts.map((p) => (p === HOST_NAME_PLACEHOLDER ? "[^/]+" : escape(p))).join("/");
  const prefix = dir === "" ? "" : `${dir}/`;
  const re = new RegExp(`^${prefix}(?:${[file, ...RECORD_FILES].map(escape).join("|")}|(?:${RECORD_DIRS.join("|")})/.*)$`);
  return (rel) => re.test(rel);
}
