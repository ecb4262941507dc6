#!/usr/bin/env bash
# Bench, not run in CI: which transparent proxy should carry one site TCP connection over MPTCP
# (issue 16), and how the in-kernel MPTCP path manager reacts to endpoint changes and dead paths.
# Builds, in namespaces of its own (named proxycmp<id>-{c,s,h,w}):
#   c (client, 192.0.2.2) - s (site proxy) =path 1 100.64.1.0/24, path 2 100.64.2.0/24= h (hub proxy)
#   - w (server 203.0.113.80; 203.0.113.81 is reached directly, not through the proxies)
# each path shaped both ways with tbf, one MPTCP "subflow" endpoint per path on the site, policy
# routing per source address. The root namespace is not touched.
# Candidates (site -> hub):
#   ss        ss-redir --mptcp -> ss-server --mptcp (shadowsocks-libev, aes-256-gcm)
#   ss-chacha the same with chacha20-ietf-poly1305 (for CPUs without AES instructions; not default)
#   haproxy   HAProxy 2.6 under mptcpize, nft redirect + SO_ORIGINAL_DST -> send-proxy-v2 ->
#             accept-proxy, server 0.0.0.0:0
#   tproxy    the same HAProxy pair, but the site takes LAN TCP by nft tproxy + bind transparent
#   redsocks  redsocks (SOCKS5 client, login) under mptcpize -> microsocks (-u/-P) under mptcpize
#   endpoints the MPTCP endpoint experiments (ss pair): endpoint delete/re-add, initial subflow,
#             backup, silent drop
# Usage: proxy-compare.sh [--repeat N] [--seconds S] [--rates "20+20 50+10 100+100 0+0"] [WHAT...]
#   (default: ss haproxy tproxy redsocks endpoints; 0+0 = unshaped, run once; about 14 minutes)
# Prints every figure; the summary tables at the end are Markdown.
set -u
REPEAT=2 SECS=10 RATES="20+20 50+10 100+100 0+0" WHAT=()
while [ $# -gt 0 ]; do
  case $1 in
    --repeat) REPEAT=$2; shift 2 ;;
    --seconds) SECS=$2; shift 2 ;;
    --rates) RATES=$2; shift 2 ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) WHAT+=("$1"); shift ;;
  esac
