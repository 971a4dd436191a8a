# nixosModules.host (and nixosModules.impermanence) evaluated with nixpkgs' real
# lib.evalModules, disko's real module and impermanence's real module, against one
# runtime-info; the NixOS options only nixpkgs declares are stand-ins (./stand-ins.nix).
#
#   nix-instantiate --eval --strict --json __tests__/nix/upstream/eval-host.nix \
#     --arg upstream /work/upstream --arg runtimeInfo ./__tests__/fixtures/runtime-info/hcloud-x86-fsn1.json \
#     [--arg impermanence true] [--arg importImpermanenceModule true]
#     [--argstr lockedJson '{"cdktf-nixos-installer": {...}}'] [--arg hostModules '[ { ... } ]']
#
# lockedJson: the flake's sources as the flake passes them (`self` as
# cdktf-nixos-installer), made into flake inputs as eval-installer.nix does; without it
# the modules get none.
{ upstream, runtimeInfo, impermanence ? false, importImpermanenceModule ? false, poolName ? "rpool", lockedJson ? "{}", hostModules ? [ ] }:
let
  lib = import (upstream + "/nixpkgs-lib/lib");
  sources = builtins.mapAttrs (_: l: builtins.removeAttrs l [ "path" "type" ] // { outPath = builtins.appendContext l.path { ${l.path} = { path = true; }; }; }) (builtins.fromJSON lockedJson);
  # the flake inputs as their flakes export them
  modules = import ../../../nix/modules/flake-modules.nix {
    disko.nixosModules.disko = upstream + "/disko/module.nix";
    impermanence.nixosModules.impermanence = import (upstream + "/impermanence/nixos.nix");
    inherit sources;
  };
  ri = builtins.fromJSON (builtins.readFile runtimeInfo);
  eval = lib.evalModules {
    specialArgs.modulesPath = "/nonexistent/nixpkgs/nixos/modules";
    modules = [
      ./stand-ins.nix
      modules.host
      {
        nixosInstaller.runtimeInfo = ri;
        nixosInstaller.pool = poolName;
        nixosInstaller.authorizedKeys = [ "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGNoZWNrLW9ubHktbm90LWEtcmVhbC1rZXktMDAw check@example" ];
        nixosInstaller.impermanence.enable = impermanence;
      }
    ] ++ lib.optional importImpermanenceModule modules.impermanence ++ hostModules;
  };
  c = eval.config;
  grub = c.boot.loader.grub;
  persist = c.environment.persistence."/persist" or null;
in
{
  failedAssertions = map (a: a.message) (builtins.filter (a: !a.assertion) c.assertions);
  fileSystems = lib.mapAttrs (_: fs: { inherit (fs) device fsType options neededForBoot; }) c.fileSystems;
  grub = {
    inherit (grub) devices efiSupport efiInstallAsRemovable configurationLimit;
    mirroredBoots = map (b: { inherit (b) path devices efiSysMountPoint; }) grub.mirroredBoots;
  };
  efi = c.boot.loader.efi;
  kernelParams = c.boot.kernelParams or [ ];
  networks = c.systemd.network.networks;
  initrdNetworks = c.boot.initrd.systemd.network.networks;
  hostId = c.networking.hostId;
  etc = builtins.attrNames (c.environment.etc or { });
  etcNixos = c.environment.etc."nixos".source or null;
  persistence = if persist == null then null else {
    directories = map (d: d.directory) persist.directories;
    files = map (f: f.file) persist.files;
  };
  persistedPathsFile = c.environment.etc."cdktf-nixos-installer/persisted-paths".text or null;
  rollback = c.boot.initrd.systemd.services.nixos-installer-rollback-root.script or null;
  initrdExtraBin = builtins.attrNames (c.boot.initrd.systemd.extraBin or { });
  registry = builtins.mapAttrs (_: r: { inherit (r) from to exact; }) c.nix.registry;
  # disko's own view of the layout, through its types: every default it fills in
  # (partition labels and numbers, sgdisk ranges, dataset names) and its create script
  disko = {
    disks = lib.mapAttrs (_: d: {
      inherit (d) device;
      partitions = map (p: {
        index = p._index;
        inherit (p) label type start end;
        format = p.content.format or null;
        extraArgs = p.content.extraArgs or null;
        mountpoint = p.content.mountpoint or null;
        mountOptions = p.content.mountOptions or null;
        pool = p.content.pool or null;
      }) (lib.sort (a: b: a._index < b._index) (builtins.attrValues d.content.partitions));
    }) c.disko.devices.disk;
    pools = lib.mapAttrs (_: z: {
      inherit (z) mode options rootFsOptions;
      datasets = map (ds: {
        name = ds._name;
        inherit (ds) options mountpoint;
        postCreateHook = ds.postCreateHook;
      }) (builtins.attrValues (builtins.removeAttrs z.datasets [ "__root" ]));
    }) c.disko.devices.zpool;
  };
  diskoCreate = c.disko.devices._create;
}
