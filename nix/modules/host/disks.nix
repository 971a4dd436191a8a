# Disk layout (disko) from runtime-info: the layout do-install creates.
{ config, lib, ... }:
let
  nixLib = import ../../lib;
  cfg = config.nixosInstaller;
  ri = cfg.validatedRuntimeInfo;
in
{
  config = lib.mkIf (cfg.runtimeInfo != null) {
    disko.devices = nixLib.diskoLayout { runtimeInfo = ri; poolName = cfg.pool; };

    # host keys and (with impermanence) bind mounts come from /persist
    fileSystems."/persist".neededForBoot = true;

    boot.supportedFilesystems = [ "zfs" ];
    # The pool's disks must be visible in stage 1 on any machine the chain installs:
    # no nixos-generate-config ran, so the drivers of virtual (virtio, SCSI) and
    # server (NVMe, AHCI) disks are loaded when present (each is a few kB).
    boot.initrd.availableKernelModules = [ "virtio_pci" "virtio_blk" "virtio_scsi" "nvme" "ahci" "sd_mod" ];
    networking.hostId = lib.mkDefault (nixLib.hostIdFromHostName ri.hostName);

    # The pool is created on GPT partition labels (disk-diskN-zfs); these exist on
    # every machine, unlike /dev/disk/by-id on virtio-blk disks without a serial.
    boot.zfs.devNodes = lib.mkDefault "/dev/disk/by-partlabel";
    # ask for the passphrase in the initrd (answered over SSH by `unlock`)
    boot.zfs.requestEncryptionCredentials = true;
    # the pool was exported by do-install, so a forced import is never needed
    boot.zfs.forceImportRoot = lib.mkDefault false;

    services.zfs.autoScrub.enable = lib.mkDefault true;
    services.zfs.trim.enable = lib.mkDefault true;
  };
}
