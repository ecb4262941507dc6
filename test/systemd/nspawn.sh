# Sourced by the other scripts: boot a systemd container (systemd-nspawn, systemd as its PID 1) over
# the host's own root file system, every write going to a tmpfs; run commands in it; tear it down.
# The container has its own network namespace (--private-network) with nothing but lo: no link to
# the machine's root namespace exists. No host systemd is needed (none runs here).
#
#   nsp_boot NAME        boot; returns when the container's systemd is up (running or degraded)
#   nsp_in NAME CMD...   run a bash command line inside NAME (all its namespaces, its root)
#   nsp_stop NAME        power off (SIGTERM to nspawn), SIGKILL after 20 s, remove its cgroups/files
#
# NSP_MODE=volatile (default): --volatile=overlay, the tmpfs upper layer lives as long as the boot.
# NSP_MODE=overlay: the overlay is made here instead, in nspawn's mount namespace, so it survives a
#   reboot of the container (`systemctl reboot` inside: nspawn boots it again): for boot-time tests.
#
# State per container in $NSP_STATE/NAME.{pid,log}; the container sees $NSP_SHARE read-only at /mnt/nsp.

NSP_STATE=${NSP_STATE:?set NSP_STATE}
NSP_MODE=${NSP_MODE:-volatile}
NSP_SHARE=${NSP_SHARE:?set NSP_SHARE}
# Host units enabled on this machine that have no business in the test container (mptcpd would even
# manage MPTCP endpoints beside ospfbond's). Masked on init's command line: nothing written anywhere.
NSP_MASK=${NSP_MASK:-postgresql.service haproxy.service redsocks.service shadowsocks-libev.service mptcp.service e2scrub_reap.service systemd-timesyncd.service apt-daily.timer apt-daily-upgrade.timer man-db.timer e2scrub_all.timer fstrim.timer dpkg-db-backup.timer logrotate.timer}
NSP_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

nsp_boot() {
  local name=$1 args=() u i
  mkdir -p "$NSP_STATE"
  for u in $NSP_MASK; do args+=("systemd.mask=$u"); done
  # No host systemd: no machined registration (--register=no), no scope (--keep-unit: nspawn stays
  # in the cgroup it started in). That cgroup is its own, in both systemd hierarchies, so nspawn's
  # payload/supervisor sub-cgroups are not made in the root cgroup; nsp_stop removes them.
  mkdir -p "/sys/fs/cgroup/unified/$name" "/sys/fs/cgroup/systemd/$name"
  rm -f "$NSP_STATE/$name.pid"
  # systemd-nspawn 252 refuses `-D /` with --volatile=overlay ("Spawning container on root directory
  # is not supported. Consider using --ephemeral, --volatile=yes or --volatile=state."). Hence a
  # private mount namespace (nothing shows in the host's mount table; it dies with nspawn) in which
  # the root file system alone (a non-recursive bind, read-only) is the container's directory.
  # /run gets a tmpfs there too: on this host /run is on disk, and nspawn keeps files in
  # /run/systemd/nspawn/ that it refuses to delete from a disk ("Attempted to remove disk file system").
  # setsid -f: a session of its own, so it outlives the shell that booted it; it writes its own pid.
  # The container's directory is on that private /run too, out of the $NSP_SHARE the container sees.
  # A reboot inside makes nspawn exit 133 (systemd-nspawn@.service restarts it on that code): the
  # loop boots it again, as that unit would.
  rm -f "$NSP_STATE/$name.stop"
  setsid -f unshare -m --propagation private /bin/bash -c '
    set -e
    name=$1 state=$2 mode=$3 share=$4; shift 4
    echo $$ > "/sys/fs/cgroup/unified/$name/cgroup.procs"
    echo $$ > "/sys/fs/cgroup/systemd/$name/cgroup.procs"
    mount -t tmpfs -o mode=0755 tmpfs /run
    dir=/run/nsp-root
    mkdir -p "$dir"
    mount --bind / "$dir"
    mount -o remount,bind,ro "$dir"
    opts=(--volatile=overlay)
    if [ "$mode" = overlay ]; then
      mkdir -p /run/nsp-lower /run/nsp-rw
      mount --move "$dir" /run/nsp-lower
      mount -t tmpfs -o mode=0755 tmpfs /run/nsp-rw
      mkdir /run/nsp-rw/upper /run/nsp-rw/work
      mount -t overlay overlay -o lowerdir=/run/nsp-lower,upperdir=/run/nsp-rw/upper,workdir=/run/nsp-rw/work "$dir"
      opts=()
    fi
    echo $$ > "$state/$name.pid"
    set +e
    while :; do
      systemd-nspawn --quiet --machine="$name" -D "$dir" "${opts[@]}" --private-network \
        --register=no --keep-unit --console=read-only --bind-ro="$share":/mnt/nsp -b -- "$@"
      rc=$?
      echo "nsp: systemd-nspawn exited $rc" >&2
      [ "$rc" = 133 ] && [ ! -e "$state/$name.stop" ] || exit "$rc"
    done
  ' nsp-"$name" "$name" "$NSP_STATE" "$NSP_MODE" "$NSP_SHARE" "${args[@]}" \
    < /dev/null > "$NSP_STATE/$name.log" 2>&1
  for i in $(seq 1 50); do [ -s "$NSP_STATE/$name.pid" ] && break; sleep 0.1; done
  [ -s "$NSP_STATE/$name.pid" ] || { echo "nsp_boot: systemd-nspawn did not start:" >&2; cat "$NSP_STATE/$name.log" >&2; return 1; }
  nsp_wait "$name"
}

