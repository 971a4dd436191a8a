# The installer image that `nix build .#kexec` packs: a netboot NixOS (kernel +
# initrd holding a squashfs store) that run-installer kexecs into.
#
# What the chain relies on (docs/contracts.md):
#  - /etc/cdktf-nixos-installer/installer exists (role marker)
#  - sshd offers only /etc/ssh/ssh_host_ed25519_key and lets in the keys of
#    /etc/ssh/authorized_keys.d/root; both, and runtime-info.json, come from the
#    cpio run-installer appends to the initrd and are carried over to the root
#    file system in stage 1
#  - networking from runtime-info at boot (static, MAC-matched), DHCP otherwise
#  - do-install and the tools it calls are on PATH; the host template is at
#    /etc/cdktf-nixos-installer/template
#  - the sources it was built from (nixpkgs, this flake, disko, impermanence) are in
#    its store, in the system flake registry, and listed with their narHash in
#    /etc/cdktf-nixos-installer/sources.json, from which do-install locks the host flake
{ config, lib, pkgs, modulesPath, ... }:
let
  inherit (lib) mkOption types mkDefault;
  cfg = config.nixosInstaller.installer;

  # what the installer's scripts may call, from nix/installer/commands.nix (the tests
  # run them with exactly that on PATH): their runtimeInputs, nothing from the image's
  # own PATH
  installerTools = map (c: c.package { inherit pkgs config; })
    (builtins.filter (c: c ? package) (import ../../installer/commands.nix).installer.commands);
  script = name: pkgs.writeShellApplication {
    inherit name;
    runtimeInputs = installerTools;
    # nix/installer/NAME, shellchecked at build time by writeShellApplication
    text = builtins.readFile (../../installer + "/${name}");
  };
  doInstall = script "do-install";
  writeNetworkdUnits = script "write-networkd-units";

  # nix/installer/carry-payload, for stage 1: its interpreter and coreutils are in every
  # systemd initrd (initrd.nix initrdBin)
  carryPayload = pkgs.writeShellScript "carry-payload" (builtins.readFile ../../installer/carry-payload);

  serial = (import ../../lib/serial-console.nix pkgs.stdenv.hostPlatform.system).serial;

  # what do-install locks the host flake to: the registry's own locked references
  # (nix-flakes.nix derives `to` from `flake`), with how this flake names each source
  sourcesJson = import ../../lib/installer-sources.nix {
    flakeInputs = (import ../../../flake.nix).inputs;
    locked = builtins.mapAttrs (name: _: config.nix.registry.${name}.to) cfg.sources;
  };
