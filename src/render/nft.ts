import { createHash } from 'node:crypto';
import type { HubConfig, SpokeConfig } from '../config/types.js';
import { wanPolicy, hubProxyAddr, hubTapName, tunnelAddresses, spokeTapName, spokeWgName, HUB_WG, VXLAN_PORT, BFD_PORTS } from '../model/addressing.js';
import { duplicateRing, formatPorts, type RealtimeSettings } from '../model/realtime.js';
import { AGGREGATE_BULK_IDLE_SECONDS, AGGREGATE_BULK_KBYTES, AGGREGATE_BUSY_SECONDS, AGGREGATE_FULL_PACKET, AGGREGATE_NEW_SECONDS, ALWAYS_BYPASS, HUB_PROXY_PORT, SPOKE_REDIR_PORT } from '../model/aggregate.js';

export const NFT_TABLE = 'ospfbond';
export const NFT_FAMILY = 'inet';
/**
 * The duplication of real-time packets has a table of its own in the `ip` family: nft 1.0.6 refuses
 * `dup to ADDRESS` in an inet table ("unsupported family"); the kernel's dup is per address family.
 */
export const NFT_DUP_FAMILY = 'ip';
const FAMILIES = [NFT_FAMILY, NFT_DUP_FAMILY] as const;

/**
 * ospfbond's tables, the inet one and, when something is duplicated, the ip one. Each carries in
 * its comment the hash of both bodies, so `apply` tells whether the kernel holds exactly this
 * ruleset without parsing nft's own reformatted output, and a table missing shows as a hash missing.
 * Without duplication the hash is the inet body's alone: a router that duplicates nothing keeps the
 * hash, and the table, that it had.
 */
function tables(body: string, dupBody = ''): string {
  const hash = createHash('sha256').update(body + dupBody).digest('hex').slice(0, 16);
  const table = (family: string, b: string) => `table ${family} ${NFT_TABLE} {\n\tcomment "ospfbond ${hash}"\n${b}}\n`;
  return table(NFT_FAMILY, body) + (dupBody ? table(NFT_DUP_FAMILY, dupBody) : '');
}

/** The hashes of the tables in a ruleset, in order, as one string; undefined without any. */
export function nftHash(ruleset: string): string | undefined {
  const hashes = [...ruleset.matchAll(/comment "ospfbond ([0-9a-f]{16})"/g)].map((m) => m[1]);
  return hashes.length ? hashes.join(' ') : undefined;
}

/** The families of ospfbond's tables in a ruleset as `nft list table` printed them. */
export function nftFamilies(ruleset: string): string[] {
  return FAMILIES.filter((f) => new RegExp(`^table ${f} ${NFT_TABLE} \\{`, 'm').test(ruleset));
}

/**
 * Replaces both tables in one transaction: `nft -f` applies all of it or none of it. Declaring a
 * table before deleting it makes the delete succeed whether or not the table was there.
 */
export function nftScript(ruleset: string): string {
  return FAMILIES.map((f) => `table ${f} ${NFT_TABLE}\ndelete table ${f} ${NFT_TABLE}\n`).join('') + ruleset;
}

const clamp = (tapGlob: string) =>
  `\tchain forward {\n` +
  `\t\ttype filter hook forward priority mangle; policy accept;\n` +
  `\t\t# the tunnels carry less than the WAN MTU: shrink TCP's MSS to the route MTU of the tap\n` +
  `\t\toifname "${tapGlob}" tcp flags syn tcp option maxseg size set rt mtu\n` +
  `\t}\n`;

const OSPF_PROTO = 89;

/**
 * The hub's own input: from the internet only WireGuard and what `uplink_allow` names. OSPF, BFD and
 * VXLAN are dropped on the uplink whatever uplink_allow says: they would reach ospfd, bfdd or a
 * tap without WireGuard's authentication. Over WireGuard, OSPF and BFD come only inside the taps.
 * The counters show what the uplink turned away (`nft list table inet ospfbond`).
 */
