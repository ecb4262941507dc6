import { readFileSync, existsSync } from 'node:fs';
import { lookup } from 'node:dns/promises';
import { probe, probeJson } from './run.js';
import type { Addr } from '../model/desired.js';
import { LINK_ALIAS_PREFIX, RULE_PROTO } from '../model/addressing.js';
import { NFT_FAMILY, NFT_TABLE } from '../render/nft.js';
import { observedShape } from '../render/tc.js';
import { OspfbondError, EXIT } from '../errors.js';

export const FRR_CONF = '/etc/frr/frr.conf';
export const FRR_DAEMONS = '/etc/frr/daemons';
export const FRR_INIT = '/usr/lib/frr/frrinit.sh';
export const FRR_RELOAD = '/usr/lib/frr/frr-reload.py';
/** FRR's reload turns it on (see reloadFrr in the planner). */
export const IPV6_FORWARDING = 'net.ipv6.conf.all.forwarding';
export const STATE_FILE = '/var/lib/ospfbond/state.json';
/** The last policy both ends of each site ran (daemon/policy-state.ts). */
export const POLICY_STATE_FILE = '/var/lib/ospfbond/policy.json';

export interface ObservedLink {
  name: string;
  kind?: string;
  mtu: number;
  up: boolean;
  alias?: string;
  vxlan?: { id: number; local: string; remote: string; port: number };
  addrs: Addr[];
}
export interface ObservedPeer {
  publicKey: string;
  endpoint?: string;
  allowedIps: string[];
  keepalive?: number;
  /** Unix time of the latest handshake, 0 when there was none. */
  latestHandshake: number;
  rxBytes: number;
  txBytes: number;
}
export interface ObservedWg {
  publicKey: string;
  listenPort: number;
  fwmark: number;
  peers: ObservedPeer[];
}
export interface ObservedRule {
  pref: number;
  fwmark?: number;
  table?: string;
  action?: string;
  protocol?: string;
}
export interface ObservedRoute {
  table: string; // 'main' or a number
  dst: string;
  gateway?: string;
  dev?: string;
  metric: number;
  protocol?: string;
  type?: string;
}
/** What ospfbond changed that was not its own object, to put back on `down`. */
export interface SavedState {
  sysctls: Record<string, string>;
  daemons: Record<string, string>;
}
export interface Observed {
  links: ObservedLink[];
  wg: Record<string, ObservedWg>;
  rules: ObservedRule[];
  routes: ObservedRoute[];
  sysctls: Record<string, string>;
  nftRuleset?: string;
  frr: {
    conf: string;
    daemons: string;
    running: boolean;
    reloadTest: string;
    /** systemd runs the router: FRR is controlled through frr.service. */
    systemd: boolean;
    /** FRR must not be started or reloaded now; why, and what the operator can do. */
    unsettled?: { what: string; fix: string };
    /** IPV6_FORWARDING's value. */
    ipv6Forwarding: string;
  };
  /** The shaper signature of each of ospfbond's VXLAN taps that has a root qdisc. */
  shapes: Record<string, string>;
  /** DNS names of WireGuard endpoints, resolved now. */
  resolved: Record<string, string>;
  saved?: SavedState;
  /** POLICY_STATE_FILE exists (`down` removes it). */
  policyRecord: boolean;
}

interface IpLink {
  ifname: string;
  mtu: number;
  flags?: string[];
  ifalias?: string;
  linkinfo?: { info_kind?: string; info_data?: { id?: number; local?: string; remote?: string; port?: number } };
  addr_info?: { family: string; local: string; address?: string; prefixlen: number }[];
}

export async function observeLinks(): Promise<ObservedLink[]> {
  const links = await probeJson<IpLink[]>(['ip', '-j', '-d', 'addr', 'show']);
  return links.map((l) => {
    const info = l.linkinfo?.info_data;
    const kind = l.linkinfo?.info_kind;
    return {
      name: l.ifname,
      kind,
      mtu: l.mtu,
      up: (l.flags ?? []).includes('UP'),
      alias: l.ifalias,
      vxlan:
        kind === 'vxlan' && info
          ? { id: info.id ?? 0, local: info.local ?? '', remote: info.remote ?? '', port: info.port ?? 0 }
          : undefined,
      addrs: (l.addr_info ?? [])
        .filter((a) => a.family === 'inet')
        .map((a) => (a.address && a.address !== a.local ? { local: a.local, prefixlen: a.prefixlen, peer: a.address } : { local: a.local, prefixlen: a.prefixlen })),
    };
  });
}

