/**
 * The installed host resolves the id its /etc/nixos flake names its input by:
 * nixosModules.host (what lib.mkHost includes), evaluated by nixpkgs' real
 * lib.evalModules with disko's and impermanence's real modules, registers
 * `cdktf-nixos-installer` in the system flake registry, pinned to the source the host was
 * built from (nix.registry as nixpkgs' nix-flakes.nix derives it, restated in
 * ./stand-ins.nix), so `nix flake lock` and `nix flake update` there need no network.
 */
import * as fs from "fs";
import * as path from "path";
import { describeWithUpstream, evalNix, FIXTURES, ROOT, UPSTREAM } from "./upstream";

const EVAL = path.join(__dirname, "eval-host.nix");
const labSources = JSON.parse(fs.readFileSync(path.join(ROOT, "lab", "target", "installer-sources.json"), "utf8")).sources;
const self = labSources["cdktf-nixos-installer"].locked;

interface Entry { from: Record<string, string>; to: Record<string, unknown>; exact: boolean }
const registryOf = (lockedJson?: string) =>
  evalNix<Record<string, Entry>>(EVAL, { upstream: UPSTREAM, runtimeInfo: path.join(FIXTURES, "hcloud-x86-fsn1.json") }, "registry", lockedJson === undefined ? {} : { lockedJson });

describeWithUpstream("the installed host registers the cdktf-nixos-installer flake id, and disko's and impermanence's", () => {
  test("pinned to the flake's own source by store path and narHash, as the host template's input names it", () => {
    const registry = registryOf(JSON.stringify({ "cdktf-nixos-installer": self }));
    expect(Object.keys(registry)).toEqual(["cdktf-nixos-installer"]);
    expect(registry["cdktf-nixos-installer"].from).toEqual({ type: "indirect", id: "cdktf-nixos-installer" });
    expect(registry["cdktf-nixos-installer"].to).toEqual(self);
    expect(registry["cdktf-nixos-installer"].exact).toBe(true);
    // the id the template's flake.nix names, the one the registry answers for
    expect(fs.readFileSync(path.join(ROOT, "nix", "templates", "host", "flake.nix"), "utf8")).toMatch(/inputs\.cdktf-nixos-installer\.url = "cdktf-nixos-installer";/);
  });

  test("disko and impermanence too, so their sources are in the system's closure for a rebuild on the host; nixpkgs is left to nixpkgs' own registration", () => {
    const all = Object.fromEntries(Object.entries(labSources as Record<string, { locked: Record<string, unknown> }>).map(([name, s]) => [name, s.locked]));
    expect(Object.keys(all).sort()).toEqual(["cdktf-nixos-installer", "disko", "impermanence", "nixpkgs"]);
    const registry = registryOf(JSON.stringify(all));
    expect(Object.keys(registry).sort()).toEqual(["cdktf-nixos-installer", "disko", "impermanence"]);
    for (const name of ["cdktf-nixos-installer", "disko", "impermanence"]) {
      expect(registry[name]).toEqual({ from: { type: "indirect", id: name }, to: all[name], exact: true });
    }
  });

  test("the modules used without the flake's sources (imported on their own) register nothing", () => {
    expect(registryOf()).toEqual({});
  });

  test("a host's own `to` wins over the default (to follow a branch instead)", () => {
    const registry = evalNix<Record<string, Entry>>(
      EVAL,
      {
        upstream: UPSTREAM,
        runtimeInfo: path.join(FIXTURES, "hcloud-x86-fsn1.json"),
        hostModules: '[ { nix.registry.cdktf-nixos-installer.to = { type = "github"; owner = "example"; repo = "fork"; }; } ]',
      },
      "registry",
      { lockedJson: JSON.stringify({ "cdktf-nixos-installer": self }) },
    );
    expect(registry["cdktf-nixos-installer"].to).toEqual({ type: "github", owner: "example", repo: "fork" });
  });
});
