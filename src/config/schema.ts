import { z } from 'zod';
import { Address4 } from 'ip-address';
import { isIP } from 'node:net';
import { AGGREGATE_CONNECTIONS_RANGE, AGGREGATE_MODES, DEFAULT_AGGREGATE, DEFAULT_AGGREGATE_CONNECTIONS, parseExclude } from '../model/aggregate.js';
import { MAX_WAN_COST, MODES } from '../model/policy.js';
import { DEFAULT_QUALITY, HOLD_DOWN_SECONDS, LOSS_PERCENT, PROBE_RATE, RTT_MS } from '../model/quality.js';
import { DEFAULT_DUPLICATE, parsePorts } from '../model/realtime.js';
import {
  BFD_PROFILE_NAMES,
  DEFAULT_COST,
  DEFAULT_POOL,
  DEFAULT_PORT,
  DEFAULT_UPLINK_ALLOW,
  DEFAULT_WAN_MTU,
  IFNAME,
  MBIT,
  PORT,
  SPOKE_ID,
  SPOKE_NAME,
  SPOKE_NAME_RULE,
  TUNNEL,
  WAN_MTU,
  WAN_NAME,
  WAN_NAME_RULE,
  WG_KEY,
} from '../model/limits.js';
import type { DaemonSettings, Endpoint, UplinkService } from './types.js';

/** The INI schema (zod) and the parsers of single values that the flags of `init` share with it. */

const wgKey = z.string().regex(WG_KEY, 'not a WireGuard public key (44 characters of base64)');
const ifname = z.string().regex(IFNAME, 'not a Linux interface name (1-15 characters)');
/** `tunnel = 02` reads as 2; checks.ts compares such values as numbers for the same reason. */
export const wholeNumber = (v: unknown): unknown => (typeof v === 'string' && /^\s*-?\d+\s*$/.test(v) ? Number(v) : v);
const int = (range: { min: number; max: number }) =>
  z.preprocess(wholeNumber, z.number({ error: `expected a whole number from ${range.min} to ${range.max}` }).int().min(range.min).max(range.max));
const MBIT_TEXT = /^\d+(\.\d+)?$/;
/** A rate written as text (command line, INI), or undefined when it is not one in range. */
export function parseMbit(text: string): number | undefined {
  const r = Number(text);
  return MBIT_TEXT.test(text) && r >= MBIT.min && r <= MBIT.max ? r : undefined;
}
export const mbitNumber = z.number({ error: 'expected a rate in Mbit/s, such as 50 or 7.5' }).min(MBIT.min, `below ${MBIT.min} Mbit/s`).max(MBIT.max, `above ${MBIT.max} Mbit/s`);
const mbit = z.preprocess((v) => (typeof v === 'string' && MBIT_TEXT.test(v.trim()) ? Number(v) : v), mbitNumber);
const bool = z.preprocess(
  (v) => (v === 'yes' || v === 'on' ? true : v === 'no' || v === 'off' ? false : v),
  z.boolean({ error: 'expected true or false' }),
);
const bfdProfile = z.enum(BFD_PROFILE_NAMES, { error: `expected one of ${BFD_PROFILE_NAMES.join(', ')}` });
const ipv4 = z.string().refine((s) => isIP(s) === 4, 'not an IPv4 address');
/** A value checked by a parser that returns its error message (undefined: fine). */
const checked = (problem: (s: string) => string | undefined) =>
  z.string().superRefine((s, ctx) => {
    const err = problem(s);
    if (err) ctx.addIssue({ code: 'custom', message: err });
  });

export function checkPool(s: string): string | undefined {
  if (!Address4.isValid(s) || !s.includes('/')) return 'not an IPv4 CIDR such as 10.255.0.0/16';
  const a = new Address4(s);
  if (a.subnetMask > 24) return 'too small: the tunnel pool needs at least a /24 (8 addresses per tunnel)';
  if (a.startAddress().address !== a.addressMinusSuffix) return `not a network address (did you mean ${a.startAddress().address}/${a.subnetMask}?)`;
  return undefined;
}

