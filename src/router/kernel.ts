import { lookup } from 'node:dns/promises';
import { OspfbondError, EXIT } from '../base/errors.js';
import { readText } from '../base/files.js';
import { probe, probeJson, probeText } from '../base/run.js';
import type { SpokeConfig } from '../config/types.js';
import { RULE_PROTO, spokeWgName, type Addr } from '../model/addressing.js';
import { NFT_DUP_FAMILY, NFT_FAMILY, NFT_TABLE } from '../render/nft.js';
import { observedShape } from '../render/tc.js';

/** Readers of the kernel's state (ip -j, wg show dump, tc, nft) and of DNS, as the planner compares it. */

export interface ObservedLink {
  name: string;
  kind?: string;
  mtu: number;
  up: boolean;
  alias?: string;
  vxlan?: { id: number; local: string; remote: string; port: number };
  addrs: Addr[];
}
export interface ObservedPeer {
  publicKey: string;
  endpoint?: string;
  allowedIps: string[];
  keepalive?: number;
  /** Unix time of the latest handshake, 0 when there was none. */
  latestHandshake: number;
  rxBytes: number;
  txBytes: number;
}
export interface ObservedWg {
  publicKey: string;
  listenPort: number;
  fwmark: number;
  peers: ObservedPeer[];
}
export interface ObservedRule {
  pref: number;
  fwmark?: number;
  /** `from ADDR` of a /32 rule. */
  from?: string;
  table?: string;
  action?: string;
  protocol?: string;
}
export interface ObservedRoute {
  table: string; // 'main' or a number
  dst: string;
  gateway?: string;
  dev?: string;
  metric: number;
  protocol?: string;
  type?: string;
  /** `congctl` of the route, if it sets one. */
  congctl?: string;
}

interface IpLink {
  ifname: string;
  mtu: number;
  flags?: string[];
  ifalias?: string;
  linkinfo?: { info_kind?: string; info_data?: { id?: number; local?: string; remote?: string; port?: number } };
  addr_info?: { family: string; local: string; address?: string; prefixlen: number }[];
}

export async function observeLinks(): Promise<ObservedLink[]> {
  const links = await probeJson<IpLink[]>(['ip', '-j', '-d', 'addr', 'show']);
  return links.map((l) => {
    const info = l.linkinfo?.info_data;
    const kind = l.linkinfo?.info_kind;
    return {
      name: l.ifname,
      kind,
      mtu: l.mtu,
      up: (l.flags ?? []).includes('UP'),
      alias: l.ifalias,
      vxlan:
        kind === 'vxlan' && info
          ? { id: info.id ?? 0, local: info.local ?? '', remote: info.remote ?? '', port: info.port ?? 0 }
          : undefined,
      addrs: (l.addr_info ?? [])
        .filter((a) => a.family === 'inet')
        .map((a) => (a.address && a.address !== a.local ? { local: a.local, prefixlen: a.prefixlen, peer: a.address } : { local: a.local, prefixlen: a.prefixlen })),
    };
  });
}

/** `wg show dump`, with the private key dropped the moment the line is split: it is never kept. */
export function parseWgDump(text: string): Record<string, ObservedWg> {
  const out: Record<string, ObservedWg> = {};
  for (const line of text.split('\n')) {
    const f = line.split('\t');
    if (f.length === 5) {
      const [name, , publicKey, port, fwmark] = f as [string, string, string, string, string];
      out[name] = { publicKey, listenPort: Number(port), fwmark: fwmark === 'off' ? 0 : Number(fwmark), peers: [] };
    } else if (f.length === 9) {
      const [name, publicKey, , endpoint, allowed, handshake, rx, tx, keepalive] = f as string[];
      out[name!]?.peers.push({
        publicKey: publicKey!,
        endpoint: endpoint === '(none)' ? undefined : endpoint,
        allowedIps: allowed === '(none)' ? [] : allowed!.split(','),
        keepalive: keepalive === 'off' ? undefined : Number(keepalive),
        latestHandshake: Number(handshake) || 0,
        rxBytes: Number(rx) || 0,
        txBytes: Number(tx) || 0,
      });
    }
  }
  return out;
}