in
{
  imports = [
    (modulesPath + "/installer/netboot/netboot.nix")
    (modulesPath + "/profiles/minimal.nix")
  ];

  options.nixosInstaller.installer = {
    extraPackages = mkOption {
      type = types.listOf types.package;
      default = [ ];
      description = "Extra packages in the installer image (each one adds to the download).";
    };
    sources = mkOption {
      type = types.attrsOf types.attrs;
      default = { };
      example = lib.literalExpression "{ cdktf-nixos-installer = self; inherit nixpkgs disko impermanence; }";
      description = ''
        The flakes the installer carries, by name: their sources go into its store and
        its flake registry (`nix.registry.<name>.flake`), and
        /etc/cdktf-nixos-installer/sources.json lists them for do-install, which locks
        the host flake to them so that nixos-install fetches no source (only the binary
        cache). `nixosModules.installer` of this flake sets this project's own flake
        and its inputs nixpkgs, disko and impermanence; each adds its source to the
        download (nixpkgs' is the largest; the size is not measured yet).
      '';
    };
    firmware = mkOption {
      type = types.bool;
      default = false;
      description = ''
        Include redistributable firmware (linux-firmware). Off by default: it
        adds several hundred MB and clouds and most server NICs work without
        it; turn it on for NICs that need firmware (some Broadcom/Realtek).
      '';
    };
  };

  config = lib.mkMerge [ {
    system.stateVersion = mkDefault config.system.nixos.release;
    networking.hostName = mkDefault "nixos-installer";
    # ZFS needs a host id; the installer imports no pool at boot, so any fixed one does
    networking.hostId = mkDefault "8425e349";

    boot.supportedFilesystems = [ "zfs" "vfat" ];
    boot.zfs.forceImportRoot = false;
    # ZFS's userspace with the smallest Python (arc_summary and friends, which the
    # installer never runs, are its only users) and no Samba for `zfs share`: about
    # 60 MB less (docs/decisions/nix-installer-image-size.md)
    boot.zfs.package = mkDefault (pkgs.zfs.override { python3 = pkgs.python3Minimal; samba = pkgs.coreutils; });

    # the serial port of the architecture (ttyS0, arm64's ttyAMA0) and the screen;
    # the last console= becomes /dev/console, as on the installed host
    boot.kernelParams = [ "console=${serial},115200" "console=tty0" ];

    # --- stage 1: carry the cpio's files over to the real root --------------
    boot.initrd.systemd.enable = true;
    boot.initrd.systemd.services.nixos-installer-carry-payload = {
      description = "Carry the files appended by run-installer to the root file system";
      wantedBy = [ "initrd.target" ];
      before = [ "initrd.target" "initrd-nixos-activation.service" ];
      unitConfig = {
        DefaultDependencies = false;
        RequiresMountsFor = "/sysroot";
      };
      serviceConfig = {
        Type = "oneshot";
        ExecStart = "${carryPayload}";
      };
    };
    boot.initrd.systemd.storePaths = [ carryPayload ];

    # --- role marker and the host template ----------------------------------
    environment.etc."cdktf-nixos-installer/installer".text = ''
      cdktf-nixos-installer ${config.system.nixos.version}
    '';
    environment.etc."cdktf-nixos-installer/template".source = ../../templates/host;

    # --- the sources the host flake is locked to (nothing fetched from GitHub) ----
    # The registry entry is the upstream way to pin a flake to a store path (nixpkgs'
    # nix-flakes.nix: `flake` gives `to = { type = "path"; path; narHash; ... }`); the
    # sources.json text refers to each path, which puts the source into the image's
    # store. nixpkgs-flake.nix would register nixpkgs as well, without its narHash:
    # ours is the one entry.
    nix.registry = builtins.mapAttrs (_: flake: { inherit flake; }) cfg.sources;
    nixpkgs.flake.setFlakeRegistry = mkDefault false;
    nixpkgs.flake.setNixPath = mkDefault false;
    # An id that is in neither the lock nor this registry fails at once instead of
    # fetching the global registry from channels.nixos.org (an empty flake-registry
    # turns it off: Nix's flake-registry setting).
    nix.settings.flake-registry = mkDefault "";

    # --- sshd: only the pinned key of the cpio -------------------------------
    services.openssh = {
      enable = true;
      hostKeys = [ { path = "/etc/ssh/ssh_host_ed25519_key"; type = "ed25519"; } ];
      settings = {
        PasswordAuthentication = false;
        KbdInteractiveAuthentication = false;
        PermitRootLogin = "prohibit-password";
      };
    };

    # --- networking ------------------------------------------------------------
    networking.useNetworkd = true;
    networking.useDHCP = false;
    systemd.network.enable = true;
    # fallback for machines without runtime-info (and for names sorting after 10-)
    systemd.network.networks."99-installer-dhcp" = {
      matchConfig.Type = "ether";
      networkConfig.DHCP = "yes";
    };
    # The networks of runtime-info (which arrives at boot, in the appended cpio) as the
    # installed system gets them: nix/lib/networkd-unit-files.nix, evaluated here with
    # nix-instantiate. networkd itself pulls the unit in and starts after it, so it
    # runs whether or not anything wants network-pre.target.
    systemd.services.nixos-installer-network = {
      description = "systemd-networkd units from runtime-info";
      wantedBy = [ "systemd-networkd.service" ];
      before = [ "systemd-networkd.service" "network-pre.target" ];
      unitConfig = {
        DefaultDependencies = false;
        ConditionPathExists = "/etc/cdktf-nixos-installer/runtime-info.json";
      };
      serviceConfig = {
        Type = "oneshot";
        RemainAfterExit = true;
        ExecStart = "${writeNetworkdUnits}/bin/write-networkd-units --nix-lib ${../../lib} --out /run/systemd/network";
      };
    };

    # --- tools -------------------------------------------------------------------
    environment.systemPackages = [ doInstall ] ++ installerTools ++ cfg.extraPackages;
    nix.settings.experimental-features = [ "nix-command" "flakes" ];

    # --- size: a headless installer needs none of this (docs/decisions/nix-installer-image-size.md)
    documentation.enable = mkDefault false;
    documentation.man.enable = mkDefault false;
    documentation.info.enable = mkDefault false;
    documentation.doc.enable = mkDefault false;
    documentation.nixos.enable = mkDefault false;
    environment.defaultPackages = mkDefault [ ];
    programs.command-not-found.enable = mkDefault false;
    fonts.fontconfig.enable = mkDefault false;
    services.udisks2.enable = mkDefault false;
    services.lvm.enable = mkDefault false;
    boot.bcache.enable = mkDefault false;
    boot.enableContainers = mkDefault false;
    security.sudo.enable = mkDefault false;
    nix.channel.enable = mkDefault false;
    system.disableInstallerTools = mkDefault true;
    hardware.enableRedistributableFirmware = cfg.firmware;
    boot.initrd.compressor = mkDefault "zstd";
    # The store squashfs (the bulk of the download): xz with the x86 branch filter
    # where it applies, smaller than netboot.nix's zstd default; its slower unpacking
    # costs seconds once, in RAM.
    netboot.squashfsCompression = mkDefault ("xz -Xdict-size 100%"
      + lib.optionalString pkgs.stdenv.hostPlatform.isx86 " -Xbcj x86");
  }
  # without sources there is no sources.json: do-install then stops before the layout
  (lib.mkIf (cfg.sources != { }) {
    environment.etc."cdktf-nixos-installer/sources.json".text = builtins.toJSON sourcesJson;
  }) ];
}
