import { setTimeout as sleep } from 'node:timers/promises';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { Lab, waitFor } from './lab.js';
import { labTopology, routerNodes, wanCount, type Topology, type SpokeSpec } from './topology.js';
import { ospfbondSteps, stepCommand, bundlePath } from './provision.js';
import { neighborsByIface, type NeighborState } from '../../src/frr/json.js';
import { parseConfig } from '../../src/config/load.js';
import { DEFAULT_CONFIG } from '../../src/base/paths.js';
import { hubTapName, tunnelAddresses, type TunnelAddresses } from '../../src/model/addressing.js';

/** The daemon's arguments from the systemd unit's ExecStart (the lab runs it as the unit does); undefined if the unit runs something else. */
export function daemonUnitArgs(): string | undefined {
  return /^ExecStart=.*\/usr\/local\/bin\/ospfbond (.*)$/m.exec(daemonUnit())?.[1];
}

/** The daemon's whole command line as its unit has it (Node.js options too), with the lab's `ospfbond`. */
export function daemonUnitCommand(): string | undefined {
  return /^ExecStart=(.*\/usr\/local\/bin\/ospfbond .*)$/m.exec(daemonUnit())?.[1]!.replace('/usr/local/bin/ospfbond', '"$(command -v ospfbond)"');
}

function daemonUnit(): string {
  return readFileSync(new URL('../../../systemd/ospfbond.service', import.meta.url), 'utf8');
}

/** Where the lab's tests keep a router's daemon log (in the run dir, searched for keys at the end). */
export const daemonLog = (lab: Lab, node: string): string => `${lab.dir}/${node}-daemon.log`;

/** Starts the daemon on a router as its unit does, appending to its log, and waits for its "started". */
export async function startDaemon(lab: Lab, node: string): Promise<void> {
  // Counted as numbers: before the first start there is no log, and grep's complaint about that
  // differed from the "0" it prints once the shell below has created the file, so this wait once
  // ended before the daemon had even read its config (Debian 13: a kill 1.3 s before "started").
  const started = async () => Number((await lab.try(node, `grep -c '"started"' ${daemonLog(lab, node)} 2>/dev/null`)).out.trim()) || 0;
  const before = await started();
  await lab.sh(node, `setsid ${daemonUnitCommand()!} >> ${daemonLog(lab, node)} 2>&1 < /dev/null &`);
  await waitFor(`the daemon started on ${node}`, 20_000, async () => (await started()) > before);
}

export type LogLine = { level: number; msg: string; time: number; [key: string]: unknown };

/** Connections a spoke's redirect has sent to its proxy so far: the rule's counter, one packet per connection. */
export async function proxyRedirects(lab: Lab, site: string): Promise<number> {
  return Number(/counter packets (\d+) bytes \d+ redirect/.exec(await lab.sh(site, 'nft list chain inet ospfbond aggregate'))?.[1] ?? 0);
}

/** The connections that hold a place in a spoke's proxies now (aggregate_connections; render/nft.ts). */
export async function proxyPlaces(lab: Lab, site: string): Promise<number> {
  const j = JSON.parse(await lab.sh(site, 'nft -j list set inet ospfbond aggregate_busy')) as { nftables: { set?: { elem?: unknown[] } }[] };
  return j.nftables.find((x) => x.set)?.set?.elem?.length ?? 0;
}

/**
 * Waits until no connection holds a place in the site's proxies: a measurement of one proxied
 * connection needs the places that an earlier measurement's connections keep for up to 5 s. An
 * expired place is no longer listed but still counts against the set's size until the set's
 * garbage collection frees it, every second: in a probe, a new connection was refused 0.5 s after
 * the places had expired and admitted 1 s after. Hence the 2 s after the set lists none.
 */
export async function proxiesIdle(lab: Lab, site: string): Promise<void> {
  await waitFor(`${site}: no busy connection in the proxies`, 15_000, async () => (await proxyPlaces(lab, site)) === 0, 200);
  await sleep(2000);
}

/**
 * The daemon's log lines (pino: one JSON object a line), those of `job` and with a `msg` matching,
 * when given. Every line must be JSON: anything else there (a stack trace) is a finding, not noise.
 */
