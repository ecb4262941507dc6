import { z } from 'zod';
import { Address4 } from 'ip-address';
import { isIP } from 'node:net';
import { MAX_WAN_COST, MODES } from '../model/policy.js';

export const BFD_PROFILES = {
  fast: { intervalMs: 100, multiplier: 3 },
  aggressive: { intervalMs: 50, multiplier: 3 },
  relaxed: { intervalMs: 300, multiplier: 3 },
} as const;
export type BfdProfileName = keyof typeof BFD_PROFILES;

export const DEFAULT_PORT = 51820;
export const DEFAULT_POOL = '10.255.0.0/16';
export const DEFAULT_COST = 10;
export const DEFAULT_WAN_MTU = 1500;
/** Interface names are built from WAN names (`obw-NAME`), and Linux allows 15 characters. */
export const WAN_NAME = /^[a-z][a-z0-9]{0,9}$/;
export const SPOKE_NAME = /^[a-z][a-z0-9-]{0,30}$/;
const IFNAME = /^[A-Za-z0-9_.@-]{1,15}$/;
/** 32 bytes of base64, as `wg genkey` and `wg pubkey` write them (the last character holds 2 bits). */
export const WG_KEY = /^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw480]=$/;

const wgKey = z.string().regex(WG_KEY, 'not a WireGuard public key (44 characters of base64)');
const ifname = z.string().regex(IFNAME, 'not a Linux interface name (1-15 characters)');
const int = (min: number, max: number) =>
  z.preprocess(
    (v) => (typeof v === 'string' && /^\s*-?\d+\s*$/.test(v) ? Number(v) : v),
    z.number({ error: `expected a whole number from ${min} to ${max}` }).int().min(min).max(max),
  );
/** A line rate in Mbit/s, as a speed test reports it: decimals allowed. */
export const MIN_MBIT = 0.1;
export const MAX_MBIT = 100000;
const MBIT_TEXT = /^\d+(\.\d+)?$/;
/** A rate written as text (command line, INI), or undefined when it is not one in range. */
export function parseMbit(text: string): number | undefined {
  const r = Number(text);
  return MBIT_TEXT.test(text) && r >= MIN_MBIT && r <= MAX_MBIT ? r : undefined;
}
export const mbitNumber = z.number({ error: 'expected a rate in Mbit/s, such as 50 or 7.5' }).min(MIN_MBIT, `below ${MIN_MBIT} Mbit/s`).max(MAX_MBIT, `above ${MAX_MBIT} Mbit/s`);
const mbit = z.preprocess((v) => (typeof v === 'string' && MBIT_TEXT.test(v.trim()) ? Number(v) : v), mbitNumber);
const bool = z.preprocess(
  (v) => (v === 'yes' || v === 'on' ? true : v === 'no' || v === 'off' ? false : v),
  z.boolean({ error: 'expected true or false' }),
);
const bfdProfile = z.enum(Object.keys(BFD_PROFILES) as [BfdProfileName, ...BfdProfileName[]], {
  error: `expected one of ${Object.keys(BFD_PROFILES).join(', ')}`,
});
const ipv4 = z.string().refine((s) => isIP(s) === 4, 'not an IPv4 address');
const pool = z.string().superRefine((s, ctx) => {
  const err = checkPool(s);
  if (err) ctx.addIssue({ code: 'custom', message: err });
});

export function checkPool(s: string): string | undefined {
  if (!Address4.isValid(s) || !s.includes('/')) return 'not an IPv4 CIDR such as 10.255.0.0/16';
  const a = new Address4(s);
  if (a.subnetMask > 24) return 'too small: the tunnel pool needs at least a /24 (8 addresses per tunnel)';
  if (a.startAddress().address !== a.addressMinusSuffix) return `not a network address (did you mean ${a.startAddress().address}/${a.subnetMask}?)`;
  return undefined;
}