done
[ ${#WHAT[@]} -gt 0 ] || WHAT=(ss haproxy tproxy redsocks endpoints)
[ "$(id -u)" = 0 ] || { echo "proxy-compare: needs root (network namespaces)" >&2; exit 1; }

need=()
command -v ss-redir >/dev/null || need+=(shadowsocks-libev)
command -v haproxy >/dev/null || need+=(haproxy)
command -v mptcpize >/dev/null || need+=(mptcpize)
command -v redsocks >/dev/null || need+=(redsocks)
command -v microsocks >/dev/null || need+=(microsocks)
command -v iperf3 >/dev/null || need+=(iperf3)
command -v curl >/dev/null || need+=(curl)
[ ${#need[@]} -eq 0 ] || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null

P=proxycmp$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')
D=$(mktemp -d /tmp/proxycmp.XXXXXX)
PY=/usr/bin/python3
declare -A PID=()
RESULTS=$D/results.tsv
: >"$RESULTS"

ns() { ip netns exec "$P-$1" "${@:2}"; }
# start NAME NS CMD...: a background program in a namespace; its pid (ip netns exec and mptcpize
# both exec, so $! is the program itself) is remembered for stop and cleanup.
start() { local name=$1 n=$2; shift 2; ip netns exec "$P-$n" "$@" >"$D/$name.log" 2>&1 & PID[$name]=$!; }
stop() { local p=${PID[$1]:-}; [ -n "$p" ] || return 0; kill "$p" 2>/dev/null; { wait "$p"; } 2>/dev/null; unset "PID[$1]"; }
cleanup() {
  for k in "${!PID[@]}"; do kill -9 "${PID[$k]}" 2>/dev/null; done
  for n in c s h w; do
    ip netns pids "$P-$n" 2>/dev/null | xargs -r kill -9 2>/dev/null
    ip netns del "$P-$n" 2>/dev/null
  done
  rm -rf "$D"
} 2>/dev/null
trap cleanup EXIT
trap 'exit 130' INT TERM HUP PIPE
say() { printf '%s\n' "$*"; }
now() { date +%s.%N; }

# ---------------------------------------------------------------- helper (python, stdlib only)
cat >"$D/h.py" <<'PYEOF'
import json, socket, sys, threading, time, os
cmd = sys.argv[1]
if cmd == 'serve':
    # 8080: a minimal HTTP responder (time to first byte); 9000: sends data until the peer leaves
    def http(c):
        try:
            c.recv(4096); c.sendall(b'HTTP/1.0 200 OK\r\nContent-Length: 5\r\n\r\nhello')
        finally:
            c.close()
    def stream(c):
        buf = b'x' * 65536
        try:
            while True: c.sendall(buf)
        except OSError: pass
        finally: c.close()
    def loop(port, fn):
        s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(('0.0.0.0', port)); s.listen(64)
        while True:
            c, _ = s.accept(); threading.Thread(target=fn, args=(c,), daemon=True).start()
    threading.Thread(target=loop, args=(8080, http), daemon=True).start()
    loop(9000, stream)
elif cmd == 'stream':
    # connect, read until EOF/RST/silence; report how the connection ended and when
    host, port, limit = sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
    r = {'t0': time.time()}
    try:
        s = socket.create_connection((host, port), timeout=limit)
    except ConnectionRefusedError:
        r.update(outcome='refused', t_end=time.time()); print(json.dumps(r)); sys.exit()
    except OSError as e:
        r.update(outcome='connect-error ' + type(e).__name__, t_end=time.time()); print(json.dumps(r)); sys.exit()
    r['t_conn'] = time.time(); s.settimeout(limit); n = 0; r['t_last'] = None
    while True:
        try:
            d = s.recv(262144)
        except socket.timeout:
            r['outcome'] = 'silent'; break
        except ConnectionResetError:
            r['outcome'] = 'reset'; break
        except OSError as e:
            r['outcome'] = type(e).__name__; break
        if not d:
            r['outcome'] = 'eof'; break
        n += len(d); r['t_last'] = time.time()
    r.update(t_end=time.time(), bytes=n); print(json.dumps(r))
elif cmd == 'describe':
    # describe JSON [KILL_TIME]: one line on how a 'stream' connection ended
    r = json.loads(sys.argv[2]); how = {'eof': 'EOF (FIN)', 'reset': 'RST', 'silent': 'nothing for 20 s (hang)', 'refused': 'refused'}
    o = how.get(r['outcome'], r['outcome'])
    if len(sys.argv) > 3:
        print(f"{o} {r['t_end'] - float(sys.argv[3]):.2f} s after the kill ({r.get('bytes', 0) / 1e6:.0f} MB received before)")
    elif 't_conn' in r:
        print(f"connect accepted in {(r['t_conn'] - r['t0']) * 1000:.1f} ms, then {o} {r['t_end'] - r['t_conn']:.3f} s later ({r.get('bytes', 0)} bytes)")
    else:
        print(f"{o} in {(r['t_end'] - r['t0']) * 1000:.1f} ms")
elif cmd == 'sample':
    # per-interface byte counters every 0.1 s, in the namespace it runs in
    devs = sys.argv[2:]
    f = [(open(f'/sys/class/net/{d}/statistics/tx_bytes'), open(f'/sys/class/net/{d}/statistics/rx_bytes')) for d in devs]
    while True:
        row = [f'{time.time():.3f}']
        for tx, rx in f:
            tx.seek(0); rx.seek(0); row += [tx.read().strip(), rx.read().strip()]
        print(' '.join(row), flush=True); time.sleep(0.1)
elif cmd == 'monitor':
    # ip mptcp monitor with a wall-clock time on each line
    import subprocess, signal
    m = subprocess.Popen(['ip', 'mptcp', 'monitor'], stdout=subprocess.PIPE, text=True)
    signal.signal(signal.SIGTERM, lambda *a: (m.terminate(), sys.exit(0)))
    for l in m.stdout: print(f'{time.time():.3f} {l}', end='', flush=True)
elif cmd == 'timeline':
    # timeline FILE T0 DIR EVENTS_JSON: 0.5 s rates per path from a sample file, events marked,
    # and for each event: how long the total stayed under half its rate before the event, and when
    # each path stopped / started carrying data
    path, t0, direction, events = sys.argv[2], float(sys.argv[3]), sys.argv[4], json.loads(sys.argv[5])
    rows = [list(map(float, l.split())) for l in open(path) if l.strip()]
    col = 1 if direction == 'up' else 2          # tx on the site = upload, rx = download
    pts = [(r[0] - t0, r[col], r[col + 2]) for r in rows]
    import bisect
    ts = [p[0] for p in pts]
    def rate(a, b, i):  # Mbit/s of path i between the samples nearest to times a and b
        x = max(0, bisect.bisect_right(ts, a) - 1); y = min(len(ts) - 1, bisect.bisect_left(ts, b))
        if y <= x: return 0.0
        return (pts[y][i] - pts[x][i]) * 8 / (pts[y][0] - pts[x][0]) / 1e6
    end = pts[-1][0]
    line = []
    t = 0.0
    while t + 0.5 <= end:
        line.append(f'{t:4.1f}s {rate(t, t + .5, 1):5.1f}+{rate(t, t + .5, 2):5.1f}')
        t += 0.5
    for i in range(0, len(line), 6): print('   ' + ' | '.join(line[i:i + 6]))
    times = [te for _, te in events] + [end]
    for k, (name, te) in enumerate(events):
        nxt = min(times[k + 1], end)
        before = [rate(te - 1.5, te, 1), rate(te - 1.5, te, 2)]
        a0 = te + min(1.5, (nxt - te) / 2)
        after = [rate(a0, nxt, 1), rate(a0, nxt, 2)]
        # time after the event during which the total (0.2 s windows) ran under half the rate after it
        gap = 0.0; t = te
        while t + 0.2 <= nxt and sum(after) > 2:
            if rate(t, t + .2, 1) + rate(t, t + .2, 2) < 0.5 * sum(after): gap += 0.1
            t += 0.1
        # settled: the first 0.5 s window from which the total is within 80 % of the rate after
        settle = None; t = te
        while t + 0.5 <= nxt:
            if rate(t, t + .5, 1) + rate(t, t + .5, 2) >= 0.8 * sum(after): settle = t - te; break
            t += 0.1
        moves = []
        for i in (1, 2):
            was = before[i - 1] > 2
            t = te
            while t + 0.2 <= nxt:
                r = rate(t, t + .2, i)
                if was and r < 0.5: moves.append(f'path{i} idle from +{t - te:.1f}s'); break
                if not was and r > 2: moves.append(f'path{i} carrying from +{t - te:.1f}s'); break
                t += 0.1
        print(f'   => {name} @{te:.1f}s: {before[0]:.1f}+{before[1]:.1f} -> {after[0]:.1f}+{after[1]:.1f} Mbit/s; '
              f'{", ".join(moves) or "no path changed"}; under half rate for {gap:.1f}s; '
              f'total settled {"at +%.1fs" % settle if settle is not None else "not within the window"}')
PYEOF

# ---------------------------------------------------------------- topology
for n in c s h w; do
  ip netns add "$P-$n"; ns $n ip link set lo up; ns $n sysctl -qw net.ipv4.ip_forward=1
done
ip link add cs0 netns "$P-c" type veth peer name sc0 netns "$P-s"
ip link add sh1 netns "$P-s" type veth peer name hs1 netns "$P-h"
ip link add sh2 netns "$P-s" type veth peer name hs2 netns "$P-h"
ip link add hw0 netns "$P-h" type veth peer name wh0 netns "$P-w"
for x in "c cs0 192.0.2.2/24" "s sc0 192.0.2.1/24" "s sh1 100.64.1.2/24" "h hs1 100.64.1.1/24" \
         "s sh2 100.64.2.2/24" "h hs2 100.64.2.1/24" "h hw0 203.0.113.1/24" "w wh0 203.0.113.80/24"; do
  set -- $x; ns $1 ip addr add $3 dev $2; ns $1 ip link set $2 up
done
ns w ip addr add 203.0.113.81/32 dev wh0
ns c ip route add default via 192.0.2.1
ns w ip route add default via 203.0.113.1
ns s ip route add default via 100.64.1.1
ns h ip route add 192.0.2.0/24 via 100.64.1.2
ns s ip rule add from 100.64.1.2 table 101; ns s ip route add 100.64.1.0/24 dev sh1 table 101; ns s ip route add default via 100.64.1.1 table 101
ns s ip rule add from 100.64.2.2 table 102; ns s ip route add 100.64.2.0/24 dev sh2 table 102; ns s ip route add default via 100.64.2.1 table 102
ns s ip mptcp limits set subflows 4 add_addr_accepted 0
ns h ip mptcp limits set subflows 4 add_addr_accepted 0
# both paths' addresses get an endpoint: the one of the initial subflow's address too, so deleting
# it closes that subflow (see the endpoint experiments)
ns s ip mptcp endpoint add 100.64.1.2 dev sh1 id 1 subflow
ns s ip mptcp endpoint add 100.64.2.2 dev sh2 id 2 subflow
# TPROXY plumbing (used only by the tproxy candidate's nft rule)
ns s ip rule add fwmark 0x1 lookup 100; ns s ip route add local 0.0.0.0/0 dev lo table 100
ns s nft -f - <<'EOF'
table ip proxycmp {
  chain nat { type nat hook prerouting priority dstnat; }
  chain mangle { type filter hook prerouting priority mangle; }
}
EOF
ns w iperf3 -s -D
start serve w $PY "$D/h.py" serve

# shape R1 R2: both directions of each path; 0 = unshaped
shape() {
  local r i=1
  for r in "$1" "$2"; do
    for d in "s sh$i" "h hs$i"; do
      set -- $d
      if [ "$r" = 0 ]; then ns $1 tc qdisc del dev $2 root 2>/dev/null
      else ns $1 tc qdisc replace dev $2 root tbf rate ${r}mbit burst 32k latency 50ms; fi
    done
    i=$((i + 1))
  done
}
# divert PORT|tproxy:PORT: LAN TCP to the site proxy (all but the direct address 203.0.113.81)
divert() {
  ns s nft flush chain ip proxycmp nat; ns s nft flush chain ip proxycmp mangle
  case $1 in
    tproxy:*) ns s nft add rule ip proxycmp mangle iifname sc0 ip daddr != 203.0.113.81 meta l4proto tcp tproxy to :${1#tproxy:} meta mark set 0x1 accept ;;
    *) ns s nft add rule ip proxycmp nat iifname sc0 ip daddr != 203.0.113.81 ip protocol tcp redirect to :$1 ;;
  esac
}

# ---------------------------------------------------------------- candidates
# Each site has its own secret; the hub's proxy knows it (K) and the site presents SITEKEY (the
# dead-upstream tests also try a wrong one). Inside WireGuard no candidate needs to encrypt again;
# shadowsocks does anyway (its AEAD key is the secret).
K=site1-secret-not-secret SITEKEY=site1-secret-not-secret
RETRIES=3   # HAProxy's default; the dead-upstream tests are repeated with 0
# HAProxy: the site sends the original destination in a PROXY v2 header, with its secret in the
# header's unique-id TLV; the hub refuses a session whose TLV is not that site's secret and
# connects to the destination the header names (server 0.0.0.0:0).
hub_cfg() {
  cat <<EOF
global
  maxconn 4096
defaults
  mode tcp
  retries $RETRIES
  timeout connect 5s
  timeout client 1h
  timeout server 1h
frontend from_site1
  bind 100.64.1.1:8389 accept-proxy
  tcp-request session reject unless { fc_pp_unique_id -m str $K }
  default_backend original_destination
backend original_destination
  server dst 0.0.0.0:0
EOF
}
site_cfg() { # PORT [transparent]
  cat <<EOF
global
  maxconn 4096
defaults
  mode tcp
  retries $RETRIES
  timeout connect 5s
  timeout client 1h
  timeout server 1h
frontend lan
  bind 0.0.0.0:$1 ${2:-}
  unique-id-format $SITEKEY
  default_backend hub
backend hub
  server hub 100.64.1.1:8389 send-proxy-v2 proxy-v2-options unique-id
EOF
}
redsocks_cfg() {
  cat <<EOF
base { log_debug = off; log_info = off; log = stderr; daemon = off; redirector = iptables; }
redsocks { local_ip = 0.0.0.0; local_port = 1083; ip = 100.64.1.1; port = 1084; type = socks5; login = "site1"; password = "$SITEKEY"; }
EOF
}

cipher() { [ "$CAND" = ss-chacha ] && echo chacha20-ietf-poly1305 || echo aes-256-gcm; }
hub_start() {
  case $CAND in
    ss*|endpoints) start hub h ss-server -s 100.64.1.1 -p 8388 -k $K -m $(cipher) --mptcp ;;
    haproxy*|tproxy) hub_cfg >"$D/hub.cfg"; start hub h mptcpize run haproxy -db -f "$D/hub.cfg" ;;
    redsocks) start hub h mptcpize run microsocks -i 100.64.1.1 -p 1084 -u site1 -P $K ;;
  esac
}
site_start() {
  case $CAND in
    ss*|endpoints) start site s ss-redir -s 100.64.1.1 -p 8388 -l 1080 -b 0.0.0.0 -k $SITEKEY -m $(cipher) --mptcp; divert 1080 ;;
    haproxy*) site_cfg 1081 >"$D/site.cfg"; start site s mptcpize run haproxy -db -f "$D/site.cfg"; divert 1081 ;;
    tproxy) site_cfg 1082 transparent >"$D/site.cfg"; start site s mptcpize run haproxy -db -f "$D/site.cfg"; divert tproxy:1082 ;;
    redsocks) redsocks_cfg >"$D/redsocks.conf"; start site s mptcpize run redsocks -c "$D/redsocks.conf"; divert 1083 ;;
  esac
}
ticks() { local t=0 p; for p in "$@"; do set -- $(sed 's/.*) //' /proc/$p/stat); t=$((t + ${12} + ${13})); done; echo $t; }
threads() { awk '/^Threads/{print $2}' /proc/$1/status; }
HZ=$(getconf CLK_TCK)
busy() { awk '/^cpu /{print $2+$3+$4+$7+$8, $2+$3+$4+$5+$6+$7+$8}' /proc/stat; }