export async function daemonLogLines(lab: Lab, node: string, only: { job?: string; msg?: RegExp } = {}): Promise<LogLine[]> {
  const parse = (line: string): LogLine => {
    try {
      return JSON.parse(line) as LogLine;
    } catch {
      throw new Error(`${node}: a line of the daemon's log that is not JSON: ${line}`);
    }
  };
  return (await lab.sh(node, `cat ${daemonLog(lab, node)}`))
    .split('\n')
    .filter(Boolean)
    .map(parse)
    .filter((l) => (only.job === undefined || l.job === only.job) && (only.msg === undefined || only.msg.test(String(l.msg))));
}

/** A user's own FRR config, which ospfbond must leave alone through apply and down. */
export const USER_BGP = 'router bgp 64512\n bgp router-id 192.0.2.250\n no bgp ebgp-requires-policy\nexit\n!\n';

/** How long each router's adjacency on each tap has been up, in ms, by `node tap` (absent: not Full). */
export async function adjacencyUptimes(lab: Lab): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const n of routerNodes(lab.topo)) {
    for (const [tap, nb] of Object.entries(await ospfNeighbors(lab, n))) if (nb.state.startsWith('Full')) out.set(`${n} ${tap}`, nb.upMs ?? 0);
  }
  return out;
}

/** The adjacencies that went down (or were not up) at some point in the `elapsedMs` since `before`. */
export async function adjacencyResets(lab: Lab, before: Map<string, number>, elapsedMs: number): Promise<string[]> {
  const now = await adjacencyUptimes(lab);
  return [...before.keys()].filter((k) => (now.get(k) ?? -1) < (before.get(k) ?? 0) + elapsedMs - 1000);
}

/** A router's OSPF neighbours by interface (status's reader: one neighbour a tap). */
export async function ospfNeighbors(lab: Lab, node: string): Promise<Record<string, NeighborState>> {
  return neighborsByIface(await lab.sh(node, "vtysh -c 'show ip ospf neighbor json'"));
}

/** The interfaces on which a router has a Full adjacency. */
export async function fullTaps(lab: Lab, node: string): Promise<string[]> {
  return Object.entries(await ospfNeighbors(lab, node)).filter(([, n]) => n.state.startsWith('Full')).map(([tap]) => tap);
}

/** Every tap of every router has a Full adjacency; the spokes see the hub as DR. */
export async function allFull(lab: Lab): Promise<boolean> {
  const t = lab.topo;
  if ((await fullTaps(lab, t.hub.node)).length !== wanCount(t)) return false;
  for (const s of t.spokes) {
    const ns = Object.values(await ospfNeighbors(lab, s.name));
    if (ns.filter((n) => n.state === 'Full/DR').length !== s.wans.length) return false;
  }
  return true;
}

/** The devices the kernel's OSPF route to `prefix` on `node` leaves by, sorted (none: no OSPF route). */
export async function ospfNexthopDevs(lab: Lab, node: string, prefix: string): Promise<string[]> {
  const routes = JSON.parse(await lab.sh(node, `ip -j route show ${prefix}`)) as { protocol?: string; dev?: string; nexthops?: { dev: string }[] }[];
  const r = routes.find((x) => x.protocol === 'ospf');
  return r ? (r.nexthops?.map((n) => n.dev) ?? [r.dev!]).sort() : [];
}

/** How many tunnels the kernel's OSPF route to `prefix` on `node` spreads over (0: none). */
export async function ecmpWidth(lab: Lab, node: string, prefix: string): Promise<number> {
  return (await ospfNexthopDevs(lab, node, prefix)).length;
}

/** Both directions use every tunnel: each spoke's default and the hub's route to each spoke's LAN. */
export async function allBonded(lab: Lab): Promise<boolean> {
  for (const s of lab.topo.spokes) {
    if ((await ecmpWidth(lab, s.name, 'default')) !== s.wans.length) return false;
    if ((await ecmpWidth(lab, lab.topo.hub.node, s.lanPrefix)) !== s.wans.length) return false;
  }
  return true;
}

/** Waits for every adjacency Full, then for every route ECMP: the seconds from `since` to each. */
export async function rebonded(lab: Lab, since: number, timeoutMs = 60_000): Promise<{ full: number; bonded: number }> {
  await waitFor('all adjacencies Full', timeoutMs, () => allFull(lab));
  const full = (Date.now() - since) / 1000;
  await waitFor('bonded', timeoutMs, () => allBonded(lab));
  return { full, bonded: (Date.now() - since) / 1000 };
}

