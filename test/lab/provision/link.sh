#!/usr/bin/env bash
# One end of a lab link: up, addressed, and shaped when it is an ISP access line.
# Usage: link.sh DEV ADDR/LEN|- [RATE_MBIT]
# Run by both labs: the namespace lab (test/lab/lab.ts) inside the node's namespace, the Vagrant lab
# (vagrant/Vagrantfile) on the node's VM. Safe to run again.
set -euo pipefail
dev=$1 addr=$2 rate=${3:-}

ip link set "$dev" up
[ "$addr" = - ] || ip addr replace "$addr" dev "$dev"
if [ -n "$rate" ]; then
  # A burst of 10 ms at line rate (at least 4000 bytes) and 50 ms of queue: a modest modem buffer.
  burst=$(( rate * 1000000 / 8 / 100 ))
  [ "$burst" -ge 4000 ] || burst=4000
  tc qdisc replace dev "$dev" root tbf rate "${rate}mbit" burst "$burst" latency 50ms
fi