# iperf RATE1 RATE2 up|down: one TCP flow; records Mbit/s, CPU of each proxy, machine CPU, threads
iperf() {
  local r1=$1 r2=$2 dir=$3 rev= sp=${PID[site]} hp=${PID[hub]}
  [ $dir = down ] && rev=-R
  local s0 h0 b0 t0 s1 h1 b1 t1 w0 w1 ths thh
  s0=$(ticks $sp); h0=$(ticks $hp); read b0 t0 < <(busy); w0=$(now)
  ns c iperf3 -c 203.0.113.80 -t $SECS $rev -J >"$D/ip.json" &
  local ip=$!
  sleep $((SECS / 2)); ths=$(threads $sp); thh=$(threads $hp)
  SUBFLOWS=$(ns s ss -tnH state established dst 100.64.1.1 | wc -l)
  wait $ip
  s1=$(ticks $sp); h1=$(ticks $hp); read b1 t1 < <(busy); w1=$(now)
  $PY - "$D/ip.json" "$CAND" "$r1+$r2" "$dir" "$((s1 - s0))" "$((h1 - h0))" "$((b1 - b0))" "$((t1 - t0))" "$w0" "$w1" "$HZ" "$ths" "$thh" "$(cut -d' ' -f1 /proc/loadavg)" >>"$RESULTS" <<'PYEOF'
import json, sys
f, cand, rates, d, st, ht, bb, tt, w0, w1, hz, ths, thh, load = sys.argv[1:]
try:
    mbit = json.load(open(f))['end']['sum_received']['bits_per_second'] / 1e6
except Exception:
    mbit = 0.0
wall = float(w1) - float(w0); hz = int(hz)
site = int(st) / hz / wall * 100; hub = int(ht) / hz / wall * 100; mach = int(bb) / max(1, int(tt)) * 200
print('\t'.join(map(str, [cand, rates, d, f'{mbit:.1f}', f'{site:.1f}', f'{hub:.1f}', f'{mach:.0f}', ths, thh, load])))
PYEOF
  tail -1 "$RESULTS" | awk -F'\t' '{printf "  %-8s %-7s %-4s %6s Mbit/s  site %5s%%  hub %5s%%  machine (all processes) %3s%% of 200%%  threads %s/%s  load %s\n", $1,$2,$3,$4,$5,$6,$7,$8,$9,$10}'
}

