#!/usr/bin/env bash
# Gives each lab NIC of a VM its name in the lab's topology (wan1, up0, ...), found by the MAC the
# Vagrantfile gave it, so the shared scripts see the same devices as in the namespace lab.
# Runs at every boot (`vagrant up`, `vagrant reload`).
# Usage: nics.sh MAC=DEV ...
set -euo pipefail

for pair in "$@"; do
  mac=${pair%%=*} dev=${pair#*=} cur=
  for path in /sys/class/net/*; do
    if [ "$(cat "$path/address")" = "$mac" ]; then cur=${path##*/}; fi
  done
  if [ -z "$cur" ]; then
    echo "nics.sh: no NIC with MAC $mac (for $dev); ip -br link shows:" >&2
    ip -br link >&2
    exit 1
  fi
  if [ "$cur" != "$dev" ]; then
    ip link set "$cur" down
    ip link set "$cur" name "$dev"
  fi
done
