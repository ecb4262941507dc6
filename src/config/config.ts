import { readFileSync } from 'node:fs';
import { dirname, join, posix } from 'node:path';
import type { z } from 'zod';
import { ConfigError, OspfbondError, EXIT, type ConfigProblem } from '../errors.js';
import { parseIni, encodeIni, type IniDocument } from './ini-file.js';
import { writeFileAtomic } from './fs-safe.js';
import {
  hubIniSchema,
  spokeIniSchema,
  parseEndpoint,
  parseUplinkAllow,
  formatUplinkAllow,
  DAEMON_DEFAULTS,
  type BfdProfileName,
  type UplinkService,
} from './schema.js';
import { maxTunnels } from '../model/addressing.js';
import { policyCheck, type Policy } from '../model/policy.js';

export const DEFAULT_CONFIG = '/etc/ospfbond/ospfbond.ini';
export const MAX_WANS = 16;

export interface Endpoint {
  host: string;
  port: number;
}

export interface HubTunnel {
  wan: string;
  tunnel: number;
  publicKey: string;
  cost: number;
  mtu: number;
  /** The spoke WAN's line rates in Mbit/s, when known: the hub shapes to downMbit. */
  downMbit?: number;
  upMbit?: number;
}
export interface HubSpoke {
  name: string;
  id: number;
  /** How this spoke's WANs are used; the hub keeps it in step with the spoke's own (see policy.ts). */
  policy: Policy;
  wans: HubTunnel[];
}
/** How often `ospfbond daemon` runs each job (30s, 5m, 1h), and where it serves metrics (IPV4:PORT). */
export interface DaemonSettings {
  reconcileEvery: string;
  resolveEvery: string;
  mirrorEvery: string;
  statsEvery: string;
  metricsListen?: string;
}
export interface HubConfig {
  role: 'hub';
  file: string;
  endpoint: Endpoint;
  listenPort: number;
  uplink: string;
  nat: boolean;
  /** What the uplink accepts from the internet besides WireGuard (`any`: no filter but ospfbond's own protocols). */
  uplinkAllow: UplinkService[] | 'any';
  tunnelPool: string;
  privateKeyFile: string;
  publicKey: string;
  bfdProfile: BfdProfileName;
  spokes: HubSpoke[];
  daemon: DaemonSettings;
}

export interface SpokeWan {
  name: string;
  dev: string;
  gw: string; // an IPv4 address or 'dhcp'
  mtu: number;
  tunnel: number;
  hubMtu: number;
  privateKeyFile: string;
  publicKey: string;
  cost: number;
  /** Line rates in Mbit/s, when known: the spoke shapes to upMbit. */
  downMbit?: number;
  upMbit?: number;
}
export interface SpokeConfig {
  role: 'spoke';
  file: string;
  name: string;
  id: number;
  hub: Endpoint & { publicKey: string };
  tunnelPool: string;
  lanDevs: string[];
  bfdProfile: BfdProfileName;
  policy: Policy;
  wans: SpokeWan[];
  daemon: DaemonSettings;
}

export type Config = HubConfig | SpokeConfig;

export function keysDir(configFile: string): string {
  return join(dirname(configFile), 'keys');
}

export function loadConfig(file: string): Config {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new OspfbondError(
      `${file}: cannot read config (${code ?? String(err)})`,
      EXIT.usage,
      code === 'ENOENT' ? 'create it with `ospfbond init hub` or `ospfbond init spoke`, or pass --config FILE' : undefined,
    );
  }
  return parseConfig(file, text);
}

export function parseConfig(file: string, text: string): Config {
  const doc = parseIni(file, text);
  const role = (doc.data.ospfbond as { role?: unknown } | undefined)?.role;
  if (role === 'hub') return toHub(file, doc, check(file, doc, hubIniSchema, hubCrossChecks));
  if (role === 'spoke') return toSpoke(file, doc, check(file, doc, spokeIniSchema, spokeCrossChecks));
  throw new ConfigError([
    { file, line: doc.lineOf('ospfbond', 'role'), key: 'ospfbond.role', message: 'expected role = hub or role = spoke in an [ospfbond] section' },
  ]);
}

