import { readFileSync, statSync } from 'node:fs';
import type { z } from 'zod';
import { ConfigError, OspfbondError, EXIT, type ConfigProblem } from '../base/errors.js';
import { parseExclude, type ExcludeItem } from '../model/aggregate.js';
import type { Policy } from '../model/policy.js';
import { parsePorts, type PortRange, type RealtimeSettings } from '../model/realtime.js';
import { parseIni, type IniDocument } from './ini-file.js';
import { hubIniSchema, spokeIniSchema, parseEndpoint, parseUplinkAllow, type HubIni, type SpokeIni } from './schema.js';
import { hubChecks, spokeChecks } from './checks.js';
import type { Config, DaemonSettings, Endpoint, HubConfig, SpokeConfig, UplinkService } from './types.js';

export function loadConfig(file: string): Config {
  return parseConfig(file, configText(file));
}

function configText(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new OspfbondError(
      `${file}: cannot read config (${code ?? String(err)})`,
      EXIT.usage,
      code === 'ENOENT' ? 'create it with `ospfbond init hub` or `ospfbond init spoke`, or pass --config FILE' : undefined,
    );
  }
}

/**
 * loadConfig for the daemon, whose jobs take the config several times a second: the file is read
 * each time and parsed again only when its text changed (the parse and the schema were 14 % of
 * the daemon's own CPU at rest in a profile of a 4-WAN spoke). Each call gets its own copy: a
 * job may change its config (the mirror job adopts the other end's policy) without changing the
 * next job's.
 */
export function configReader(): (file: string) => Config {
  const parsed = new Map<string, { stamp: string; text: string; config: Config }>();
  return (file) => {
    // The file's inode, size and times say whether it may have changed: one stat instead of a
    // read, several times a second. A file replaced or edited changes its ctime at least.
    let stamp = '';
    try {
      const st = statSync(file, { bigint: true });
      stamp = `${st.ino} ${st.size} ${st.mtimeNs} ${st.ctimeNs}`;
    } catch {
      // configText says what is wrong.
    }
    let last = parsed.get(file);
    if (!stamp || last?.stamp !== stamp) {
      const text = configText(file);
      if (last?.text !== text) last = { stamp, text, config: parseConfig(file, text) };
      else last = { ...last, stamp };
      parsed.set(file, last);
    }
    return structuredClone(last.config);
  };
}

/** The config in `text`, or a ConfigError listing every problem of the file, sorted by line. */
export function parseConfig(file: string, text: string): Config {
  const doc = parseIni(file, text);
  const role = (doc.data.ospfbond as { role?: unknown } | undefined)?.role;
  if (role === 'hub') return toHub(file, check(file, doc, hubIniSchema, hubChecks));
  if (role === 'spoke') return toSpoke(file, check(file, doc, spokeIniSchema, spokeChecks));
  throw new ConfigError([
    { file, line: doc.lineOf('ospfbond', 'role'), key: 'ospfbond.role', message: 'expected role = hub or role = spoke in an [ospfbond] section' },
  ]);
}

/** The schema's problems and the cross-checks' together, in one pass over the file. */
function check<S extends z.ZodType>(file: string, doc: IniDocument, schema: S, crossChecks: (file: string, doc: IniDocument) => ConfigProblem[]): z.output<S> {
  const r = schema.safeParse(doc.data);
  const problems = [...(r.success ? [] : schemaProblems(file, doc, r.error.issues)), ...crossChecks(file, doc)];
  if (r.success && problems.length === 0) return r.data;
  throw new ConfigError(problems.sort((a, b) => a.line - b.line));
}

function schemaProblems(file: string, doc: IniDocument, issues: z.core.$ZodIssue[]): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  for (const issue of issues) {
    const path = issue.path.map(String);
    if (issue.code === 'unrecognized_keys') {
      const section = path.join('.');
      for (const key of issue.keys) {
        const isSection = typeof (doc.data as Record<string, unknown>)[key] === 'object' && path.length === 0;
        problems.push({
          file,
          line: isSection ? doc.lineOf(key) : doc.lineOf(section, key),
          key: section ? `${section}.${key}` : key,
          message: isSection ? 'unknown section' : 'unknown key',
        });
      }
      continue;
    }
    const key = path.at(-1) ?? '';
    const section = path.slice(0, -1).join('.');
    const missing = issue.code === 'invalid_type' && valueAt(doc.data, path) === undefined;
    problems.push({ file, line: doc.lineOf(section, key), key: path.join('.'), message: missing ? 'missing' : issue.message });
  }
  return problems;
}