function hubInput(cfg: HubConfig): string {
  const up = `iifname "${cfg.uplink}"`;
  const ctl = `udp dport { ${[...BFD_PORTS, VXLAN_PORT].join(', ')} }`;
  let rules = aggregateClients(cfg)
    ? // each site's proxy: only from the taps, and only from that site's own tap addresses
      `		tcp dport ${HUB_PROXY_PORT} iifname != "obt*" counter drop
` + `		tcp dport ${HUB_PROXY_PORT} ip daddr . ip saddr != @aggregate_clients counter drop
		tcp dport ${HUB_PROXY_PORT} ${siteCounterMap(cfg, 'daddr', 'up')}
`
    : '';
  rules +=
    `		${up} ip protocol ${OSPF_PROTO} counter drop
` +
    `		${up} ${ctl} counter drop
` +
    `		${up} udp dport ${cfg.listenPort} counter accept
` +
    `		iifname "${HUB_WG}" ip protocol ${OSPF_PROTO} counter drop
` +
    `		iifname "${HUB_WG}" udp dport { ${BFD_PORTS.join(', ')} } counter drop
`;
  if (cfg.uplinkAllow !== 'any') {
    rules +=
      `		${up} ct state established,related accept
` +
      // ICMP errors of new flows (PMTU) are "related"; echo and IPv6 neighbour discovery are not
      `		${up} meta l4proto { icmp, ipv6-icmp } accept
` +
      cfg.uplinkAllow.map((a) => `		${up} ${a.proto} dport ${a.port} accept
`).join('') +
      `		${up} counter drop
`;
  }
  return `	chain input {
		type filter hook input priority filter; policy accept;
${rules}	}
`;
}

/** (the site's proxy address . one of its tap addresses), for every aggregating site; '' for none. */
function aggregateClients(cfg: HubConfig): string {
  const pairs = cfg.spokes
    .filter((s) => s.aggregate === 'tcp' && s.wans.length > 0)
    .flatMap((s) => {
      const addr = hubProxyAddr(cfg.tunnelPool, s.wans.map((t) => t.tunnel));
      return s.wans.map((t) => `${addr} . ${tunnelAddresses(cfg.tunnelPool, t.tunnel).spokeTap}`);
    });
  if (!pairs.length) return '';
  const counters = aggregatingSites(cfg)
    .flatMap((s) => (['up', 'down'] as const).map((d) => `\tcounter ${AGGREGATE_COUNTER.site(s.name, d)} {\n\t}\n`))
    .join('');
  return `${counters}\tset aggregate_clients {\n\t\ttype ipv4_addr . ipv4_addr\n\t\telements = { ${pairs.join(', ')} }\n\t}\n`;
}

function aggregatingSites(cfg: HubConfig): HubConfig['spokes'] {
  return cfg.spokes.filter((s) => s.aggregate === 'tcp' && s.wans.length > 0);
}

/** `counter name ip daddr map { ADDR : "NAME", ... }`: each site's bytes by its proxy's address. */
function siteCounterMap(cfg: HubConfig, field: 'daddr' | 'saddr', dir: 'up' | 'down'): string {
  const entries = aggregatingSites(cfg).map((s) => `${hubProxyAddr(cfg.tunnelPool, s.wans.map((t) => t.tunnel))} : "${AGGREGATE_COUNTER.site(s.name, dir)}"`);
  return `counter name ip ${field} map { ${entries.join(', ')} }`;
}

/** The hub counts each site's proxied bytes as they leave its proxy (down) or reach it (up). */
function hubAggregateOutput(cfg: HubConfig): string {
  if (!aggregatingSites(cfg).length) return '';
  return `\tchain aggregate_output {\n\t\ttype filter hook output priority filter; policy accept;\n\t\ttcp sport ${HUB_PROXY_PORT} ${siteCounterMap(cfg, 'saddr', 'down')}\n\t}\n`;
}

export function renderHubNft(cfg: HubConfig): string {
  let body = aggregateClients(cfg) + hubInput(cfg) + hubAggregateOutput(cfg) + clamp('obt*');
  if (cfg.nat) {
    body +=
      `\tchain postrouting {\n` +
      `\t\ttype nat hook postrouting priority srcnat; policy accept;\n` +
      `\t\t# the sites' traffic leaves with the hub's address, whatever WAN it came in on\n` +
      `\t\tiifname "obt*" oifname "${cfg.uplink}" masquerade\n` +
      `\t}\n`;
  }
  const pairs = cfg.spokes.flatMap((sp) => duplicateRing(sp.wans).map(([t, next]): [string, string] => [hubTapName(t.tunnel), tunnelAddresses(cfg.tunnelPool, next.tunnel).spokeTap]));
  return tables(body, realtime(cfg.realtime, pairs));
}

