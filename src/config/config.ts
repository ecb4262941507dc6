import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { z } from 'zod';
import { ConfigError, OspfbondError, EXIT, type ConfigProblem } from '../errors.js';
import { parseIni, encodeIni, type IniDocument } from './ini-file.js';
import { writeFileAtomic } from './fs-safe.js';
import {
  hubIniSchema,
  spokeIniSchema,
  parseEndpoint,
  type BfdProfileName,
} from './schema.js';
import { maxTunnels } from '../model/addressing.js';

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
}
export interface HubSpoke {
  name: string;
  id: number;
  wans: HubTunnel[];
}
export interface HubConfig {
  role: 'hub';
  file: string;
  endpoint: Endpoint;
  listenPort: number;
  uplink: string;
  nat: boolean;
  tunnelPool: string;
  privateKeyFile: string;
  publicKey: string;
  bfdProfile: BfdProfileName;
  spokes: HubSpoke[];
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
  wans: SpokeWan[];
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
  const doc = parseIni(text);
  const role = (doc.data.ospfbond as { role?: unknown } | undefined)?.role;
  if (role === 'hub') return toHub(file, doc, check(file, doc, hubIniSchema));
  if (role === 'spoke') return toSpoke(file, doc, check(file, doc, spokeIniSchema));
  throw new ConfigError([
    { file, line: doc.lineOf('ospfbond', 'role'), key: 'ospfbond.role', message: 'expected role = hub or role = spoke in an [ospfbond] section' },
  ]);
}

function check<S extends z.ZodType>(file: string, doc: IniDocument, schema: S): z.output<S> {
  const r = schema.safeParse(doc.data);
  if (r.success) return r.data;
  const problems: ConfigProblem[] = [];
  for (const issue of r.error.issues) {
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
    const missing = issue.code === 'invalid_type' && issue.input === undefined;
    problems.push({
      file,
      line: doc.lineOf(section, key),
      key: path.join('.'),
      message: missing ? 'missing' : issue.message,
    });
  }
  throw new ConfigError(problems.sort((a, b) => a.line - b.line));
}

