# { runtimeInfo, poolName ? "rpool" } -> what the Nix side derives from a
# runtime-info, as plain data: the same functions the host module uses, so a
# test (or the lab) can compare the installed system's view with do-install's.
{ runtimeInfo, poolName ? "rpool" }:
let
  ri = import ./read-runtime-info.nix runtimeInfo;
  layout = import ./disko-layout.nix { runtimeInfo = ri; inherit poolName; };
  # disk0, disk1, … in runtime-info order (attrNames would put disk10 before disk2)
  diskNames = builtins.genList (i: "disk${toString i}") (builtins.length ri.disks);
in
# forcing ri first makes an invalid file fail before any output is printed
builtins.seq ri {
  inherit (ri) hostName system bootMode;
  hostId = import ./host-id-from-host-name.nix ri.hostName;
  networks = import ./networkd-networks.nix ri;
  disko = layout;
  partlabels = builtins.concatLists (map
    (name: map (part: "disk-${name}-${part}") [ "bios" "esp" "zfs" ])
    diskNames);
  # every disk's ESP and the disk its GRUB BIOS stage goes to ("nodev" on arm64)
  bootMirrors = import ./boot-mirrors.nix ri;
  pool = {
    name = poolName;
    vdevs = map (name: "/dev/disk/by-partlabel/disk-${name}-zfs") diskNames;
    mode = layout.zpool.${poolName}.mode;
    datasets = builtins.attrNames layout.zpool.${poolName}.datasets;
    blankSnapshot = "${poolName}/local/root@blank";
  };
}
