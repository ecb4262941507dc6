import { writeFileAtomic } from '../base/files.js';
import { DEFAULT_AGGREGATE_CONNECTIONS, formatExclude } from '../model/aggregate.js';
import type { Policy } from '../model/policy.js';
import { DEFAULT_QUALITY, type QualitySettings } from '../model/quality.js';
import { DEFAULT_DUPLICATE, formatPorts, type RealtimeSettings } from '../model/realtime.js';
import { encodeIni } from './ini-file.js';
import { formatUplinkAllow } from './schema.js';
import type { Config, DaemonSettings, HubConfig, SpokeConfig } from './types.js';

/** The INI text of a config, which load.ts reads back to the same config. */

function daemonIni(d: DaemonSettings): Record<string, unknown> {
  return { reconcile_every: d.reconcileEvery, resolve_every: d.resolveEvery, mirror_every: d.mirrorEvery, stats_every: d.statsEvery, metrics_listen: d.metricsListen };
}

/** Only what differs from the defaults, so a config written before [quality] existed reads the same. */
function qualityIni(q: QualitySettings): Record<string, unknown> | undefined {
  const keys = { steer: 'steer', probeRate: 'probe_rate', lossPercent: 'loss_percent', rttMs: 'rtt_ms', holdDownSeconds: 'hold_down' } as const;
  const out = Object.fromEntries(
    (Object.keys(keys) as (keyof QualitySettings)[]).filter((k) => q[k] !== DEFAULT_QUALITY[k]).map((k) => [keys[k], k === 'holdDownSeconds' ? `${q[k]}s` : q[k]]),
  );
  return Object.keys(out).length ? out : undefined;
}

/** Written only where it differs from the defaults, so a config that never asked for it stays as it was. */
function realtimeIni(r: RealtimeSettings): Record<string, unknown> | undefined {
  if (r.duplicate === DEFAULT_DUPLICATE && r.udpPorts.length === 0) return undefined;
  return { duplicate: r.duplicate, udp_ports: r.udpPorts.length ? formatPorts(r.udpPorts) : undefined };
}

function policyIni(p: Policy): Record<string, string | undefined> {
  return { mode: p.mode, primary: p.mode === 'active-standby' ? p.primary.join(',') : undefined };
}

export function renderHubIni(cfg: HubConfig): string {
  const spoke: Record<string, unknown> = {};
  for (const s of cfg.spokes) {
    const wan: Record<string, unknown> = {};
    for (const t of s.wans) wan[t.wan] = { tunnel: t.tunnel, public_key: t.publicKey, cost: t.cost, mtu: t.mtu, down_mbit: t.downMbit, up_mbit: t.upMbit };
    spoke[s.name] = { id: s.id, ...policyIni(s.policy), aggregate: s.aggregate, wan };
  }
  return encodeIni('ospfbond hub configuration. Written by `ospfbond init hub` and `ospfbond hub add-spoke`;\nedit it, then run `ospfbond apply`.', {
    ospfbond: { role: 'hub' },
    hub: {
      endpoint: `${cfg.endpoint.host}:${cfg.endpoint.port}`,
      listen_port: cfg.listenPort,
      uplink: cfg.uplink,
      nat: cfg.nat,
      uplink_allow: formatUplinkAllow(cfg.uplinkAllow),
      tunnel_pool: cfg.tunnelPool,
      private_key_file: cfg.privateKeyFile,
      public_key: cfg.publicKey,
      bfd_profile: cfg.bfdProfile,
    },
    spoke,
    daemon: daemonIni(cfg.daemon),
    realtime: realtimeIni(cfg.realtime),
  });
}

export function renderSpokeIni(cfg: SpokeConfig): string {
  const wan: Record<string, unknown> = {};
  for (const w of cfg.wans) {
    wan[w.name] = {
      dev: w.dev,
      gw: w.gw,
      mtu: w.mtu,
      tunnel: w.tunnel,
      hub_mtu: w.hubMtu,
      private_key_file: w.privateKeyFile,
      public_key: w.publicKey,
      cost: w.cost,
      down_mbit: w.downMbit,
      up_mbit: w.upMbit,
    };
  }
  return encodeIni('ospfbond spoke configuration. Written by `ospfbond init spoke`; edit it, then run `ospfbond apply`.', {
    ospfbond: { role: 'spoke' },
    spoke: {
      name: cfg.name,
      id: cfg.id,
      hub_endpoint: `${cfg.hub.host}:${cfg.hub.port}`,
      hub_public_key: cfg.hub.publicKey,
      tunnel_pool: cfg.tunnelPool,
      lan_devs: cfg.lanDevs.join(','),
      bfd_profile: cfg.bfdProfile,
      ...policyIni(cfg.policy),
      aggregate: cfg.aggregate,
      aggregate_exclude: cfg.aggregateExclude.length ? formatExclude(cfg.aggregateExclude) : undefined,
      aggregate_connections: cfg.aggregateConnections === DEFAULT_AGGREGATE_CONNECTIONS ? undefined : cfg.aggregateConnections,
    },
    wan,
    quality: qualityIni(cfg.quality),
    daemon: daemonIni(cfg.daemon),
    realtime: realtimeIni(cfg.realtime),
  });
}

export function saveConfig(cfg: Config): void {
  writeFileAtomic(cfg.file, cfg.role === 'hub' ? renderHubIni(cfg) : renderSpokeIni(cfg), 0o644);
}
