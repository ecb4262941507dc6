import { Address4 } from 'ip-address';

/**
 * Every tunnel t (one per spoke WAN, numbered by the hub) owns the /29 at pool + 8t:
 *   +0 hub WireGuard inner address    +1 spoke WireGuard inner address   (each a /32 with a peer route)
 *   +2 the hub's proxy for the site whose lowest tunnel this is (single-connection aggregation)
 *   +4/30 the tap (VXLAN) segment:    +5 hub tap address, +6 spoke tap address
 * Block 0 is the hub's own (+1 is its router id). A distinct hub inner address per tunnel matters:
 * VXLAN's `dev` does not pin the underlay route, so two WireGuard interfaces with a route to the
 * same hub address would carry each other's VXLAN (seen in the lab: docs/design.md, Addressing).
 */
const BLOCK = 8n;

function base(pool: string): bigint {
  return new Address4(pool).startAddress().bigInt();
}
function at(pool: string, offset: bigint): string {
  return Address4.fromBigInt(base(pool) + offset).address;
}

export function maxTunnels(pool: string): number {
  const bits = 32 - new Address4(pool).subnetMask;
  return Number((1n << BigInt(bits)) / BLOCK) - 1;
}

/** An IPv4 address on a link: a prefix, or a /32 with a peer (WireGuard's inner addresses). */
export interface Addr {
  local: string;
  prefixlen: number;
  peer?: string;
}

export interface TunnelAddresses {
  hubInner: string;
  spokeInner: string;
  tapPrefix: string; // a.b.c.d/30
  hubTap: string;
  spokeTap: string;
  vni: number;
}

/**
 * Remembered per pool and tunnel: the daemon's jobs ask for a site's tunnels several times a
 * second, and parsing the pool each time was a twentieth of a spoke daemon's CPU at rest.
 */
const known = new Map<string, TunnelAddresses>();

export function tunnelAddresses(pool: string, tunnel: number): TunnelAddresses {
  const key = `${pool} ${tunnel}`;
  let a = known.get(key);
  if (!a) {
    const b = BigInt(tunnel) * BLOCK;
    a = {
      hubInner: at(pool, b),
      spokeInner: at(pool, b + 1n),
      tapPrefix: `${at(pool, b + 4n)}/30`,
      hubTap: at(pool, b + 5n),
      spokeTap: at(pool, b + 6n),
      vni: tunnel,
    };
    known.set(key, a);
  }
  return { ...a };
}

/**
 * Where the hub's proxy for a site listens: an address of the site's own, so the hub's firewall
 * tells sites apart by destination and source alone. A spoke reaches it by its default route, which
 * leads into the tunnels; it is on no link of the spoke's.
 */
export function hubProxyAddr(pool: string, tunnels: number[]): string {
  return at(pool, BigInt(Math.min(...tunnels)) * BLOCK + 2n);
}

export function hubRouterId(pool: string): string {
  return at(pool, 1n);
}

/** Each spoke is its own OSPF area, numbered by the spoke's id. */
export function areaId(spokeId: number): string {
  return [spokeId >>> 24, (spokeId >>> 16) & 255, (spokeId >>> 8) & 255, spokeId & 255].join('.');
}

/** Bytes each encapsulation adds: WireGuard over IPv4 (IP 20 + UDP 8 + WireGuard 32), VXLAN (IP 20 + UDP 8 + VXLAN 8 + Ethernet 14). */
export const WG_OVERHEAD = 60;
export const VXLAN_OVERHEAD = 50;
export function wgMtu(wanMtu: number): number {
  return wanMtu - WG_OVERHEAD;
}
export function tapMtu(wanMtu: number): number {
  return wanMtu - WG_OVERHEAD - VXLAN_OVERHEAD;
}

/** Per-WAN policy routing on a spoke: WAN i (1-based, config order) gets its own mark, table and rules. */
export const RULE_PROTO = 79; // routes and rules ospfbond adds carry this protocol, so `down` finds them
export const FWMARK_BASE = 0x4f420000; // "OB"
export const TABLE_BASE = 4200;
export const RULE_LOOKUP_BASE = 4200;
export const RULE_STOP_BASE = 4300;
/** MPTCP subflows leave by the tap whose address they carry: a rule per tap address, and a table. */
export const RULE_TAP_BASE = 4100;
export const TAP_TABLE_BASE = 4400;
/**
 * A hub's MPTCP subflows to its sites' tap addresses: a table of routes to them (main would not do:
 * zebra takes an OSPF nexthop only through a connected route, and a /32 in main hides the tap's /30),
 * looked up for what leaves from the tunnel pool, where the proxies' addresses are.
 */
export const HUB_SUBFLOW_PREF = RULE_TAP_BASE;
export const HUB_SUBFLOW_TABLE = TAP_TABLE_BASE;
export function wanPolicy(index: number): { fwmark: number; table: number; lookupPref: number; stopPref: number; tapPref: number; tapTable: number } {
  return {
    fwmark: FWMARK_BASE + index,
    table: TABLE_BASE + index,
    lookupPref: RULE_LOOKUP_BASE + index,
    stopPref: RULE_STOP_BASE + index,
    tapPref: RULE_TAP_BASE + index,
    tapTable: TAP_TABLE_BASE + index,
  };
}

export const HUB_WG = 'obwg0';
export const VXLAN_PORT = 4789;
/** BFD single-hop control and echo, and multihop control (RFC 5881, 5883). */
export const BFD_PORTS = [3784, 3785, 4784];

export function hubTapName(tunnel: number): string {
  return `obt${tunnel}`;
}
export function spokeWgName(wan: string): string {
  return `obw-${wan}`;
}
export function spokeTapName(wan: string): string {
  return `obt-${wan}`;
}
/** The alias ospfbond puts on every link it creates; `down` removes links by it. */
export const LINK_ALIAS_PREFIX = 'ospfbond:';
/**
 * DHCP/PPP default routes in the main table are demoted to this metric range, not deleted:
 * zebra reads a kernel route's metric top byte as its distance, so 251 ranks it below OSPF (110)
 * and the blackhole fallback (250); the low 24 bits keep the original metric for `down`.
 */
export const DEMOTED_DISTANCE = 251;
export function demotedMetric(metric: number): number {
  return ((DEMOTED_DISTANCE << 24) | (metric & 0xffffff)) >>> 0;
}
export function isDemoted(metric: number): boolean {
  return metric >>> 24 === DEMOTED_DISTANCE;
}
export const FALLBACK_DISTANCE = 250;
