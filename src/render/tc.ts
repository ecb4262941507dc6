/**
 * Per-tunnel shaping, so that a saturated WAN cannot take its own tunnel down.
 *
 * An access line queues in the modem or the ISP's BRAS, drop-tail. A download that fills the line
 * fills that queue, and BFD's packets are dropped with the data: three lost in a row (300 ms at the
 * default profile) and a healthy tunnel goes down. Measured in the lab before this existed: 32 TCP
 * flows into a 20 Mbit/s line, about 10 % of its packets dropped, an adjacency down in both runs measured.
 * Shaping each tunnel's tap a little under its line's rate moves the queue onto this router, where
 * OSPF, BFD and ARP go ahead of everything else (htb prio 0 class). The hub shapes what it sends to a
 * spoke's WAN (its download), the spoke what it sends up (its upload).
 *
 * htb adds its per-packet `overhead` once per GSO super-packet, and forwarded TCP reaches the tap as
 * GRO/GSO aggregates, so the encapsulation is accounted for in the rate instead: a full-size tap frame
 * (the common case on a saturated line) is scaled to the bytes the line carries for it. Small packets
 * cost the line relatively more; htb's `mpu` counts each as at least a TCP ACK's share, so a stream
 * of ACKs is not undercounted either.
 */
import { WG_OVERHEAD, VXLAN_OVERHEAD } from '../model/addressing.js';

export const SHAPE_HEADROOM = 0.99;
/** Guaranteed to OSPF/BFD/ARP; they may borrow up to the whole rate. */
export const CONTROL_KBIT = 64;
/** The bulk class's queue: this long at the shaped rate, and at least one 64 KiB GSO aggregate. */
const QUEUE_MS = 50;
const MIN_QUEUE_BYTES = 65536;
const BFD_PORT = 3784;
const OSPF_PROTO = 89;

export interface Shaper {
  dev: string;
  /** The line's rate in Mbit/s as configured (what it carries, counted in Ethernet frames). */
  lineMbit: number;
  rootKbit: number;
  bulkKbit: number;
  limitBytes: number;
  /** The least htb counts per packet: a bare TCP ACK's bytes on the line, scaled as the rate is. */
  mpu: number;
}

const ETHERNET = 14;
/** A TCP ACK with timestamps on the tap: Ethernet, IP 20, TCP 32. */
const ACK_FRAME = ETHERNET + 20 + 32;

/** Bytes a tap frame costs the WAN's Ethernet: VXLAN inside WireGuard, which pads its plaintext to 16. */
export function wireBytes(tapFrame: number): number {
  const vxlanPacket = tapFrame + VXLAN_OVERHEAD - ETHERNET; // the frame plus VXLAN, UDP and IP headers
  return ETHERNET + WG_OVERHEAD + Math.ceil(vxlanPacket / 16) * 16;
}

export function shaperFor(dev: string, lineMbit: number, tapMtu: number): Shaper {
  const fullFrame = tapMtu + ETHERNET;
  const scale = fullFrame / wireBytes(fullFrame);
  const rootKbit = Math.max(Math.floor(lineMbit * 1000 * SHAPE_HEADROOM * scale), 2 * CONTROL_KBIT);
  return {
    dev,
    lineMbit,
    rootKbit,
    bulkKbit: rootKbit - CONTROL_KBIT,
    limitBytes: Math.max(Math.round((rootKbit * 1000 * QUEUE_MS) / 8000), MIN_QUEUE_BYTES),
    mpu: Math.ceil(wireBytes(ACK_FRAME) * scale),
  };
}

