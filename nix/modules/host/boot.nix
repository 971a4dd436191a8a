# GRUB with EFI support, installed as removable, so one layout boots on BIOS
# and UEFI x86_64 machines and on arm64 (EFI only).
{ config, lib, ... }:
let
  cfg = config.nixosInstaller;
  ri = cfg.validatedRuntimeInfo;
in
{
  config = lib.mkIf (cfg.runtimeInfo != null) {
    boot.loader.grub = {
      enable = true;
      efiSupport = true;
      # removable path (EFI/BOOT/BOOTX64.EFI): no NVRAM entry needed, which
      # cloud firmware often forgets
      efiInstallAsRemovable = true;
      # devices: disko adds every disk with an EF02 partition (x86_64 BIOS
      # stage). arm64 has no BIOS stage, so nothing but the ESP; mkForce
      # overrides disko's entries on purpose.
      devices = lib.mkIf (ri.system != "x86_64-linux") (lib.mkForce [ "nodev" ]);
    };
    boot.loader.efi = {
      canTouchEfiVariables = false;
      efiSysMountPoint = "/boot";
    };

    # systemd in stage 1: needed for initrd networking with networkd, the unlock
    # flow through systemd-ask-password and the root rollback unit
    boot.initrd.systemd.enable = true;
  };
}