export interface Setup {
  lab: Lab;
  fullSeconds: number; // from the start of `apply` on all routers to every adjacency Full
  bondedSeconds: number; // ... to every spoke's default route being ECMP over all its tunnels
  applyOutput: Record<string, string>;
  dryRunOutput: Record<string, string>;
  /** ospfbond links that existed right after the dry runs (there must be none). */
  linksAfterDryRun: string[];
}

/** The lab built, ospfbond installed and each router's config written (init, add-spoke): nothing applied. */
export async function preparedLab(topo: Topology = labTopology(), id?: string): Promise<Lab> {
  const lab = new Lab(topo, id);
  await lab.build();
  await lab.installPackage();
  const t = lab.topo;
  // A user's FRR config that predates ospfbond, with its daemon enabled.
  await lab.sh(t.hub.node, `sed -i 's/^bgpd=no/bgpd=yes/' /etc/frr/daemons && printf '%s' '${USER_BGP}' >> /etc/frr/frr.conf`);
  // init hub, add-spoke, init spoke: the Vagrant lab's steps too. The bundle goes from the hub to the
  // spoke through the lab's run dir, which both see.
  for (const step of ospfbondSteps(t, lab.dir)) await lab.sh(step.node, stepCommand(step));
  return lab;
}

export async function buildBondedLab(topo: Topology = labTopology(), id?: string): Promise<Setup> {
  const lab = await preparedLab(topo, id);
  const t = lab.topo;
  const routers = routerNodes(t);
  const dryRunOutput: Record<string, string> = {};
  const linksAfterDryRun: string[] = [];
  for (const n of routers) {
    dryRunOutput[n] = await lab.sh(n, 'ospfbond apply --dry-run 2>&1');
    linksAfterDryRun.push(...(await lab.sh(n, 'ip -o link show')).split('\n').filter((l) => /: ob[tw]/.test(l)));
  }
  const start = Date.now();
  const applyOutput: Record<string, string> = {};
  await Promise.all(
    routers.map(async (n) => {
      applyOutput[n] = await lab.sh(n, 'ospfbond apply 2>&1');
    }),
  );
  await waitFor('all OSPF adjacencies Full', 90_000, () => allFull(lab));
  const fullSeconds = (Date.now() - start) / 1000;
  await waitFor('every spoke default ECMP over all its tunnels', 60_000, () => allBonded(lab));
  return { lab, fullSeconds, bondedSeconds: (Date.now() - start) / 1000, applyOutput, dryRunOutput, linksAfterDryRun };
}

/** Bytes each of `devs` on `node` has received and sent, read in one `ip -s link`. */
export async function linkBytes(lab: Lab, node: string, devs: string[]): Promise<Record<string, { rx: number; tx: number }>> {
  const links = JSON.parse(await lab.sh(node, 'ip -j -s link show')) as { ifname: string; stats64: { tx: { bytes: number }; rx: { bytes: number } } }[];
  return Object.fromEntries(
    devs.map((d) => {
      const l = links.find((x) => x.ifname === d);
      if (!l) throw new Error(`${node}: no link ${d}`);
      return [d, { rx: l.stats64.rx.bytes, tx: l.stats64.tx.bytes }];
    }),
  );
}

/** Bytes each of a site's WAN devices has received and sent, by WAN name. */
export function wanBytes(lab: Lab, site: SpokeSpec): Promise<Record<string, { rx: number; tx: number }>> {
  return linkBytes(lab, site.name, site.wans.map((w) => w.name));
}

/** A site WAN's tunnel as the hub numbers it: `hub add-spoke` picks the number, not the lab. */
export interface HubTunnel {
  site: string;
  wan: string;
  /** The hub's tap for it (the spoke's is obt-WAN). */
  tap: string;
  addresses: TunnelAddresses;
}

/** Every tunnel of the hub, read from its config with ospfbond's own reader and names. */
export async function hubTunnels(lab: Lab): Promise<HubTunnel[]> {
  const cfg = parseConfig(DEFAULT_CONFIG, await lab.sh(lab.topo.hub.node, `cat ${DEFAULT_CONFIG}`));
  if (cfg.role !== 'hub') throw new Error(`${lab.topo.hub.node}: ${DEFAULT_CONFIG} is not a hub's config`);
  return cfg.spokes.flatMap((s) => s.wans.map((w) => ({ site: s.name, wan: w.wan, tap: hubTapName(w.tunnel), addresses: tunnelAddresses(cfg.tunnelPool, w.tunnel) })));
}

