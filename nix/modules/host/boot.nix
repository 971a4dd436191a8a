# GRUB with EFI support, installed as removable, so one layout boots on BIOS and UEFI
# x86_64 machines and on arm64 (EFI only); on every disk of a mirror, so the host boots
# with any one of them (nix/lib/boot-mirrors.nix).
{ config, lib, ... }:
let
  nixLib = import ../../lib;
  cfg = config.nixosInstaller;
  ri = cfg.validatedRuntimeInfo;
  mirrors = nixLib.bootMirrors ri;
  first = builtins.head mirrors;
in
{
  config = lib.mkIf (cfg.runtimeInfo != null) {
    boot.loader.grub = {
      enable = true;
      efiSupport = true;
      # removable path (EFI/BOOT/BOOTX64.EFI): no NVRAM entry needed, which
      # cloud firmware often forgets
      efiInstallAsRemovable = true;
      # Every generation whose kernel or initrd differs puts both on each 1 GiB ESP
      # (with ZFS and the unlock sshd, 60-100 MB a generation): nixpkgs' default of
      # 100 would fill it. 8 leaves room for a kernel update beside them.
      configurationLimit = lib.mkDefault 8;
      # `devices` is the /boot entry of mirroredBoots (grub.nix): disk 0 only.
      # disko would put every disk with an EF02 partition there, which points the
      # BIOS stage of every disk at disk 0's ESP; mkForce replaces that on purpose.
      devices = lib.mkForce [ first.device ];
      # disk N's ESP at /boot-N gets its own GRUB, kernels and BIOS stage
      mirroredBoots = map (m: { inherit (m) path; efiSysMountPoint = m.path; devices = [ m.device ]; })
        (builtins.tail mirrors);
    };
    boot.loader.efi = {
      canTouchEfiVariables = false;
      efiSysMountPoint = first.path;
    };

    # systemd in stage 1: needed for initrd networking with networkd, the unlock
    # flow through systemd-ask-password and the root rollback unit
    boot.initrd.systemd.enable = true;
  };
}
