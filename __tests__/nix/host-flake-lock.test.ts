/**
 * Issue 12, item 2, against a real Nix: the flake.lock do-install writes (its jq
 * program, taken from nix/installer/do-install as it runs there) for the sources.json
 * the installer module writes (nix/lib/installer-sources.nix) is one Nix reads as it
 * is, and with it Nix resolves every input of the host template, offline, from the
 * store alone: stand-in sources added to a throw-away local store (nothing is built
 * or fetched), the template's flake.nix and the repository's own flake.nix as this
 * flake's source. Needs `nix` with flakes (Debian: nix-bin; 2.8 here, the installer's
 * own Nix is newer) and root for the chroot store; says why when it skips.
 */
import { execFileSync, spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { lockFileErrors } from "../support/nix-lock-file";

const ROOT = path.resolve(__dirname, "..", "..");
const NIX_CONFIG = ["experimental-features = nix-command flakes", "build-users-group =", "flake-registry =", "substituters ="].join("\n");
const SOURCES = ["cdktf-nixos-installer", "nixpkgs", "disko", "impermanence"];

const nixVersion = spawnSync("nix", ["--version"], { encoding: "utf8" });
const usable = !nixVersion.error && nixVersion.status === 0 && process.getuid?.() === 0;
if (!usable) console.log("skipped host-flake-lock: needs `nix` (Debian: apt-get install nix-bin) and root for a local chroot store");
const describeWithNix = usable ? describe : describe.skip;

/** The jq program of do-install's lock_host_flake, as the script holds it. */
function lockProgram(): string {
  const text = fs.readFileSync(path.join(ROOT, "nix", "installer", "do-install"), "utf8");
  const m = /^lock_program='\n([\s\S]*?)'$/m.exec(text);
  if (!m) throw new Error("nix/installer/do-install holds no lock_program='…' block");
  return m[1];
}

describeWithNix("the host flake's lock, read by a real Nix (issue 12, item 2)", () => {
  let dir: string;
  let store: string;
  let host: string;
  let locked: Record<string, { type: string; path: string; narHash: string; lastModified: number }>;
  let lockText: string;
  const nix = (args: string[]) => spawnSync("nix", ["--store", store, ...args], { encoding: "utf8", env: { ...process.env, NIX_CONFIG }, timeout: 60_000 });

  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "host-flake-lock-"));
    store = `local?root=${path.join(dir, "root")}`;
    locked = {};
    for (const name of SOURCES) {
      const src = path.join(dir, "src", name);
      fs.mkdirSync(src, { recursive: true });
      // this flake's own flake.nix (its inputs are what the lock must match); stand-ins for the rest
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
      expect(r.stderr).toMatch(/NAR hash mismatch in input 'path:\/nix\/store\/[a-z0-9]{32}-source/);
    } finally {
      fs.writeFileSync(path.join(host, "flake.lock"), lockText);
    }
  });
});
