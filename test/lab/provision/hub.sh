#!/usr/bin/env bash
# The hub's part of setting up a site, as a user runs it: init the hub once, then add each spoke
# and write its bundle.
# Usage: hub.sh init ENDPOINT UPLINK TUNNEL_POOL
#        hub.sh add-spoke NAME BUNDLE WAN=RATE_MBIT ... [aggregate=tcp|off]
set -euo pipefail

case $1 in
  init)
    if [ -e /etc/ospfbond/ospfbond.ini ]; then echo "hub.sh: /etc/ospfbond/ospfbond.ini exists, hub already set up"; exit 0; fi
    ospfbond init hub --endpoint "$2" --uplink "$3" --tunnel-pool "$4" ;;
  add-spoke)
    name=$2 bundle=$3
    shift 3
    wans=() rates=() aggregate=()
    for w in "$@"; do
      case $w in aggregate=*) aggregate=(--aggregate "${w#aggregate=}"); continue ;; esac
      wans+=("${w%%=*}")
      # The line rates as the lab's ISPs sell them (the same both ways); each end shapes a little under.
      rates+=(--rate "${w%%=*}=${w#*=}/${w#*=}")
    done
    if [ -e "$bundle" ]; then echo "hub.sh: $bundle exists, spoke $name already added"; exit 0; fi
    ospfbond hub add-spoke "$name" --wans "$(IFS=,; echo "${wans[*]}")" "${rates[@]}" --out "$bundle" "${aggregate[@]}" ;;
  *) echo "hub.sh: init or add-spoke, not '$1'" >&2; exit 2 ;;
esac
