import type { Config, HubConfig, SpokeConfig } from '../config/types.js';
import { tunnelAddresses, hubProxyAddr, hubRouterId, hubTapName, spokeTapName, spokeWgName, wanPolicy, areaId, HUB_WG } from '../model/addressing.js';
import { HUB_PROXY_PORT } from '../model/aggregate.js';
import { AGGREGATE_COUNTER } from '../render/nft.js';
import { isStandby, policyFromCosts, policyKey, splitCost, type Policy } from '../model/policy.js';
import { neighborsByIface, ospfInterfaces, bfdByIface, ospfNexthops, routerLinks, costOnPrefix, type RouterLink } from '../frr/json.js';
import type { LinkSample, ObservedRoute, ObservedWg } from '../router/kernel.js';
import type { Steering } from '../router/records.js';
import { LONG_WINDOW_MS, LOSS_WINDOW_MS, QUALITY_STALE_MS, type QualityRecord, type WindowStats } from '../model/quality.js';
import { STATUS_SCHEMA, type StatusReport, type TunnelStatus } from './schema.js';

/** The status report, built (pure) from what collect.ts read. */

/** Everything status reads from the router, raw: vtysh JSON as text, so the parsers are tested on real output. */
export interface StatusInputs {
  sample: LinkSample;
  previous?: LinkSample;
  wg: Record<string, ObservedWg>;
  kernelRoutes: ObservedRoute[];
  vtysh: { neighbors: string; interfaces: string; bfd: string; routes: string; routerLsas: string };
  /**
   * Aggregation: `ss -Htn state established` (subflows), `ss -HnM state established` (MPTCP
   * connections), `nft -j list counters table inet ospfbond` (proxied bytes), each proxy up by name.
   */
  aggregation: { subflows: string; connections: string; counters: string; proxyUp: Record<string, boolean> };
  /** The tunnels degraded now (router/records.ts readSteering), and a site daemon's measurement, if fresh. */
  steering: Steering;
  quality?: QualityRecord;
}

/** Bytes and packets of each named nft counter; none when the table or its counters are not there. */
export function parseCounters(json: string): Record<string, { bytes: number; packets: number }> {
  try {
    const j = JSON.parse(json) as { nftables?: { counter?: { name: string; bytes: number; packets: number } }[] };
    return Object.fromEntries((j.nftables ?? []).flatMap((e) => (e.counter ? [[e.counter.name, { bytes: e.counter.bytes, packets: e.counter.packets }]] : [])));
  } catch {
    return {};
  }
}

interface Sock {
  local: string;
  localPort: number;
  peer: string;
  peerPort: number;
}
/** `ss -H ... state established` lines: Recv-Q, Send-Q, local address:port, peer address:port. */
export function parseSockets(text: string): Sock[] {
  const split = (ap: string) => {
    const i = ap.lastIndexOf(':');
    return [ap.slice(0, i).replace(/^\[|\]$/g, '').replace(/%.*$/, ''), Number(ap.slice(i + 1))] as const;
  };
  return text
    .split('\n')
    .map((l) => l.trim().split(/\s+/))
    .filter((f) => f.length >= 4)
    .map((f) => {
      const [local, localPort] = split(f[2]!);
      const [peer, peerPort] = split(f[3]!);
      return { local, localPort, peer, peerPort };
    });
}

interface Frr {
  neighbors: ReturnType<typeof neighborsByIface>;
  interfaces: ReturnType<typeof ospfInterfaces>;
  bfd: ReturnType<typeof bfdByIface>;
  nexthops: Record<string, string[]>;
  links: RouterLink[];
}