# stream_case LABEL HOST PORT LIMIT: prints how a proxied connection ended (relative to $EVT if set)
stream_json() { ns c $PY "$D/h.py" stream "$@"; }

ttfb() { # 10 fetches each, through the proxy and direct; median and max of connect and first byte
  local host out=""
  for host in 203.0.113.80 203.0.113.81; do
    for i in 1 2 3 4 5 6 7 8 9 10; do
      ns c curl -s -o /dev/null -m 5 -w '%{time_connect} %{time_starttransfer}\n' http://$host:8080/
    done >"$D/ttfb.$host"
  done
  $PY - "$D/ttfb.203.0.113.80" "$D/ttfb.203.0.113.81" "$CAND" >>"$D/ttfb.tsv" <<'PYEOF'
import sys, statistics as st
def f(p):
    r = [tuple(map(float, l.split())) for l in open(p) if l.strip()]
    return st.median(x[1] for x in r) * 1000, max(x[1] for x in r) * 1000, st.median(x[0] for x in r) * 1000
a, b = f(sys.argv[1]), f(sys.argv[2])
print(f'{sys.argv[3]}\t{a[0]:.2f}\t{a[1]:.2f}\t{b[0]:.2f}\t{b[1]:.2f}\t{a[2]:.2f}')
PYEOF
  tail -1 "$D/ttfb.tsv" | awk -F'\t' '{printf "  time to first byte (median/max of 10): proxied %s/%s ms, direct %s/%s ms (proxied connect %s ms)\n", $2,$3,$4,$5,$6}'
}

