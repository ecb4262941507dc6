import { BFD_PORTS, VXLAN_PORT } from '../model/addressing.js';
import { probe } from '../base/run.js';
import { formatUplinkAllow } from '../config/schema.js';
import type { UplinkService } from '../config/types.js';
import { ok, warn, type Check } from './check.js';

export interface Listener {
  proto: 'tcp' | 'udp';
  addr: string;
  port: number;
  process?: string;
}

/** `ss -Htulnp` lines: listening TCP and bound UDP sockets, with the owning process where ss tells it. */
export function parseListeners(ss: string): Listener[] {
  const out: Listener[] = [];
  for (const line of ss.split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f.length < 5 || (f[0] !== 'tcp' && f[0] !== 'udp')) continue;
    const m = /^\[?(.*?)\]?(?:%[^:]+)?:(\d+|\*)$/.exec(f[4]!);
    if (!m || m[2] === '*') continue;
    out.push({ proto: f[0], addr: m[1]!, port: Number(m[2]), process: /users:\(\("([^"]+)"/.exec(line)?.[1] });
  }
  return out;
}

/**
 * Services that listen where the internet reaches them (the uplink's addresses or any address) but
 * that the hub's uplink filter turns away: after apply their new connections from outside are
 * dropped. ospfbond's own (WireGuard, BFD, VXLAN: dropped on purpose) and loopback-only ones are
 * left out, and so is every socket of bfdd: besides its ports it binds one per session to send
 * from (source ports from 49152, RFC 5881), which listen for nothing.
 */
export function uplinkBlocked(listeners: Listener[], uplinkAddrs: string[], allow: UplinkService[], wgPort: number): Listener[] {
  const reachable = new Set(['0.0.0.0', '::', '*', ...uplinkAddrs]);
  const ours = new Set([`udp/${wgPort}`, ...[...BFD_PORTS, VXLAN_PORT].map((p) => `udp/${p}`)]);
  const allowed = new Set(allow.map((a) => `${a.proto}/${a.port}`));
  const seen = new Set<string>();
  return listeners.filter((l) => {
    const key = `${l.proto}/${l.port}`;
    if (!reachable.has(l.addr) || ours.has(key) || l.process === 'bfdd' || allowed.has(key) || seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

export async function uplinkCheck(uplink: string, allow: UplinkService[] | 'any', wgPort: number): Promise<Check> {
  const name = 'uplink services';
  if (allow === 'any') return ok(name, 'uplink_allow = any: the uplink drops only OSPF, BFD and VXLAN from outside');
  const ss = await probe(['ss', '-Htulnp']);
  if (ss.exitCode !== 0) return warn(name, `cannot list listening sockets (ss: ${ss.stderr.trim()})`, 'apt-get install iproute2');
  const addrs = await probe(['ip', '-j', 'addr', 'show', 'dev', uplink]);
  const uplinkAddrs = addrs.exitCode === 0 ? (JSON.parse(addrs.stdout) as { addr_info: { local: string }[] }[]).flatMap((a) => a.addr_info.map((i) => i.local)) : [];
  const blocked = uplinkBlocked(parseListeners(ss.stdout), uplinkAddrs, allow, wgPort);
  const allowText = formatUplinkAllow(allow);
  if (blocked.length === 0) return ok(name, `every service listening on ${uplink} is in uplink_allow (${allowText})`);
  const list = blocked.map((l) => `${l.proto}/${l.port}${l.process ? ` (${l.process})` : ''}`).join(', ');
  return warn(
    name,
    `${list} listen${blocked.length === 1 ? 's' : ''} on ${uplink} but uplink_allow (${allowText}) turns new connections from the internet away`,
    `add what must be reachable to uplink_allow in [hub] (uplink_allow = ${[...(allow.length ? [allowText] : []), ...blocked.map((l) => `${l.proto}/${l.port}`)].join(',')}) and run ospfbond apply --confirm 120, or leave it if only the tunnels need it`,
  );
}