/** Every WireGuard interface's state; {} where none exists (or `wg` cannot say). */
export async function observeWg(): Promise<Record<string, ObservedWg>> {
  const r = await probe(['wg', 'show', 'all', 'dump']);
  if (r.exitCode !== 0) return {};
  return parseWgDump(r.stdout);
}

/** A spoke's WireGuard peer for the hub, per WAN (a WAN whose interface or peer is missing is left out). */
export function hubPeers(cfg: SpokeConfig, wg: Record<string, ObservedWg>): Map<string, ObservedPeer> {
  return new Map(
    cfg.wans.flatMap((w) => {
      const peer = wg[spokeWgName(w.name)]?.peers.find((p) => p.publicKey === cfg.hub.publicKey);
      return peer ? [[w.name, peer] as const] : [];
    }),
  );
}

export async function observeRules(): Promise<ObservedRule[]> {
  return parseRules(await probeText(['ip', '-j', 'rule', 'show']));
}

export function parseRules(json: string): ObservedRule[] {
  const rules = JSON.parse(json || '[]') as { priority: number; fwmark?: string; src?: string; srclen?: number; table?: string; action?: string; protocol?: string }[];
  return rules.map((r) => ({
    pref: r.priority,
    fwmark: r.fwmark ? Number(r.fwmark) : undefined,
    from: r.src && r.src !== 'all' ? ((r.srclen ?? 32) === 32 ? r.src : `${r.src}/${r.srclen}`) : undefined,
    table: r.table,
    action: r.action,
    protocol: r.protocol,
  }));
}

/** Default routes (every table) and ospfbond's own routes: all the planner and status look at. */
export async function observeRoutes(): Promise<ObservedRoute[]> {
  return parseRoutes(await probeText(['ip', '-j', 'route', 'show', 'table', 'all']));
}

export function parseRoutes(json: string): ObservedRoute[] {
  const routes = JSON.parse(json || '[]') as { dst: string; gateway?: string; dev?: string; metric?: number; table?: string; protocol?: string; type?: string; metrics?: { congestion?: string }[] }[];
  return routes
    .filter((r) => r.table === undefined || r.table === 'main' || /^\d+$/.test(r.table))
    .filter((r) => r.dst === 'default' || r.protocol === String(RULE_PROTO))
    .map((r) => ({
      table: r.table ?? 'main',
      dst: r.dst,
      gateway: r.gateway,
      dev: r.dev,
      metric: r.metric ?? 0,
      protocol: r.protocol,
      type: r.type,
      congctl: r.metrics?.find((m) => m.congestion)?.congestion,
    }));
}

/**
 * Several reads of `ip` or `tc` in one process (`-batch`): the daemon reads the router every few
 * seconds, and each process it starts costs it a fork and execa's bookkeeping (3.5 ms of its own
 * CPU, 2026-11-30) besides the child's own. `argv` is the tool and its options (`['ip', '-j']`).
 * The output of each command, one line each; undefined when the batch stopped at a command that
 * failed (a device deleted meanwhile, a kernel without MPTCP) or printed other than one line per
 * command: the caller then reads one by one.
 */
export async function readBatch(argv: string[], commands: string[]): Promise<string[] | undefined> {
  const r = await probe([...argv, '-batch', '-'], `${commands.join('\n')}\n`);
  if (r.exitCode !== 0) return undefined;
  const lines = r.stdout.split('\n');
  return lines.length === commands.length ? lines : undefined;
}

/** The shaper signature (render/tc.ts) of each of `taps` that has a root qdisc. */
export async function observeShapes(taps: string[]): Promise<Record<string, string>> {
  return (await shapesInTwoReads(taps)) ?? shapesOneByOne(taps);
}

/**
 * Two `tc` processes for every tap at once (a hub with 30 two-WAN sites has 60 taps): qdiscs and
 * filters as JSON, then the classes as text (htb's have no JSON in iproute2 6.1). In the text,
 * each tap's part begins with its qdiscs, the root one first. Undefined when either read failed.
 */