export function hubTunnelOf(tunnels: HubTunnel[], site: string, wan: string): HubTunnel {
  const found = tunnels.find((x) => x.site === site && x.wan === wan);
  if (!found) throw new Error(`the hub has no tunnel for ${site} ${wan}`);
  return found;
}

export type FailureKind = 'carrier' | 'blackhole';

/**
 * Breaks a site's WAN at its ISP: `carrier` takes the access line down (the spoke's device loses
 * carrier, as when a modem dies); `blackhole` drops everything on the line upstream while the link
 * stays up (the common LTE case).
 */
export async function failWan(lab: Lab, site: SpokeSpec, wan: string, kind: FailureKind): Promise<void> {
  const w = site.wans.find((x) => x.name === wan)!;
  const dev = `${site.name}-${wan}`;
  if (kind === 'carrier') await lab.sh(w.isp, `ip link set ${dev} down`);
  else await lab.sh(w.isp, `nft add table inet cut-${dev} && nft add chain inet cut-${dev} c "{ type filter hook forward priority -10; policy accept; }" && nft add rule inet cut-${dev} c iifname ${dev} drop && nft add rule inet cut-${dev} c oifname ${dev} drop`);
}

export async function restoreWan(lab: Lab, site: SpokeSpec, wan: string, kind: FailureKind): Promise<void> {
  const w = site.wans.find((x) => x.name === wan)!;
  const dev = `${site.name}-${wan}`;
  if (kind === 'carrier') {
    await lab.sh(w.isp, `ip link set ${dev} up`);
    // The tbf shaping survives a link flap, but the address's connected route must be back.
  } else await lab.sh(w.isp, `nft delete table inet cut-${dev}`);
}

/**
 * A ping every `intervalMs` from a site's LAN host to the lab's server, `seconds` worth of them: how
 * many were sent, which came back, and the longest time without a reply (ping's own receive
 * timestamps, -D).
 *
 * -c with -w: ping sends until that many replies came back (a lost request is followed by more) or
 * the deadline passes, and it waits for the last reply. With -w alone it exits at the deadline with
 * the last request's reply possibly still on its way, and that request counted as lost: a CI run's
 * mode-switch test failed on "1 of 582 lost" that way. The deadline, twice the run, only ends a run
 * that is failing anyway.
 */
export async function pingRun(lab: Lab, site: SpokeSpec, intervalMs: number, seconds: number): Promise<{ sent: number; seqs: number[]; worstGapMs: number }> {
  const t0 = Date.now();
  const count = Math.round((seconds * 1000) / intervalMs);
  const r = await lab.try(site.host, `ping -n -D -i ${intervalMs / 1000} -c ${count} -w ${2 * seconds} -W 1 ${lab.topo.server.addr}`, (2 * seconds + 10) * 1000);
  const replies = [...r.out.matchAll(/^\[(\d+\.\d+)\].*icmp_seq=(\d+)/gm)].map((m) => ({ at: Number(m[1]) * 1000, seq: Number(m[2]) }));
  const sent = Number(/(\d+) packets transmitted/.exec(r.out)?.[1] ?? 0);
  let worstGapMs = 0;
  for (let i = 1; i < replies.length; i++) worstGapMs = Math.max(worstGapMs, replies[i]!.at - replies[i - 1]!.at);
  // An outage that lasts to the end has no reply after it: it runs at least until `seconds` after
  // ping started (ping goes on sending to its deadline), itself after t0, so this never makes a gap
  // longer than it was.
  worstGapMs = Math.max(worstGapMs, t0 + seconds * 1000 - (replies.at(-1)?.at ?? t0));
  return { sent, seqs: replies.map((x) => x.seq), worstGapMs: Math.round(worstGapMs) };
}

/**
 * What ospfbond can change on a router, as sorted text: links (kind, alias, MTU, up, VXLAN ids),
 * addresses, rules, routes, nft, tc on its links, WireGuard (no private key, counters or handshake
 * times), the sysctls it sets, FRR's files, running state and running config, and its own state
 * files. Left out, as they are not the router's configuration: OSPF's routes (they follow the
 * adjacencies), ifindexes, IPv6 link-local addresses (from a recreated link's random MAC), and the
 * record of a rejected config and the log of a confirm window's revert. `learnedEndpoints`: WireGuard peer
 * endpoints a hub learns from its spokes' packets (a NAT may pick another port each time).
 */
