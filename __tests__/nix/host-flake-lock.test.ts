/**
 * Issue 12, item 2, against a real Nix: the flake.lock do-install writes (its jq
 * program, taken from nix/installer/do-install as it runs there) for the sources.json
 * the installer module writes (nix/lib/installer-sources.nix) is one Nix reads as it
 * is, and with it Nix resolves every input of the host template, offline, from the
 * store alone: stand-in sources added to a throw-away local store (nothing is built
 * or fetched), the template's flake.nix and the repository's own flake.nix as this
 * flake's source. Each test runs with two Nixes: the host's (Debian 12's nix-bin, 2.8)
 * and Debian 13's (nix-bin 2.26, in the chroot lab/nix-trixie/build makes; the
 * installer's own Nix is newer still). Both need root for the chroot store; each says
 * why when it skips.
 * The same for a user's flake (HostConfiguration.fromFlake): its own flake.lock, as Nix
 * wrote it with GitHub revisions, re-pinned by do-install's repin_program.
 */
import { execFileSync, spawnSync, SpawnSyncReturns } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { lockFileErrors } from "../support/nix-lock-file";
import { USER_FLAKE_NIX, userFlakeLock } from "../support/user-flake";

const ROOT = path.resolve(__dirname, "..", "..");
const NIX_CONFIG = ["experimental-features = nix-command flakes", "build-users-group =", "flake-registry =", "substituters ="].join("\n");
const SOURCES = ["cdktf-nixos-installer", "nixpkgs", "disko", "impermanence"];

/** A Nix the tests run: argv is the command line before Nix's own arguments. */
interface NixUnderTest {
  label: string;
  argv: string[];
  /** Why this Nix cannot run here, when it cannot. */
  skip?: string;
}

const isRoot = process.getuid?.() === 0;
function hostNix(): NixUnderTest {
  const label = "the host's nix (Debian 12's nix-bin)";
  const v = spawnSync("nix", ["--version"], { encoding: "utf8" });
  if (v.error || v.status !== 0) return { label, argv: [], skip: "needs `nix` (Debian: apt-get install nix-bin)" };
  return { label: `${label}, ${v.stdout.trim()}`, argv: ["nix"], skip: isRoot ? undefined : "needs root for a local chroot store" };
}
function trixieNix(): NixUnderTest {
  const label = "Debian 13's nix-bin in a chroot";
  const wrapper = path.join(ROOT, "lab", "nix-trixie", "nix");
  const root = process.env.NIX_TRIXIE_ROOT || path.join(ROOT, ".lab", "cache", "nix-trixie");
  const versionFile = path.join(root, ".lab-nix-version");
  if (!fs.existsSync(versionFile)) return { label, argv: [], skip: `no trixie Nix in ${root} (NIX_TRIXIE_ROOT): build it with lab/nix-trixie/build, as .ci/run does` };
  return { label: `${label}, ${fs.readFileSync(versionFile, "utf8").trim()}`, argv: [wrapper], skip: isRoot ? undefined : "needs root for chroot and the local store" };
}
const NIXES = [hostNix(), trixieNix()];
for (const n of NIXES) if (n.skip) console.log(`skipped host-flake-lock with ${n.label}: ${n.skip}`);

/** A jq program of do-install (lock_program, repin_program), as the script holds it. */
function jqProgram(name = "lock_program"): string {
  const text = fs.readFileSync(path.join(ROOT, "nix", "installer", "do-install"), "utf8");
  const m = new RegExp(`^${name}='\\n([\\s\\S]*?)'$`, "m").exec(text);
  if (!m) throw new Error(`nix/installer/do-install holds no ${name}='…' block`);
  return m[1];
}
const lockProgram = () => jqProgram();

type Locked = Record<string, { type: string; path: string; narHash: string; lastModified: number }>;
type NixRun = (args: string[]) => SpawnSyncReturns<string>;
const nixIn = (n: NixUnderTest, store: string): NixRun => (args) =>
  spawnSync(n.argv[0], [...n.argv.slice(1), "--store", store, ...args], { encoding: "utf8", env: { ...process.env, NIX_CONFIG }, timeout: 60_000 });
/** The same Nix in a network namespace of its own with no interface up: no fetch can succeed. */
const withoutNetwork = (n: NixUnderTest): NixUnderTest => ({ ...n, argv: ["unshare", "--net", "--", ...n.argv] });

/**
 * A throw-away local store under `dir` holding stand-in sources (this repository's
 * flake.nix as this flake's, whose inputs a lock must match), and DIR/sources.json as
 * the installer module writes it for them.
 */
