# The NixOS modules the flake exports, made from its inputs. A file of its own so the
# tests import the very modules the flake exports, with upstream source trees in place
# of the flake inputs (__tests__/nix/upstream/).
#   sources: the flakes the installer carries (nixosInstaller.installer.sources), by
#   name: this flake as `cdktf-nixos-installer`, and nixpkgs, disko, impermanence
{ disko, impermanence, sources ? { } }:
let
  # impermanence's flake exports `import ./nixos.nix`: an anonymous function, which the
  # module system would import once per importer, declaring environment.persistence
  # twice when both `host` and `impermanence` below are used. A key makes it one module.
  impermanenceUpstream = {
    key = "cdktf-nixos-installer#impermanence-upstream";
    imports = [ impermanence.nixosModules.impermanence ];
  };
  diskoUpstream = {
    key = "cdktf-nixos-installer#disko-upstream";
    imports = [ disko.nixosModules.disko ];
  };
in
rec {
  installer = { lib, ... }: {
    key = "cdktf-nixos-installer#installer";
    imports = [ ./installer-image ];
    nixosInstaller.installer.sources = lib.mkDefault sources;
  };
  host = { lib, ... }: {
    key = "cdktf-nixos-installer#host";
    imports = [ diskoUpstream impermanenceUpstream ./host ];
    # The host flake in /etc/nixos names its input by the indirect id
    # cdktf-nixos-installer: registered here (nixpkgs' nix.registry: `flake` gives a
    # `to` of type path with its narHash), `nix flake lock` and `nix flake update` on the
    # installed host resolve it to the source this system was built from, with no network
    # and no global registry. disko and impermanence are registered the same way, which
    # also puts their sources in the system's closure (registry.json names their store
    # paths): a rebuild on the host from the same flake.lock, its nodes GitHub revisions
    # or store paths alike, finds every input in the store by narHash and fetches
    # nothing. nixpkgs is left to nixpkgs' own registration (nixpkgs.flake.source, which
    # lib.nixosSystem sets). Defaults: point one elsewhere (a GitHub URL) to follow a branch.
    nix.registry = builtins.mapAttrs (_: src: { flake = lib.mkDefault src; })
      (builtins.intersectAttrs { cdktf-nixos-installer = null; disko = null; impermanence = null; } sources);
  };
  hcloud = ./hcloud.nix;
  initrd-unlock = ./initrd-unlock.nix;
  impermanence = {
    key = "cdktf-nixos-installer#impermanence";
    imports = [ impermanenceUpstream ./impermanence.nix ];
  };
  default = host;
}