export async function routerSnapshot(lab: Lab, node: string, opts: { learnedEndpoints?: boolean } = {}): Promise<string> {
  type Link = { ifname: string; mtu: number; flags: string[]; ifalias?: string; linkinfo?: { info_kind?: string; info_data?: Record<string, unknown> } };
  const links = JSON.parse(await lab.sh(node, 'ip -d -j link show')) as Link[];
  const vx = (l: Link) => (l.linkinfo?.info_kind === 'vxlan' ? ` vni=${String(l.linkinfo.info_data?.id)} local=${String(l.linkinfo.info_data?.local)} remote=${String(l.linkinfo.info_data?.remote)} port=${String(l.linkinfo.info_data?.port)}` : '');
  const section = (name: string, lines: string[]) => `## ${name}\n${lines.sort().join('\n')}\n`;
  const addrs = JSON.parse(await lab.sh(node, 'ip -j addr show')) as { ifname: string; addr_info: { local: string; prefixlen: number; address?: string }[] }[];
  const ours = links.filter((l) => /^ob/.test(l.ifname)).map((l) => l.ifname);
  const tc = await lab.sh(node, ['tc qdisc show', ...ours.flatMap((d) => [`tc class show dev ${d}`, `tc filter show dev ${d}`])].join('; '));
  // The private key is blanked where it is read: the run's transcript is searched for keys.
  const wg = (await lab.sh(node, "wg show all dump | awk -F'\\t' -v OFS='\\t' 'NF == 5 { $2 = \"-\" } { print }'")).split('\n').filter(Boolean).map((l) => {
    const f = l.split('\t');
    // Interface lines: name, (private key), public key, port, fwmark. Peer lines: name, public key, psk, endpoint, allowed ips, handshake, rx, tx, keepalive.
    return f.length === 5 ? [f[0], f[2], f[3], f[4]].join(' ') : [f[0], f[1], opts.learnedEndpoints ? '-' : f[3], f[4], f[8]].join(' ');
  });
  const frrUp = (await lab.try(node, '/usr/lib/frr/frrinit.sh status')).code === 0;
  const frr = frrUp ? (await lab.sh(node, "vtysh -c 'show running-config'")).split('\n').filter((l) => !/^Building configuration|^Current configuration|^frr version/.test(l)) : [];
  return [
    section('links', links.map((l) => `${l.ifname} ${l.linkinfo?.info_kind ?? '-'} mtu=${l.mtu} up=${l.flags.includes('UP')} alias=${l.ifalias ?? '-'}${vx(l)}`)),
    section('addresses', addrs.flatMap((a) => a.addr_info.filter((i) => !i.local.startsWith('fe80:')).map((i) => `${a.ifname} ${i.local}/${i.prefixlen}${i.address ? ` peer ${i.address}` : ''}`))),
    section('rules', (await lab.sh(node, 'ip rule show')).split('\n').filter(Boolean)),
    section('routes', (await lab.sh(node, 'ip -o route show table all')).split('\n').filter((l) => l && !/ proto (ospf|bgp)\b|\bfe80:/.test(l))),
    // nft counters count traffic (the hub's uplink filter counts every WireGuard packet): not config.
    `## nft\n${(await lab.sh(node, 'nft list ruleset')).replace(/counter packets \d+ bytes \d+/g, 'counter')}\n`,
    // direct_packets_stat counts packets HTB sent before its classes existed: traffic, not config.
    section('tc', tc.split('\n').filter(Boolean).map((l) => l.replace(/ direct_packets_stat \d+/, ''))),
    section('wireguard', wg),
    section('sysctls', (await lab.sh(node, 'sysctl net.ipv4.ip_forward net.ipv4.fib_multipath_hash_policy net.ipv4.conf.all.rp_filter net.ipv4.conf.all.src_valid_mark net.ipv4.igmp_max_memberships')).split('\n')),
    `## frr.conf\n${await lab.sh(node, 'cat /etc/frr/frr.conf')}\n## daemons\n${await lab.sh(node, 'cat /etc/frr/daemons')}\n`,
    `## FRR ${frrUp ? 'running' : 'stopped'}\n${frr.join('\n')}\n`,
    `## /var/lib/ospfbond\n${await lab.sh(node, 'cd /var/lib/ospfbond && for f in $(ls | grep -v -e rejected.json -e revert.log); do echo "# $f"; cat "$f"; done')}\n`,
  ].join('');
}

