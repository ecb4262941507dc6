#!/usr/bin/env bash
# ospfbond's systemd paths under a real systemd (PID 1 of a systemd-nspawn container), on a CI
# machine whose own PID 1 is not systemd. Self-cleaning: every container, cgroup and file it makes
# is removed on exit, whatever happens (trap).
#
# Usage (root):  bash test/systemd/units.sh [ospfbond-X.tgz]     default: `npm pack` of this repository
# (test/lab/systemd.test.ts runs it in `npm test`; docs/testing.md, "The systemd test").
# Needs: systemd-container (systemd-nspawn), the host's systemd, frr, shadowsocks-libev, wireguard-go
#        (or the kernel's WireGuard), node/npm with the package's dependencies in npm's cache.
#
# Containers: their own network namespace each (--private-network: only lo, no link to the root
# namespace); every interface is made inside them; only 192.0.2.0/24, 198.51.100.0/24,
# 203.0.113.0/24 and 10.255.0.0/16 addresses, which exist only in them.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=${REPO:-$(cd "$HERE/../.." && pwd)}
WORK=$(mktemp -d /tmp/obnsp-ci.XXXXXX)
export NSP_STATE=$WORK/run NSP_SHARE=$WORK
source "$HERE/nspawn.sh"
HUB=obnsp-hub-$$ SPOKE=obnsp-spoke-$$
FAILS=0

cleanup() {
  local rc=$?
  nsp_stop "$HUB"
  nsp_stop "$SPOKE"
  rm -rf "$WORK"
  echo "cleanup done (containers $HUB $SPOKE stopped, $WORK removed)"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ms() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }
pass() { echo "PASS  $*"; }
fail() { echo "FAIL  $*"; FAILS=$((FAILS + 1)); }
# check "what" COMMAND-LINE-IN-CONTAINER: passes when it exits 0
check() { local c=$1 what=$2; shift 2; if out=$(nsp_in "$c" "$*" 2>&1); then pass "$c: $what"; else fail "$c: $what"; echo "$out" | sed 's/^/      /' | tail -15; fi; }