# The systemd-nspawn the supervisor runs now (a new one after each reboot of the container).
nsp_nspawn() {
  local pid c
  pid=$(cat "$NSP_STATE/$1.pid" 2>/dev/null) || return 1
  for c in $(ps -o pid= --ppid "$pid"); do
    [ "$(cat "/proc/$c/comm" 2>/dev/null)" = systemd-nspawn ] && { echo "$c"; return 0; }
  done
  return 1
}

# The container's PID 1 as the host sees it: nspawn's child running systemd.
nsp_leader() {
  local n c
  n=$(nsp_nspawn "$1") || return 1
  for c in $(ps -o pid= --ppid "$n"); do
    [ "$(cat "/proc/$c/comm" 2>/dev/null)" = systemd ] && { echo "$c"; return 0; }
  done
  return 1
}

# Until the container's systemd has finished booting (or 60 s). Prints the state it reached.
nsp_wait() {
  local name=$1 i s pid
  pid=$(cat "$NSP_STATE/$name.pid")
  for i in $(seq 1 600); do
    kill -0 "$pid" 2>/dev/null || { echo "nsp_wait: systemd-nspawn $pid exited:" >&2; tail -20 "$NSP_STATE/$name.log" >&2; return 1; }
    if nsp_leader "$name" > /dev/null; then
      s=$(nsp_in "$name" 'systemctl is-system-running 2>/dev/null' || true)
      case $s in running | degraded) echo "$s"; return 0 ;; esac
    fi
    sleep 0.1
  done
  echo "nsp_wait: $name not up after 60 s (state: ${s:-none})" >&2
  return 1
}

nsp_in() {
  local name=$1 leader
  shift
  leader=$(nsp_leader "$name") || { echo "nsp_in: $name has no running init" >&2; return 125; }
  nsenter -t "$leader" -a -r -w -- /usr/bin/env -i PATH="$NSP_PATH" HOME=/root TERM=dumb LANG=C.UTF-8 \
    /bin/bash -c "$*"
}

nsp_stop() {
  local name=$1 pid n i h
  pid=$(cat "$NSP_STATE/$name.pid" 2>/dev/null) || pid=
  touch "$NSP_STATE/$name.stop"
  # Only the processes this script started: the supervisor whose command line names this container,
  # and its systemd-nspawn.
  if [ -n "$pid" ] && tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -q " nsp-$name $name "; then
    n=$(nsp_nspawn "$name") && kill -TERM "$n" # nspawn asks the container's systemd to power off
    for i in $(seq 1 200); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then
      echo "nsp_stop: $name did not power off in 20 s: SIGKILL" >&2
      n=$(nsp_nspawn "$name") && kill -KILL "$n"
      sleep 0.5
      kill -KILL "$pid" 2>/dev/null
    fi
  fi
  # The container's processes die with its PID namespace; then its cgroups are empty.
  for i in $(seq 1 50); do
    [ -z "$(find "/sys/fs/cgroup/unified/$name" -name cgroup.procs -exec cat {} + 2>/dev/null)" ] && break
    sleep 0.1
  done
  for h in unified systemd; do
    [ -d "/sys/fs/cgroup/$h/$name" ] && find "/sys/fs/cgroup/$h/$name" -depth -type d -exec rmdir {} + 2>/dev/null
    [ -d "/sys/fs/cgroup/$h/$name" ] && echo "nsp_stop: /sys/fs/cgroup/$h/$name left (busy)" >&2
  done
  rm -f "$NSP_STATE/$name.pid" "$NSP_STATE/$name.stop"
  return 0
}