/**
 * Every private key of the run (the routers' key files and the bundles the hub wrote) searched for
 * in every output of the run: each command the tests ran on a node and what it printed (the
 * transcript), the files the tests kept in the run dir (daemon logs, test outputs; not the
 * bundles), and ospfbond's state files on each router. Also checks the key files' modes.
 */
export async function leakedSecrets(lab: Lab): Promise<{ keys: number; bytes: number; problems: string[] }> {
  const routers = routerNodes(lab.topo);
  const keys = new Map<string, string>();
  const problems: string[] = [];
  for (const n of routers) {
    const files = (await lab.sh(n, 'ls /etc/ospfbond/keys 2>/dev/null || true', { secret: true })).trim().split('\n').filter(Boolean);
    for (const f of files) {
      const [mode, owner] = (await lab.sh(n, `stat -c '%a %U' /etc/ospfbond/keys/${f}`, { secret: true })).trim().split(' ');
      if (mode !== '600' || owner !== 'root') problems.push(`${n}: /etc/ospfbond/keys/${f} is mode ${mode ?? '?'} owner ${owner ?? '?'}, not 600 root`);
      keys.set((await lab.sh(n, `cat /etc/ospfbond/keys/${f}`, { secret: true })).trim(), `${n}:/etc/ospfbond/keys/${f}`);
    }
    // The aggregation proxies' configs hold each site's proxy key.
    const proxies = (await lab.sh(n, 'ls /etc/ospfbond/aggregate 2>/dev/null || true', { secret: true })).trim().split('\n').filter(Boolean);
    for (const f of proxies) {
      const path = `/etc/ospfbond/aggregate/${f}`;
      const [mode, owner] = (await lab.sh(n, `stat -c '%a %U' ${path}`, { secret: true })).trim().split(' ');
      if (mode !== '600' || owner !== 'root') problems.push(`${n}: ${path} is mode ${mode ?? '?'} owner ${owner ?? '?'}, not 600 root`);
      keys.set((JSON.parse(await lab.sh(n, `cat ${path}`, { secret: true })) as { key: string }).key, `${n}:${path}`);
    }
  }
  const bundles = new Set(lab.topo.spokes.map((s) => bundlePath(lab.dir, s.name)));
  for (const b of bundles) {
    if (!existsSync(b)) continue;
    if ((statSync(b).mode & 0o777) !== 0o600) problems.push(`${b} is not mode 0600`);
    for (const w of (JSON.parse(readFileSync(b, 'utf8')) as { wans: { name: string; private_key: string }[] }).wans) keys.set(w.private_key, `${b} (${w.name})`);
  }
  const texts: [string, string][] = readdirSync(lab.dir, { withFileTypes: true })
    // *.mnt: a router's mount namespace, bound on a file.
    .filter((e) => e.isFile() && !e.name.endsWith('.mnt') && !bundles.has(`${lab.dir}/${e.name}`))
    .map((e) => [`${lab.dir}/${e.name}`, readFileSync(`${lab.dir}/${e.name}`, 'utf8')]);
  for (const n of routers) {
    const state = await lab.sh(n, 'cd /var/lib/ospfbond 2>/dev/null && for f in $(ls -A); do echo "### $f"; cat "$f"; done || true', { secret: true });
    texts.push([`${n}:/var/lib/ospfbond`, state]);
  }
  for (const [where, text] of texts) for (const [key, from] of keys) if (text.includes(key)) problems.push(`the private key of ${from} appears in ${where}`);
  return { keys: keys.size, bytes: texts.reduce((n, [, t]) => n + t.length, 0), problems };
}

/** The last test of each lab file: no private key in any output of its run. */
export function itLeaksNoSecrets(getLab: () => Lab): void {
  it('no private key in any output of this run (every command and what it printed, the kept files, ospfbond\'s state); key files 0600 root', async () => {
    const lab = getLab();
    const r = await leakedSecrets(lab);
    console.log(`# measured: searched ${(r.bytes / 1e6).toFixed(1)} MB of this run's output for ${r.keys} private keys`);
    const want = 1 + wanCount(lab.topo);
    assert.ok(r.keys >= want && r.bytes > 100_000, `the search had every key and output to search (${r.keys} of ${want} keys, ${r.bytes} bytes)`);
    assert.deepEqual(r.problems, []);
  });
}
