/**
 * Real-time flows ride two tunnels at once: a packet marked DSCP EF, or UDP from or to a listed
 * port, that leaves into one tunnel also goes, as a copy, into the next tunnel of its site (a ring in
 * config order). Both ends do it: the spoke for uploads, the hub for downloads. One WAN dying then
 * costs such a flow no packet; the far end drops the second copy by its sequence number (RTP), and
 * the tunnels carry those flows twice (docs/realtime.md).
 */

/**
 * On: what a failover costs a call is heard, and what is marked EF (DSCP 46, RFC 3246: phones'
 * and conferencing clients' voice) is a small share of a site's traffic. No port is listed unless
 * the operator lists it: a port can carry bulk traffic too.
 */
export const DEFAULT_DUPLICATE = true;

export interface PortRange {
  from: number;
  to: number;
}

export interface RealtimeSettings {
  /** Off: no packet is duplicated, EF or not. */
  duplicate: boolean;
  /** UDP ports (as source or destination) whose packets are duplicated like EF ones. */
  udpPorts: PortRange[];
}

export const DEFAULT_REALTIME: RealtimeSettings = { duplicate: DEFAULT_DUPLICATE, udpPorts: [] };

/** `udp_ports`: comma-separated ports and ranges, `5060,10000-20000`; empty for none. */
export function parsePorts(text: string): PortRange[] | { error: string } {
  const out: PortRange[] = [];
  for (const item of text.split(',').map((s) => s.trim()).filter(Boolean)) {
    const m = /^(\d{1,5})(?:-(\d{1,5}))?$/.exec(item);
    const from = Number(m?.[1]);
    const to = m?.[2] === undefined ? from : Number(m[2]);
    if (!m || from < 1 || to > 65535 || to < from) return { error: `${item}: expected a UDP port N or a range N-M with 1 <= N <= M <= 65535, comma-separated, such as 5060,10000-20000` };
    out.push({ from, to });
  }
  return out;
}

export function formatPorts(ports: PortRange[]): string {
  return ports.map((p) => (p.from === p.to ? String(p.from) : `${p.from}-${p.to}`)).join(',');
}

/**
 * Which tunnel carries the copy of what leaves into each one: the next in config order, the last
 * one's going to the first. With two tunnels each covers the other; with one there is none.
 */
export function duplicateRing<T>(tunnels: T[]): [T, T][] {
  return tunnels.length < 2 ? [] : tunnels.map((t, i) => [t, tunnels[(i + 1) % tunnels.length]!]);
}
