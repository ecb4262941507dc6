#!/usr/bin/env bash
# What a VM of the Vagrant lab needs for its role, installed while Vagrant's management NIC still
# reaches the internet (isolate.sh then takes that route away). Runs once, at the first `vagrant up`.
# Usage: packages.sh hub|spoke|isp|core|server|host
set -euo pipefail
role=$1
export DEBIAN_FRONTEND=noninteractive

common=(iproute2 iputils-ping tcpdump nftables procps kmod)
case $role in
  # No wireguard-go: these kernels have the WireGuard module, and ospfbond uses it when it is there.
  # shadowsocks-libev: the lab's site aggregates single connections (docs/aggregation.md).
  hub|spoke) pkgs=("${common[@]}" frr frr-pythontools wireguard-tools ca-certificates fping shadowsocks-libev) ;;
  server|host) pkgs=("${common[@]}" iperf3) ;;
  isp|core) pkgs=("${common[@]}") ;;
  *) echo "packages.sh: unknown role '$role'" >&2; exit 2 ;;
esac

# `vagrant provision` runs this again once the VM is cut off from the internet: nothing to fetch then.
if dpkg -s "${pkgs[@]}" >/dev/null 2>&1; then
  echo "packages.sh: the $role packages are installed"
else
  # The server runs iperf3 -s as a service: the Debian package sets that up when asked at install.
  [ "$role" != server ] || echo 'iperf3 iperf3/start_daemon boolean true' | debconf-set-selections
  apt-get update
  apt-get install -y --no-install-recommends "${pkgs[@]}"
fi
if [ "$role" = hub ] || [ "$role" = spoke ]; then
  # Debian's package starts an ss-server of its own on localhost; ospfbond runs its proxies as units of its own.
  systemctl disable --now shadowsocks-libev.service
  if ! modprobe wireguard; then
    echo "packages.sh: this box's kernel has no WireGuard module (modprobe wireguard failed); use a Debian 12 box with its stock kernel" >&2
    exit 1
  fi
fi
