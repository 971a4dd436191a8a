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
{ config, lib, pkgs, modulesPath, ... }:
let
  inherit (lib) mkOption types mkDefault;
  cfg = config.nixosInstaller.installer;

  doInstallTools = [
    pkgs.gptfdisk # sgdisk
    pkgs.dosfstools # mkfs.vfat
    config.boot.zfs.package # zpool, zfs
    pkgs.util-linux # wipefs, lsblk, mount, blkid
    pkgs.openssh # ssh-keygen
    config.system.build.nixos-install
    pkgs.jq
    pkgs.coreutils
    pkgs.gzip
    pkgs.cpio
    pkgs.curl
    pkgs.gitMinimal # flake inputs of type git, and nix's flake handling
    pkgs.systemd # udevadm settle after partitioning
    pkgs.parted # partprobe
  ];

  # nix/installer/do-install, shellchecked at build time by writeShellApplication
  doInstall = pkgs.writeShellApplication {
    name = "do-install";
    runtimeInputs = doInstallTools;
    text = builtins.readFile ../../installer/do-install;
  };

  networkFromRuntimeInfo = pkgs.writeShellApplication {
    name = "network-from-runtime-info";
    runtimeInputs = [ pkgs.jq pkgs.coreutils ];
    text = builtins.readFile ./network-from-runtime-info.sh;
  };

  # files of the appended cpio that must survive the switch to the real root
  carriedFiles = [
    "etc/ssh/ssh_host_ed25519_key"
    "etc/ssh/ssh_host_ed25519_key.pub"
    "etc/ssh/authorized_keys.d/root"
    "etc/cdktf-nixos-installer/runtime-info.json"
  ];
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

  config = {
    system.stateVersion = mkDefault config.system.nixos.release;
    networking.hostName = mkDefault "nixos-installer";
    # ZFS needs a host id; the installer imports no pool at boot, so any fixed one does
    networking.hostId = mkDefault "8425e349";

    boot.supportedFilesystems = [ "zfs" "vfat" ];
    boot.zfs.forceImportRoot = false;

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
      serviceConfig.Type = "oneshot";
      script = lib.concatMapStrings (f: ''
        if [ -e /${f} ]; then
          mkdir -p "$(dirname /sysroot/${f})"
          cp -p /${f} /sysroot/${f}
        fi
      '') carriedFiles + ''
        [ ! -e /sysroot/etc/ssh/ssh_host_ed25519_key ] || chmod 0600 /sysroot/etc/ssh/ssh_host_ed25519_key
      '';
    };

    # --- role marker and the host template ----------------------------------
    environment.etc."cdktf-nixos-installer/installer".text = ''
      cdktf-nixos-installer ${config.system.nixos.version}
    '';
    environment.etc."cdktf-nixos-installer/template".source = ../../templates/host;

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
    systemd.services.nixos-installer-network = {
      description = "systemd-networkd units from runtime-info";
      wantedBy = [ "network-pre.target" ];
      before = [ "network-pre.target" "systemd-networkd.service" ];
      wants = [ "network-pre.target" ];
      serviceConfig = {
        Type = "oneshot";
        RemainAfterExit = true;
        ExecStart = "${networkFromRuntimeInfo}/bin/network-from-runtime-info";
      };
    };

    # --- tools -------------------------------------------------------------------
    environment.systemPackages = [ doInstall ] ++ doInstallTools ++ cfg.extraPackages;
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
  };
}
