#!/usr/bin/env bash
# Closes the lab as the namespace lab is closed: no default route through Vagrant's management NIC
# (vagrant ssh still works: the hypervisor reaches that NIC on its own subnet), and its DHCP client
# must not bring one back. The lab's own routes come from node.sh afterwards.
# Usage: isolate.sh LAB_DEV ...     (every other NIC is management)
set -euo pipefail

cat > /etc/dhcp/dhclient-enter-hooks.d/ospfbond-lab <<'HOOK'
# ospfbond's Vagrant lab: the management NIC's lease brings no default route (vagrant/provision/isolate.sh).
unset new_routers
HOOK
ip -4 -o route show default | while read -r line; do
  dev=$(sed -n 's/.* dev \([^ ]*\).*/\1/p' <<<"$line")
  # Only a NIC's route: not the blackhole default or an OSPF default over a tunnel (virtual devices).
  [ -n "$dev" ] && [ -e "/sys/class/net/$dev/device" ] || continue
  lab=no
  for d in "$@"; do [ "$d" = "$dev" ] && lab=yes; done
  # shellcheck disable=SC2086 # the route spec is several words
  [ "$lab" = yes ] || ip route del $line
done