export function buildReport(cfg: Config, inp: StatusInputs): StatusReport {
  const frr: Frr = {
    neighbors: neighborsByIface(inp.vtysh.neighbors),
    interfaces: ospfInterfaces(inp.vtysh.interfaces),
    bfd: bfdByIface(inp.vtysh.bfd),
    nexthops: ospfNexthops(inp.vtysh.routes),
    links: routerLinks(inp.vtysh.routerLsas),
  };
  const seconds = inp.previous ? (inp.sample.at - inp.previous.at) / 1000 : undefined;
  const rates = (name: string) => {
    const now = inp.sample.links.find((l) => l.name === name);
    const before = inp.previous?.links.find((l) => l.name === name);
    const r = (a?: number, b?: number) => (a === undefined || b === undefined || !seconds || a < b ? null : ((a - b) * 8) / seconds);
    return { rxBytes: now?.rxBytes ?? 0, txBytes: now?.txBytes ?? 0, rxBitsPerSecond: r(now?.rxBytes, before?.rxBytes), txBitsPerSecond: r(now?.txBytes, before?.txBytes) };
  };
  const age = (handshake?: number) => (handshake ? Math.max(0, Math.round(inp.sample.at / 1000 - handshake)) : null);
  const fresh = inp.quality && inp.sample.at - Date.parse(inp.quality.at) < QUALITY_STALE_MS ? inp.quality : undefined;
  const window = (w: WindowStats, ms: number) => ({ seconds: ms / 1000, probes: w.probes, lossRatio: w.lossRatio, rttMedianMs: w.rttMedianMs, rttP95Ms: w.rttP95Ms, jitterMs: w.jitterMs });
  const steering = (tunnel: number) => {
    const q = fresh?.tunnels.find((t) => t.tunnel === tunnel);
    return {
      degraded: tunnel in inp.steering,
      degradedReason: inp.steering[tunnel] ?? null,
      quality: q ? { short: window(q.short, LOSS_WINDOW_MS), long: window(q.long, LONG_WINDOW_MS), changes: q.changes } : null,
    };
  };
  const common = (tap: string) => ({
    tap,
    ospf: frr.neighbors[tap]?.state ?? 'Down',
    bfd: frr.bfd[tap]?.status ?? 'none',
    cost: frr.interfaces[tap]?.cost ?? null,
    ...rates(tap),
  });
  const tunnels: TunnelStatus[] = [];
  const spokes: StatusReport['spokes'] = [];
  const subflows = parseSockets(inp.aggregation.subflows);
  const counters = parseCounters(inp.aggregation.counters);
  const bytes = (up: string, down: string, on: boolean) => ({ proxiedBytesUp: on ? (counters[up]?.bytes ?? null) : null, proxiedBytesDown: on ? (counters[down]?.bytes ?? null) : null });
  const connections = parseSockets(inp.aggregation.connections);
  if (cfg.role === 'spoke') {
    const on = cfg.aggregate === 'tcp';
    const proxy = hubProxyAddr(cfg.tunnelPool, cfg.wans.map((w) => w.tunnel));
    const toProxy = (x: Sock) => x.peer === proxy && x.peerPort === HUB_PROXY_PORT;
    const rows = spokeRows(cfg, inp, frr, common, age, steering).map((r) => ({
      ...r,
      subflows: on ? subflows.filter((x) => toProxy(x) && x.local === tunnelAddresses(cfg.tunnelPool, r.tunnel).spokeTap).length : null,
    }));
    tunnels.push(...rows);
    spokes.push({
      ...summary(cfg.name, cfg.policy, rows),
      aggregate: cfg.aggregate,
      proxyUp: on ? (inp.aggregation.proxyUp.redir ?? false) : null,
      proxiedConnections: on ? connections.filter(toProxy).length : null,
      ...bytes(AGGREGATE_COUNTER.up, AGGREGATE_COUNTER.down, on),
      // one packet per connection: the rule sees only a connection's first
      cappedConnections: on ? (counters[AGGREGATE_COUNTER.capped]?.packets ?? null) : null,
    });
  } else {
    for (const s of cfg.spokes) {
      const on = s.aggregate === 'tcp' && s.wans.length > 0;
      const proxy = on ? hubProxyAddr(cfg.tunnelPool, s.wans.map((t) => t.tunnel)) : '';
      const atProxy = (x: Sock) => x.local === proxy && x.localPort === HUB_PROXY_PORT;
      const rows = hubRows(cfg, s, inp, frr, common, age, steering).map((r) => ({
        ...r,
        subflows: on ? subflows.filter((x) => atProxy(x) && x.peer === tunnelAddresses(cfg.tunnelPool, r.tunnel).spokeTap).length : null,
      }));
      tunnels.push(...rows);
      spokes.push({
        ...summary(s.name, s.policy, rows),
        aggregate: s.aggregate,
        proxyUp: on ? (inp.aggregation.proxyUp[`site-${s.name}`] ?? false) : null,
        proxiedConnections: on ? connections.filter(atProxy).length : null,
        ...bytes(AGGREGATE_COUNTER.site(s.name, 'up'), AGGREGATE_COUNTER.site(s.name, 'down'), on),
        cappedConnections: null,
      });
    }
  }
  return {
    schema: STATUS_SCHEMA,
    role: cfg.role,
    time: new Date(inp.sample.at).toISOString(),
    intervalSeconds: seconds ?? null,
    spokes,
    tunnels,
    totals: {
      rxBytes: sum(tunnels.map((t) => t.rxBytes))!,
      txBytes: sum(tunnels.map((t) => t.txBytes))!,
      rxBitsPerSecond: sum(tunnels.map((t) => t.rxBitsPerSecond)),
      txBitsPerSecond: sum(tunnels.map((t) => t.txBitsPerSecond)),
    },
  };
}