wait_closed() { # a proxy pair that leaves connections open leaks; up to 20 s for them to close
  local t=0
  while [ $t -lt 40 ] && [ "$(ns s ss -tnH state established dst 100.64.1.1 | wc -l)" -gt 0 ]; do sleep 0.5; t=$((t + 1)); done
  say "  site->hub subflows still established after $1: $(ns s ss -tnH state established dst 100.64.1.1 | wc -l) (waited $((t / 2)) s)"
}

dead_upstream() {
  local kill_at j
  # (a) the hub proxy is killed (SIGKILL) while a connection streams
  ( sleep 2; echo "$(now)" >"$D/killed"; kill -9 ${PID[hub]} ) &
  { j=$(stream_json 203.0.113.80 9000 20); wait $!; wait ${PID[hub]}; } 2>/dev/null; unset 'PID[hub]'
  A=$($PY "$D/h.py" describe "$j" "$(cat "$D/killed")")
  say "  (a) hub proxy killed mid-stream: client sees $A"
  # (b) the hub proxy is not running when a connection is made
  B=$($PY "$D/h.py" describe "$(stream_json 203.0.113.80 9000 20)")
  say "  (b) hub proxy down, new connection: $B"
  hub_start; sleep 1
  # (c) the destination refuses (closed port), proxied and direct
  C=$($PY "$D/h.py" describe "$(stream_json 203.0.113.80 9 20)")
  Cd=$($PY "$D/h.py" describe "$(stream_json 203.0.113.81 9 20)")
  say "  (c) destination port closed: proxied: $C; direct: $Cd"
  # (d) the site presents a wrong secret
  stop site; SITEKEY=wrong-secret; site_start; sleep 1
  W=$($PY "$D/h.py" describe "$(stream_json 203.0.113.80 9000 20)")
  say "  (d) wrong site secret: $W"
  stop site; SITEKEY=$K; site_start; sleep 1
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$CAND" "$A" "$B" "$C" "$Cd" "$W" >>"$D/dead.tsv"
}