export function renderSpokeNft(cfg: SpokeConfig): string {
  const marks = cfg.wans
    .map((w, i) => `\t\tiifname "${w.dev}" fib daddr type local meta mark set ${hex(wanPolicy(i + 1).fwmark)}\n`)
    .join('');
  const body =
    `\tchain prerouting {\n` +
    `\t\ttype filter hook prerouting priority mangle; policy accept;\n` +
    `\t\t# the hub's replies arrive unmarked; with its WAN's mark (and src_valid_mark) the reverse-path\n` +
    `\t\t# check looks the hub up in that WAN's table, not in main, where only the tunnels or the\n` +
    `\t\t# blackhole fallback lead to it and a loose rp_filter would drop the reply\n` +
    marks +
    `\t}\n` +
    clamp('obt-*') +
    (cfg.aggregate === 'tcp' ? spokeAggregate(cfg) : '');
  const pairs = duplicateRing(cfg.wans).map(([w, next]): [string, string] => [spokeTapName(w.name), tunnelAddresses(cfg.tunnelPool, next.tunnel).hubTap]);
  return tables(body, realtime(cfg.realtime, pairs));
}

/**
 * The duplication of real-time packets (model/realtime.ts): a forwarded packet leaving into a tap of
 * `pairs` that is EF or UDP from or to a listed port gets a copy sent to the other end's address on
 * the paired tap. Only forwarded packets: the router's own OSPF, BFD and proxy traffic belong to one
 * tunnel each, and a BFD packet carried by a sibling tap would speak for the wrong tunnel.
 * The copy (nf_dup_ipv4) leaves with the original's TTL through the output and postrouting hooks,
 * untracked; at the hub the upload copy arriving on the second tap finds the original's conntrack
 * entry and is masqueraded like it. `dup to` names no device: nft resolves a device to its ifindex
 * when the table is loaded, so a tap deleted and made again (a repair) would leave the rule sending
 * to a device that is gone, and the route to the paired tap's /30 picks that tap anyway.
 * `goto`: a packet that is EF and on a listed port is copied once.
 */
function realtime(rt: RealtimeSettings, pairs: [tap: string, to: string][]): string {
  if (!rt.duplicate || pairs.length === 0) return '';
  const ports = rt.udpPorts.length ? `{ ${formatPorts(rt.udpPorts).replaceAll(',', ', ')} }` : '';
  return (
    `\tchain realtime {\n` +
    `\t\ttype filter hook forward priority filter; policy accept;\n` +
    `\t\t# real-time packets (DSCP EF, the listed UDP ports) also go into the next tunnel of the site\n` +
    `\t\toifname != { ${pairs.map(([tap]) => `"${tap}"`).join(', ')} } accept\n` +
    `\t\tip dscp ef goto realtime_copy\n` +
    (ports ? `\t\tudp sport ${ports} goto realtime_copy\n\t\tudp dport ${ports} goto realtime_copy\n` : '') +
    `\t}\n` +
    `\tchain realtime_copy {\n` +
    `\t\tcounter dup to oifname map { ${pairs.map(([tap, to]) => `"${tap}" : ${to}`).join(', ')} }\n` +
    `\t}\n`
  );
}

/**
 * Single-connection aggregation on a spoke: LAN TCP that would enter a tunnel goes to the local
 * proxy instead, except to private space and what aggregate_exclude names. The redirect waits on
 * the set `aggregate_proto`, which holds tcp only while the proxy listens (engine/aggregate.ts):
 * otherwise the site's TCP rides the tunnels as before. The proxy's port takes no connection from a
 * WAN or a tunnel.
 * At most aggregate_connections busy connections go to the proxy: each takes a place in the set
 * `aggregate_busy`, which its full-sized packets to or from the proxy keep once it has moved
 * enough of them (`aggregate_bulk`, model/aggregate.ts).
 * When the set is full, `add` fails, which ends the rule before its redirect (nft_dynset:
 * NFT_BREAK), and the connection rides the tunnels per flow.
 */
