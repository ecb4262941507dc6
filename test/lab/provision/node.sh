#!/usr/bin/env bash
# A lab node's sysctls and static routes, once its links are up.
# Usage: node.sh plain|router [ROUTE ...]     ROUTE: an `ip route` spec, e.g. "default via 192.0.2.1"
# plain: the lab's own routers and hosts (ISPs, core, server, LAN host): forwarding on.
# router: a hub or spoke under test. ospfbond sets its own sysctls; only the reverse-path filter is
# set loose, as systemd does on a Debian router.
set -euo pipefail
role=$1
shift

case $role in
  plain)
    # txrehash=0: veth hands a socket's random hash to the next namespace, where it becomes the
    # ECMP hash, and TCP draws a new one on every retransmission timeout, moving the flow to
    # another tunnel. A real LAN host's hash never reaches the router (the NIC's RSS or the flow
    # dissector hashes the 5-tuple there), so a flow keeps its tunnel, as it does here now.
    sysctl -qw net.ipv4.ip_forward=1 net.core.txrehash=0 ;;
  router) sysctl -qw net.ipv4.conf.all.rp_filter=2 net.ipv4.conf.default.rp_filter=2 ;;
  *) echo "node.sh: role must be plain or router, not '$role'" >&2; exit 2 ;;
esac
for route in "$@"; do
  # shellcheck disable=SC2086 # a route spec is several words
  ip route replace $route
done