/** `wg show dump`, with the private key dropped the moment the line is split: it is never kept. */
export function parseWgDump(text: string): Record<string, ObservedWg> {
  const out: Record<string, ObservedWg> = {};
  for (const line of text.split('\n')) {
    const f = line.split('\t');
    if (f.length === 5) {
      const [name, , publicKey, port, fwmark] = f as [string, string, string, string, string];
      out[name] = { publicKey, listenPort: Number(port), fwmark: fwmark === 'off' ? 0 : Number(fwmark), peers: [] };
    } else if (f.length === 9) {
      const [name, publicKey, , endpoint, allowed, handshake, rx, tx, keepalive] = f as string[];
      out[name!]?.peers.push({
        publicKey: publicKey!,
        endpoint: endpoint === '(none)' ? undefined : endpoint,
        allowedIps: allowed === '(none)' ? [] : allowed!.split(','),
        keepalive: keepalive === 'off' ? undefined : Number(keepalive),
        latestHandshake: Number(handshake) || 0,
        rxBytes: Number(rx) || 0,
        txBytes: Number(tx) || 0,
      });
    }
  }
  return out;
}

export async function observeWg(names: string[]): Promise<Record<string, ObservedWg>> {
  if (names.length === 0) return {};
  const r = await probe(['wg', 'show', 'all', 'dump']);
  if (r.exitCode !== 0) return {};
  return parseWgDump(r.stdout);
}

async function observeRules(): Promise<ObservedRule[]> {
  const rules = await probeJson<{ priority: number; fwmark?: string; table?: string; action?: string; protocol?: string }[]>(['ip', '-j', 'rule', 'show']);
  return rules.map((r) => ({ pref: r.priority, fwmark: r.fwmark ? Number(r.fwmark) : undefined, table: r.table, action: r.action, protocol: r.protocol }));
}

export async function observeRoutes(): Promise<ObservedRoute[]> {
  const routes = await probeJson<{ dst: string; gateway?: string; dev?: string; metric?: number; table?: string; protocol?: string; type?: string }[]>([
    'ip', '-j', 'route', 'show', 'table', 'all',
  ]);
  return routes
    .filter((r) => r.table === undefined || r.table === 'main' || /^\d+$/.test(r.table))
    .filter((r) => r.dst === 'default' || r.protocol === String(RULE_PROTO))
    .map((r) => ({ table: r.table ?? 'main', dst: r.dst, gateway: r.gateway, dev: r.dev, metric: r.metric ?? 0, protocol: r.protocol, type: r.type }));
}

async function observeShapes(taps: string[]): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const dev of taps) {
    const qdiscs = await probe(['tc', '-j', 'qdisc', 'show', 'dev', dev]);
    if (qdiscs.exitCode !== 0) continue;
    const classes = await probe(['tc', '-d', 'class', 'show', 'dev', dev]);
    const filters = await probe(['tc', '-j', 'filter', 'show', 'dev', dev, 'parent', '1:']);
    const sig = observedShape(qdiscs.stdout, classes.stdout, filters.exitCode === 0 ? filters.stdout : '[]');
    if (sig !== undefined) out[dev] = sig;
  }
  return out;
}

/** A sysctl's value, '' when the kernel has no such setting. */
export function readSysctl(name: string): string {
  try {
    return readFileSync(`/proc/sys/${name.replaceAll('.', '/')}`, 'utf8').trim();
  } catch {
    return '';
  }
}

async function observeNft(): Promise<string | undefined> {
  const r = await probe(['nft', 'list', 'table', NFT_FAMILY, NFT_TABLE]);
  return r.exitCode === 0 ? r.stdout : undefined;
}

