# systemd-networkd with the static addresses of runtime-info, MAC-matched.
{ config, lib, ... }:
let
  nixLib = import ../../lib;
  cfg = config.nixosInstaller;
  ri = cfg.validatedRuntimeInfo;
in
{
  options.nixosInstaller.network.enable = lib.mkOption {
    type = lib.types.bool;
    default = true;
    description = ''
      Configure systemd-networkd from runtime-info: one network per interface
      matched by MAC, static addresses and default gateways, the nameservers.
      Turn off to configure networking yourself.
    '';
  };

  config = lib.mkIf (cfg.runtimeInfo != null && cfg.network.enable) {
    networking.hostName = ri.hostName;
    networking.useNetworkd = true;
    networking.useDHCP = false;
    systemd.network.enable = true;
    systemd.network.networks = nixLib.networkdNetworks ri;
    # nameservers come from the networks; resolved serves them to the host
    services.resolved.enable = lib.mkDefault true;
  };
}