function toHub(file: string, doc: IniDocument, ini: z.output<typeof hubIniSchema>): HubConfig {
  const endpoint = parseEndpoint(ini.hub.endpoint) as Endpoint;
  const cfg: HubConfig = {
    role: 'hub',
    file,
    endpoint,
    listenPort: ini.hub.listen_port ?? endpoint.port,
    uplink: ini.hub.uplink,
    nat: ini.hub.nat,
    tunnelPool: ini.hub.tunnel_pool,
    privateKeyFile: ini.hub.private_key_file,
    publicKey: ini.hub.public_key,
    bfdProfile: ini.hub.bfd_profile,
    spokes: Object.entries(ini.spoke).map(([name, s]) => ({
      name,
      id: s.id,
      wans: Object.entries(s.wan).map(([wan, t]) => ({ wan, tunnel: t.tunnel, publicKey: t.public_key, cost: t.cost, mtu: t.mtu })),
    })),
  };
  const problems: ConfigProblem[] = [];
  const ids = new Map<number, string>();
  const tunnels = new Map<number, string>();
  const keys = new Map<string, string>();
  const limit = maxTunnels(cfg.tunnelPool);
  for (const s of cfg.spokes) {
    const sec = `spoke.${s.name}`;
    const other = ids.get(s.id);
    if (other) problems.push({ file, line: doc.lineOf(sec, 'id'), key: `${sec}.id`, message: `id ${s.id} is already spoke ${other}'s` });
    ids.set(s.id, s.name);
    if (s.wans.length === 0) problems.push({ file, line: doc.lineOf(sec), key: sec, message: 'has no [spoke.NAME.wan.WAN] section' });
    for (const t of s.wans) {
      const tsec = `${sec}.wan.${t.wan}`;
      const where = `${s.name}/${t.wan}`;
      const prev = tunnels.get(t.tunnel);
      if (prev) problems.push({ file, line: doc.lineOf(tsec, 'tunnel'), key: `${tsec}.tunnel`, message: `tunnel ${t.tunnel} is already ${prev}'s` });
      if (t.tunnel > limit) problems.push({ file, line: doc.lineOf(tsec, 'tunnel'), key: `${tsec}.tunnel`, message: `tunnel ${t.tunnel} does not fit tunnel_pool ${cfg.tunnelPool} (at most ${limit})` });
      const keyOwner = keys.get(t.publicKey);
      if (keyOwner) problems.push({ file, line: doc.lineOf(tsec, 'public_key'), key: `${tsec}.public_key`, message: `same key as ${keyOwner}: every WAN needs its own key` });
      tunnels.set(t.tunnel, where);
      keys.set(t.publicKey, where);
    }
  }
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
    })),
  };
  const problems: ConfigProblem[] = [];
  if (cfg.wans.length === 0) problems.push({ file, line: doc.lineOf('spoke'), key: 'wan', message: 'no [wan.NAME] section: a spoke needs at least one WAN' });
  if (cfg.wans.length > MAX_WANS) problems.push({ file, line: doc.lineOf('spoke'), key: 'wan', message: `${cfg.wans.length} WANs: at most ${MAX_WANS}` });
  const devs = new Map<string, string>();
  const tunnels = new Map<number, string>();
  const limit = maxTunnels(cfg.tunnelPool);
  for (const w of cfg.wans) {
    const sec = `wan.${w.name}`;
    const prev = devs.get(w.dev);
    if (prev) problems.push({ file, line: doc.lineOf(sec, 'dev'), key: `${sec}.dev`, message: `device ${w.dev} is already WAN ${prev}'s: one device per WAN` });
    devs.set(w.dev, w.name);
    const prevT = tunnels.get(w.tunnel);
    if (prevT) problems.push({ file, line: doc.lineOf(sec, 'tunnel'), key: `${sec}.tunnel`, message: `tunnel ${w.tunnel} is already WAN ${prevT}'s` });
    tunnels.set(w.tunnel, w.name);
    if (w.tunnel > limit) problems.push({ file, line: doc.lineOf(sec, 'tunnel'), key: `${sec}.tunnel`, message: `tunnel ${w.tunnel} does not fit tunnel_pool ${cfg.tunnelPool}` });
    if (cfg.lanDevs.includes(w.dev)) problems.push({ file, line: doc.lineOf('spoke', 'lan_devs'), key: 'spoke.lan_devs', message: `${w.dev} is WAN ${w.name}'s device and cannot be a LAN device too` });
  }
  if (problems.length) throw new ConfigError(problems);
  return cfg;
}

export function renderHubIni(cfg: HubConfig): string {
  const spoke: Record<string, unknown> = {};
  for (const s of cfg.spokes) {
    const wan: Record<string, unknown> = {};
    for (const t of s.wans) wan[t.wan] = { tunnel: t.tunnel, public_key: t.publicKey, cost: t.cost, mtu: t.mtu };
    spoke[s.name] = { id: s.id, wan };
  }
  return encodeIni('ospfbond hub configuration. Written by `ospfbond init hub` and `ospfbond hub add-spoke`;\nedit it, then run `ospfbond apply`.', {
    ospfbond: { role: 'hub' },
    hub: {
      endpoint: `${cfg.endpoint.host}:${cfg.endpoint.port}`,
      listen_port: cfg.listenPort,
      uplink: cfg.uplink,
      nat: cfg.nat,
      tunnel_pool: cfg.tunnelPool,
      private_key_file: cfg.privateKeyFile,
      public_key: cfg.publicKey,
      bfd_profile: cfg.bfdProfile,
    },
    spoke,
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
    },
    wan,
  });
}

export function saveConfig(cfg: Config): void {
  writeFileAtomic(cfg.file, cfg.role === 'hub' ? renderHubIni(cfg) : renderSpokeIni(cfg), 0o644);
}
