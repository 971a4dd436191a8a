# Where the host's own state lives: the host flake on /persist (do-install writes it to
# /persist/etc/nixos), linked from /etc/nixos, so `nixos-rebuild switch --flake
# /etc/nixos#HOST` works the same with and without impermanence's rollback of /.
{ config, lib, ... }:
let
  cfg = config.nixosInstaller;
in
{
  config = lib.mkIf (cfg.runtimeInfo != null) {
    environment.etc."nixos".source = "/persist/etc/nixos";
  };
}
