# Every runtime-info fixture of this system builds into a whole NixOS system
# through lib.mkHost (disko layout, GRUB, networkd, initrd unlock).
{ pkgs, mkHost, system }:
let
  dir = ../../__tests__/fixtures/runtime-info;
  fixtures = builtins.filter (n: builtins.match ".*\\.json" n != null) (builtins.attrNames (builtins.readDir dir));
  infos = map (n: builtins.fromJSON (builtins.readFile (dir + "/${n}"))) fixtures;
  mine = builtins.filter (ri: ri.system == system) infos;
  host = ri: mkHost {
    runtimeInfo = ri;
    authorizedKeys = [ "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGNoZWNrLW9ubHktbm90LWEtcmVhbC1rZXktMDAw check@example" ];
    modules = [ { system.stateVersion = "26.05"; } ];
  };
in
pkgs.linkFarm "hosts-${system}" (map (ri: {
  name = ri.hostName;
  path = (host ri).config.system.build.toplevel;
}) mine)
