#!/usr/bin/env bash
# The spoke's part, as a user runs it: find the hub by name, keep the bundle the hub wrote (mode
# 0600), init the spoke with its WANs.
# Usage: spoke.sh BUNDLE HUB_NAME HUB_ADDRESS LAN_DEV WAN=GATEWAY|dhcp ...
set -euo pipefail
bundle=$1 hub_name=$2 hub_addr=$3 lan_dev=$4
shift 4

# The lab has no DNS: the spoke's resolver finds the hub in /etc/hosts, as it would by DNS.
grep -q " $hub_name\$" /etc/hosts || echo "$hub_addr $hub_name" >> /etc/hosts
if [ -e /etc/ospfbond/ospfbond.ini ]; then echo "spoke.sh: /etc/ospfbond/ospfbond.ini exists, spoke already set up"; exit 0; fi
name=$(basename "$bundle")
install -D -m 0600 "$bundle" "/etc/ospfbond/$name"
wans=()
for w in "$@"; do wans+=(--wan "${w%%=*}:dev=${w%%=*},gw=${w#*=}"); done
ospfbond init spoke --bundle "/etc/ospfbond/$name" "${wans[@]}" --lan-dev "$lan_dev"