const inPortRange = (port: number) => port >= PORT.min && port <= PORT.max;

/** `host[:port]`: a DNS name or IPv4 address. The name is kept, not only what it resolves to. */
export function parseEndpoint(s: string): Endpoint | string {
  const m = /^([A-Za-z0-9.-]+)(?::(\d{1,5}))?$/.exec(s.trim());
  if (!m) return 'expected HOST[:PORT], a DNS name or IPv4 address with an optional UDP port';
  const port = m[2] === undefined ? DEFAULT_PORT : Number(m[2]);
  if (!inPortRange(port)) return `port out of range ${PORT.min}-${PORT.max}`;
  const host = m[1]!;
  if (/^[\d.]+$/.test(host) && isIP(host) !== 4) return `${host} is not an IPv4 address`;
  return { host, port };
}
/** `uplink_allow`: `none`, `any` (no filter beyond ospfbond's own protocols), or a list of PROTO/PORT. */
export function parseUplinkAllow(s: string): UplinkService[] | 'any' | { error: string } {
  const v = s.trim();
  if (v === 'any') return 'any';
  if (v === 'none' || v === '') return [];
  const out: UplinkService[] = [];
  for (const item of v.split(',').map((x) => x.trim())) {
    const m = /^(tcp|udp)\/(\d{1,5})$/.exec(item);
    if (!m || !inPortRange(Number(m[2]))) return { error: `${item}: expected PROTO/PORT such as tcp/22 or udp/53 (comma-separated), none, or any` };
    out.push({ proto: m[1] as 'tcp' | 'udp', port: Number(m[2]) });
  }
  return out;
}

/** `uplink_allow` as the config writes it; parseUplinkAllow reads it back. */
export function formatUplinkAllow(allow: UplinkService[] | 'any'): string {
  if (allow === 'any') return 'any';
  return allow.length ? allow.map((a) => `${a.proto}/${a.port}`).join(',') : 'none';
}
const uplinkAllow = checked((s) => {
  const r = parseUplinkAllow(s);
  return typeof r === 'object' && 'error' in r ? r.error : undefined;
});
const endpoint = checked((s) => {
  const r = parseEndpoint(s);
  return typeof r === 'string' ? r : undefined;
});
const pool = checked(checkPool);

/**
 * Daemon job intervals, written as 30s, 5m or 1h. node-cron runs them on the clock, so an interval
 * must divide a minute, an hour or a day evenly.
 */
const INTERVAL = /^(\d+)\s*(s|m|h)$/;
export function intervalCron(text: string): string | undefined {
  const m = INTERVAL.exec(text.trim());
  if (!m) return undefined;
  const n = Number(m[1]);
  const divides = (whole: number) => n >= 1 && n <= whole && whole % n === 0;
  if (m[2] === 's') return divides(60) ? (n === 60 ? '0 * * * * *' : `*/${n} * * * * *`) : undefined;
  if (m[2] === 'm') return divides(60) ? (n === 60 ? '0 0 * * * *' : `0 */${n} * * * *`) : undefined;
  return divides(24) ? (n === 24 ? '0 0 0 * * *' : `0 0 */${n} * * *`) : undefined;
}
/** A valid interval given in seconds (`5s`), as a number of seconds; undefined for any other. */
export function intervalSeconds(text: string): number | undefined {
  const m = INTERVAL.exec(text.trim());
  return m?.[2] === 's' && intervalCron(text) !== undefined ? Number(m[1]) : undefined;
}
const interval = (dflt: string) =>
  z
    .string()
    .refine((s) => intervalCron(s) !== undefined, 'expected an interval such as 5s, 30s, 5m or 1h that divides a minute, an hour or a day evenly')
    .default(dflt);
