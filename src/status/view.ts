import Table from 'cli-table3';
import pc from 'picocolors';
import type { StatusReport, TunnelStatus } from './schema.js';

type Colors = ReturnType<typeof pc.createColors>;

/** bit/s as k or M (M with one decimal, as line rates are quoted); '-' without a rate. */
export function formatRate(bps: number | null): string {
  if (bps === null) return '-';
  return bps < 1e6 ? `${(bps / 1e3).toFixed(0)}k` : `${(bps / 1e6).toFixed(1)}M`;
}
export function formatBytes(n: number): string {
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let v = n;
  let u = 0;
  while (v >= 1000 && u < units.length - 1) {
    v /= 1000;
    u++;
  }
  return `${u === 0 ? v : v.toFixed(1)}${units[u]}`;
}
/** Milliseconds as a person reads an RTT: 0.73, 21, 812. */
function formatMs(ms: number): string {
  return ms < 10 ? ms.toFixed(2) : String(Math.round(ms));
}
function formatAge(s: number | null): string {
  if (s === null) return 'never';
  return s < 120 ? `${s}s` : s < 7200 ? `${Math.round(s / 60)}m` : `${Math.round(s / 3600)}h`;
}

/**
 * The human view: one row per tunnel, then one per site with its policy and whether the other end
 * runs the same one. Colour only when `color` is set (stdout is a terminal).
 */
export function renderStatus(r: StatusReport, color: boolean): string {
  const c = pc.createColors(color);
  const hub = r.role === 'hub';
  const tunnels = new Table({
    head: [...(hub ? ['spoke'] : []), 'wan', ...(hub ? [] : ['dev', 'carrier', 'gateway']), 'endpoint', 'handshake', 'tap', 'ospf', 'bfd', ...(hub ? [] : ['loss', 'rtt']), 'cost', hub ? 'spoke cost' : 'hub cost', 'ecmp', 'in', 'out', 'bytes in/out'],
    style: { head: color ? ['cyan'] : [], border: color ? ['grey'] : [], compact: true },
  });
  for (const t of r.tunnels) tunnels.push(row(t, hub, c));
  if (hub) tunnels.push([{ colSpan: 10, content: 'total' }, formatRate(r.totals.rxBitsPerSecond), formatRate(r.totals.txBitsPerSecond), `${formatBytes(r.totals.rxBytes)}/${formatBytes(r.totals.txBytes)}`]);
  const sites = new Table({ head: ['site', 'policy here', hub ? 'policy at the spoke' : 'policy at the hub', 'aggregation', 'in', 'out'], style: { head: color ? ['cyan'] : [], border: color ? ['grey'] : [], compact: true } });
  for (const s of r.spokes) {
    const mine = s.mode === 'active-standby' ? `active-standby ${s.primary.join(',')}` : s.mode;
    const peer = s.peerPolicy === null ? c.yellow('not seen') : s.inSync ? c.green(s.peerPolicy) : c.yellow(`${s.peerPolicy} (differs)`);
    sites.push([s.name, mine, peer, aggregation(s, r.tunnels, c), formatRate(s.rxBitsPerSecond), formatRate(s.txBitsPerSecond)]);
  }
  const degraded = r.tunnels.filter((t) => t.degraded).map((t) => `${hub ? `${t.spoke} ` : ''}${t.wan} ${c.yellow('degraded')}: ${t.degradedReason ?? 'no reason recorded'}`);
  const rates = r.intervalSeconds === null ? 'no rates (single sample)' : `rates over ${r.intervalSeconds.toFixed(1)} s`;
  const quality = hub ? '' : `; loss and rtt (median/95th percentile) over the last ${r.tunnels.find((t) => t.quality)?.quality?.short.seconds ?? '-'} s`;
  return `${tunnels.toString()}\n${sites.toString()}\n${degraded.map((d) => `${d}\n`).join('')}${r.role} ${r.time}, ${rates}; in = from the tunnel, out = into it${quality}`;
}

/** "off", or the proxy's state, its connections and the subflows per WAN: "proxy up, 2 conn, subflows wan1 2 wan2 2". */
function aggregation(s: StatusReport['spokes'][number], tunnels: TunnelStatus[], c: Colors): string {
  if (s.aggregate === 'off' || s.proxyUp === null) return 'off';
  const per = tunnels.filter((t) => t.spoke === s.name).map((t) => `${t.wan} ${t.subflows ?? 0}`).join(' ');
  const bytes = s.proxiedBytesUp === null || s.proxiedBytesDown === null ? '' : `, ${formatBytes(s.proxiedBytesUp)} up/${formatBytes(s.proxiedBytesDown)} down`;
  const capped = s.cappedConnections ? `, ${s.cappedConnections} past the cap` : '';
  return `${s.proxyUp ? c.green('proxy up') : c.red('proxy down')}, ${s.proxiedConnections ?? 0} conn${capped}${bytes}, subflows ${per}`;
}

function row(t: TunnelStatus, hub: boolean, c: Colors): string[] {
  const ok = (good: boolean, text: string) => (good ? c.green(text) : c.red(text));
  const ospf = ok(t.ospf.startsWith('Full'), t.ospf);
  const bfd = ok(t.bfd === 'up', t.bfd);
  const ecmp = t.inEcmp ? c.green('yes') : t.degraded ? c.yellow('degraded') : t.role === 'standby' && t.ospf.startsWith('Full') ? 'standby' : c.yellow('no');
  const q = t.quality?.short;
  const loss = q?.lossRatio == null ? '-' : `${(q.lossRatio * 100).toFixed(1)}%`;
  const rtt = q?.rttMedianMs == null ? '-' : `${formatMs(q.rttMedianMs)}/${formatMs(q.rttP95Ms!)}`;
  const cells = [
    ...(hub ? [t.spoke] : []),
    t.wan,
    ...(hub ? [] : [t.dev ?? '', ok(!!t.carrier, t.carrier ? 'up' : 'down'), t.gateway ?? c.red('none')]),
    t.endpoint ?? '-',
    ok(t.handshakeAgeSeconds !== null && t.handshakeAgeSeconds < 180, formatAge(t.handshakeAgeSeconds)),
    t.tap,
    ospf,
    bfd,
    ...(hub ? [] : [loss, rtt]),
    String(t.cost ?? '-'),
    String(t.peerCost ?? '-'),
    ecmp,
    formatRate(t.rxBitsPerSecond),
    formatRate(t.txBitsPerSecond),
    `${formatBytes(t.rxBytes)}/${formatBytes(t.txBytes)}`,
  ];
  return cells;
}