type CrossCheck = (file: string, doc: IniDocument) => ConfigProblem[];

/** Schema problems and cross-field problems together: a user fixes the whole file in one go. */
function check<S extends z.ZodType>(file: string, doc: IniDocument, schema: S, cross: CrossCheck): z.output<S> {
  const r = schema.safeParse(doc.data);
  const problems = cross(file, doc);
  if (r.success && problems.length === 0) return r.data;
  for (const issue of r.success ? [] : r.error.issues) {
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
    problems.push({
      file,
      line: doc.lineOf(section, key),
      key: path.join('.'),
      message: missing ? 'missing' : issue.message,
    });
  }
  throw new ConfigError(problems.sort((a, b) => a.line - b.line));
}

function valueAt(data: unknown, path: string[]): unknown {
  let v = data;
  for (const p of path) v = v && typeof v === 'object' ? (v as Record<string, unknown>)[p] : undefined;
  return v;
}

const sections = (v: unknown): [string, Record<string, unknown>][] =>
  v && typeof v === 'object' ? (Object.entries(v).filter(([, x]) => x && typeof x === 'object') as [string, Record<string, unknown>][]) : [];

/** The schema reads `tunnel = 02` as 2 (see int in schema.ts), so the duplicate checks compare numbers, not their spelling. */
const wholeNumber = (v: unknown): unknown => (typeof v === 'string' && /^\s*-?\d+\s*$/.test(v) ? Number(v) : v);

/** Finds values used twice across sections; runs on the raw file, so it reports even when the schema fails. */
function duplicates(file: string, doc: IniDocument, items: { section: string; key: string; value: unknown; owner: string }[], what: (owner: string, v: string) => string): ConfigProblem[] {
  const seen = new Map<string, string>();
  const out: ConfigProblem[] = [];
  for (const it of items) {
    if (typeof it.value !== 'string' && typeof it.value !== 'number') continue;
    const v = String(it.value).trim();
    const prev = seen.get(v);
    if (prev !== undefined) out.push({ file, line: doc.lineOf(it.section, it.key), key: `${it.section}.${it.key}`, message: what(prev, v) });
    else seen.set(v, it.owner);
  }
  return out;
}

/** `/etc/ospfbond/keys//dsl.key` and `/etc/ospfbond/keys/./dsl.key` are one file. */
const keyPath = (v: unknown): unknown => (typeof v === 'string' ? posix.normalize(v.trim()) : v);

/** A WAN's key that is the hub's: the WAN's tunnel would be the hub talking to itself. */
function sameAsHubKey(file: string, doc: IniDocument, hubKey: unknown, hubKeyName: string, wans: { section: string; value: unknown }[]): ConfigProblem[] {
  if (typeof hubKey !== 'string') return [];
  return wans
    .filter((w) => typeof w.value === 'string' && w.value.trim() === hubKey.trim())
    .map((w) => ({ file, line: doc.lineOf(w.section, 'public_key'), key: `${w.section}.public_key`, message: `the hub's key (${hubKeyName}): every WAN needs its own key` }));
}

function hubCrossChecks(file: string, doc: IniDocument): ConfigProblem[] {
  const spokes = sections(doc.data.spoke);
  const tunnels = spokes.flatMap(([name, s]) => sections(s.wan).map(([wan, t]) => ({ name, wan, t })));
  return [
    ...duplicates(file, doc, spokes.map(([name, s]) => ({ section: `spoke.${name}`, key: 'id', value: wholeNumber(s.id), owner: name })), (o, v) => `id ${v} is already spoke ${o}'s`),
    ...duplicates(file, doc, tunnels.map(({ name, wan, t }) => ({ section: `spoke.${name}.wan.${wan}`, key: 'tunnel', value: wholeNumber(t.tunnel), owner: `${name}/${wan}` })), (o, v) => `tunnel ${v} is already ${o}'s`),
    ...duplicates(file, doc, tunnels.map(({ name, wan, t }) => ({ section: `spoke.${name}.wan.${wan}`, key: 'public_key', value: t.public_key, owner: `${name}/${wan}` })), (o) => `same key as ${o}: every WAN needs its own key`),
    ...sameAsHubKey(file, doc, (doc.data.hub as Record<string, unknown> | undefined)?.public_key, 'hub.public_key', tunnels.map(({ name, wan, t }) => ({ section: `spoke.${name}.wan.${wan}`, value: t.public_key }))),
    ...spokes.filter(([, s]) => sections(s.wan).length === 0).map(([name]) => ({ file, line: doc.lineOf(`spoke.${name}`), key: `spoke.${name}`, message: 'has no [spoke.NAME.wan.WAN] section' })),
  ];
}