candidate() {
  CAND=$1
  say ""; say "== $CAND   ($(uptime | sed 's/.*load/load/'))"
  hub_start; site_start; sleep 1.5
  for k in hub site; do
    [ -d /proc/${PID[$k]} ] || { say "  $k proxy did not start:"; cat "$D/$k.log"; return 1; }
  done
  say "  site: $(tr '\0' ' ' </proc/${PID[site]}/cmdline | cut -c1-120)"
  say "  hub:  $(tr '\0' ' ' </proc/${PID[hub]}/cmdline | cut -c1-120)"
  shape 20 20
  # the proxied connection must really be MPTCP with two subflows, and reach the right server
  ns c curl -s -m 5 http://203.0.113.80:8080/ >/dev/null || say "  !! a proxied fetch failed"
  local r pair
  local n=$REPEAT
  [ $CAND = tproxy ] && n=1   # the same HAProxy data path as 'haproxy'; run once to show it works
  for r in $(seq 1 "$n"); do
    for pair in $RATES; do
      pair=${pair/+/ }
      [ "$pair" = "0 0" ] && [ $r -gt 1 ] && continue
      shape $pair
      iperf $pair up; [ $r = 1 ] && [ "$pair" = "20 20" ] && say "  site->hub TCP subflows during that run (iperf3 control + data): $SUBFLOWS"
      iperf $pair down
    done
  done
  wait_closed "the iperf3 runs"
  shape 20 20
  ttfb
  wait_closed "the fetches"
  dead_upstream
  if [ $CAND = haproxy ]; then
    stop site; stop hub; RETRIES=0; CAND="haproxy retries 0"
    say "  -- again with 'retries 0' in both HAProxy configs"
    hub_start; site_start; sleep 1; dead_upstream
    RETRIES=3; CAND=haproxy
  fi
  stop site; stop hub
}

