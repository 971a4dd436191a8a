# { runtimeInfo, poolName ? "rpool" } -> value for `disko.devices`.
#
# The layout of docs/contracts.md, which do-install creates with sgdisk and zfs
# on the target (the names below ARE the contract: partlabels
# disk-diskN-bios|esp|zfs, dataset names):
#  - every disk in runtime-info order is diskN, GPT with
#      bios  EF02  1M    GRUB's core image on legacy-BIOS machines
#      esp   EF00  1G    FAT32 (mkfs.vfat -F 32); disk0's at /boot, diskN's at /boot-N
#                        (./boot-mirrors.nix): GRUB and the kernels go to every one,
#                        and each is `nofail`, so a dead disk stops neither boot nor
#                        switch
#      zfs   BF00  rest  member of the pool
#  - one pool, mirrored across all disks when there are two or more, natively
#    encrypted (aes-256-gcm, passphrase, keylocation=prompt) at its root dataset
#  - datasets local/root (/), local/nix (/nix), safe/persist (/persist),
#    safe/home (/home), all mountpoint=legacy (mounted through fileSystems),
#    under local and safe (mountpoint=none), and the snapshot local/root@blank
#    taken right after creation.
# Every property here is one do-install sets, and nothing more: __tests__/vm/do-install.test.ts
# reads the pool back from a real disk and compares it with this file.
{ runtimeInfo, poolName ? "rpool" }:
let
  mirrors = import ./boot-mirrors.nix runtimeInfo;
  imap = f: list: builtins.genList (i: f i (builtins.elemAt list i)) (builtins.length list);

  legacy = mountpoint: {
    type = "zfs_fs";
    inherit mountpoint;
    options.mountpoint = "legacy";
  };

  container = {
    type = "zfs_fs";
    options.mountpoint = "none";
  };

  disk = i: d: {
    name = "disk${toString i}";
    value = {
      type = "disk";
      device = d.path;
      content = {
        type = "gpt";
        partitions = {
          bios = { priority = 1; size = "1M"; type = "EF02"; };
          esp = {
            priority = 2;
            size = "1G";
            type = "EF00";
            content = {
              type = "filesystem";
              format = "vfat";
              extraArgs = [ "-F" "32" ];
              mountpoint = (builtins.elemAt mirrors i).path;
              mountOptions = [ "umask=0077" "nofail" ];
            };
          };
          zfs = {
            priority = 3;
            size = "100%";
            type = "BF00";
            content = { type = "zfs"; pool = poolName; };
          };
        };
      };
    };
  };
in
{
  disk = builtins.listToAttrs (imap disk runtimeInfo.disks);
  zpool.${poolName} = {
    type = "zpool";
    mode = if builtins.length runtimeInfo.disks >= 2 then "mirror" else "";
    options = {
      ashift = "12";
      autotrim = "on";
    };
    rootFsOptions = {
      encryption = "aes-256-gcm";
      keyformat = "passphrase";
      keylocation = "prompt";
      compression = "zstd";
      acltype = "posix";
      xattr = "sa";
      atime = "off";
      mountpoint = "none";
    };
    datasets = {
      "local" = container;
      "safe" = container;
      "local/root" = legacy "/" // {
        postCreateHook = "zfs snapshot ${poolName}/local/root@blank";
      };
      "local/nix" = legacy "/nix";
      "safe/persist" = legacy "/persist";
      "safe/home" = legacy "/home";
    };
  };
}
