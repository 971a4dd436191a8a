# Hetzner Cloud: virtio hardware and the serial console. Networking needs no
# special case here: runtime-info carries the /32 + on-link 172.31.1.1 and
# the IPv6 /64 via fe80::1, which nix/lib/networkd-networks.nix turns into routes.
{ config, lib, ... }:
let
  cfg = config.nixosInstaller;
in
{
  # the shared nixosInstaller options; imported by path, so deduplicated
  imports = [ ./host/options.nix ];

  options.nixosInstaller.hcloud.enable = lib.mkOption {
    type = lib.types.bool;
    default = cfg.runtimeInfo != null && (cfg.runtimeInfo.hoster.kind or "") == "hcloud";
    defaultText = lib.literalExpression ''runtimeInfo.hoster.kind == "hcloud"'';
    description = "Settings for Hetzner Cloud servers (virtio disk and NIC drivers in the initrd, console on ttyS0 and tty0).";
  };

  config = lib.mkIf cfg.hcloud.enable {
    boot.initrd.availableKernelModules = [ "virtio_pci" "virtio_scsi" "virtio_blk" "virtio_net" "sd_mod" "sr_mod" "ahci" ];
    # the Hetzner web console shows tty0; ttyS0 is kept for `hcloud server request-console` logs
    boot.kernelParams = [ "console=ttyS0,115200" "console=tty0" ];
  };
}