/** `host[:port]`: a DNS name or IPv4 address. The name is kept, not only what it resolves to. */
export function parseEndpoint(s: string): { host: string; port: number } | string {
  const m = /^([A-Za-z0-9.-]+)(?::(\d{1,5}))?$/.exec(s.trim());
  if (!m) return 'expected HOST[:PORT], a DNS name or IPv4 address with an optional UDP port';
  const port = m[2] === undefined ? DEFAULT_PORT : Number(m[2]);
  if (port < 1 || port > 65535) return 'port out of range 1-65535';
  const host = m[1]!;
  if (/^[\d.]+$/.test(host) && isIP(host) !== 4) return `${host} is not an IPv4 address`;
  return { host, port };
}
/** A service the hub's uplink accepts from the internet besides WireGuard: `tcp/22`, `udp/53`. */
export interface UplinkService {
  proto: 'tcp' | 'udp';
  port: number;
}
/** `uplink_allow`: `none`, `any` (no filter beyond ospfbond's own protocols), or a list of PROTO/PORT. */
export function parseUplinkAllow(s: string): UplinkService[] | 'any' | { error: string } {
  const v = s.trim();
  if (v === 'any') return 'any';
  if (v === 'none' || v === '') return [];
  const out: UplinkService[] = [];
  for (const item of v.split(',').map((x) => x.trim())) {
    const m = /^(tcp|udp)\/(\d{1,5})$/.exec(item);
    if (!m || Number(m[2]) < 1 || Number(m[2]) > 65535) return { error: `${item}: expected PROTO/PORT such as tcp/22 or udp/53 (comma-separated), none, or any` };
    out.push({ proto: m[1] as 'tcp' | 'udp', port: Number(m[2]) });
  }
  return out;
}

/** `uplink_allow` as the config writes it; parseUplinkAllow reads it back. */
export function formatUplinkAllow(allow: UplinkService[] | 'any'): string {
  if (allow === 'any') return 'any';
  return allow.length ? allow.map((a) => `${a.proto}/${a.port}`).join(',') : 'none';
}
export const DEFAULT_UPLINK_ALLOW = 'tcp/22';
const uplinkAllow = z.string().superRefine((s, ctx) => {
  const r = parseUplinkAllow(s);
  if (typeof r === 'object' && 'error' in r) ctx.addIssue({ code: 'custom', message: r.error });
});

const endpoint = z.string().superRefine((s, ctx) => {
  const r = parseEndpoint(s);
  if (typeof r === 'string') ctx.addIssue({ code: 'custom', message: r });
});

/**
 * Daemon job intervals, written as 30s, 5m or 1h. node-cron runs them on the clock, so an interval
 * must divide a minute, an hour or a day evenly.
 */
export function intervalCron(text: string): string | undefined {
  const m = /^(\d+)\s*(s|m|h)$/.exec(text.trim());
  if (!m) return undefined;
  const n = Number(m[1]);
  const divides = (whole: number) => n >= 1 && n <= whole && whole % n === 0;
  if (m[2] === 's') return divides(60) ? (n === 60 ? '0 * * * * *' : `*/${n} * * * * *`) : undefined;
  if (m[2] === 'm') return divides(60) ? (n === 60 ? '0 0 * * * *' : `0 */${n} * * * *`) : undefined;
  return divides(24) ? (n === 24 ? '0 0 0 * * *' : `0 0 */${n} * * *`) : undefined;
}
const interval = (dflt: string) =>
  z
    .string()
    .refine((s) => intervalCron(s) !== undefined, 'expected an interval such as 5s, 30s, 5m or 1h that divides a minute, an hour or a day evenly')
    .default(dflt);
/** `ADDRESS:PORT` for the metrics listener: a local IPv4 address, so metrics are not served to the internet by accident. */
const listen = z.string().refine((s) => {
  const m = /^([\d.]+):(\d{1,5})$/.exec(s.trim());
  return !!m && isIP(m[1]!) === 4 && Number(m[2]) >= 1 && Number(m[2]) <= 65535;
}, 'expected IPV4:PORT, such as 127.0.0.1:9474');
export const DAEMON_DEFAULTS = { reconcile_every: '30s', resolve_every: '5m', mirror_every: '2s', stats_every: '1m' } as const;
const daemonSection = z
  .strictObject({
    reconcile_every: interval(DAEMON_DEFAULTS.reconcile_every),
    resolve_every: interval(DAEMON_DEFAULTS.resolve_every),
    mirror_every: interval(DAEMON_DEFAULTS.mirror_every),
    stats_every: interval(DAEMON_DEFAULTS.stats_every),
    metrics_listen: listen.optional(),
  })
  .default(DAEMON_DEFAULTS);