function readText(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

const FRR_RUN_DIR = '/run/frr';
const FRR_PROCESSES = ['watchfrr', 'zebra', 'ospfd', 'bfdd', 'staticd', 'bgpd', 'mgmtd'];

/** FRR's daemons alive now, by their pid files, with their pids (a daemon whose pid file is gone is not seen). */
export function frrPids(): Record<string, number> {
  const out: Record<string, number> = {};
  for (const d of FRR_PROCESSES) {
    try {
      const pid = readFileSync(`${FRR_RUN_DIR}/${d}.pid`, 'utf8').trim();
      if (/^\d+$/.test(pid) && readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === d) out[d] = Number(pid);
    } catch {
      // not running
    }
  }
  return out;
}

function frrDaemonsAlive(): string[] {
  return Object.keys(frrPids());
}

/**
 * systemd's own test (sd_booted). On such a router FRR belongs to frr.service: `frrinit.sh reload`
 * run from a shell restarts watchfrr outside the unit, systemd then marks frr.service inactive and
 * the daemons live on in the caller's session (on the first Vagrant VM a later `systemctl start frr`
 * timed out and started a second watchfrr). Without systemd (containers, the namespace lab) FRR's
 * init script is the service manager.
 */
export function underSystemd(): boolean {
  return existsSync('/run/systemd/system');
}

/** The command that starts, reloads (new daemons file) or stops FRR through its service manager. */
export function frrControl(action: 'start' | 'reload' | 'restart' | 'stop', systemd: boolean): string[] {
  return systemd ? ['systemctl', action, 'frr.service'] : [FRR_INIT, action];
}

/**
 * running: FRR's init script says so (watchfrr up) and, under systemd, frr.service is active.
 * stopped: no FRR daemon left. unsettled: starting or reloading FRR now would do harm. Daemons alive
 * without watchfrr (as while `frrinit.sh stop` is still at work): a start then runs new daemons beside
 * the old ones (two ospfd kept a spoke's adjacencies in ExStart for minutes in the lab). Running
 * outside frr.service: `systemctl start` would do the same, and `systemctl reload` refuses.
 */
export type FrrState = { state: 'running' | 'stopped' } | { state: 'unsettled'; what: string; fix: string };

export async function frrState(systemd = underSystemd()): Promise<FrrState> {
  if (!existsSync(FRR_INIT)) return { state: 'stopped' };
  const up = (await probe([FRR_INIT, 'status'])).exitCode === 0;
  const unit = systemd ? (await probe(['systemctl', 'is-active', 'frr.service'])).stdout.trim() : 'active';
  if (up && (unit === 'active' || unit === 'reloading')) return { state: 'running' };
  if (['activating', 'deactivating', 'reloading'].includes(unit)) {
    return { state: 'unsettled', what: `frr.service is ${unit}`, fix: 'wait for it to finish (systemctl status frr)' };
  }
  if (up) {
    return {
      state: 'unsettled',
      what: 'FRR runs, but not as frr.service (started by frrinit.sh from a shell?): it lives in that session, and systemd would start a second FRR beside it',
      // Routing stops for a few seconds; systemd-run keeps a dropped ssh session from stopping it halfway.
      fix: `systemd-run --wait --collect sh -c '${FRR_INIT} stop; systemctl start frr.service'`,
    };
  }
  const alive = frrDaemonsAlive();
  if (!alive.length) return { state: 'stopped' };
  // The init script's status also fails while watchfrr is up and one of its daemons is dead (it is
  // restarting it): say which case this is, the fix is the same.
  const watched = alive.includes('watchfrr');
  return {
    state: 'unsettled',
    what: watched
      ? `FRR is partly running (${alive.filter((d) => d !== 'watchfrr').join(', ')} under watchfrr, another daemon down): a daemon died and watchfrr is restarting it, or FRR is stopping`
      : `FRR is partly running (${alive.join(', ')} without watchfrr): stopping, or a daemon died`,
    fix: `wait for FRR's stop to finish, or run \`${frrControl('restart', systemd).join(' ')}\``,
  };
}

/**
 * frr-reload.py --test lists what a reload would change. Only differences in ospfbond's own lines
 * count: FRR reports machine defaults (hostname, ipv6 forwarding) that are none of ospfbond's business.
 */
export async function frrDrift(): Promise<string> {
  const r = await probe(['python3', FRR_RELOAD, '--test', FRR_CONF]);
  return r.exitCode === 0 ? r.stdout : 'Lines To Add\n(frr-reload.py --test failed)\n';
}

/**
 * Lines FRR takes but does not show in its running config (FRR 8.4: `ospf maxage-delay`), so
 * frr-reload.py lists them as to add every time; loaded from frr.conf at start and by every reload.
 */
const NOT_SHOWN = /^ospf maxage-delay /;

export function blockInSync(reloadTest: string, block: string): boolean {
  const ours = new Set(block.split('\n').map((l) => l.trim()).filter((l) => l && l !== '!' && l !== 'exit' && !l.startsWith('!')));
  let section = '';
  const lines = reloadTest.split('\n');
  for (const [i, raw] of lines.entries()) {
    const line = raw.trim();
    if (line === 'Lines To Delete' || line === 'Lines To Add') {
      section = line;
      continue;
    }
    if (!line || /^=+$/.test(line) || NOT_SHOWN.test(line)) continue;
    if (line.startsWith('(')) return false;
    if (section === 'Lines To Add' && ours.has(line) && !onlyNotShownBelow(lines, i)) return false;
    if (section === 'Lines To Delete' && /\b(ospf|bfd)\b|^interface obt|^interface obw/.test(line)) return false;
  }
  return true;
}

/** A section header (`router ospf`) that frr-reload.py lists only for the lines FRR does not show. */
function onlyNotShownBelow(lines: string[], i: number): boolean {
  if (lines[i]!.startsWith(' ')) return false;
  const below: string[] = [];
  for (let j = i + 1; j < lines.length && lines[j]!.startsWith(' '); j++) below.push(lines[j]!.trim());
  return below.length > 0 && below.every((l) => NOT_SHOWN.test(l));
}

export function readSaved(): SavedState | undefined {
  const text = readText(STATE_FILE);
  if (!text) return undefined;
  try {
    return JSON.parse(text) as SavedState;
  } catch {
    throw new OspfbondError(`${STATE_FILE}: not valid JSON`, EXIT.failure, 'it holds the settings `down` restores; repair or remove it');
  }
}

export async function resolveHosts(hosts: string[]): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const host of new Set(hosts)) {
    try {
      out[host] = (await lookup(host, { family: 4 })).address;
    } catch (err) {
      throw new OspfbondError(`hub endpoint ${host}: does not resolve (${(err as NodeJS.ErrnoException).code})`, EXIT.precondition, 'check the name and the resolver, or use the hub\'s IPv4 address');
    }
  }
  return out;
}