type Common = (tap: string) => Pick<TunnelStatus, 'tap' | 'ospf' | 'bfd' | 'cost' | 'rxBytes' | 'txBytes' | 'rxBitsPerSecond' | 'txBitsPerSecond'>;
type SteeringOf = (tunnel: number) => Pick<TunnelStatus, 'degraded' | 'degradedReason' | 'quality'>;

type Row = Omit<TunnelStatus, 'subflows'>;

function spokeRows(cfg: SpokeConfig, inp: StatusInputs, frr: Frr, common: Common, age: (h?: number) => number | null, steering: SteeringOf): Row[] {
  return cfg.wans.map((w, i) => {
    const tap = spokeTapName(w.name);
    const peer = inp.wg[spokeWgName(w.name)]?.peers[0];
    const table = String(wanPolicy(i + 1).table);
    return {
      spoke: cfg.name,
      wan: w.name,
      tunnel: w.tunnel,
      ...common(tap),
      dev: w.dev,
      carrier: inp.sample.links.find((l) => l.name === w.dev)?.carrier ?? false,
      gateway: inp.kernelRoutes.find((r) => r.table === table && r.dst === 'default')?.gateway ?? null,
      endpoint: peer?.endpoint ?? null,
      handshakeAgeSeconds: age(peer?.latestHandshake),
      peerCost: peerCost(cfg, frr.links, cfg.id, w.tunnel) ?? null,
      role: isStandby(cfg.policy, w.name) ? 'standby' : 'active',
      inEcmp: (frr.nexthops['0.0.0.0/0'] ?? []).includes(tap),
      ...steering(w.tunnel),
    };
  });
}

function hubRows(cfg: HubConfig, s: HubConfig['spokes'][number], inp: StatusInputs, frr: Frr, common: Common, age: (h?: number) => number | null, steering: SteeringOf): Row[] {
  const viaTap = new Set(Object.values(frr.nexthops).flat());
  return s.wans.map((t) => {
    const tap = hubTapName(t.tunnel);
    const peer = inp.wg[HUB_WG]?.peers.find((p) => p.publicKey === t.publicKey);
    return {
      spoke: s.name,
      wan: t.wan,
      tunnel: t.tunnel,
      ...common(tap),
      dev: null,
      carrier: null,
      gateway: null,
      endpoint: peer?.endpoint ?? null,
      handshakeAgeSeconds: age(peer?.latestHandshake),
      peerCost: peerCost(cfg, frr.links, s.id, t.tunnel) ?? null,
      role: isStandby(s.policy, t.wan) ? 'standby' : 'active',
      inEcmp: viaTap.has(tap),
      ...steering(t.tunnel),
    };
  });
}