/** `ADDRESS:PORT` for the metrics listener: a local IPv4 address, so metrics are not served to the internet by accident. */
const listen = z.string().refine((s) => {
  const m = /^([\d.]+):(\d{1,5})$/.exec(s.trim());
  return !!m && isIP(m[1]!) === 4 && inPortRange(Number(m[2]));
}, 'expected IPV4:PORT, such as 127.0.0.1:9474');
export const DAEMON_DEFAULTS = { reconcile_every: '30s', resolve_every: '5m', mirror_every: '1s', stats_every: '1m' } as const;
export const DEFAULT_DAEMON: DaemonSettings = {
  reconcileEvery: DAEMON_DEFAULTS.reconcile_every,
  resolveEvery: DAEMON_DEFAULTS.resolve_every,
  mirrorEvery: DAEMON_DEFAULTS.mirror_every,
  statsEvery: DAEMON_DEFAULTS.stats_every,
};
const daemonSection = z
  .strictObject({
    reconcile_every: interval(DAEMON_DEFAULTS.reconcile_every),
    resolve_every: interval(DAEMON_DEFAULTS.resolve_every),
    mirror_every: interval(DAEMON_DEFAULTS.mirror_every),
    stats_every: interval(DAEMON_DEFAULTS.stats_every),
    metrics_listen: listen.optional(),
  })
  .default(DAEMON_DEFAULTS);

/** `30s`, `2m` or a number of seconds, as whole seconds; undefined when it is none of those. */
export function parseSeconds(text: string): number | undefined {
  const m = /^(\d+)\s*(s|m)?$/.exec(text.trim());
  return m ? Number(m[1]) * (m[2] === 'm' ? 60 : 1) : undefined;
}
const holdDown = z
  .preprocess((v) => (typeof v === 'string' ? (parseSeconds(v) ?? v) : v), z.number({ error: 'expected a time such as 30s or 2m' }).int())
  .refine((n) => n >= HOLD_DOWN_SECONDS.min && n <= HOLD_DOWN_SECONDS.max, `expected ${HOLD_DOWN_SECONDS.min}s to ${HOLD_DOWN_SECONDS.max / 60}m`);
const percent = z.preprocess(
  (v) => (typeof v === 'string' && /^\s*\d+(\.\d+)?\s*%?\s*$/.test(v) ? Number(v.replace('%', '')) : v),
  z.number({ error: `expected a percentage from ${LOSS_PERCENT.min} to ${LOSS_PERCENT.max}` }).min(LOSS_PERCENT.min, `below ${LOSS_PERCENT.min} %`).max(LOSS_PERCENT.max, `above ${LOSS_PERCENT.max} %`),
);
/** Link quality and steering (model/quality.ts): only a site has it; the hub follows the site's costs. */
const qualitySection = z
  .strictObject({
    steer: bool.default(DEFAULT_QUALITY.steer),
    probe_rate: int(PROBE_RATE).default(DEFAULT_QUALITY.probeRate),
    loss_percent: percent.default(DEFAULT_QUALITY.lossPercent),
    rtt_ms: int(RTT_MS).default(DEFAULT_QUALITY.rttMs),
    hold_down: holdDown.default(DEFAULT_QUALITY.holdDownSeconds),
  })
  .default({ steer: DEFAULT_QUALITY.steer, probe_rate: DEFAULT_QUALITY.probeRate, loss_percent: DEFAULT_QUALITY.lossPercent, rtt_ms: DEFAULT_QUALITY.rttMs, hold_down: DEFAULT_QUALITY.holdDownSeconds });

/** `[realtime]`, the same in both files: each end duplicates what it sends (docs/realtime.md). */
const udpPorts = checked((s) => {
  const r = parsePorts(s);
  return 'error' in r ? r.error : undefined;
});
const realtimeSection = z.strictObject({ duplicate: bool.default(DEFAULT_DUPLICATE), udp_ports: udpPorts.default('') }).default({ duplicate: DEFAULT_DUPLICATE, udp_ports: '' });

const roleSection = (role: 'hub' | 'spoke') => z.strictObject({ role: z.literal(role, { error: `expected role = ${role}` }) });

