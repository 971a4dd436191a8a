/**
 * Issue 12, item 1: the kexec installer carries the sources it was built from.
 * nixosModules.installer, evaluated by nixpkgs' real lib.evalModules with stand-in
 * flake inputs (./eval-installer.nix), registers each source in the system flake
 * registry as nixpkgs' nix.registry does it (restated in ./stand-ins.nix), puts each
 * into the image's store, and writes /etc/cdktf-nixos-installer/sources.json for
 * do-install; the loopback lab's installer carries exactly that file.
 * Also: the lock-file rule the lab tests check do-install's flake.lock with
 * (__tests__/support/nix-lock-file.ts) accepts the locks Nix itself wrote for the
 * upstream trees, and refuses what Nix's reader refuses.
 */
import * as fs from "fs";
import * as path from "path";
import { lockFileErrors } from "../../support/nix-lock-file";
import { describeWithUpstream, evalNix, ROOT, UPSTREAM } from "./upstream";

const EVAL = path.join(__dirname, "eval-installer.nix");
/** The sources of the loopback lab's installer (lab/target/lib/enter-role.sh copies it). */
const LAB_SOURCES = path.join(ROOT, "lab", "target", "installer-sources.json");

interface Locked { type: string; path: string; narHash: string; lastModified?: number; rev?: string }
interface SourcesJson { version: number; sources: Record<string, { locked: Locked; original?: Record<string, string>; inputs?: Record<string, string | string[]> }> }
interface Installer {
  failedAssertions: string[];
  sourcesJson: string | null;
  registry: Record<string, { from: Record<string, string>; to: Locked; exact: boolean }>;
  flakeRegistry: string | null;
  nixpkgsFlake: { setFlakeRegistry?: boolean; setNixPath?: boolean } | null;
  sourcesInStore: string[];
}

const labSources: SourcesJson = JSON.parse(fs.readFileSync(LAB_SOURCES, "utf8"));
const standInLocked = Object.fromEntries(Object.entries(labSources.sources).map(([n, s]) => [n, s.locked]));
const installer = (locked: Record<string, Locked>) => evalNix<Installer>(EVAL, { upstream: UPSTREAM }, undefined, { lockedJson: JSON.stringify(locked) });

describeWithUpstream("the installer carries the sources it was built from (issue 12, item 1)", () => {
  let built: Installer;
  beforeAll(() => {
    built = installer(standInLocked);
  });

  test("each of this flake, nixpkgs, disko and impermanence is pinned in the flake registry to its store path and narHash", () => {
    expect(built.failedAssertions).toEqual([]);
    expect(Object.keys(built.registry).sort()).toEqual(["cdktf-nixos-installer", "disko", "impermanence", "nixpkgs"]);
    for (const [name, entry] of Object.entries(built.registry)) {
      expect(entry.from).toEqual({ type: "indirect", id: name });
      expect(entry.to).toEqual(standInLocked[name]);
      expect(entry.exact).toBe(true);
    }
    // one registry entry for nixpkgs (ours, with its narHash), and no global registry
    // fetched from channels.nixos.org for an id nobody registered
    expect(built.nixpkgsFlake).toMatchObject({ setFlakeRegistry: false, setNixPath: false });
    expect(built.flakeRegistry).toBe("");
  });

  test("sources.json lists them with what a lock node needs, and puts every source into the image's store", () => {
    const sources: SourcesJson = JSON.parse(built.sourcesJson!);
    expect(sources.version).toBe(1);
    for (const [name, s] of Object.entries(sources.sources)) expect(s.locked).toEqual(built.registry[name].to);
    // how this flake's flake.nix names its inputs and what they follow
    expect(sources.sources["cdktf-nixos-installer"]).toEqual({ locked: standInLocked["cdktf-nixos-installer"], inputs: { nixpkgs: "nixpkgs", disko: "disko", impermanence: "impermanence" } });
    expect(sources.sources.nixpkgs.original).toEqual({ type: "github", owner: "NixOS", repo: "nixpkgs", ref: "nixos-26.05" });
    expect(sources.sources.disko.inputs).toEqual({ nixpkgs: ["nixpkgs"] });
    expect(sources.sources.impermanence.inputs).toEqual({ nixpkgs: ["nixpkgs"], "home-manager": [] });
    expect(built.sourcesInStore).toEqual(Object.values(standInLocked).map((l) => l.path).sort());
  });

  test("the loopback lab's installer carries what the module writes for the same sources", () => {
    expect(JSON.parse(built.sourcesJson!)).toEqual(labSources);
  });

  test("an installer given no sources writes no sources.json (do-install then stops before the layout)", () => {
    const bare = installer({});
    expect(bare.sourcesJson).toBeNull();
    expect(bare.registry).toEqual({});
  });

  test("a source without narHash stops the build, naming it", () => {
    const { narHash: _, ...noHash } = standInLocked.disko;
    expect(() => installer({ ...standInLocked, disko: noHash as Locked })).toThrow(/source disko has no narHash/);
  });
});

describeWithUpstream("the lock-file rule of the lab tests follows Nix's reader", () => {
  const upstreamLocks = ["disko/flake.lock", "impermanence/flake.lock"];

  test.each(upstreamLocks)("accepts %s, written by Nix", (file) => {
    expect(lockFileErrors(JSON.parse(fs.readFileSync(path.join(UPSTREAM, file), "utf8")))).toEqual([]);
  });

  test("refuses what Nix refuses: another version, a missing node, an unlocked input, a follows to nowhere", () => {
    const lock = JSON.parse(fs.readFileSync(path.join(UPSTREAM, "impermanence/flake.lock"), "utf8"));
    const variant = (f: (l: any) => void) => {
      const l = JSON.parse(JSON.stringify(lock));
      f(l);
      return lockFileErrors(l);
    };
    expect(variant((l) => (l.version = 6))).toContain("version is 6, not 7");
    expect(variant((l) => (l.nodes.root.inputs.nixpkgs = "gone"))).toContain("lock file references missing node 'gone'");
    expect(variant((l) => (l.nodes.nixpkgs.locked = { type: "path", path: "/nix/store/x-source" })).join("\n")).toMatch(/node nixpkgs locked: lock file contains unlocked input/);
    expect(variant((l) => delete l.nodes.nixpkgs.original)).toContain("node nixpkgs original: missing in lock file");
    expect(variant((l) => (l.nodes.root.inputs.x = ["nope"]))).toContain("input 'x' follows a non-existent input 'nope'");
  });
});
