# Stand-ins for what nixpkgs' NixOS declares, so that lib.evalModules of nixpkgs' lib can
# evaluate nixosModules.host with the real disko and impermanence modules but without
# nixpkgs (which this machine cannot fetch).
#
# What is a stand-in, and what it keeps of the real thing:
#  - every NixOS option our modules, disko and impermanence set or read: `standIn`
#    values (attribute sets merge, lists concatenate, other values must agree, as
#    with attrsOf/listOf/mergeEqualOption), except these, declared with nixpkgs' types:
#      fileSystems.<name>.{device,fsType,options,neededForBoot,mountPoint}
#        (nixos/modules/tasks/filesystems.nix)
#      boot.supportedFilesystems (list or attrs of bool, ibid.)
#      boot.loader.grub.{enable,devices,mirroredBoots,efiSupport,efiInstallAsRemovable,
#        configurationLimit} and boot.loader.efi.{canTouchEfiVariables,efiSysMountPoint}
#        (nixos/modules/system/boot/loader/grub/grub.nix, .../efi.nix)
#  - what grub.nix derives and asserts, written here again: the `/boot` entry of
#    mirroredBoots made from `devices`, and its assertions (a device twice is refused
#    only without EFI support, every entry needs devices and absolute paths, removable
#    needs EFI support and no EFI variables)
#  - `utils` (nixos/lib/utils.nix): pathsNeededForBoot and escapeSystemdPath
#  - `pkgs`: builders return placeholder store paths; callPackage really calls
#  - nix.registry.<name>.{from,to,flake,exact} (nixos/modules/config/nix-flakes.nix),
#    with what it derives: `from` the indirect id of the name, and from `flake` a `to`
#    of type path with the flake's outPath and its lastModified, rev, revCount and
#    narHash; the registry.json it writes is not restated
#  - `modulesPath` points nowhere for the host (nothing evaluated there imports from
#    it), and at ./stand-in-modules for the installer (empty netboot.nix, minimal.nix)
{ lib, config, ... }:
let
  inherit (lib) mkOption types;

  standIn = lib.mkOptionType {
    name = "nixpkgs stand-in";
    description = "value of an option nixpkgs declares (stand-in)";
    check = _: true;
    merge = loc: defs:
      let first = (builtins.head defs).value; in
      if builtins.all (d: builtins.isAttrs d.value && !(lib.isDerivation d.value)) defs then (types.lazyAttrsOf standIn).merge loc defs
      else if builtins.all (d: builtins.isList d.value) defs then builtins.concatLists (map (d: d.value) defs)
      else lib.mergeEqualOption loc defs;
  };
  freeform = types.lazyAttrsOf standIn;
  opt = mkOption { type = standIn; default = { }; };

  # nix-flakes.nix: a flake reference as attributes
  referenceAttrs = types.attrsOf (types.oneOf [ types.str types.int types.bool types.path types.package ]);

  grubCfg = config.boot.loader.grub;
  efiCfg = config.boot.loader.efi;