# ---------------------------------------------------------------- endpoint experiments (ss pair)
ep_reset() { # the starting state: one subflow endpoint per path
  ns s ip mptcp endpoint flush
  ns s ip mptcp endpoint add 100.64.1.2 dev sh1 id 1 subflow
  ns s ip mptcp endpoint add 100.64.2.2 dev sh2 id 2 subflow
}
drop_path() { # N (DROPSTATE=on|off): path N loses every packet both ways, with no link or endpoint change
  local n=$1 x
  for x in "s sh$n" "h hs$n"; do
    set -- $x
    if [ "$DROPSTATE" = on ]; then
      ns $1 nft -f - <<<"table netdev proxycmp_drop$n { chain in { type filter hook ingress device \"$2\" priority 0; policy drop; }; }"
    else
      ns $1 nft delete table netdev proxycmp_drop$n 2>/dev/null
    fi
  done
  return 0
}
subflows() { # local addresses of the site's subflows to the hub proxy, with counts
  ns s ss -tnH state established dport = :8388 | awk '{split($3,a,":"); n[a[1]]++} END{for(k in n) printf "%s x%d  ", k, n[k]}'
}
# experiment TITLE up|down SECONDS "AT ACTION"...: one iperf3 flow (ss pair, 20+20), actions at
# given seconds; prints the 0.5 s per-path timeline, each event's effect, the monitor's events
# and whether the connection survived
experiment() {
  local title=$1 dir=$2 dur=$3 rev= t0 ev=() a at act last=0 ip te out
  shift 3
  [ "$dir" = down ] && rev=-R
  say ""; say "-- $title ($dir, 20+20 Mbit/s; load $(cut -d' ' -f1-3 /proc/loadavg))"
  start sampler s $PY "$D/h.py" sample sh1 sh2
  start monitor s $PY "$D/h.py" monitor
  sleep 0.3
  t0=$(now)
  ns c iperf3 -c 203.0.113.80 -t "$dur" $rev -J >"$D/ep.json" & ip=$!
  for a in "$@"; do
    at=${a%% *}; act=${a#* }
    sleep "$($PY -c "print(max(0, $t0 + $at - $(now)))")"; last=$at
    te=$(now)
    if [ "$act" = show ]; then say "   +${at}s subflows: $(subflows)"; continue; fi
    out=$(eval "$act" 2>&1)
    say "   +${at}s $act${out:+   [$out]}    subflows 0.5 s later: $(sleep 0.5; subflows)"
    ev+=("[\"${act//\"/}\", $($PY -c "print(round($te - $t0, 2))")]")
  done
  wait $ip
  sleep 0.3; stop sampler; stop monitor
  $PY "$D/h.py" timeline "$D/sampler.log" "$t0" "$dir" "[$(IFS=,; echo "${ev[*]}")]"
  $PY - "$D/ep.json" <<'PYEOF'
import json, sys
d = json.load(open(sys.argv[1]))
if d.get('error'): print('   connection:', d['error'])
else: print(f"   connection survived: {d['end']['sum_received']['bits_per_second']/1e6:.1f} Mbit/s over the run")
PYEOF
  # the monitor's subflow events of the data connection (iperf3's second, after its control one)
  local tok=$(awk '/CREATED/{for(i=1;i<=NF;i++) if($i ~ /^token=/) t=$i} END{print t}' "$D/monitor.log")
  awk -v t0="$t0" -v tok="$tok" '$0 ~ tok && !/\[ (CREATED|ESTABLISHED|CLOSED)\]/ { $1 = sprintf("+%.2fs", $1 - t0); print "   mon " $0 }' "$D/monitor.log" | sed 's/ remid=[0-9]*//; s/ daddr4=100.64.1.1//; s/ dport=8388//' | cut -c1-150 | head -20
  ep_reset; DROPSTATE=off; drop_path 1; drop_path 2
}

endpoints() {
  CAND=endpoints
  say ""; say "== MPTCP endpoint experiments (ss-redir/ss-server pair)   ($(uptime | sed 's/.*load/load/'))"
  hub_start; site_start; sleep 1.5; shape 20 20; DROPSTATE=off
  say "   endpoints: $(ns s ip mptcp endpoint show | tr '\n' ';')"
  experiment "(1)+(3) delete the second path's endpoint, then re-add it" up 14 \
    "4 ns s ip mptcp endpoint delete id 2" "9 ns s ip mptcp endpoint add 100.64.2.2 dev sh2 id 2 subflow"
  experiment "(1)+(3) delete the second path's endpoint, then re-add it" down 14 \
    "4 ns s ip mptcp endpoint delete id 2" "9 ns s ip mptcp endpoint add 100.64.2.2 dev sh2 id 2 subflow"
  experiment "(2) delete the endpoint of the initial subflow's address (id 1), then re-add it" up 14 \
    "4 ns s ip mptcp endpoint delete id 1" "9 ns s ip mptcp endpoint add 100.64.1.2 dev sh1 id 1 subflow"
  ns s ip mptcp endpoint delete id 1
  experiment "(2b) no endpoint on the initial subflow's address: 'endpoint delete id 0 ADDR'" up 10 \
    "1 show" "4 ns s ip mptcp endpoint delete id 0 100.64.1.2"
  ns s ip mptcp endpoint delete id 1
  experiment "(2c) no endpoint on the initial subflow's address: ss -K on that subflow" up 10 \
    "1 show" "4 ns s ss -K dst 100.64.1.1 src 100.64.1.2 dport = :8388 >/dev/null"
  experiment "(4) mark path 2 backup, delete path 1's endpoint, re-add it" up 16 \
    "3 ns s ip mptcp endpoint change id 2 backup" "7 ns s ip mptcp endpoint delete id 1" "11 ns s ip mptcp endpoint add 100.64.1.2 dev sh1 id 1 subflow"
  experiment "(4) mark path 2 backup, delete path 1's endpoint, re-add it" down 16 \
    "3 ns s ip mptcp endpoint change id 2 backup" "7 ns s ip mptcp endpoint delete id 1" "11 ns s ip mptcp endpoint add 100.64.1.2 dev sh1 id 1 subflow"
  experiment "(4b) path 2 backup, path 1 drops silently" up 14 \
    "3 ns s ip mptcp endpoint change id 2 backup" "6 DROPSTATE=on drop_path 1"
  experiment "(5) path 2 drops silently (no endpoint change), then recovers" up 16 \
    "4 DROPSTATE=on drop_path 2" "9 DROPSTATE=off drop_path 2"
  experiment "(5) path 2 drops silently (no endpoint change), then recovers" down 16 \
    "4 DROPSTATE=on drop_path 2" "9 DROPSTATE=off drop_path 2"
  experiment "(5) path 1 (initial subflow) drops silently, then recovers" up 16 \
    "4 DROPSTATE=on drop_path 1" "9 DROPSTATE=off drop_path 1"
  experiment "(5) path 1 (initial subflow) drops silently, then recovers" down 16 \
    "4 DROPSTATE=on drop_path 1" "9 DROPSTATE=off drop_path 1"
  experiment "(5b) path 1 drops; its endpoint deleted 0.5 s later (as after BFD); path back, endpoint re-added" up 14 \
    "4 DROPSTATE=on drop_path 1" "4.5 ns s ip mptcp endpoint delete id 1" "9 DROPSTATE=off drop_path 1" "9.5 ns s ip mptcp endpoint add 100.64.1.2 dev sh1 id 1 subflow"
  stop site; stop hub
}

for w in "${WHAT[@]}"; do
  case $w in
    ss|ss-chacha|haproxy|tproxy|redsocks) candidate $w ;;
    endpoints) endpoints ;;
    *) echo "proxy-compare: unknown $w" >&2 ;;
  esac