/** The other end's policy for one site, from the costs it gives that site's tunnels. */
function peerPolicyOf(rows: TunnelStatus[]): Policy | undefined {
  return policyFromCosts(
    rows.map((r) => r.wan),
    Object.fromEntries(rows.map((r) => [r.wan, r.peerCost ?? undefined])),
  );
}

function summary(name: string, policy: Policy, rows: TunnelStatus[]): Omit<StatusReport['spokes'][number], 'aggregate' | 'proxyUp' | 'proxiedConnections' | 'proxiedBytesUp' | 'proxiedBytesDown' | 'cappedConnections'> {
  const peer = peerPolicyOf(rows);
  return {
    name,
    mode: policy.mode,
    primary: policy.mode === 'active-standby' ? policy.primary : [],
    peerPolicy: peer ? policyKey(peer) : null,
    inSync: peer ? policyKey(peer) === policyKey(policy) : null,
    rxBitsPerSecond: sum(rows.map((r) => r.rxBitsPerSecond)),
    txBitsPerSecond: sum(rows.map((r) => r.txBitsPerSecond)),
  };
}

/**
 * The other end's policy for each site, from the router LSAs alone (`show ip ospf database router
 * json`): what mode mirroring acts on, every 2 s, without reading the rest of the status.
 */
export function peerPolicies(cfg: Config, routerLsas: string): Record<string, Policy | undefined> {
  const links = routerLinks(routerLsas);
  const sites = cfg.role === 'spoke' ? [{ name: cfg.name, id: cfg.id, wans: cfg.wans.map((w) => ({ wan: w.name, tunnel: w.tunnel })) }] : cfg.spokes;
  return Object.fromEntries(
    sites.map((s) => {
      const costs = Object.fromEntries(s.wans.map((t) => [t.wan, peerCost(cfg, links, s.id, t.tunnel)]));
      return [s.name, policyFromCosts(s.wans.map((t) => t.wan), costs)];
    }),
  );
}

/**
 * On a hub: which tunnels their sites mark degraded now (the degraded cost in the site's router
 * LSA), by tunnel number. A tunnel whose cost is not visible (its adjacency is down) is left out:
 * the hub keeps what it knew of it.
 */
export function peerDegraded(cfg: HubConfig, routerLsas: string): Record<number, boolean> {
  const links = routerLinks(routerLsas);
  const out: Record<number, boolean> = {};
  for (const s of cfg.spokes) {
    for (const t of s.wans) {
      const c = peerCost(cfg, links, s.id, t.tunnel);
      if (c !== undefined) out[t.tunnel] = splitCost(c).degraded;
    }
  }
  return out;
}

/**
 * The cost the other end gives a tunnel, from its router LSA in the site's area: a spoke reads the
 * hub's, the hub reads the spoke's (any router but itself).
 */
function peerCost(cfg: Config, links: RouterLink[], siteId: number, tunnel: number): number | undefined {
  const hubId = hubRouterId(cfg.tunnelPool);
  const other = (r: string) => (cfg.role === 'spoke' ? r === hubId : r !== hubId);
  return costOnPrefix(links, areaId(siteId), other, tunnelAddresses(cfg.tunnelPool, tunnel).tapPrefix);
}

function sum(xs: (number | null)[]): number | null {
  return xs.some((x) => x === null) ? null : xs.reduce<number>((a, b) => a + (b ?? 0), 0);
}