in
{
  options = {
    assertions = mkOption { type = types.listOf types.unspecified; default = [ ]; };
    warnings = mkOption { type = types.listOf types.str; default = [ ]; };
    fileSystems = mkOption {
      default = { };
      type = types.attrsOf (types.submodule ({ name, ... }: {
        freeformType = freeform;
        options = {
          mountPoint = mkOption { type = types.str; default = name; };
          device = mkOption { type = types.nullOr types.str; default = null; };
          fsType = mkOption { type = types.str; default = "auto"; };
          options = mkOption { type = types.listOf types.str; default = [ "defaults" ]; };
          neededForBoot = mkOption { type = types.bool; default = false; };
        };
      }));
    };
    boot = mkOption {
      default = { };
      type = types.submodule {
        freeformType = freeform;
        options.supportedFilesystems = mkOption {
          type = types.coercedTo (types.listOf types.str) (l: lib.genAttrs l (_: true)) (types.attrsOf types.bool);
          default = { };
        };
        options.loader = {
          grub = mkOption {
            default = { };
            type = types.submodule {
              freeformType = freeform;
              options = {
                enable = mkOption { type = types.bool; default = false; };
                devices = mkOption { type = types.listOf types.str; default = [ ]; };
                efiSupport = mkOption { type = types.bool; default = false; };
                efiInstallAsRemovable = mkOption { type = types.bool; default = false; };
                configurationLimit = mkOption { type = types.int; default = 100; };
                mirroredBoots = mkOption {
                  default = [ ];
                  type = types.listOf (types.submodule {
                    options = {
                      path = mkOption { type = types.str; };
                      efiSysMountPoint = mkOption { type = types.nullOr types.str; default = null; };
                      efiBootloaderId = mkOption { type = types.nullOr types.str; default = null; };
                      devices = mkOption { type = types.listOf types.str; default = [ ]; };
                    };
                  });
                };
              };
            };
          };
          efi = {
            canTouchEfiVariables = mkOption { type = types.bool; default = false; };
            efiSysMountPoint = mkOption { type = types.str; default = "/boot"; };
          };
        };
      };
    };
    environment = {
      etc = opt;
      systemPackages = opt;
      defaultPackages = opt;
    };
    nix = mkOption {
      default = { };
      type = types.submodule {
        freeformType = freeform;
        options.registry = mkOption {
          default = { };
          type = types.attrsOf (types.submodule ({ config, name, ... }: {
            options = {
              from = mkOption { type = referenceAttrs; };
              to = mkOption { type = referenceAttrs; };
              flake = mkOption { type = types.nullOr types.attrs; default = null; };
              exact = mkOption { type = types.bool; default = true; };
            };
            config = {
              from = lib.mkDefault { type = "indirect"; id = name; };
              to = lib.mkIf (config.flake != null) (lib.mkDefault ({ type = "path"; path = config.flake.outPath; }
                // lib.filterAttrs (n: _: builtins.elem n [ "lastModified" "rev" "revCount" "narHash" ]) config.flake));
            };
          }));
        };
      };
    };
    documentation = opt;
    programs = opt;
    fonts = opt;
    security = opt;
    hardware = opt;
    netboot = opt;
    networking = opt;
    systemd = opt;
    services = opt;
    users = opt;
    system = opt;
    swapDevices = opt;
    nixpkgs = opt;
  };

  config = {
    _module.args = {
      utils = {
        pathsNeededForBoot = [ "/" "/nix" "/nix/store" "/var" "/var/log" "/var/lib" "/var/lib/nixos" "/etc" "/usr" ];
        escapeSystemdPath = s: builtins.replaceStrings [ "/" "-" " " ] [ "-" "\\x2d" "\\x20" ] (lib.removePrefix "/" s);
      };
      pkgs =
        let
          drv = name: { type = "derivation"; name = name; outPath = "/nix/store/00000000000000000000000000000000-${name}"; };
        in
        {
          inherit lib;
          callPackage = fn: args:
            let f = if builtins.isFunction fn then fn else import fn; in
            f (builtins.intersectAttrs (builtins.functionArgs f) { inherit lib; } // args);
          runCommand = name: _: _: drv name;
          writeShellScript = name: _: drv name;
          writeShellApplication = { name, ... }: drv name;
          writeText = name: _: drv name;
          bash = drv "bash";
        };
    };
    # what the nixpkgs modules would default (so the stand-ins can be interpolated)
    boot.zfs.package = lib.mkDefault { type = "derivation"; name = "zfs"; outPath = "/nix/store/00000000000000000000000000000000-zfs"; };
    boot.initrd.systemd.package = lib.mkDefault { type = "derivation"; name = "systemd"; outPath = "/nix/store/00000000000000000000000000000000-systemd"; };

    # grub.nix: `devices` is the /boot entry of mirroredBoots, and its assertions
    boot.loader.grub.mirroredBoots = lib.optionals (grubCfg.devices != [ ]) [
      { path = "/boot"; inherit (grubCfg) devices; inherit (efiCfg) efiSysMountPoint; }
    ];
    assertions = lib.optionals grubCfg.enable ([
      {
        assertion = grubCfg.mirroredBoots != [ ];
        message = "grub.nix: You must set the option ‘boot.loader.grub.devices’ or 'boot.loader.grub.mirroredBoots' to make the system bootable.";
      }
      {
        assertion = grubCfg.efiSupport || (let all = builtins.concatMap (b: b.devices) grubCfg.mirroredBoots; in
          builtins.all (d: d == "nodev" || builtins.length (builtins.filter (x: x == d) all) < 2) all);
        message = "grub.nix: You cannot have duplicated devices in mirroredBoots";
      }
      {
        assertion = grubCfg.efiInstallAsRemovable -> grubCfg.efiSupport;
        message = "grub.nix: If you wish to to use boot.loader.grub.efiInstallAsRemovable, then turn on boot.loader.grub.efiSupport";
      }
      {
        assertion = grubCfg.efiInstallAsRemovable -> !efiCfg.canTouchEfiVariables;
        message = "grub.nix: If you wish to to use boot.loader.grub.efiInstallAsRemovable, then turn off boot.loader.efi.canTouchEfiVariables";
      }
    ] ++ builtins.concatMap (b: [
      { assertion = b.devices != [ ]; message = "grub.nix: A boot path cannot have an empty devices string in ${b.path}"; }
      { assertion = lib.hasPrefix "/" b.path; message = "grub.nix: Boot paths must be absolute, not ${b.path}"; }
      { assertion = b.efiSysMountPoint == null || lib.hasPrefix "/" b.efiSysMountPoint; message = "grub.nix: EFI paths must be absolute, not ${toString b.efiSysMountPoint}"; }
    ] ++ map (d: { assertion = d == "nodev" || lib.hasPrefix "/" d; message = "grub.nix: GRUB devices must be absolute paths, not ${d} in ${b.path}"; }) b.devices) grubCfg.mirroredBoots);
  };
}
