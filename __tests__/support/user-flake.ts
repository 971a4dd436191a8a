// A user's infra flake for the tests of HostConfiguration.fromFlake: it names this
// project by its GitHub URL, follows its nixpkgs, and builds its hosts with lib.mkHosts;
// its flake.lock is what Nix writes for those inputs on the deploy machine (GitHub
// references with rev and narHash), with the narHashes of the sources the loopback lab's
// installer carries (lab/target/installer-sources.json), i.e. the same revisions.
import * as fs from "fs";
import * as path from "path";

const ROOT = path.resolve(__dirname, "..", "..");
const carried = JSON.parse(fs.readFileSync(path.join(ROOT, "lab", "target", "installer-sources.json"), "utf8")).sources as Record<string, { locked: { narHash: string; lastModified: number } }>;

export const USER_FLAKE_NIX = `{
  # The fleet: every hosts/NAME/ with a runtime-info.json is a nixosConfiguration.
  inputs.cdktf-nixos-installer.url = "github:cdktf-nixos-installer/cdktf-nixos-installer";
  inputs.nixpkgs.follows = "cdktf-nixos-installer/nixpkgs";
  outputs = { self, cdktf-nixos-installer, nixpkgs }: {
    nixosConfigurations = cdktf-nixos-installer.lib.mkHosts {
      hostsDir = ./hosts;
      authorizedKeys = ./authorized_keys;
      modules = [ ./common.nix ];
    };
  };
}
`;

const github = (owner: string, repo: string, name: string, ref?: string) => ({
  locked: { type: "github", owner, repo, rev: `${name.length}`.padStart(40, "0"), narHash: carried[name].locked.narHash, lastModified: carried[name].locked.lastModified },
  original: { type: "github", owner, repo, ...(ref ? { ref } : {}) },
});

/** The flake.lock Nix writes for USER_FLAKE_NIX; `narHashOf` replaces a node's narHash (another revision). */
export function userFlakeLock(narHashOf: Record<string, string> = {}): string {
  const nodes: Record<string, any> = {
    root: { inputs: { "cdktf-nixos-installer": "cdktf-nixos-installer", nixpkgs: ["cdktf-nixos-installer", "nixpkgs"] } },
    "cdktf-nixos-installer": { inputs: { disko: "disko", impermanence: "impermanence", nixpkgs: "nixpkgs" }, ...github("cdktf-nixos-installer", "cdktf-nixos-installer", "cdktf-nixos-installer") },
    disko: { inputs: { nixpkgs: ["cdktf-nixos-installer", "nixpkgs"] }, ...github("nix-community", "disko", "disko") },
    impermanence: { inputs: { "home-manager": [], nixpkgs: ["cdktf-nixos-installer", "nixpkgs"] }, ...github("nix-community", "impermanence", "impermanence") },
    nixpkgs: github("NixOS", "nixpkgs", "nixpkgs", "nixos-26.05"),
  };
  for (const [name, narHash] of Object.entries(narHashOf)) nodes[name].locked.narHash = narHash;
  return `${JSON.stringify({ nodes, root: "root", version: 7 }, null, 2)}\n`;
}

/** The files of the user's flake directory (relative path → content). */
export function userFlakeFiles(lock = userFlakeLock()): Record<string, string> {
  return {
    "flake.nix": USER_FLAKE_NIX,
    "flake.lock": lock,
    "common.nix": "{ ... }: { system.stateVersion = \"26.05\"; }\n",
    authorized_keys: "# root's keys on every host\n",
    "hosts/web-1/configuration.nix": "{ ... }: { services.nginx.enable = true; }\n",
  };
}
