#!/usr/bin/env bash
# A router VM (hub or spoke) after its init steps: apply, then the two systemd units the package
# ships (apply at boot after FRR; the daemon), as docs/operating.md's "systemd units and removal" says.
# Usage: router.sh
set -euo pipefail

ospfbond apply
cp /usr/local/lib/node_modules/ospfbond/systemd/*.service /etc/systemd/system/
systemctl daemon-reload
systemctl enable --now ospfbond-apply ospfbond
ospfbond doctor   # WireGuard must read "kernel module" here