function valueAt(data: unknown, path: string[]): unknown {
  let v = data;
  for (const p of path) v = v && typeof v === 'object' ? (v as Record<string, unknown>)[p] : undefined;
  return v;
}

function toPolicy(mode: 'active-active' | 'active-standby', primary: string[]): Policy {
  return mode === 'active-standby' ? { mode, primary } : { mode };
}

function toDaemon(d: HubIni['daemon']): DaemonSettings {
  return { reconcileEvery: d.reconcile_every, resolveEvery: d.resolve_every, mirrorEvery: d.mirror_every, statsEvery: d.stats_every, metricsListen: d.metrics_listen };
}

function toRealtime(r: HubIni['realtime']): RealtimeSettings {
  return { duplicate: r.duplicate, udpPorts: parsePorts(r.udp_ports) as PortRange[] };
}

function toHub(file: string, ini: HubIni): HubConfig {
  const endpoint = parseEndpoint(ini.hub.endpoint) as Endpoint;
  return {
    role: 'hub',
    file,
    endpoint,
    listenPort: ini.hub.listen_port ?? endpoint.port,
    uplink: ini.hub.uplink,
    nat: ini.hub.nat,
    uplinkAllow: parseUplinkAllow(ini.hub.uplink_allow) as UplinkService[] | 'any',
    tunnelPool: ini.hub.tunnel_pool,
    privateKeyFile: ini.hub.private_key_file,
    publicKey: ini.hub.public_key,
    bfdProfile: ini.hub.bfd_profile,
    daemon: toDaemon(ini.daemon),
    realtime: toRealtime(ini.realtime),
    spokes: Object.entries(ini.spoke).map(([name, s]) => ({
      name,
      id: s.id,
      policy: toPolicy(s.mode, s.primary),
      aggregate: s.aggregate,
      wans: Object.entries(s.wan).map(([wan, t]) => ({ wan, tunnel: t.tunnel, publicKey: t.public_key, cost: t.cost, mtu: t.mtu, downMbit: t.down_mbit, upMbit: t.up_mbit })),
    })),
  };
}

function toSpoke(file: string, ini: SpokeIni): SpokeConfig {
  const endpoint = parseEndpoint(ini.spoke.hub_endpoint) as Endpoint;
  return {
    role: 'spoke',
    file,
    name: ini.spoke.name,
    id: ini.spoke.id,
    hub: { ...endpoint, publicKey: ini.spoke.hub_public_key },
    tunnelPool: ini.spoke.tunnel_pool,
    lanDevs: ini.spoke.lan_devs,
    bfdProfile: ini.spoke.bfd_profile,
    policy: toPolicy(ini.spoke.mode, ini.spoke.primary),
    aggregate: ini.spoke.aggregate,
    aggregateExclude: parseExclude(ini.spoke.aggregate_exclude) as ExcludeItem[],
    aggregateConnections: ini.spoke.aggregate_connections,
    quality: { steer: ini.quality.steer, probeRate: ini.quality.probe_rate, lossPercent: ini.quality.loss_percent, rttMs: ini.quality.rtt_ms, holdDownSeconds: ini.quality.hold_down },
    daemon: toDaemon(ini.daemon),
    realtime: toRealtime(ini.realtime),
    wans: Object.entries(ini.wan).map(([name, w]) => ({
      name,
      dev: w.dev,
      gw: w.gw,
      mtu: w.mtu,
      tunnel: w.tunnel,
      hubMtu: w.hub_mtu,
      privateKeyFile: w.private_key_file,
      publicKey: w.public_key,
      cost: w.cost,
      downMbit: w.down_mbit,
      upMbit: w.up_mbit,
    })),
  };
}