function spokeCrossChecks(file: string, doc: IniDocument): ConfigProblem[] {
  const wans = sections(doc.data.wan);
  const lanDevs = typeof (doc.data.spoke as Record<string, unknown> | undefined)?.lan_devs === 'string' ? String((doc.data.spoke as Record<string, unknown>).lan_devs).split(',').map((d) => d.trim()) : [];
  const problems = [
    ...duplicates(file, doc, wans.map(([name, w]) => ({ section: `wan.${name}`, key: 'dev', value: w.dev, owner: name })), (o, v) => `device ${v} is already WAN ${o}'s: one device per WAN`),
    ...duplicates(file, doc, wans.map(([name, w]) => ({ section: `wan.${name}`, key: 'tunnel', value: wholeNumber(w.tunnel), owner: name })), (o, v) => `tunnel ${v} is already WAN ${o}'s`),
    ...duplicates(file, doc, wans.map(([name, w]) => ({ section: `wan.${name}`, key: 'private_key_file', value: keyPath(w.private_key_file), owner: name })), (o, v) => `${v} is already WAN ${o}'s key file: every WAN needs its own key`),
    ...duplicates(file, doc, wans.map(([name, w]) => ({ section: `wan.${name}`, key: 'public_key', value: w.public_key, owner: name })), (o) => `same key as WAN ${o}: every WAN needs its own key`),
    ...sameAsHubKey(file, doc, (doc.data.spoke as Record<string, unknown> | undefined)?.hub_public_key, 'spoke.hub_public_key', wans.map(([name, w]) => ({ section: `wan.${name}`, value: w.public_key }))),
    ...wans
      .filter(([, w]) => typeof w.dev === 'string' && lanDevs.includes(w.dev))
      .map(([name, w]) => ({ file, line: doc.lineOf('spoke', 'lan_devs'), key: 'spoke.lan_devs', message: `${String(w.dev)} is WAN ${name}'s device and cannot be a LAN device too` })),
  ];
  if (wans.length === 0) problems.push({ file, line: doc.lineOf('spoke'), key: 'wan', message: 'no [wan.NAME] section: a spoke needs at least one WAN' });
  if (wans.length > MAX_WANS) problems.push({ file, line: doc.lineOf('spoke'), key: 'wan', message: `${wans.length} WANs: at most ${MAX_WANS}` });
  return problems;
}

function toPolicy(mode: 'active-active' | 'active-standby', primary: string[]): Policy {
  return mode === 'active-standby' ? { mode, primary } : { mode };
}

function policyProblems(file: string, doc: IniDocument, section: string, mode: string, primary: string[], wans: string[]): ConfigProblem[] {
  const at = (key: string, message: string) => [{ file, line: doc.lineOf(section, key), key: `${section}.${key}`, message }];
  if (mode === 'active-active') return primary.length ? at('primary', 'primary only applies to mode = active-standby') : [];
  const err = policyCheck({ mode: 'active-standby', primary }, wans);
  return err ? at(primary.length ? 'primary' : 'mode', err) : [];
}

function toDaemon(d: { reconcile_every: string; resolve_every: string; mirror_every: string; stats_every: string; metrics_listen?: string }): DaemonSettings {
  return { reconcileEvery: d.reconcile_every, resolveEvery: d.resolve_every, mirrorEvery: d.mirror_every, statsEvery: d.stats_every, metricsListen: d.metrics_listen };
}

function daemonIni(d: DaemonSettings): Record<string, unknown> {
  return { reconcile_every: d.reconcileEvery, resolve_every: d.resolveEvery, mirror_every: d.mirrorEvery, stats_every: d.statsEvery, metrics_listen: d.metricsListen };
}