/** The programs apply runs, and the Debian package of each. */
const TOOLS: [string, string][] = [
  ['tc', 'iproute2'],
  ['wg', 'wireguard-tools'],
  ['nft', 'nftables'],
  ['vtysh', 'frr'],
  [FRR_INIT, 'frr'],
  [FRR_RELOAD, 'frr-pythontools'],
];

export function onPath(cmd: string): boolean {
  if (cmd.startsWith('/')) return existsSync(cmd);
  return (process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin').split(':').some((d) => existsSync(`${d}/${cmd}`));
}

export function missingPackages(): string[] {
  return [...new Set(TOOLS.filter(([cmd]) => !onPath(cmd)).map(([, pkg]) => pkg))];
}

export async function observe(opts: { sysctls: string[]; hosts: string[] }): Promise<Observed> {
  const missing = missingPackages();
  if (missing.length) {
    // Reading the router needs these too; say what to install before anything else fails obscurely.
    throw new OspfbondError(`this router lacks ${missing.join(', ')}`, EXIT.precondition, `apt-get install ${missing.join(' ')}; nothing was changed`);
  }
  const links = await observeLinks();
  const ours = links.filter((l) => l.alias?.startsWith(LINK_ALIAS_PREFIX));
  const systemd = underSystemd();
  const frr = await frrState(systemd);
  const running = frr.state === 'running';
  return {
    links,
    wg: await observeWg(ours.map((l) => l.name)),
    shapes: await observeShapes(ours.filter((l) => l.kind === 'vxlan').map((l) => l.name)),
    rules: await observeRules(),
    routes: await observeRoutes(),
    sysctls: Object.fromEntries(opts.sysctls.map((s) => [s, readSysctl(s)])),
    nftRuleset: await observeNft(),
    frr: { conf: readText(FRR_CONF), daemons: readText(FRR_DAEMONS), running, reloadTest: running ? await frrDrift() : '', systemd, ipv6Forwarding: readSysctl(IPV6_FORWARDING), unsettled: frr.state === 'unsettled' ? { what: frr.what, fix: frr.fix } : undefined },
    resolved: await resolveHosts(opts.hosts),
    saved: readSaved(),
    policyRecord: existsSync(POLICY_STATE_FILE),
  };
}
