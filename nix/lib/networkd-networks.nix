# runtime-info -> value for `systemd.network.networks` (and its initrd twin
# `boot.initrd.systemd.network.networks`, and the installer's units at boot through
# ./networkd-unit-files.nix): the one place runtime-info becomes network configuration.
#
# One network a physical interface, matched by MAC (interface names differ
# between the base system, the installer and the installed system), with the
# static addresses and default gateways the base system had:
#  - an IPv4 gateway outside every IPv4 subnet of the interface (Hetzner Cloud:
#    address /32, gateway 172.31.1.1) is marked on-link, otherwise the kernel
#    refuses the route;
#  - an IPv6 link-local gateway (fe80::1) needs nothing more;
#  - a Hetzner Cloud private network interface (no gateway, private IPv4 only)
#    also runs DHCPv4, because runtime-info does not carry the private network's
#    range and Hetzner hands out the route to it (via the network's first address)
#    by DHCP only;
#  - hoster.privateIps list, network by network, the server's IP in a Hetzner
#    private network followed by its alias IPs (HcloudNixosServer writes them so).
#    Hetzner's DHCP hands out only the server's IP; an alias IP follows the IP
#    before it onto that IP's interface, as a /32.
# On Hetzner Cloud a last network takes every other ethernet card, above all a
# private network card that had no address yet when the base system was probed (or
# is attached later): DHCPv4 for its address, route and MTU, never a default route
# or DNS; the alias IPs of a server IP no probed interface holds go there.
# The nameservers go onto the first interface that has a gateway.
let
  imap = f: list: builtins.genList (i: f i (builtins.elemAt list i)) (builtins.length list);

  isIPv4 = a: builtins.match "[0-9.]+(/[0-9]+)?" a != null;

  # "a.b.c.d" -> integer
  ipv4ToInt = ip:
    builtins.foldl' (acc: octet: acc * 256 + builtins.fromJSON octet) 0
      (builtins.filter builtins.isString (builtins.split "\\." ip));

  pow2 = n: if n == 0 then 1 else 2 * pow2 (n - 1);

  # "a.b.c.d/p" contains "w.x.y.z"?
  ipv4SubnetContains = cidr: ip:
    let
      parts = builtins.match "([0-9.]+)/([0-9]+)" cidr;
      base = ipv4ToInt (builtins.elemAt parts 0);
      size = pow2 (32 - builtins.fromJSON (builtins.elemAt parts 1));
    in
    builtins.div base size == builtins.div (ipv4ToInt ip) size;

  isPrivateIPv4 = cidr:
    let ip = builtins.head (builtins.match "([0-9.]+)(/[0-9]+)?" cidr); in
    ipv4SubnetContains "10.0.0.0/8" ip
    || ipv4SubnetContains "172.16.0.0/12" ip
    || ipv4SubnetContains "192.168.0.0/16" ip;

  isLinkLocalIPv6 = ip: builtins.match "fe[89ab][0-9a-f]:.*" ip != null;

  gatewayRoute = iface: gw:
    if isIPv4 gw then
      let v4 = builtins.filter isIPv4 iface.addresses; in
      { Gateway = gw; }
      // (if builtins.any (a: ipv4SubnetContains a gw) v4 then { } else { GatewayOnLink = true; })
    else
      { Gateway = gw; }
      // (if isLinkLocalIPv6 gw then { } else { GatewayOnLink = true; });

  isHcloud = ri: (ri.hoster.kind or "") == "hcloud";

  isHcloudPrivate = ri: iface:
    isHcloud ri
    && iface.gateways == [ ]
    && iface.addresses != [ ]
    && builtins.all (a: isIPv4 a && isPrivateIPv4 a) iface.addresses;

  addressOf = cidr: builtins.head (builtins.match "([^/]+)(/[0-9]+)?" cidr);

  # interface name (or "@other", the fallback for cards probed without address) ->
  # the alias IPs it gets: walking privateIps, an IP an interface holds selects that
  # interface, an IP none holds is an alias of the selected one (or, before any is
  # selected, the server's IP on an unprobed card, which DHCP gives it)
  aliases = ri:
    let
      holder = ip: builtins.filter (iface: builtins.elem ip (map addressOf iface.addresses)) ri.interfaces;
      step = st: ip:
        let h = holder ip; in
        if h != [ ] then st // { current = (builtins.head h).name; }
        else if st.current == null then st // { current = "@other"; }
        else st // { byName = st.byName // { ${st.current} = (st.byName.${st.current} or [ ]) ++ [ "${ip}/32" ]; }; };
    in
    (builtins.foldl' step { current = null; byName = { }; } (ri.hoster.privateIps or [ ])).byName;

  privateDhcp = {
    UseDNS = false;
    # the private network must never become the default route
    UseGateway = false;
  };

  dnsInterfaceIndex = ri:
    let
      withGw = builtins.filter (i: (builtins.elemAt ri.interfaces i).gateways != [ ])
        (builtins.genList (i: i) (builtins.length ri.interfaces));
    in
    if withGw == [ ] then 0 else builtins.head withGw;

  network = ri: i: iface:
    let private = isHcloudPrivate ri iface; in
    {
      name = "10-${iface.name}";
      value = {
        matchConfig = {
          MACAddress = iface.mac;
          # a bond or VLAN may carry the same MAC; only the NIC itself is meant
          Type = "ether";
        };
        linkConfig.MTUBytes = toString iface.mtu;
        address = iface.addresses ++ ((aliases ri).${iface.name} or [ ]);
        routes = map (gatewayRoute iface) iface.gateways;
        networkConfig = {
          # addresses and gateways are static; router advertisements would add
          # a second, unpinned source of truth
          IPv6AcceptRA = false;
          DHCP = if private then "ipv4" else "no";
        };
      }
      // (if private then { dhcpV4Config = privateDhcp; } else { })
      // (if i == dnsInterfaceIndex ri then { dns = ri.nameservers; } else { });
    };

  # Hetzner Cloud: every ethernet card no unit above matched (networkd takes the first
  # matching file in name order)
  hcloudOtherCards = ri: {
    name = "90-hcloud-private";
    value = {
      matchConfig.Type = "ether";
      address = (aliases ri)."@other" or [ ];
      routes = [ ];
      networkConfig = {
        IPv6AcceptRA = false;
        DHCP = "ipv4";
      };
      # its MTU (1450 on Hetzner's private networks) is only known by DHCP
      dhcpV4Config = privateDhcp // { UseMTU = true; };
    };
  };
in
runtimeInfo:
builtins.listToAttrs (imap (network runtimeInfo) runtimeInfo.interfaces
  ++ (if isHcloud runtimeInfo then [ (hcloudOtherCards runtimeInfo) ] else [ ]))