const tunnel = int(TUNNEL);
const wanMtu = int(WAN_MTU).default(DEFAULT_WAN_MTU);
const cost = int({ min: 1, max: MAX_WAN_COST }).default(DEFAULT_COST);
const spokeId = int(SPOKE_ID);
const keyFile = z.string().startsWith('/', 'expected an absolute path');

const hubTunnel = z.strictObject({
  tunnel,
  public_key: wgKey,
  cost,
  mtu: wanMtu,
  /** The spoke WAN's download rate: the hub shapes what it sends into this tunnel to it. */
  down_mbit: mbit.optional(),
  up_mbit: mbit.optional(),
});
const mode = z.enum(MODES, { error: `expected one of ${MODES.join(', ')}` }).default('active-active');
/** `a, b,c` as a list; checks.ts reads `primary` the same way. */
export const splitList = (v: unknown): unknown => (typeof v === 'string' ? v.split(',').map((s) => s.trim()).filter(Boolean) : v);
const nameList = z.preprocess(splitList, z.array(z.string()));
const wanSections = <T extends z.ZodType>(section: T) => z.record(z.string().regex(WAN_NAME, WAN_NAME_RULE), section);

const aggregate = z.enum(AGGREGATE_MODES, { error: `expected one of ${AGGREGATE_MODES.join(', ')}` }).default(DEFAULT_AGGREGATE);
const aggregateExclude = checked((s) => {
  const r = parseExclude(s);
  return 'error' in r ? r.error : undefined;
}).default('');

const hubSpoke = z.strictObject({
  id: spokeId,
  mode,
  primary: nameList.default([]),
  aggregate,
  wan: wanSections(hubTunnel),
});

export const hubIniSchema = z.strictObject({
  ospfbond: roleSection('hub'),
  hub: z.strictObject({
    endpoint,
    listen_port: int(PORT).optional(),
    uplink: ifname,
    nat: bool.default(true),
    uplink_allow: uplinkAllow.default(DEFAULT_UPLINK_ALLOW),
    tunnel_pool: pool.default(DEFAULT_POOL),
    private_key_file: keyFile,
    public_key: wgKey,
    bfd_profile: bfdProfile.default('fast'),
  }),
  spoke: z.record(z.string().regex(SPOKE_NAME, SPOKE_NAME_RULE), hubSpoke).default({}),
  daemon: daemonSection,
  realtime: realtimeSection,
});

const spokeWan = z.strictObject({
  dev: ifname,
  gw: z.union([z.literal('dhcp'), ipv4], { error: 'expected an IPv4 gateway address or dhcp' }),
  mtu: wanMtu,
  tunnel,
  hub_mtu: wanMtu,
  private_key_file: keyFile,
  public_key: wgKey,
  cost,
  down_mbit: mbit.optional(),
  /** This WAN's upload rate: the spoke shapes what it sends into the tunnel to it. */
  up_mbit: mbit.optional(),
});

const devList = z.preprocess(splitList, z.array(ifname));

export const spokeIniSchema = z.strictObject({
  ospfbond: roleSection('spoke'),
  spoke: z.strictObject({
    name: z.string().regex(SPOKE_NAME),
    id: spokeId,
    hub_endpoint: endpoint,
    hub_public_key: wgKey,
    tunnel_pool: pool.default(DEFAULT_POOL),
    lan_devs: devList.default([]),
    bfd_profile: bfdProfile.default('fast'),
    mode,
    primary: nameList.default([]),
    aggregate,
    aggregate_exclude: aggregateExclude,
    aggregate_connections: int(AGGREGATE_CONNECTIONS_RANGE).default(DEFAULT_AGGREGATE_CONNECTIONS),
  }),
  wan: wanSections(spokeWan),
  quality: qualitySection,
  daemon: daemonSection,
  realtime: realtimeSection,
});

export type HubIni = z.infer<typeof hubIniSchema>;
export type SpokeIni = z.infer<typeof spokeIniSchema>;
