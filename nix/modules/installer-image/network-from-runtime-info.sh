# shellcheck shell=bash
# Writes systemd-networkd units for the installer from runtime-info, before
# systemd-networkd starts: one network per interface, matched by MAC, with the
# static addresses and default gateways the base system had. The same rules as
# nix/lib/networkd-networks.nix, for a file that only exists at boot time (it
# arrives in the cpio that run-installer appends to the initrd).
# Without the file nothing is written and the DHCP fallback unit applies.

info=/etc/cdktf-nixos-installer/runtime-info.json
out=/run/systemd/network

if [ ! -e "$info" ]; then
  echo "no $info: leaving networking to DHCP" >&2
  exit 0
fi
if [ "$(jq -r '.version' "$info")" != 1 ]; then
  echo "error: $info is not runtime-info version 1; rerun run-installer with a runtime-info from this release's write-runtime-info" >&2
  exit 1
fi

mkdir -p "$out"
count=$(jq '.interfaces | length' "$info")
dns_index=$(jq '[.interfaces | to_entries[] | select(.value.gateways != []) | .key] | first // 0' "$info")
hoster=$(jq -r '.hoster.kind' "$info")

i=0
while [ "$i" -lt "$count" ]; do
  iface=$(jq -c ".interfaces[$i]" "$info")
  name=$(jq -r '.name' <<<"$iface")
  dhcp=no
  # Hetzner private networks: the route to the network comes by DHCP only
  if [ "$hoster" = hcloud ] && [ "$(jq '.gateways | length' <<<"$iface")" = 0 ]; then
    dhcp=ipv4
  fi
  {
    echo "[Match]"
    echo "MACAddress=$(jq -r '.mac' <<<"$iface")"
    echo "Type=ether"
    echo "[Link]"
    echo "MTUBytes=$(jq -r '.mtu' <<<"$iface")"
    echo "[Network]"
    echo "DHCP=$dhcp"
    echo "IPv6AcceptRA=no"
    jq -r '.addresses[] | "Address=" + .' <<<"$iface"
    if [ "$i" = "$dns_index" ]; then
      jq -r '.nameservers[] | "DNS=" + .' "$info"
    fi
    if [ "$dhcp" = ipv4 ]; then
      printf '[DHCPv4]\nUseDNS=no\nUseGateway=no\n'
    fi
    # on-link is harmless for a gateway inside the subnet and required for
    # Hetzner's 172.31.1.1 beside a /32
    jq -r '.gateways[] | "[Route]\nGateway=" + . + (if test(":") then "" else "\nGatewayOnLink=yes" end)' <<<"$iface"
  } >"$out/10-installer-$name.network"
  i=$((i + 1))
done
