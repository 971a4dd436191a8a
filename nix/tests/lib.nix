# Cases for the pure functions in nix/lib, against the runtime-info fixtures
# in __tests__/fixtures/runtime-info/ and the bad inputs in ./bad/.
# Each case is { actual; expected; }; ./default.nix runs them.
let
  lib = import ../lib;
  fixture = name: lib.readRuntimeInfo (../../__tests__/fixtures/runtime-info + "/${name}.json");
  x86 = fixture "hcloud-x86-fsn1";
  privnet = fixture "hcloud-x86-private-networks";
  cax11 = fixture "hcloud-cax11-ipv6-only";
  dedicated = fixture "dedicated-two-nvme-uefi";

  throws = v: !(builtins.tryEval (builtins.deepSeq v v)).success;
  bad = name: lib.readRuntimeInfo (./bad + "/${name}.json");
in
{
  "every fixture validates and keeps its hostName" = {
    actual = map (ri: ri.hostName) [ x86 privnet cax11 dedicated ];
    expected = [ "web-1" "db-1" "arm-1" "storage-1" ];
  };

  "hostId is 8 hex characters, the start of sha256(hostName)" = {
    actual = lib.hostIdFromHostName "web-1";
    expected = builtins.substring 0 8 (builtins.hashString "sha256" "web-1");
  };
  "hostId is stable and differs between hosts" = {
    actual = [
      (builtins.match "[0-9a-f]{8}" (lib.hostIdFromHostName "db-1") != null)
      (lib.hostIdFromHostName "db-1" == lib.hostIdFromHostName "db-1")
      (lib.hostIdFromHostName "db-1" != lib.hostIdFromHostName "db-2")
    ];
    expected = [ true true true ];
  };

  "hcloud IPv4 /32 gets the on-link gateway 172.31.1.1, IPv6 /64 goes via fe80::1" = {
    actual = (lib.networkdNetworks x86)."10-eth0";
    expected = {
      matchConfig = { MACAddress = "96:00:01:47:75:f9"; Type = "ether"; };
      linkConfig.MTUBytes = "1500";
      address = [ "23.88.115.30/32" "2a01:4f8:c012:de47::1/64" ];
      routes = [
        { Gateway = "172.31.1.1"; GatewayOnLink = true; }
        { Gateway = "fe80::1"; }
      ];
      networkConfig = { IPv6AcceptRA = false; DHCP = "no"; };
      dns = [ "185.12.64.1" "185.12.64.2" ];
    };
  };
  "an IPv4 gateway inside the subnet is not marked on-link" = {
    actual = (lib.networkdNetworks dedicated)."10-enp41s0".routes;
    expected = [ { Gateway = "148.251.77.1"; } { Gateway = "fe80::1"; } ];
  };
  "IPv6-only hosts get no IPv4 route" = {
    actual = (lib.networkdNetworks cax11)."10-enp1s0".routes;
    expected = [ { Gateway = "fe80::1"; } ];
  };
  "hcloud private networks keep their address, add DHCPv4 for the network route, never a default route or DNS" = {
    actual = let n = (lib.networkdNetworks privnet)."10-enp7s0"; in {
      inherit (n) address routes;
      dhcp = n.networkConfig.DHCP;
      inherit (n) dhcpV4Config;
      mtu = n.linkConfig.MTUBytes;
      hasDns = n ? dns;
    };
    expected = {
      address = [ "10.2.0.2/32" ];
      routes = [ ];
      dhcp = "ipv4";
      dhcpV4Config = { UseDNS = false; UseGateway = false; };
      mtu = "1450";
      hasDns = false;
    };
  };
  "one network per interface, matched by MAC, then on hcloud one for every other card" = {
    actual = builtins.mapAttrs (_: n: n.matchConfig) (lib.networkdNetworks privnet);
    expected = {
      "10-eth0" = { MACAddress = "96:00:02:63:00:bf"; Type = "ether"; };
      "10-enp7s0" = { MACAddress = "86:00:00:b5:6f:a9"; Type = "ether"; };
      "10-enp8s0" = { MACAddress = "86:00:00:b5:6f:ab"; Type = "ether"; };
      "90-hcloud-private" = { Type = "ether"; };
    };
  };
  "an alias IP follows the private IP before it onto that card, as /32" = {
    actual = builtins.mapAttrs (_: n: n.address) (lib.networkdNetworks (privnet // {
      hoster = privnet.hoster // { privateIps = [ "10.2.0.2" "10.2.0.9" "192.168.0.2" ]; };
    }));
    expected = {
      "10-eth0" = [ "95.217.186.98/32" ];
      "10-enp7s0" = [ "10.2.0.2/32" "10.2.0.9/32" ];
      "10-enp8s0" = [ "192.168.0.2/32" ];
      "90-hcloud-private" = [ ];
    };
  };
  "a private card probed without address: DHCP on every other card, with the alias IPs" = {
    actual = let n = (lib.networkdNetworks (x86 // {
      hoster = x86.hoster // { privateIps = [ "10.0.0.2" "10.0.0.5" ]; };
    }))."90-hcloud-private"; in { inherit (n) address; dhcp = n.networkConfig.DHCP; gw = n.dhcpV4Config.UseGateway; };
    expected = { address = [ "10.0.0.5/32" ]; dhcp = "ipv4"; gw = false; };
  };

  "one disk: disk0 with bios/esp/zfs, single-vdev pool" = {
    actual = let l = lib.diskoLayout { runtimeInfo = x86; }; in {
      disks = builtins.attrNames l.disk;
      device = l.disk.disk0.device;
      parts = builtins.mapAttrs (_: p: { inherit (p) size type; }) l.disk.disk0.content.partitions;
      boot = l.disk.disk0.content.partitions.esp.content.mountpoint;
      member = l.disk.disk0.content.partitions.zfs.content.pool;
      mode = l.zpool.rpool.mode;
    };
    expected = {
      disks = [ "disk0" ];
      device = "/dev/disk/by-id/scsi-0QEMU_QEMU_HARDDISK_127368955";
      parts = {
        bios = { size = "1M"; type = "EF02"; };
        esp = { size = "1G"; type = "EF00"; };
        zfs = { size = "100%"; type = "BF00"; };
      };
      boot = "/boot";
      member = "rpool";
      mode = "";
    };
  };
  "two disks make a mirror, each with its ESP mounted (/boot, /boot-1) and nofail" = {
    actual = let l = lib.diskoLayout { runtimeInfo = dedicated; }; in {
      mode = l.zpool.rpool.mode;
      espMounts = map (d: l.disk.${d}.content.partitions.esp.content.mountpoint) [ "disk0" "disk1" ];
      espOptions = map (d: l.disk.${d}.content.partitions.esp.content.mountOptions) [ "disk0" "disk1" ];
      devices = map (d: l.disk.${d}.device) [ "disk0" "disk1" ];
    };
    expected = {
      mode = "mirror";
      espMounts = [ "/boot" "/boot-1" ];
      espOptions = [ [ "umask=0077" "nofail" ] [ "umask=0077" "nofail" ] ];
      devices = map (d: d.path) dedicated.disks;
    };
  };
  "the pool is natively encrypted with a prompted passphrase" = {
    actual = let o = (lib.diskoLayout { runtimeInfo = x86; }).zpool.rpool.rootFsOptions; in
      { inherit (o) encryption keyformat keylocation mountpoint; };
    expected = { encryption = "aes-256-gcm"; keyformat = "passphrase"; keylocation = "prompt"; mountpoint = "none"; };
  };
  "datasets are legacy-mounted where DESIGN puts them, with a blank root snapshot" = {
    actual = let ds = (lib.diskoLayout { runtimeInfo = x86; poolName = "tank"; }).zpool.tank.datasets; in {
      mounts = builtins.mapAttrs (_: d: [ (d.mountpoint or null) d.options.mountpoint ]) ds;
      blank = ds."local/root".postCreateHook;
    };
    expected = {
      mounts = {
        "local" = [ null "none" ];
        "safe" = [ null "none" ];
        "local/root" = [ "/" "legacy" ];
        "local/nix" = [ "/nix" "legacy" ];
        "safe/persist" = [ "/persist" "legacy" ];
        "safe/home" = [ "/home" "legacy" ];
      };
      blank = "zfs snapshot tank/local/root@blank";
    };
  };
  "partlabels follow disko's disk-<disk>-<partition> naming" = {
    actual = (lib.hostFacts { runtimeInfo = dedicated; }).partlabels;
    expected = [
      "disk-disk0-bios" "disk-disk0-esp" "disk-disk0-zfs"
      "disk-disk1-bios" "disk-disk1-esp" "disk-disk1-zfs"
    ];
  };
  "every disk boots: its ESP and GRUB's BIOS stage on x86_64, EFI only on arm64" = {
    actual = map (ri: lib.bootMirrors ri) [ dedicated cax11 ];
    expected = [
      [
        { path = "/boot"; espLabel = "disk-disk0-esp"; device = (builtins.elemAt dedicated.disks 0).path; }
        { path = "/boot-1"; espLabel = "disk-disk1-esp"; device = (builtins.elemAt dedicated.disks 1).path; }
      ]
      [ { path = "/boot"; espLabel = "disk-disk0-esp"; device = "nodev"; } ]
    ];
  };
  "the serial console is ttyS0 on x86_64 and ttyAMA0 on arm64" = {
    actual = map (s: (lib.serialConsole s).serial) [ "x86_64-linux" "aarch64-linux" ];
    expected = [ "ttyS0" "ttyAMA0" ];
  };

  "authorized_keys text: comments and blank lines dropped, options kept" = {
    actual = lib.parseAuthorizedKeys ''
      # deploy keys
      ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA one@example

        from="10.0.0.0/8" ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB two@example  
    '';
    expected = [
      "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA one@example"
      ''from="10.0.0.0/8" ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB two@example''
    ];
  };

  "runtime-info version 2 is refused" = { actual = throws (bad "version-2"); expected = true; };
  "an invalid hostName is refused" = { actual = throws (bad "invalid-host-name"); expected = true; };
  "no disks, an unknown system, an upper-case MAC and an address without prefix are refused" = {
    actual = throws (bad "no-disks-upper-mac");
    expected = true;
  };
  "a missing runtime-info file is refused" = {
    actual = throws (lib.readRuntimeInfo ./bad/does-not-exist.json);
    expected = true;
  };
  "hostId refuses an empty hostName" = { actual = throws (lib.hostIdFromHostName ""); expected = true; };
}