export const DEFAULT_DAEMON: DaemonSettings = {
  reconcileEvery: DAEMON_DEFAULTS.reconcile_every,
  resolveEvery: DAEMON_DEFAULTS.resolve_every,
  mirrorEvery: DAEMON_DEFAULTS.mirror_every,
  statsEvery: DAEMON_DEFAULTS.stats_every,
};

function toHub(file: string, doc: IniDocument, ini: z.output<typeof hubIniSchema>): HubConfig {
  const endpoint = parseEndpoint(ini.hub.endpoint) as Endpoint;
  const cfg: HubConfig = {
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
    spokes: Object.entries(ini.spoke).map(([name, s]) => ({
      name,
      id: s.id,
      policy: toPolicy(s.mode, s.primary),
      wans: Object.entries(s.wan).map(([wan, t]) => ({ wan, tunnel: t.tunnel, publicKey: t.public_key, cost: t.cost, mtu: t.mtu, downMbit: t.down_mbit, upMbit: t.up_mbit })),
    })),
  };
  const limit = maxTunnels(cfg.tunnelPool);
  const problems: ConfigProblem[] = Object.entries(ini.spoke).flatMap(([name, s]) => policyProblems(file, doc, `spoke.${name}`, s.mode, s.primary, Object.keys(s.wan)));
  problems.push(...cfg.spokes.flatMap((s) =>
    s.wans
      .filter((t) => t.tunnel > limit)
      .map((t) => {
        const sec = `spoke.${s.name}.wan.${t.wan}`;
        return { file, line: doc.lineOf(sec, 'tunnel'), key: `${sec}.tunnel`, message: `tunnel ${t.tunnel} does not fit tunnel_pool ${cfg.tunnelPool} (at most ${limit})` };
      }),
  ));
  if (problems.length) throw new ConfigError(problems);
  return cfg;
}

function toSpoke(file: string, doc: IniDocument, ini: z.output<typeof spokeIniSchema>): SpokeConfig {
  const endpoint = parseEndpoint(ini.spoke.hub_endpoint) as Endpoint;
  const cfg: SpokeConfig = {
    role: 'spoke',
    file,
    name: ini.spoke.name,
    id: ini.spoke.id,
    hub: { ...endpoint, publicKey: ini.spoke.hub_public_key },
    tunnelPool: ini.spoke.tunnel_pool,
    lanDevs: ini.spoke.lan_devs,
    bfdProfile: ini.spoke.bfd_profile,
    policy: toPolicy(ini.spoke.mode, ini.spoke.primary),
    daemon: toDaemon(ini.daemon),
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
  const limit = maxTunnels(cfg.tunnelPool);
  const problems: ConfigProblem[] = [
    ...policyProblems(file, doc, 'spoke', ini.spoke.mode, ini.spoke.primary, Object.keys(ini.wan)),
    ...cfg.wans
      .filter((w) => w.tunnel > limit)
      .map((w) => ({ file, line: doc.lineOf(`wan.${w.name}`, 'tunnel'), key: `wan.${w.name}.tunnel`, message: `tunnel ${w.tunnel} does not fit tunnel_pool ${cfg.tunnelPool} (at most ${limit})` })),
  ];
  if (problems.length) throw new ConfigError(problems);
  return cfg;
}

function policyIni(p: Policy): Record<string, string | undefined> {
  return { mode: p.mode, primary: p.mode === 'active-standby' ? p.primary.join(',') : undefined };
}

export function renderHubIni(cfg: HubConfig): string {
  const spoke: Record<string, unknown> = {};
  for (const s of cfg.spokes) {
    const wan: Record<string, unknown> = {};
    for (const t of s.wans) wan[t.wan] = { tunnel: t.tunnel, public_key: t.publicKey, cost: t.cost, mtu: t.mtu, down_mbit: t.downMbit, up_mbit: t.upMbit };
    spoke[s.name] = { id: s.id, ...policyIni(s.policy), wan };
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
    },
    wan,
    daemon: daemonIni(cfg.daemon),
  });
}

export function saveConfig(cfg: Config): void {
  writeFileAtomic(cfg.file, cfg.role === 'hub' ? renderHubIni(cfg) : renderSpokeIni(cfg), 0o644);
}
