import { z } from 'zod';
import type { Config, HubConfig, SpokeConfig } from '../config/config.js';
import type { ObservedRoute, ObservedWg } from '../system/observe.js';
import { tunnelAddresses, hubRouterId, hubTapName, spokeTapName, spokeWgName, wanPolicy, HUB_WG } from '../model/addressing.js';
import { isStandby, policyFromCosts, policyKey, type Policy } from '../model/policy.js';
import { areaId } from '../render/frr.js';
import { neighborsByIface, ospfInterfaces, bfdByIface, ospfNexthops, routerLinks, costOnPrefix, type RouterLink } from './frr-json.js';

/**
 * `ospfbond status --json`: a stable, documented schema (docs/status.schema.json is generated from
 * it, and a unit test keeps the two equal). Add fields, never rename or remove them within a version.
 */
export const STATUS_SCHEMA = 'ospfbond.status/1';

const rate = z.number().nullable().describe('bits per second over the sampling interval; null without a previous sample');
export const tunnelStatus = z.object({
  spoke: z.string().describe('the site'),
  wan: z.string().describe('the WAN this tunnel rides'),
  tunnel: z.number().int().describe('tunnel number (addresses, VXLAN id)'),
  tap: z.string().describe('the VXLAN tap OSPF runs on'),
  dev: z.string().nullable().describe('spoke: the WAN device; hub: null'),
  carrier: z.boolean().nullable().describe('spoke: the WAN device is up with carrier; hub: null'),
  gateway: z.string().nullable().describe('spoke: the WAN gateway in its routing table; hub: null'),
  endpoint: z.string().nullable().describe('WireGuard endpoint of the other end (address:port), null before the first packet'),
  handshakeAgeSeconds: z.number().nullable().describe('seconds since the latest WireGuard handshake; null: none yet'),
  ospf: z.string().describe('OSPF neighbour state on the tap ("Full/DR", "Init/DROther", ...), "Down" without a neighbour'),
  bfd: z.string().describe('BFD session state ("up", "down", "init"), "none" when there is no session'),
  cost: z.number().nullable().describe('OSPF cost this router gives the tap'),
  peerCost: z.number().nullable().describe('OSPF cost the other end gives it, from its router LSA; null when not seen'),
  role: z.enum(['active', 'standby']).describe('what the local policy makes of this tunnel'),
  inEcmp: z.boolean().describe('the tap is an active nexthop of the selected OSPF route (spoke: the default; hub: the site\'s prefixes)'),
  rxBytes: z.number().describe('bytes received from the tunnel (tap counter)'),
  txBytes: z.number().describe('bytes sent into the tunnel (tap counter)'),
  rxBitsPerSecond: rate,
  txBitsPerSecond: rate,
});
export const spokeSummary = z.object({
  name: z.string(),
  mode: z.enum(['active-active', 'active-standby']).describe('this router\'s policy for the site'),
  primary: z.array(z.string()).describe('active-standby: the primary WANs; active-active: empty'),
  peerPolicy: z.string().nullable().describe('the other end\'s policy as its costs show it ("active-active" or "active-standby WAN,..."); null when not all its costs are seen'),
  inSync: z.boolean().nullable().describe('both ends run the same policy; null when unknown'),
  rxBitsPerSecond: rate,
  txBitsPerSecond: rate,
});
export const statusReport = z.object({
  schema: z.literal(STATUS_SCHEMA),
  role: z.enum(['hub', 'spoke']),
  time: z.string().describe('ISO 8601 time of the sample'),
  intervalSeconds: z.number().nullable().describe('the interval the rates cover'),
  spokes: z.array(spokeSummary).describe('spoke: the site itself; hub: every spoke'),
  tunnels: z.array(tunnelStatus),
  totals: z.object({ rxBytes: z.number(), txBytes: z.number(), rxBitsPerSecond: rate, txBitsPerSecond: rate }),
});
export type TunnelStatus = z.infer<typeof tunnelStatus>;
export type StatusReport = z.infer<typeof statusReport>;

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

/** Everything status reads from the router, raw: vtysh JSON as text, so the parsers are tested on real output. */
export interface StatusInputs {
  sample: LinkSample;
  previous?: LinkSample;
  wg: Record<string, ObservedWg>;
  kernelRoutes: ObservedRoute[];
  vtysh: { neighbors: string; interfaces: string; bfd: string; routes: string; routerLsas: string };
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
  const common = (tap: string) => ({
    tap,
    ospf: frr.neighbors[tap]?.state ?? 'Down',
    bfd: frr.bfd[tap]?.status ?? 'none',
    cost: frr.interfaces[tap]?.cost ?? null,
    ...rates(tap),
  });
  const tunnels: TunnelStatus[] = [];
  const spokes: StatusReport['spokes'] = [];
  if (cfg.role === 'spoke') {
    const rows = spokeRows(cfg, inp, frr, common, age);
    tunnels.push(...rows);
    spokes.push(summary(cfg.name, cfg.policy, rows));
  } else {
    for (const s of cfg.spokes) {
      const rows = hubRows(cfg, s, inp, frr, common, age);
      tunnels.push(...rows);
      spokes.push(summary(s.name, s.policy, rows));
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

function spokeRows(cfg: SpokeConfig, inp: StatusInputs, frr: Frr, common: Common, age: (h?: number) => number | null): TunnelStatus[] {
  const hubId = hubRouterId(cfg.tunnelPool);
  const area = areaId(cfg.id);
  return cfg.wans.map((w, i) => {
    const a = tunnelAddresses(cfg.tunnelPool, w.tunnel);
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
      peerCost: costOnPrefix(frr.links, area, (r) => r === hubId, a.tapPrefix) ?? null,
      role: isStandby(cfg.policy, w.name) ? 'standby' : 'active',
      inEcmp: (frr.nexthops['0.0.0.0/0'] ?? []).includes(tap),
    };
  });
}

function hubRows(cfg: HubConfig, s: HubConfig['spokes'][number], inp: StatusInputs, frr: Frr, common: Common, age: (h?: number) => number | null): TunnelStatus[] {
  const hubId = hubRouterId(cfg.tunnelPool);
  const area = areaId(s.id);
  const viaTap = new Set(Object.values(frr.nexthops).flat());
  return s.wans.map((t) => {
    const a = tunnelAddresses(cfg.tunnelPool, t.tunnel);
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
      peerCost: costOnPrefix(frr.links, area, (r) => r !== hubId, a.tapPrefix) ?? null,
      role: isStandby(s.policy, t.wan) ? 'standby' : 'active',
      inEcmp: viaTap.has(tap),
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

function summary(name: string, policy: Policy, rows: TunnelStatus[]): StatusReport['spokes'][number] {
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

/** The other end's policy for each site, read from a report (what mode mirroring acts on). */
export function peerPolicies(report: StatusReport): Record<string, Policy | undefined> {
  return Object.fromEntries(
    report.spokes.map((s) => [s.name, peerPolicyOf(report.tunnels.filter((t) => t.spoke === s.name))]),
  );
}

function sum(xs: (number | null)[]): number | null {
  return xs.some((x) => x === null) ? null : xs.reduce<number>((a, b) => a + (b ?? 0), 0);
}