/** The `tc -batch` script that builds the shaper on a tap that has no root qdisc of its own. */
export function renderShaper(s: Shaper): string {
  const d = s.dev;
  // htb's default burst (one MTU) cannot keep a fast line busy between timer runs; 1 ms can.
  const burst = Math.max(Math.ceil(s.rootKbit / 8), 1600);
  const ceil = `ceil ${s.rootKbit}kbit burst ${burst} cburst ${burst} quantum 1514 mpu ${s.mpu}`;
  return [
    `# ${d}: ${s.lineMbit} Mbit/s line, ${SHAPE_HEADROOM * 100} % of it after encapsulation; OSPF, BFD, ARP first`,
    `qdisc add dev ${d} root handle 1: htb default 20`,
    `class add dev ${d} parent 1: classid 1:1 htb rate ${s.rootKbit}kbit ${ceil}`,
    `class add dev ${d} parent 1:1 classid 1:10 htb rate ${CONTROL_KBIT}kbit ${ceil} prio 0`,
    `class add dev ${d} parent 1:1 classid 1:20 htb rate ${s.bulkKbit}kbit ${ceil} prio 1`,
    `qdisc add dev ${d} parent 1:20 handle 20: bfifo limit ${s.limitBytes}`,
    `filter add dev ${d} parent 1: protocol ip prio 1 u32 match ip protocol ${OSPF_PROTO} 0xff flowid 1:10`,
    `filter add dev ${d} parent 1: protocol ip prio 2 u32 match ip protocol 17 0xff match ip dport ${BFD_PORT} 0xffff flowid 1:10`,
    `filter add dev ${d} parent 1: protocol arp prio 3 u32 match u32 0 0 flowid 1:10`,
    '',
  ].join('\n');
}

/**
 * What apply compares: the parts of the tree that carry a setting. Built from the spec here and
 * from `tc` output by `observedShape`, so the two meet in one format.
 */
export function shapeSignature(s: Shaper): string {
  const r = s.rootKbit * 1000;
  return [
    'htb 1: default 0x20',
    `1:1 rate ${r} ceil ${r} mpu ${s.mpu}`,
    `1:10 prio 0 rate ${CONTROL_KBIT * 1000} ceil ${r} mpu ${s.mpu}`,
    `1:20 prio 1 rate ${s.bulkKbit * 1000} ceil ${r} mpu ${s.mpu}`,
    `bfifo 1:20 limit ${s.limitBytes}`,
    'filter arp/3:1:10 ip/1:1:10 ip/2:1:10',
  ].join('\n');
}

interface TcQdisc {
  kind: string;
  handle: string;
  root?: boolean;
  parent?: string;
  options?: { default?: string; limit?: number };
}
interface TcFilter {
  protocol: string;
  pref: number;
  options?: { flowid?: string };
}

const UNIT: Record<string, number> = { bit: 1, Kbit: 1e3, Mbit: 1e6, Gbit: 1e9 };
function rate(text: string): number {
  const m = /^(\d+(?:\.\d+)?)(bit|Kbit|Mbit|Gbit)$/.exec(text);
  return m ? Math.round(Number(m[1]) * UNIT[m[2]!]!) : NaN;
}

/**
 * The signature of what a tap has, from `tc -j qdisc show`, `tc -d class show` (no JSON for htb
 * classes in iproute2 6.1) and `tc -j filter show parent 1:`. Undefined when the tap has no root qdisc.
 */
export function observedShape(qdiscJson: string, classText: string, filterJson: string): string | undefined {
  const qdiscs = JSON.parse(qdiscJson || '[]') as TcQdisc[];
  const root = qdiscs.find((q) => q.root);
  if (!root || root.kind === 'noqueue') return undefined;
  const classes: string[] = [];
  for (const m of classText.matchAll(/^class htb (\S+) .*?(?:prio (\d+) )?(?:quantum \d+ )?rate (\S+) ceil (\S+)(?:.*?mpu (\d+)b)?/gm)) {
    classes.push(`${m[1]}${m[2] !== undefined && m[1] !== '1:1' ? ` prio ${m[2]}` : ''} rate ${rate(m[3]!)} ceil ${rate(m[4]!)} mpu ${m[5] ?? 0}`);
  }
  const lines = [
    `${root.kind} ${root.handle} default ${root.options?.default ?? '-'}`,
    ...classes.sort((a, b) => a.localeCompare(b, 'en', { numeric: true })),
    ...qdiscs.filter((q) => !q.root).map((q) => `${q.kind} ${q.parent} limit ${q.options?.limit ?? '-'}`),
  ];
  const filters = (JSON.parse(filterJson || '[]') as TcFilter[])
    .filter((f) => f.options?.flowid)
    .map((f) => `${f.protocol}/${f.pref}:${f.options!.flowid}`)
    .sort();
  lines.push(`filter ${filters.join(' ')}`);
  return lines.join('\n');
}
