import { existsSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { AGGREGATE } from '../base/paths.js';
import { readText } from '../base/files.js';
import { probe, probeText } from '../base/run.js';
import { readBatch } from './kernel.js';

/** Readers of what single-connection aggregation leaves on a router: proxies, MPTCP limits and endpoints. */

export interface ObservedProxy {
  name: string;
  /** The running proxy: under systemd its unit's process; else the pid file's, or one found by its command line. */
  pid?: number;
  /**
   * Processes running this proxy's config outside a unit, the pid file's first: without systemd,
   * or from before systemd ran the proxies. More than one, or one the pid file does not name: it
   * was started twice at once (the daemon's restart and a repair) or by hand.
   */
  detached: { pid: number; program: string }[];
  /** A pid file is there (it may name a process that is gone). */
  pidFile: boolean;
  /** Its config file's text (it holds the key: compared, never printed). */
  config?: string;
  /** Its systemd unit's text. */
  unit?: string;
}
export interface ObservedEndpoint {
  id: number;
  addr: string;
  dev?: string;
  subflow: boolean;
  backup: boolean;
}
export interface ObservedMptcp {
  /** `ip mptcp limits`: undefined where the kernel has no MPTCP. */
  subflows?: number;
  endpoints: ObservedEndpoint[];
}

const PROGRAMS = ['/usr/bin/ss-redir', '/usr/bin/ss-server'];

function proxyProgram(pid: number): string | undefined {
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  try {
    const exe = readlinkSync(`/proc/${pid}/exe`);
    return PROGRAMS.includes(exe) ? exe : undefined;
  } catch {
    return undefined; // gone, or a zombie
  }
}

/** A process's network and mount namespaces, '' when it is gone. */
function nsOf(pid: string): string {
  try {
    return `${readlinkSync(`/proc/${pid}/ns/net`)} ${readlinkSync(`/proc/${pid}/ns/mnt`)}`;
  } catch {
    return '';
  }
}

/** The pid in a proxy's pid file when that process runs one of the proxy programs, else undefined. */
function pidFilePid(name: string): number | undefined {
  const pid = Number(readText(AGGREGATE.pid(name)).trim());
  return proxyProgram(pid) ? pid : undefined;
}

/**
 * Every live proxy process of this router, with the config it runs (`-c PATH`), whatever the pid
 * files say. Two starts at once each write the pid file; the one that loses the port exits, and if
 * its pid is the one left in the file, a check by pid file alone would start the proxy again every
 * second while the first runs on, untracked.
 */
function scanProxies(): { pid: number; program: string; config: string }[] {
  // Only this router's: routers in network namespaces share one pid space (the lab, containers),
  // and their proxies run the same command line.
  const here = nsOf('self');
  const found: { pid: number; program: string; config: string }[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    const program = proxyProgram(Number(d));
    if (!program || nsOf(d) !== here) continue;
    const argv = readText(`/proc/${d}/cmdline`).split('\0');
    const c = argv.indexOf('-c');
    if (c >= 0 && argv[c + 1]) found.push({ pid: Number(d), program, config: argv[c + 1]! });
  }
  return found;
}

function processesOf(name: string, scan = scanProxies()): { pid: number; program: string }[] {
  return scan.filter((p) => p.config === AGGREGATE.config(name)).map(({ pid, program }) => ({ pid, program }));
}

/**
 * The proxy in a unit's cgroup. A file read, not `systemctl show`: the daemon asks every second,
 * for each of a hub's sites. The unified hierarchy first (Debian 12 and later), then a hybrid one's.
 */
function unitPid(name: string): number | undefined {
  for (const root of ['/sys/fs/cgroup', '/sys/fs/cgroup/unified', '/sys/fs/cgroup/systemd']) {
    const procs = readText(`${root}/system.slice/${AGGREGATE.unitName(name)}/cgroup.procs`);
    const pid = procs.split('\n').map(Number).find((p) => proxyProgram(p) !== undefined);
    if (pid !== undefined) return pid;
  }
  return undefined;
}

/**
 * The running proxy `name`: under systemd its unit's; else the one its pid file names, or (only
 * when that one is gone, as the daemon asks every second) one found by its command line.
 */
export function runningPid(name: string, systemd: boolean): number | undefined {
  if (systemd) return unitPid(name);
  return pidFilePid(name) ?? processesOf(name)[0]?.pid;
}

/** Every proxy that has a config file, a unit or a pid file: the wanted ones, and any left from an older config. */
export function observeProxies(systemd: boolean): ObservedProxy[] {
  const names = new Set<string>();
  const list = (dir: string, re: RegExp) => {
    try {
      for (const f of readdirSync(dir)) {
        const m = re.exec(f);
        if (m) names.add(m[1]!);
      }
    } catch {
      // no such directory: nothing there
    }
  };
  list(AGGREGATE.dir, /^([a-z][a-z0-9-]*)\.json$/);
  list(AGGREGATE.runDir, /^aggregate-([a-z][a-z0-9-]*)\.pid$/);
  list(AGGREGATE.unitDir, /^ospfbond-aggregate-([a-z][a-z0-9-]*)\.service$/);
  const text = (path: string) => {
    try {
      return readFileSync(path, 'utf8');
    } catch {
      return undefined;
    }
  };
  const scan = scanProxies();
  return [...names].sort().map((name) => {
    const inUnit = systemd ? unitPid(name) : undefined;
    const fromFile = pidFilePid(name);
    const detached = processesOf(name, scan)
      .filter((p) => p.pid !== inUnit)
      .sort((a, b) => Number(b.pid === fromFile) - Number(a.pid === fromFile));
    return {
      name,
      pid: systemd ? inUnit : detached[0]?.pid,
      detached,
      pidFile: existsSync(AGGREGATE.pid(name)),
      config: text(AGGREGATE.config(name)),
      unit: text(AGGREGATE.unit(name)),
    };
  });
}

/** `ip mptcp limits show`: text (`subflows 8`), also under -j in iproute2 6.1; JSON (`"subflows":8`) in later ones. */
export function parseLimits(text: string): number | undefined {
  const m = /\bsubflows"?:?\s*(\d+)/.exec(text);
  return m ? Number(m[1]) : undefined;
}

export function parseMptcp(limits: string, endpointsJson: string): ObservedMptcp {
  const eps = JSON.parse(endpointsJson || '[]') as { address: string; id: number; dev?: string; subflow?: boolean; backup?: boolean }[];
  return {
    subflows: parseLimits(limits),
    endpoints: eps.map((e) => ({ id: e.id, addr: e.address, dev: e.dev, subflow: !!e.subflow, backup: !!e.backup })),
  };
}

/** The `ip -j -batch` lines that read MPTCP's state, in parseMptcp's order. */
export const MPTCP_READS = ['mptcp limits show', 'mptcp endpoint show'];

export async function observeMptcp(): Promise<ObservedMptcp> {
  const limits = await probe(['ip', 'mptcp', 'limits', 'show']);
  if (limits.exitCode !== 0) return { endpoints: [] };
  return parseMptcp(limits.stdout, await probeText(['ip', '-j', 'mptcp', 'endpoint', 'show']));
}

/** The default route's taps and MPTCP's endpoints, read together: one `ip` process where it can. */
export async function observeRouteAndMptcp(): Promise<{ inRoute: Set<string>; mptcp: ObservedMptcp }> {
  const b = await readBatch(['ip', '-j'], ['route show default', ...MPTCP_READS]);
  if (b) return { inRoute: routeDevs(b[0]!), mptcp: parseMptcp(b[1]!, b[2]!) };
  return { inRoute: await defaultRouteDevs(), mptcp: await observeMptcp() };
}

/** A TCP socket listens on `port` in this network namespace (/proc/net/tcp: no process to start). */
export function listening(port: number): boolean {
  const hex = port.toString(16).toUpperCase().padStart(4, '0');
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    for (const line of readText(file).split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f[1]?.endsWith(`:${hex}`) && f[3] === '0A') return true;
    }
  }
  return false;
}

/** The taps the main table's default route leads into now (OSPF's ECMP set, or one). */
export async function defaultRouteDevs(): Promise<Set<string>> {
  return routeDevs(await probeText(['ip', '-j', 'route', 'show', 'default']));
}

function routeDevs(json: string): Set<string> {
  const routes = JSON.parse(json || '[]') as { dst: string; protocol?: string; dev?: string; nexthops?: { dev?: string }[] }[];
  const devs = new Set<string>();
  for (const r of routes) {
    for (const d of [r.dev, ...(r.nexthops ?? []).map((n) => n.dev)]) if (d) devs.add(d);
  }
  return devs;
}

/** Whether the nft redirect is armed: the set `aggregate_proto` holds tcp. */
export async function redirectArmed(family: string, table: string): Promise<boolean | undefined> {
  const r = await probe(['nft', 'list', 'set', family, table, 'aggregate_proto']);
  if (r.exitCode !== 0) return undefined;
  return /elements = \{[^}]*\btcp\b/.test(r.stdout);
}
