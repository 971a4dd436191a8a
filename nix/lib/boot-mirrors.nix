# runtime-info -> where each disk's ESP is mounted and which disk GRUB's BIOS stage goes
# to, one entry a disk in runtime-info order:
#   [ { path = "/boot"; espLabel = "disk-disk0-esp"; device = "/dev/disk/by-id/…"; } … ]
# Disk 0's ESP is /boot, disk N's is /boot-N (do-install mounts them there too). Every
# ESP gets the kernels and a removable EFI loader (grub's mirroredBoots), so any one
# disk of a mirror boots the host. `device` is the disk for GRUB's BIOS stage on
# x86_64 and "nodev" on arm64, which boots through EFI only.
let
  serial = import ./serial-console.nix;
in
runtimeInfo:
builtins.genList
  (i:
    let d = builtins.elemAt runtimeInfo.disks i; in
    {
      path = if i == 0 then "/boot" else "/boot-${toString i}";
      espLabel = "disk-disk${toString i}-esp";
      device = if (serial runtimeInfo.system).biosBoot then d.path else "nodev";
    })
  (builtins.length runtimeInfo.disks)
