# Hetzner Cloud: virtio hardware and the serial console. Networking needs no
# special case here: runtime-info carries the /32 + on-link 172.31.1.1 and
# the IPv6 /64 via fe80::1, which nix/lib/networkd-networks.nix turns into routes.
{ config, lib, ... }:
let
  nixLib = import ../lib;
  cfg = config.nixosInstaller;
in
{
  # the shared nixosInstaller options; imported by path, so deduplicated
  imports = [ ./host/options.nix ];

  options.nixosInstaller.hcloud.enable = lib.mkOption {
    type = lib.types.bool;
    default = cfg.runtimeInfo != null && (cfg.runtimeInfo.hoster.kind or "") == "hcloud";
    defaultText = lib.literalExpression ''runtimeInfo.hoster.kind == "hcloud"'';
    description = "Settings for Hetzner Cloud servers (virtio disk and NIC drivers in the initrd, console on the serial port of the architecture, ttyS0 on x86_64 and ttyAMA0 on arm64, and on tty0).";
  };

  config = lib.mkIf cfg.hcloud.enable {
    boot.initrd.availableKernelModules = [ "virtio_pci" "virtio_scsi" "virtio_blk" "virtio_net" "sd_mod" "sr_mod" "ahci" ];
    # the Hetzner web console shows tty0; the serial port (ttyS0 on cx/cpx/ccx,
    # ttyAMA0 on the arm64 cax) keeps the boot log. The last console= is /dev/console.
    boot.kernelParams = [ "console=${(nixLib.serialConsole cfg.validatedRuntimeInfo.system).serial},115200" "console=tty0" ];
  };
}