function spokeAggregate(cfg: SpokeConfig): string {
  const nets = [...ALWAYS_BYPASS, ...cfg.aggregateExclude.flatMap((e) => (e.kind === 'net' ? [e.cidr] : []))];
  const ports = cfg.aggregateExclude.flatMap((e) => (e.kind === 'port' ? [e.from === e.to ? String(e.from) : `${e.from}-${e.to}`] : []));
  const outside = [...cfg.wans.map((w) => `"${w.dev}"`), ...cfg.wans.map((w) => `"${spokeTapName(w.name)}"`), ...cfg.wans.map((w) => `"${spokeWgName(w.name)}"`)];
  const from = cfg.lanDevs.length ? `iifname { ${cfg.lanDevs.map((d) => `"${d}"`).join(', ')} } ` : '';
  const proxy = hubProxyAddr(cfg.tunnelPool, cfg.wans.map((w) => w.tunnel));
  const eligible = `${from}meta l4proto tcp meta l4proto @aggregate_proto ip daddr != @aggregate_bypass ${ports.length ? `tcp dport != { ${ports.join(', ')} } ` : ''}fib daddr oifname "obt-*" `;
  return (
    // What the site's proxied connections carry through the tunnels, up and down (`status`).
    `\tcounter ${AGGREGATE_COUNTER.up} {\n\t}\n` +
    `\tcounter ${AGGREGATE_COUNTER.down} {\n\t}\n` +
    // New connections that the cap sent per flow (`status`): the redirect's rule ended early for them.
    `\tcounter ${AGGREGATE_COUNTER.capped} {\n\t}\n` +
    `\tset aggregate_proto {\n\t\ttype inet_proto\n\t}\n` +
    `\tset aggregate_bypass {\n\t\ttype ipv4_addr\n\t\tflags interval\n\t\tauto-merge\n\t\telements = { ${nets.join(', ')} }\n\t}\n` +
    `\tset aggregate_busy {\n\t\ttypeof ip saddr . tcp sport\n\t\tsize ${cfg.aggregateConnections}\n\t\tflags dynamic,timeout\n\t\ttimeout ${AGGREGATE_BUSY_SECONDS}s\n\t}\n` +
    `\tset aggregate_bulk {\n\t\ttypeof ip saddr . tcp sport\n\t\tsize 65535\n\t\tflags dynamic,timeout\n\t\ttimeout ${AGGREGATE_BULK_IDLE_SECONDS}s\n\t}\n` +
    `\tchain aggregate {\n` +
    `\t\ttype nat hook prerouting priority dstnat; policy accept;\n` +
    `\t\tiifname { ${outside.join(', ')} } return\n` +
    `\t\t${eligible}add @aggregate_busy { ${BUSY_KEY} timeout ${AGGREGATE_NEW_SECONDS}s } counter redirect to :${SPOKE_REDIR_PORT}\n` +
    `\t\t${eligible}counter name "${AGGREGATE_COUNTER.capped}"\n` +
    `\t}\n` +
    `\tchain aggregate_input {\n` +
    `\t\ttype filter hook input priority filter; policy accept;\n` +
    `\t\ttcp dport ${SPOKE_REDIR_PORT} iifname { ${outside.join(', ')} } counter drop\n` +
    `\t\t${from}tcp dport ${SPOKE_REDIR_PORT} ${keepPlace(BUSY_KEY)}\n` +
    `\t\tip saddr ${proxy} tcp sport ${HUB_PROXY_PORT} counter name "${AGGREGATE_COUNTER.down}"\n` +
    `\t}\n` +
    `\tchain aggregate_output {\n` +
    `\t\ttype filter hook output priority filter; policy accept;\n` +
    `\t\tip daddr ${proxy} tcp dport ${HUB_PROXY_PORT} counter name "${AGGREGATE_COUNTER.up}"\n` +
    // before the reply's source is put back (postrouting): still the proxy's port, to the LAN host's
    `\t\ttcp sport ${SPOKE_REDIR_PORT} ${keepPlace(BUSY_KEY_TO_LAN)}\n` +
    `\t}\n`
  );
}

/** A LAN connection as the redirect and the proxy's input both see it (the redirect keeps its source). */
const BUSY_KEY = 'ip saddr . tcp sport';
const BUSY_KEY_TO_LAN = 'ip daddr . tcp dport';
/**
 * A full-sized packet of a proxied connection: counted against the connection's quota in
 * `aggregate_bulk`; while under it the quota ends the rule (NFT_BREAK), past it the packet keeps
 * the connection's place in `aggregate_busy`.
 */
const keepPlace = (key: string) =>
  `meta length > ${AGGREGATE_FULL_PACKET} update @aggregate_bulk { ${key} quota over ${AGGREGATE_BULK_KBYTES} kbytes } update @aggregate_busy { ${key} }`;

/** The named counters: of proxied bytes, a spoke's two and the hub's two per site; a spoke's of capped connections. */
export const AGGREGATE_COUNTER = {
  up: 'aggregate_up',
  down: 'aggregate_down',
  capped: 'aggregate_capped',
  site: (site: string, dir: 'up' | 'down') => `aggregate_${site}_${dir}`,
} as const;

export function hex(n: number): string {
  return `0x${n.toString(16).padStart(8, '0')}`;
}
