# { runtimeInfo, poolName ? "rpool" } -> what the Nix side derives from a
# runtime-info, as plain data: the same functions the host module uses, so a
# test (or the lab) can compare the installed system's view with do-install's.
{ runtimeInfo, poolName ? "rpool" }:
let
  ri = import ./read-runtime-info.nix runtimeInfo;
  layout = import ./disko-layout.nix { runtimeInfo = ri; inherit poolName; };
in
# forcing ri first makes an invalid file fail before any output is printed
builtins.seq ri {
  inherit (ri) hostName system bootMode;
  hostId = import ./host-id-from-host-name.nix ri.hostName;
  networks = import ./networkd-networks.nix ri;
  disko = layout;
  partlabels = builtins.concatLists (map
    (name: map (part: "disk-${name}-${part}") [ "bios" "esp" "zfs" ])
    (builtins.attrNames layout.disk));
  bootDevice = "/dev/disk/by-partlabel/disk-disk0-esp";
  # legacy-BIOS GRUB goes to every disk on x86_64; arm64 boots through EFI only
  grubDevices =
    if ri.system == "x86_64-linux" then map (d: d.path) ri.disks else [ "nodev" ];
  pool = {
    name = poolName;
    vdevs = map (name: "/dev/disk/by-partlabel/disk-${name}-zfs") (builtins.attrNames layout.disk);
    mode = layout.zpool.${poolName}.mode;
    datasets = builtins.attrNames layout.zpool.${poolName}.datasets;
    blankSnapshot = "${poolName}/local/root@blank";
  };
}