function standInSources(n: NixUnderTest, dir: string): { nix: NixRun; offNet: NixRun; locked: Locked } {
  const store = `local?root=${path.join(dir, "root")}`;
  const nix = nixIn(n, store);
  const locked: Locked = {};
  for (const name of SOURCES) {
    const src = path.join(dir, "src", name);
    fs.mkdirSync(src, { recursive: true });
    if (name === "cdktf-nixos-installer") fs.copyFileSync(path.join(ROOT, "flake.nix"), path.join(src, "flake.nix"));
    else fs.writeFileSync(path.join(src, "flake.nix"), `{ outputs = _: { standIn = "${name}"; }; }\n`);
    const add = nix(["store", "add-path", "--name", "source", src]);
    if (add.status !== 0) throw new Error(`nix store add-path failed: ${add.stderr}`);
    const narHash = nix(["hash", "path", "--sri", src]).stdout.trim();
    locked[name] = { type: "path", path: add.stdout.trim().split("\n").pop()!, narHash, lastModified: 1781395200 };
  }
  const sources = execFileSync("nix-instantiate", ["--eval", "--strict", "--json", "--argstr", "lockedJson", JSON.stringify(locked), "-E",
    "{ lockedJson }: import ./nix/lib/installer-sources.nix { flakeInputs = (import ./flake.nix).inputs; locked = builtins.fromJSON lockedJson; }"],
  { cwd: ROOT, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  fs.writeFileSync(path.join(dir, "sources.json"), sources);
  return { nix, offNet: nixIn(withoutNetwork(n), store), locked };
}

for (const n of NIXES) {
(n.skip ? describe.skip : describe)(`the host flake's lock, read by a real Nix (issue 12, item 2): ${n.label}`, () => {
  let dir: string;
  let nix: NixRun;
  let host: string;
  let locked: Locked;
  let lockText: string;

  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "host-flake-lock-"));
    ({ nix, locked } = standInSources(n, dir));
    host = path.join(dir, "host");
    fs.mkdirSync(host);
    fs.copyFileSync(path.join(ROOT, "nix", "templates", "host", "flake.nix"), path.join(host, "flake.nix"));
    lockText = execFileSync("jq", ["-e", "-S", "--argjson", "in", JSON.stringify({ "cdktf-nixos-installer": "cdktf-nixos-installer" }), lockProgram(), path.join(dir, "sources.json")], { encoding: "utf8" });
    fs.writeFileSync(path.join(host, "flake.lock"), lockText);
  }, 120_000);
  afterAll(() => {
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  test("the lock has the structure Nix's lock-file reader demands", () => {
    expect(lockFileErrors(JSON.parse(lockText))).toEqual([]);
  });

  test("Nix takes the lock as it is, offline: nothing to update, nothing rewritten", () => {
    const r = nix(["flake", "metadata", "--offline", `path:${host}`]);
    expect(r.stderr).not.toMatch(/error|updating lock file|will not write/i);
    expect(r.status).toBe(0);
    expect(fs.readFileSync(path.join(host, "flake.lock"), "utf8")).toBe(lockText);
  });

  test("every input, the follows included, resolves to its carried store path with no network", () => {
    const expr = `let c = (builtins.getFlake "path:${host}").inputs.cdktf-nixos-installer; in {
      self = c.outPath; nixpkgs = c.inputs.nixpkgs.outPath; disko = c.inputs.disko.outPath;
      diskoNixpkgs = c.inputs.disko.inputs.nixpkgs.outPath; impermanence = c.inputs.impermanence.outPath;
      impermanenceNixpkgs = c.inputs.impermanence.inputs.nixpkgs.outPath; }`;
    const r = nix(["eval", "--json", "--offline", "--impure", "--expr", expr]);
    if (r.status !== 0) throw new Error(r.stderr);
    expect(JSON.parse(r.stdout)).toEqual({
      self: locked["cdktf-nixos-installer"].path,
      nixpkgs: locked.nixpkgs.path,
      disko: locked.disko.path,
      diskoNixpkgs: locked.nixpkgs.path,
      impermanence: locked.impermanence.path,
      impermanenceNixpkgs: locked.nixpkgs.path,
    });
  });

  test("a source whose content is not the narHash the installer recorded is refused", () => {
    const bad = JSON.parse(lockText);
    bad.nodes.nixpkgs.locked.narHash = `sha256-${"A".repeat(43)}=`;
    fs.writeFileSync(path.join(host, "flake.lock"), JSON.stringify(bad, null, 2));
    try {
      const r = nix(["eval", "--json", "--offline", "--impure", "--expr", `(builtins.getFlake "path:${host}").inputs.cdktf-nixos-installer.inputs.nixpkgs.outPath`]);
      expect(r.status).not.toBe(0);
      // Nix 2.8 and 2.26 word it differently; both name the narHash and the carried path
      expect(r.stderr).toMatch(/NAR hash mismatch in input 'path:\/nix\/store\/[a-z0-9]{32}-source|mismatch in field 'narHash' of input '\{[^']*"path":"\/nix\/store\/[a-z0-9]{32}-source"/);
    } finally {
      fs.writeFileSync(path.join(host, "flake.lock"), lockText);
    }
  });
});

(n.skip ? describe.skip : describe)(`a user's flake.lock re-pinned by do-install, read by a real Nix (HostConfiguration.fromFlake): ${n.label}`, () => {
  let dir = "";
  let host = "";
  let nix: NixRun;
  let offNet: NixRun;
  let locked: Locked;
  let repinned: string;

  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "user-flake-lock-"));
    host = path.join(dir, "host");
    ({ nix, offNet, locked } = standInSources(n, dir));
    fs.mkdirSync(host);
    fs.writeFileSync(path.join(host, "flake.nix"), USER_FLAKE_NIX);
    // the lock Nix wrote on the deploy machine: GitHub revisions whose content is the carried sources'
    const userLock = userFlakeLock(Object.fromEntries(SOURCES.map((n) => [n, locked[n].narHash])));
    fs.writeFileSync(path.join(dir, "user.lock"), userLock);
    const out = JSON.parse(execFileSync("jq", ["-c", "--slurpfile", "s", path.join(dir, "sources.json"), "--argjson", "in", JSON.stringify(["cdktf-nixos-installer", "nixpkgs"]), jqProgram("repin_program"), path.join(dir, "user.lock")], { encoding: "utf8" }));
    if (!out.lock) throw new Error(`repin_program refused the lock: ${JSON.stringify(out)}`);
    repinned = `${JSON.stringify(out.lock, null, 2)}\n`;
    fs.writeFileSync(path.join(host, "flake.lock"), repinned);
  }, 120_000);
  afterAll(() => {
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  test("Nix takes the re-pinned lock as it is, offline, though flake.nix names GitHub", () => {
    expect(USER_FLAKE_NIX).toContain('"github:cdktf-nixos-installer/cdktf-nixos-installer"');
    const r = nix(["flake", "metadata", "--offline", `path:${host}`]);
    expect(r.stderr).not.toMatch(/error|updating lock file|will not write/i);
    expect(r.status).toBe(0);
    expect(fs.readFileSync(path.join(host, "flake.lock"), "utf8")).toBe(repinned);
  });

  test("every input, the user's follows and the installer flake's own, resolves to its carried store path with no network", () => {
    const expr = `let f = (builtins.getFlake "path:${host}"); c = f.inputs.cdktf-nixos-installer; in {
      self = c.outPath; nixpkgs = f.inputs.nixpkgs.outPath; disko = c.inputs.disko.outPath;
      diskoNixpkgs = c.inputs.disko.inputs.nixpkgs.outPath; impermanence = c.inputs.impermanence.outPath; }`;
    const r = nix(["eval", "--json", "--offline", "--impure", "--expr", expr]);
    if (r.status !== 0) throw new Error(r.stderr);
    const carried = (name: string) => locked[name].path;
    expect(JSON.parse(r.stdout)).toEqual({ self: carried("cdktf-nixos-installer"), nixpkgs: carried("nixpkgs"), disko: carried("disko"), diskoNixpkgs: carried("nixpkgs"), impermanence: carried("impermanence") });
  });

  test("the narHash is what makes a node the carried source: the user's GitHub lock finds the same store paths with no network, and another narHash is refused offline", () => {
    // Nix places a locked source at the store path its narHash gives (name "source"):
    // the GitHub revisions of the user's lock land on the carried paths. The re-pinned
    // lock says so explicitly (type path), the way the template's lock does. Without
    // --offline and with no network at all: what a rebuild on the installed host meets
    // when its store holds the sources (nixosModules.host registers them).
    fs.copyFileSync(path.join(dir, "user.lock"), path.join(host, "flake.lock"));
    try {
      const expr = `let f = builtins.getFlake "path:${host}"; c = f.inputs.cdktf-nixos-installer; in [ f.inputs.nixpkgs.outPath c.outPath c.inputs.disko.outPath c.inputs.impermanence.outPath ]`;
      const same = offNet(["eval", "--json", "--impure", "--expr", expr]);
      if (same.status !== 0) throw new Error(same.stderr);
      expect(JSON.parse(same.stdout)).toEqual(["nixpkgs", "cdktf-nixos-installer", "disko", "impermanence"].map((name) => locked[name].path));
      // and the namespace has no network indeed: a source not in the store cannot be had
      fs.writeFileSync(path.join(host, "flake.lock"), userFlakeLock({ ...Object.fromEntries(SOURCES.map((name) => [name, locked[name].narHash])), disko: `sha256-${"C".repeat(43)}=` }));
      const missing = offNet(["eval", "--json", "--impure", "--expr", `(builtins.getFlake "path:${host}").inputs.cdktf-nixos-installer.inputs.disko.outPath`]);
      expect(missing.status).not.toBe(0);
      expect(missing.stderr).toMatch(/unable to download 'https:\/\/(api\.)?github\.com\/[^']*disko[^']*'.*(Couldn't|Could not) resolve/);
      fs.writeFileSync(path.join(host, "flake.lock"), userFlakeLock({ ...Object.fromEntries(SOURCES.map((n) => [n, locked[n].narHash])), nixpkgs: `sha256-${"A".repeat(43)}=` }));
      const other = nix(["eval", "--json", "--offline", "--impure", "--expr", `(builtins.getFlake "path:${host}").inputs.nixpkgs.outPath`]);
      expect(other.status).not.toBe(0);
    } finally {
      fs.writeFileSync(path.join(host, "flake.lock"), repinned);
    }
  });
});
}