# --- the package --------------------------------------------------------------------------------
mkdir -p "$NSP_STATE"
if [ $# -ge 1 ]; then cp "$1" "$WORK/ospfbond.tgz"; else
  tgz=$(cd "$REPO" && npm pack --silent --pack-destination "$WORK" | tail -1) && mv "$WORK/$tgz" "$WORK/ospfbond.tgz" || { echo "npm pack failed"; exit 2; }
fi

# Scripts the containers run (they see $WORK read-only at /mnt/nsp).
cat > "$WORK/install.sh" <<'EOF'
set -e
npm install -g --offline --no-audit --no-fund --prefix /usr/local /mnt/nsp/ospfbond.tgz > /dev/null
cp /usr/local/lib/node_modules/ospfbond/systemd/*.service /etc/systemd/system/
systemctl daemon-reload
EOF
cat > "$WORK/killproxy.sh" <<'EOF'
# kill -9 a proxy unit's process; ms until a new pid listens on its port
unit=$1 port=$2
old=$(systemctl show -p MainPID --value "$unit")
listener() { ss -Hltnp "sport = :$port" | grep -o 'pid=[0-9]*' | head -1 | cut -d= -f2; }
[ -n "$old" ] && [ "$old" != 0 ] && [ "$(listener)" = "$old" ] || { echo "pid $old does not listen on $port"; exit 1; }
t0=$(date +%s%N); kill -9 "$old"
while new=$(listener); [ -z "$new" ] || [ "$new" = "$old" ]; do
  [ $(( ($(date +%s%N) - t0) / 1000000 )) -gt 15000 ] && { echo "no new listener after 15 s"; exit 1; }
  sleep 0.02
done
echo "$(( ($(date +%s%N) - t0) / 1000000 )) ms, new pid $new as $(ps -o user= -p "$new")"
EOF

# --- hub: boots in overlay mode, so that its writes survive the reboot test ----------------------
t_boot=$(date +%s%N)
NSP_MODE=overlay nsp_boot "$HUB" > /dev/null || { fail "boot $HUB"; exit 1; }
pass "$HUB: booted, $(nsp_in "$HUB" 'systemctl is-system-running') in $(ms "$t_boot") ms"
check "$HUB" "systemd-run --wait true" 'systemd-run --wait -q true'
nsp_in "$HUB" 'bash /mnt/nsp/install.sh' || { fail "$HUB: install"; exit 1; }
# The uplink: a veth pair made by systemd-networkd, so that it is there again after a reboot.
nsp_in "$HUB" 'set -e; mkdir -p /etc/systemd/network; cd /etc/systemd/network
  printf "[NetDev]\nName=up0\nKind=veth\n[Peer]\nName=x0\n" > 10-up0.netdev
  printf "[Match]\nName=up0\n[Network]\nAddress=198.51.100.2/30\nGateway=198.51.100.1\nIPv6AcceptRA=no\nLinkLocalAddressing=no\n" > 10-up0.network
  printf "[Match]\nName=x0\n[Link]\nRequiredForOnline=no\n[Network]\nLinkLocalAddressing=no\n" > 10-x0.network
  systemctl enable --now -q systemd-networkd
  for i in $(seq 1 50); do ip route show default | grep -q "dev up0" && break; sleep 0.1; done
  ospfbond init hub --endpoint 198.51.100.2 --uplink up0 > /dev/null
  ospfbond hub add-spoke site1 --wans wan1,wan2 --rate wan1=20/20 --rate wan2=20/20 --aggregate tcp --out /root/site1.ospfbond > /dev/null' \
  || { fail "$HUB: uplink, init hub, add-spoke"; exit 1; }
t=$(date +%s%N)
check "$HUB" "first apply" 'ospfbond apply > /tmp/apply.log 2>&1 || { cat /tmp/apply.log; exit 1; }'
pass "$HUB: apply took $(ms "$t") ms; boot + install + hub apply $(ms "$t_boot") ms"

U=ospfbond-aggregate-site-site1.service
check "$HUB" "$U active, unit file in /run/systemd/system, runs as nobody" \
  "systemctl is-active -q $U && [ \"\$(systemctl show -p FragmentPath --value $U)\" = /run/systemd/system/$U ] && [ \"\$(ps -o user= -p \$(systemctl show -p MainPID --value $U))\" = nobody ]"
check "$HUB" "ss-server listens on 10.255.0.10:7300 (MPTCP)" 'ss -HltM "sport = :7300" | grep -q 10.255.0.10:7300'
check "$HUB" "frr.service active, ospfd and bfdd in its cgroup" \
  'systemctl is-active -q frr && for d in ospfd bfdd; do grep -q "/system.slice/frr.service" /proc/$(cat /run/frr/$d.pid)/cgroup || exit 1; done'
for i in 1 2 3; do
  if r=$(nsp_in "$HUB" "bash /mnt/nsp/killproxy.sh $U 7300"); then pass "$HUB: kill -9 ss-server: listening again after $r"; else fail "$HUB: kill -9 ss-server: $r"; fi
  sleep 1.5
done
check "$HUB" "second apply changes nothing" 'ospfbond apply 2>&1 | grep -qx "ospfbond: hub is up to date, nothing to do"'

# --- the shipped units -----------------------------------------------------------------------------
check "$HUB" "systemctl enable --now ospfbond-apply ospfbond" 'systemctl enable --now -q ospfbond-apply ospfbond && systemctl is-active -q ospfbond-apply ospfbond'
# The daemon's repair: a deleted WireGuard device is made again (by the daemon, in its unit).
t=$(date +%s%N)
check "$HUB" "daemon rebuilds a deleted obwg0" 'ip link del obwg0; for i in $(seq 1 400); do ip link show obwg0 > /dev/null 2>&1 && exit 0; sleep 0.1; done; exit 1'
pass "$HUB: obwg0 back after $(ms "$t") ms"
# wireguard-go (no kernel module here) must not die with the unit whose process happened to start it.
if nsp_in "$HUB" 'ip -d link show obwg0 | grep -q " wireguard "'; then
  echo "SKIP  $HUB: the kernel has WireGuard: no wireguard-go whose unit to check"
else check "$HUB" "systemctl restart ospfbond ospfbond-apply keeps the WireGuard device (same wireguard-go)" \
  'p=$(pgrep -x wireguard-go); grep name=systemd /proc/$p/cgroup; systemctl restart ospfbond ospfbond-apply; sleep 1
   [ "$(pgrep -x wireguard-go)" = "$p" ] || { echo "wireguard-go $p was killed (now: $(pgrep -x wireguard-go))"; exit 1; }'
fi
check "$HUB" "systemctl stop ospfbond keeps obwg0" 'systemctl stop ospfbond; sleep 1; ip link show obwg0 > /dev/null; r=$?; systemctl start ospfbond; exit $r'
sleep 60
check "$HUB" "daemon up 60 s more, no automatic restart, JSON stats logged" \
  '[ "$(systemctl show -p NRestarts --value ospfbond)" = 0 ] && systemctl is-active -q ospfbond && journalctl -u ospfbond -o cat | grep -q "\"job\":\"stats\""'

# --- apply --confirm under systemd: its revert is a transient timer --------------------------------
check "$HUB" "apply --confirm 5, unconfirmed: reverted by the transient timer" \
  'sed -i "s#^uplink_allow.*#uplink_allow = tcp/22,tcp/2222#" /etc/ospfbond/ospfbond.ini
   ospfbond apply --confirm 5 > /dev/null 2>&1 && systemctl list-timers --all --no-legend "ospfbond-revert-*" | grep -q ospfbond-revert &&
   sleep 8 && ! nft list chain inet ospfbond input | grep -q 2222 && journalctl -u "ospfbond-revert-*" -o cat | grep -q "reverted the change"'
nsp_in "$HUB" 'cp /etc/ospfbond/ospfbond.ini.rejected /etc/ospfbond/ospfbond.ini 2>/dev/null; true'
check "$HUB" "apply --confirm 30 then confirm: the timer is gone" \
  'ospfbond apply --confirm 30 > /dev/null 2>&1 && ospfbond confirm > /dev/null && [ -z "$(systemctl list-timers --all --no-legend "ospfbond-revert-*")" ]'

# --- reboot: ospfbond-apply.service builds it all again at boot -----------------------------------
old=$(nsp_leader "$HUB")
t=$(date +%s%N)
nsp_in "$HUB" 'systemctl reboot'
while l=$(nsp_leader "$HUB" 2>/dev/null); [ -z "$l" ] || [ "$l" = "$old" ]; do sleep 0.1; [ "$(ms "$t")" -gt 60000 ] && break; done
nsp_wait "$HUB" > /dev/null || fail "$HUB: boot after reboot"
check "$HUB" "after reboot: ospfbond-apply ran at boot, proxy unit written and listening, daemon up" \
  'for i in $(seq 1 100); do ss -Hlt "sport = :7300" | grep -q 7300 && break; sleep 0.2; done
   systemctl is-active -q ospfbond-apply ospfbond frr '"$U"' && journalctl -b -u ospfbond-apply -o cat | grep -q "hub applied"'
pass "$HUB: reboot to proxy listening: $(ms "$t") ms"

# --- down ----------------------------------------------------------------------------------------
check "$HUB" "systemctl disable --now ospfbond ospfbond-apply; ospfbond down exits 0" \
  'systemctl disable --now -q ospfbond ospfbond-apply && ospfbond down > /tmp/down.log 2>&1 || { cat /tmp/down.log; exit 1; }'
check "$HUB" "after down: proxy unit stopped and its file gone; FRR active, ospfd/bfdd off in daemons" \
  '! systemctl is-active -q '"$U"' && [ ! -e /run/systemd/system/'"$U"' ] && systemctl is-active -q frr && grep -qx ospfd=no /etc/frr/daemons && grep -qx bfdd=no /etc/frr/daemons && ! grep -q ospfbond /etc/frr/frr.conf && ! nft list table inet ospfbond 2>/dev/null'
check "$HUB" "down again: nothing left" 'ospfbond down 2>&1 | grep -q "nothing of ospfbond"'

# --- spoke: a second container (no link to the hub: its tunnels stay down) -------------------------
(umask 077; nsp_in "$HUB" 'cat /root/site1.ospfbond' > "$WORK/site1.ospfbond")
t=$(date +%s%N)
nsp_boot "$SPOKE" > /dev/null || { fail "boot $SPOKE"; exit 1; }
nsp_in "$SPOKE" 'bash /mnt/nsp/install.sh' || { fail "$SPOKE: install"; exit 1; }
nsp_in "$SPOKE" 'set -e
  n=0; for spec in wan1:192.0.2 wan2:203.0.113; do w=${spec%%:*} net=${spec#*:}; n=$((n+1))
    ip link add $w type veth peer name x$n; ip link set x$n up; ip addr add $net.2/30 dev $w; ip link set $w up; done
  ip link add lan0 type veth peer name xl; ip link set xl up; ip addr add 10.1.0.1/24 dev lan0; ip link set lan0 up
  ip route add default via 192.0.2.1 dev wan1
  install -D -m 0600 /mnt/nsp/site1.ospfbond /etc/ospfbond/site1.ospfbond
  ospfbond init spoke --bundle /etc/ospfbond/site1.ospfbond --wan wan1:dev=wan1,gw=192.0.2.1 --wan wan2:dev=wan2,gw=203.0.113.1 --lan-dev lan0 > /dev/null' \
  || { fail "$SPOKE: init spoke"; exit 1; }
rm -f "$WORK/site1.ospfbond"
check "$SPOKE" "apply" 'ospfbond apply > /tmp/apply.log 2>&1 || { cat /tmp/apply.log; exit 1; }'
pass "$SPOKE: boot + install + apply $(ms "$t") ms"
R=ospfbond-aggregate-redir.service
check "$SPOKE" "$R active as nobody, listening on 7301" \
  "systemctl is-active -q $R && [ \"\$(ps -o user= -p \$(systemctl show -p MainPID --value $R))\" = nobody ] && ss -Hlt 'sport = :7301' | grep -q 7301"
if r=$(nsp_in "$SPOKE" "bash /mnt/nsp/killproxy.sh $R 7301"); then pass "$SPOKE: kill -9 ss-redir: listening again after $r"; else fail "$SPOKE: kill -9 ss-redir: $r"; fi
check "$SPOKE" "second apply changes nothing" 'ospfbond apply 2>&1 | grep -qx "ospfbond: spoke is up to date, nothing to do"'
check "$SPOKE" "down exits 0, redir unit gone" "ospfbond down > /tmp/down.log 2>&1 || { cat /tmp/down.log; exit 1; }; [ ! -e /run/systemd/system/$R ]"

echo "$FAILS check(s) failed"
[ "$FAILS" = 0 ]