const roleSection = (role: 'hub' | 'spoke') =>
  z.strictObject({ role: z.literal(role, { error: `expected role = ${role}` }) });

const hubTunnel = z.strictObject({
  tunnel: int(1, 1 << 20),
  public_key: wgKey,
  cost: int(1, MAX_WAN_COST).default(DEFAULT_COST),
  mtu: int(1280, 9000).default(DEFAULT_WAN_MTU),
  /** The spoke WAN's download rate: the hub shapes what it sends into this tunnel to it. */
  down_mbit: mbit.optional(),
  up_mbit: mbit.optional(),
});
const mode = z.enum(MODES, { error: `expected one of ${MODES.join(', ')}` }).default('active-active');
const nameList = z.preprocess(
  (v) => (typeof v === 'string' ? v.split(',').map((s) => s.trim()).filter(Boolean) : v),
  z.array(z.string()),
);

const hubSpoke = z.strictObject({
  id: int(1, 65535),
  mode,
  primary: nameList.default([]),
  wan: z.record(z.string().regex(WAN_NAME, 'WAN names are 1-10 lower-case letters and digits, starting with a letter'), hubTunnel),
});

export const hubIniSchema = z.strictObject({
  ospfbond: roleSection('hub'),
  hub: z.strictObject({
    endpoint,
    listen_port: int(1, 65535).optional(),
    uplink: ifname,
    nat: bool.default(true),
    uplink_allow: uplinkAllow.default(DEFAULT_UPLINK_ALLOW),
    tunnel_pool: pool.default(DEFAULT_POOL),
    private_key_file: z.string().startsWith('/', 'expected an absolute path'),
    public_key: wgKey,
    bfd_profile: bfdProfile.default('fast'),
  }),
  spoke: z.record(z.string().regex(SPOKE_NAME, 'spoke names are lower-case letters, digits and -, starting with a letter'), hubSpoke).default({}),
  daemon: daemonSection,
});

const spokeWan = z.strictObject({
  dev: ifname,
  gw: z.union([z.literal('dhcp'), ipv4], { error: 'expected an IPv4 gateway address or dhcp' }),
  mtu: int(1280, 9000).default(DEFAULT_WAN_MTU),
  tunnel: int(1, 1 << 20),
  hub_mtu: int(1280, 9000).default(DEFAULT_WAN_MTU),
  private_key_file: z.string().startsWith('/', 'expected an absolute path'),
  public_key: wgKey,
  cost: int(1, MAX_WAN_COST).default(DEFAULT_COST),
  down_mbit: mbit.optional(),
  /** This WAN's upload rate: the spoke shapes what it sends into the tunnel to it. */
  up_mbit: mbit.optional(),
});

const devList = z.preprocess(
  (v) => (typeof v === 'string' ? v.split(',').map((s) => s.trim()).filter(Boolean) : v),
  z.array(ifname),
);

export const spokeIniSchema = z.strictObject({
  ospfbond: roleSection('spoke'),
  spoke: z.strictObject({
    name: z.string().regex(SPOKE_NAME),
    id: int(1, 65535),
    hub_endpoint: endpoint,
    hub_public_key: wgKey,
    tunnel_pool: pool.default(DEFAULT_POOL),
    lan_devs: devList.default([]),
    bfd_profile: bfdProfile.default('fast'),
    mode,
    primary: nameList.default([]),
  }),
  wan: z.record(z.string().regex(WAN_NAME, 'WAN names are 1-10 lower-case letters and digits, starting with a letter'), spokeWan),
  daemon: daemonSection,
});

export type HubIni = z.infer<typeof hubIniSchema>;
export type SpokeIni = z.infer<typeof spokeIniSchema>;