async function shapesInTwoReads(taps: string[]): Promise<Record<string, string> | undefined> {
  if (taps.length === 0) return {};
  const json = await readBatch(['tc', '-j'], taps.flatMap((dev) => [`qdisc show dev ${dev}`, `filter show dev ${dev} parent 1:`]));
  if (!json) return undefined;
  const text = await probe(['tc', '-d', '-batch', '-'], taps.map((dev) => `qdisc show dev ${dev}\nclass show dev ${dev}\n`).join(''));
  if (text.exitCode !== 0) return undefined;
  const classes = splitByTap(text.stdout, taps.length);
  if (!classes) return undefined;
  const out: Record<string, string> = {};
  taps.forEach((dev, i) => {
    const sig = observedShape(json[2 * i]!, classes[i]!, json[2 * i + 1]!);
    if (sig !== undefined) out[dev] = sig;
  });
  return out;
}

/** `tc -batch` text of `qdisc show dev X` and `class show dev X` for `count` devices, cut into each one's part. */
export function splitByTap(text: string, count: number): string[] | undefined {
  const parts = text.split(/^(?=qdisc \S+ \S+ root )/m);
  return parts.length === count && parts.every((p) => p.startsWith('qdisc ')) ? parts : undefined;
}

async function shapesOneByOne(taps: string[]): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const dev of taps) {
    const qdiscs = await probe(['tc', '-j', 'qdisc', 'show', 'dev', dev]);
    if (qdiscs.exitCode !== 0) continue;
    const classes = await probe(['tc', '-d', 'class', 'show', 'dev', dev]);
    const filters = await probe(['tc', '-j', 'filter', 'show', 'dev', dev, 'parent', '1:']);
    const sig = observedShape(qdiscs.stdout, classes.stdout, filters.exitCode === 0 ? filters.stdout : '[]');
    if (sig !== undefined) out[dev] = sig;
  }
  return out;
}

export interface LinkCounters {
  name: string;
  carrier: boolean;
  rxBytes: number;
  txBytes: number;
}
/** A sample of every link's counters (`ip -j -s link show`) and when it was taken. */
export interface LinkSample {
  at: number;
  links: LinkCounters[];
}

export function parseLinkCounters(json: string): LinkCounters[] {
  const j = JSON.parse(json) as { ifname: string; flags?: string[]; stats64?: { rx: { bytes: number }; tx: { bytes: number } } }[];
  return j.map((l) => {
    const flags = l.flags ?? [];
    return { name: l.ifname, carrier: flags.includes('UP') && flags.includes('LOWER_UP'), rxBytes: l.stats64?.rx.bytes ?? 0, txBytes: l.stats64?.tx.bytes ?? 0 };
  });
}

/**
 * Bytes received and sent per interface, from /proc/net/dev: the reading process's network
 * namespace, read without starting a process (what the daemon's per-second jobs can afford).
 */
export function parseNetDev(text: string): Record<string, { rxBytes: number; txBytes: number }> {
  const out: Record<string, { rxBytes: number; txBytes: number }> = {};
  for (const line of text.split('\n').slice(2)) {
    const m = /^\s*([^:\s]+):\s*(\d+)(?:\s+\d+){7}\s+(\d+)/.exec(line);
    if (m) out[m[1]!] = { rxBytes: Number(m[2]), txBytes: Number(m[3]) };
  }
  return out;
}

export function readNetDev(): Record<string, { rxBytes: number; txBytes: number }> {
  return parseNetDev(readText('/proc/net/dev'));
}

export async function sampleLinks(): Promise<LinkSample> {
  const r = await probe(['ip', '-j', '-s', 'link', 'show']);
  return { at: Date.now(), links: parseLinkCounters(r.stdout || '[]') };
}

/** ospfbond's nft tables (inet, then ip) as `nft list` prints them, undefined when there is none. */
export async function observeNft(): Promise<string | undefined> {
  const listed = await Promise.all([NFT_FAMILY, NFT_DUP_FAMILY].map((f) => probe(['nft', 'list', 'table', f, NFT_TABLE])));
  const found = listed.filter((r) => r.exitCode === 0).map((r) => r.stdout);
  // probe strips the final newline: without one between them the second table's line would not start a line
  return found.length ? found.join('\n') : undefined;
}

export async function resolveHosts(hosts: string[]): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const host of new Set(hosts)) {
    try {
      out[host] = (await lookup(host, { family: 4 })).address;
    } catch (err) {
      throw new OspfbondError(`hub endpoint ${host}: does not resolve (${(err as NodeJS.ErrnoException).code})`, EXIT.precondition, 'check the name and the resolver, or use the hub\'s IPv4 address');
    }
  }
  return out;
}
