# Unlock over SSH in the systemd initrd: sshd on its own port with its own host
# key, the networks of runtime-info, and the `unlock` command that answers the
# pool's passphrase prompt (systemd-ask-password) with systemd-reply-password.
{ config, lib, pkgs, ... }:
let
  inherit (lib) mkOption types;
  nixLib = import ../lib;
  cfg = config.nixosInstaller;
  ucfg = cfg.unlock;
  ri = cfg.validatedRuntimeInfo;

  # nix/installer/unlock (target-side script, see docs/contracts.md), shellchecked
  # at build time. Its interpreter (pkgs.runtimeShell) is in every systemd
  # initrd already; the tools it calls are the initrd's /bin, listed with their
  # origin in nix/installer/commands.nix.
  unlock = pkgs.writeShellApplication {
    name = "unlock";
    runtimeInputs = [ ];
    text = builtins.readFile ../installer/unlock;
  };
  # what this project adds to the initrd's /bin (unlock, systemd-reply-password)
  ownBin = lib.foldl' (acc: c: acc // c.extraBin { inherit config pkgs unlock; }) { }
    (builtins.filter (c: c ? extraBin) (import ../installer/commands.nix).initrd.commands);
in
{
  # the shared nixosInstaller options; imported by path, so deduplicated
  imports = [ ./host/options.nix ];

  options.nixosInstaller.unlock = {
    enable = mkOption {
      type = types.bool;
      default = true;
      description = ''
        Run sshd in the systemd initrd so the pool's passphrase can be given over
        SSH (`ssh -p PORT root@HOST unlock < passphrase`). After a reboot of a host
        the chain installed, `npx cdktf-nixos-installer unlock NAME` does that with
        the pinned initrd key (README, "Day 2: after a reboot").
      '';
    };
    port = mkOption {
      type = types.port;
      default = 2222;
      description = ''
        Port of the initrd sshd. A port of its own keeps the initrd's host key
        apart from the installed system's in known_hosts (the chain's
        `unlockPort`).
      '';
    };
    hostKey = mkOption {
      type = types.str;
      default = "/persist/etc/secrets/initrd/ssh_host_ed25519_key";
      description = ''
        Private ed25519 host key of the initrd sshd, generated on the target by
        do-install. A string, not a path, on purpose: it is copied into the
        initrd as an initrd secret when the boot loader is installed and never
        enters the Nix store.
      '';
    };
    networkKernelModules = mkOption {
      type = types.listOf types.str;
      default = [ "virtio_net" "virtio_pci" "e1000e" "igb" "ixgbe" "i40e" "ice" "r8169" "bnxt_en" "tg3" "mlx5_core" ];
      defaultText = lib.literalExpression ''[ "virtio_net" "virtio_pci" … ] (virtio and common server NICs)'';
      description = ''
        Kernel modules for the network card, loaded in the initrd so the unlock
        sshd can be reached. The default covers virtio (clouds, VMs) and the NICs
        of common dedicated servers; add the driver of yours
        (`readlink /sys/class/net/IFACE/device/driver`).
      '';
    };
  };

  config = lib.mkIf (cfg.runtimeInfo != null && ucfg.enable) {
    boot.initrd.availableKernelModules = ucfg.networkKernelModules;

    boot.initrd.systemd.network = {
      enable = true;
      networks = nixLib.networkdNetworks ri;
    };

    boot.initrd.network = {
      enable = true;
      ssh = {
        enable = true;
        port = ucfg.port;
        hostKeys = [ ucfg.hostKey ];
        authorizedKeys = cfg.authorizedKeys;
      };
    };

    boot.initrd.systemd = {
      # `unlock` and systemd-reply-password on the PATH of the SSH session (zfs is
      # there through zfs.nix)
      extraBin = ownBin;
      storePaths = builtins.attrValues ownBin;
    };
  };
}