done

say ""; say "cores: $(nproc) ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-)), kernel $(uname -r)"
$PY - "$RESULTS" "$D/ttfb.tsv" "$D/dead.tsv" <<'PYEOF'
import sys, os, statistics as st
rows = [l.rstrip('\n').split('\t') for l in open(sys.argv[1]) if l.strip()]
cands = list(dict.fromkeys(r[0] for r in rows))
for c in cands:
    print(f'\n### {c}\n')
    print('| paths (Mbit/s) | up Mbit/s | down Mbit/s | site CPU % per 100 Mbit/s (up/down) | hub CPU % per 100 Mbit/s (up/down) | threads site/hub | load |')
    print('|---|---|---|---|---|---|---|')
    for rates in dict.fromkeys(r[1] for r in rows if r[0] == c):
        def g(d):
            return [r for r in rows if r[0] == c and r[1] == rates and r[2] == d]
        up, dn = g('up'), g('down')
        def mb(x): return '/'.join(r[3] for r in x)
        def per(x, i):
            v = [float(r[i]) / float(r[3]) * 100 for r in x if float(r[3]) > 0]
            return f'{st.median(v):.1f}' if v else '-'
        label = 'unshaped' if rates == '0+0' else rates
        print(f'| {label} | {mb(up)} | {mb(dn)} | {per(up,4)}/{per(dn,4)} | {per(up,5)}/{per(dn,5)} | {up[0][7]}/{up[0][8]} | {",".join(sorted(set(r[9] for r in up + dn)))} |')
if os.path.exists(sys.argv[2]):
    print('\n| candidate | TTFB proxied median/max ms | direct median/max ms |\n|---|---|---|')
    for l in open(sys.argv[2]):
        c, a, b, d, e, f = l.rstrip('\n').split('\t'); print(f'| {c} | {a}/{b} | {d}/{e} |')
if os.path.exists(sys.argv[3]):
    print('\n| candidate | (a) hub proxy killed mid-flow | (b) hub proxy down, new connection | (c) destination port closed | (d) wrong site secret |\n|---|---|---|---|---|')
    for l in open(sys.argv[3]):
        c, a, b, cc, cd, w = l.rstrip('\n').split('\t'); print(f'| {c} | {a} | {b} | {cc} (direct: {cd}) | {w} |')
PYEOF
