# nixosModules.installer evaluated with nixpkgs' real lib.evalModules, given stand-in
# flake inputs as the sources it carries; the NixOS options only nixpkgs declares are
# stand-ins (./stand-ins.nix, ./stand-in-modules/).
#
#   nix-instantiate --eval --strict --json __tests__/nix/upstream/eval-installer.nix \
#     --arg upstream /work/upstream --argstr lockedJson '{"nixpkgs": {...}, ...}'
#
# lockedJson: name -> { path; narHash; lastModified; rev? }, each made into what a flake
# input is to the module system: an attrset with those attributes and an outPath that,
# like a fetched input's, carries its store path as string context (what puts a
# source into the closure of a file that names it).
{ upstream, lockedJson }:
let
  lib = import (upstream + "/nixpkgs-lib/lib");
  inputs = builtins.mapAttrs (_: l: builtins.removeAttrs l [ "path" "type" ] // { outPath = builtins.appendContext l.path { ${l.path} = { path = true; }; }; }) (builtins.fromJSON lockedJson);
  modules = import ../../../nix/modules/flake-modules.nix {
    disko.nixosModules.disko = upstream + "/disko/module.nix";
    impermanence.nixosModules.impermanence = import (upstream + "/impermanence/nixos.nix");
    sources = inputs;
  };
  eval = lib.evalModules {
    specialArgs.modulesPath = ./stand-in-modules;
    modules = [ ./stand-ins.nix modules.installer ];
  };
  c = eval.config;
in
{
  failedAssertions = map (a: a.message) (builtins.filter (a: !a.assertion) c.assertions);
  sourcesJson = c.environment.etc."cdktf-nixos-installer/sources.json".text or null;
  registry = builtins.mapAttrs (_: r: { inherit (r) from to exact; }) c.nix.registry;
  flakeRegistry = c.nix.settings.flake-registry or null;
  nixpkgsFlake = c.nixpkgs.flake or null;
  # the sources reach the image's store through the text's string context
  sourcesInStore = builtins.attrNames (builtins.getContext (c.environment.etc."cdktf-nixos-installer/sources.json".text or ""));
}
