# runtime-info -> the systemd-networkd unit files of its networks, as
# { "10-eth0.network" = "<text>"; … }: ./networkd-networks.nix rendered the way
# NixOS renders `systemd.network.networks` (nixos/modules/system/boot/networkd.nix,
# networkToUnit, with attrsToSection of nixos/lib/systemd-lib.nix: sections [Match],
# [Link], [Network] with Address= and DNS=, [DHCPv4], then one [Route] a route; keys in
# name order, a list as one line a value, booleans as true/false).
#
# The installer has no NixOS evaluation of runtime-info (it arrives at boot), so it
# evaluates this file with nix-instantiate at boot (nix/installer/write-networkd-units)
# and gets the installed system's own networks.
let
  networks = import ./networkd-networks.nix;

  value = v: if v == true then "true" else if v == false then "false" else toString v;
  lines = attrs: builtins.concatStringsSep "" (builtins.concatMap
    (k: let v = attrs.${k}; in map (x: "${k}=${value x}\n") (if builtins.isList v then v else [ v ]))
    (builtins.attrNames attrs));
  section = name: attrs: if attrs == { } then "" else "[${name}]\n${lines attrs}";

  unit = n:
    section "Match" (n.matchConfig or { })
    + section "Link" (n.linkConfig or { })
    + section "Network" ((n.networkConfig or { })
        // (if (n.address or [ ]) != [ ] then { Address = n.address; } else { })
        // (if (n.dns or [ ]) != [ ] then { DNS = n.dns; } else { }))
    + section "DHCPv4" (n.dhcpV4Config or { })
    + builtins.concatStringsSep "" (map (section "Route") (n.routes or [ ]));
in
runtimeInfo:
builtins.listToAttrs (map
  (name: { name = "${name}.network"; value = unit (networks runtimeInfo).${name}; })
  (builtins.attrNames (networks runtimeInfo)))
