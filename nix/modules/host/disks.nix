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
