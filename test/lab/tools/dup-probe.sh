#!/bin/bash
# How nft's `dup` treats the copy, checked on the running kernel (docs/realtime.md):
#   host a -- r (a "spoke") ==x1,x2== h (a "hub", masquerade) -- server s
# r forwards a's UDP to s through x1 and copies EF packets into x2 the way ospfbond does; h copies
# the server's EF replies back the same way. Printed: which hooks the copy passed on r and with
# which TTL and conntrack state, whether h masqueraded the copy that came in on x2 (one conntrack
# entry, the masquerade rule hit once, both copies at the server from h's address), and what a got.
# Root only; namespaces obdupprobe<PID>-*, deleted on exit. Addresses: documentation and CGN space.
set -eu
P=obdupprobe$$
N() { ip netns exec "$P-$1" "${@:2}"; }
cleanup() {
  for n in a r h s; do
    ip netns pids "$P-$n" 2>/dev/null | xargs -r kill -9
    ip netns del "$P-$n" 2>/dev/null || true
  done
}
trap cleanup EXIT
for n in a r h s; do ip netns add "$P-$n"; N "$n" ip link set lo up; done
link() { # node dev node dev addr addr
  ip link add tmp0 netns "$P-$1" type veth peer name tmp1 netns "$P-$3"
  N "$1" ip link set tmp0 name "$2"; N "$3" ip link set tmp1 name "$4"
  N "$1" ip addr add "$5" dev "$2"; N "$3" ip addr add "$6" dev "$4"
  N "$1" ip link set "$2" up; N "$3" ip link set "$4" up
}
link a lan0 r lan0 198.51.100.130/27 198.51.100.129/27
link r x1 h x1 100.127.0.6/30 100.127.0.5/30
link r x2 h x2 100.127.0.14/30 100.127.0.13/30
link h up0 s up0 203.0.113.1/30 203.0.113.2/30
N a ip route add default via 198.51.100.129
N r ip route add default via 100.127.0.5 dev x1
N h ip route add 198.51.100.128/27 via 100.127.0.6 dev x1
N s ip route add default via 203.0.113.1
for n in r h; do N "$n" sysctl -qw net.ipv4.ip_forward=1 net.ipv4.conf.all.rp_filter=2; done
N r nft -f - <<'EOF'
table ip probe {
	chain realtime {
		type filter hook forward priority filter; policy accept;
		oifname != { "x1", "x2" } accept
		ip dscp ef goto realtime_copy
	}
	chain realtime_copy {
		counter dup to oifname map { "x1" : 100.127.0.13, "x2" : 100.127.0.5 }
	}
	chain forwarded {
		type filter hook forward priority 10; policy accept;
		ip daddr 203.0.113.2 counter comment "forward: to the server"
	}
	chain output {
		type filter hook output priority filter; policy accept;
		ip daddr 203.0.113.2 ct state untracked counter comment "output: to the server, untracked"
	}
	chain postrouting {
		type filter hook postrouting priority filter; policy accept;
		oifname "x1" ip daddr 203.0.113.2 ip ttl 63 counter comment "postrouting: x1, ttl 63"
		oifname "x2" ip daddr 203.0.113.2 ip ttl 63 counter comment "postrouting: x2, ttl 63"
	}
}
EOF
N h nft -f - <<'EOF'
table ip probe {
	chain realtime {
		type filter hook forward priority filter; policy accept;
		oifname != { "x1", "x2" } accept
		ip dscp ef goto realtime_copy
	}
	chain realtime_copy {
		counter dup to oifname map { "x1" : 100.127.0.14, "x2" : 100.127.0.6 }
	}
	chain arrived {
		type filter hook forward priority 10; policy accept;
		iifname "x1" ip daddr 203.0.113.2 counter comment "arrived on x1"
		iifname "x2" ip daddr 203.0.113.2 counter comment "arrived on x2"
	}
	chain postrouting {
		type nat hook postrouting priority srcnat; policy accept;
		iifname "x*" oifname "up0" counter masquerade comment "masquerade (new connections only)"
	}
}
EOF
# The server echoes each datagram it receives, copies included, marked EF like the request.
N s python3 -c '
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.IPPROTO_IP, socket.IP_TOS, 0xb8)
s.bind(("0.0.0.0", 9999)); s.settimeout(2)
try:
    while True:
        d, a = s.recvfrom(2000); print("server: %s from %s:%d" % (d.decode(), a[0], a[1]), flush=True); s.sendto(d, a)
except socket.timeout: pass
' &
sleep 0.5
N a python3 -c '
import socket, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.IPPROTO_IP, socket.IP_TOS, 0xb8)
s.bind(("0.0.0.0", 40000)); s.settimeout(1)
for i in range(3): s.sendto(b"seq%d" % i, ("203.0.113.2", 9999)); time.sleep(0.1)
got = []
try:
    while True: got.append(s.recvfrom(2000)[0].decode())
except socket.timeout: pass
print("host a got: %s" % " ".join(sorted(got)))
'
wait
counters() { N "$1" nft list table ip probe | sed -n 's/.*counter packets \([0-9]*\) .*comment "\(.*\)"/\2: \1/p; s/.*counter packets \([0-9]*\) .* dup to .*/copies made: \1/p'; }
echo "== r (3 EF packets forwarded to x1)"; counters r
echo "== h"; counters h
echo "== h conntrack entries for the flow: $(N h conntrack -L -p udp --dport 9999 2>/dev/null | grep -c 9999)"
