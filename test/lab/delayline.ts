import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { appendFileSync, closeSync, existsSync, mkdtempSync, openSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { shellQuote } from '../../src/model/step.js';
import { waitFor, type Lab } from './lab.js';
import type { Link } from './topology.js';

/**
 * The lab's delay line (docs/testing.md, "The delay line"): a link of the lab gets a one-way delay,
 * jitter and loss per direction, with no address changing. The kernels here have no netem, so
 * test/lab/tools/delayline.c forwards the frames in userspace, in a namespace of its own:
 *
 *   before:  [a.node] a.dev ======================================== b.dev [b.node]
 *   after:   [a.node] a.dev (new) ==== dla [ID-dl-NODE-DEV] dlb ==== b.dev [b.node]
 *
 * One end (`moved`, a by default: in labTopology's subscriber links that is the ISP, so the router
 * under test keeps its own device) moves into the delay line's namespace, and a new veth pair takes
 * its place: the new device gets the old one's name, MAC, MTU, addresses, tbf shaping and routes.
 * What is not carried over: per-device sysctls, nft rules that match the ifindex (`iif`, not
 * `iifname`), multipath routes through the device, qdiscs other than tbf (insertDelayLine refuses
 * those). Moving the device takes its carrier away from the other end for a moment (the kernel
 * closes a device it moves): insert before bonding, or count on a short outage.
 */

export interface Direction {
  delayMs: number;
  /** Each frame's delay is drawn uniformly from [delay - jitter, delay + jitter]; order is kept. */
  jitterMs: number;
  lossPct: number;
}
/** aToB: frames from the link's a end to its b end (topology.ts Link). */
export interface DelayParams {
  aToB: Direction;
  bToA: Direction;
}
export interface DelayChange {
  aToB?: Partial<Direction>;
  bToA?: Partial<Direction>;
}

/** The same change both ways. */
export function bothWays(d: Partial<Direction>): DelayChange {
  return { aToB: d, bToA: d };
}

export interface DirectionStats {
  rx: number;
  rxbytes: number;
  tx: number;
  /** random loss */
  lost: number;
  /** queue over its limit */
  qdrop: number;
  /** the send failed: the receiving veth's backlog was full */
  txerr: number;
  /** dropped by the kernel before the tool read them */
  kdrop: number;
  trunc: number;
  /** frames carrying several TCP segments (GSO), each delayed and lost as one */
  gso: number;
  /** frames in the queue when the counters were printed (the last counters: dropped by the exit) */
  queued: number;
}
export interface DelayStats {
  aToB: DirectionStats;
  bToA: DirectionStats;
}

export interface DelayLine {
  readonly lab: Lab;
  readonly link: Link;
  readonly moved: 'a' | 'b';
  /** The delay line's own namespace; the tool runs there between dla (toward a) and dlb (toward b). */
  readonly ns: string;
  readonly pid: number;
  readonly log: string;
  readonly paramsFile: string;
  params: DelayParams;
}

export const DELAYLINE_SOURCE = fileURLToPath(new URL('../../../test/lab/tools/delayline.c', import.meta.url));

const ZERO: Direction = { delayMs: 0, jitterMs: 0, lossPct: 0 };
const running = new Map<string, { line: DelayLine; child: ChildProcess }>();
let binary: string | undefined;

/** Compiles the tool once per process into a temporary directory, removed at exit. */
export function delayLineBinary(): string {
  if (binary) return binary;
  const dir = mkdtempSync(join(tmpdir(), 'ospfbond-delayline-'));
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  const out = join(dir, 'delayline');
  try {
    execFileSync('cc', ['-O2', '-Wall', '-o', out, DELAYLINE_SOURCE], { stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: Buffer };
    const why = e.code === 'ENOENT' ? 'no C compiler (cc): bash .ci/setup installs gcc and libc6-dev' : String(e.stderr ?? e.message).trim();
    throw new Error(`delay line: building ${DELAYLINE_SOURCE} failed: ${why}`);
  }
  binary = out;
  return out;
}

/** Synchronous, so it runs from an exit handler: ends the tools and deletes their namespaces, restoring nothing. */
export function dropDelayLines(lab?: Lab): void {
  for (const [ns, { line }] of running) {
    if (lab && line.lab !== lab) continue;
    signal(line.pid, 'SIGKILL');
    spawnSync('ip', ['netns', 'del', ns]);
    running.delete(ns);
  }
}
let exitHook = false;

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
  }
}

/** Runs a script in the root namespace (every command names its namespace), recorded in the lab's transcript. */
async function root(lab: Lab, script: string[]): Promise<string> {
  const text = ['set -e', ...script].join('\n');
  const r = await execa('bash', ['-c', text], { reject: false, env: { LC_ALL: 'C' } });
  if (existsSync(lab.dir)) appendFileSync(lab.transcript, `[delayline] ${script.join('; ')}\n${r.stdout}\n${r.stderr}\n`);
  if (r.exitCode !== 0) throw new Error(`delay line: ${script.join('; ')}\nexit ${r.exitCode}\n${r.stdout}\n${r.stderr}`);
  return String(r.stdout);
}

/** What the device of a link end is, as far as the new device that replaces it must be the same. */
interface EndState {
  mac: string;
  mtu: number;
  up: boolean;
  link: string[];
  addrs: string[];
  qdisc?: string;
  routes: string[];
}

async function readEnd(lab: Lab, ns: string, dev: string): Promise<EndState> {
  const d = shellQuote(dev);
  const [linkJson, qdiscJson, routeJson] = await Promise.all([
    root(lab, [`ip -n ${ns} -j -d addr show dev ${d}`]),
    root(lab, [`tc -n ${ns} -j qdisc show dev ${d}`]),
    root(lab, [`ip -n ${ns} -j route show table all dev ${d}`]),
  ]);
  type AddrInfo = { family: string; local: string; prefixlen: number; scope: string; broadcast?: string };
  const l = (JSON.parse(linkJson) as { address: string; mtu: number; flags: string[]; txqlen?: number; gso_max_size?: number; gso_max_segs?: number; addr_info: AddrInfo[] }[])[0]!;
  const link = [`address ${l.address}`, `mtu ${l.mtu}`];
  if (l.txqlen !== undefined) link.push(`txqueuelen ${l.txqlen}`);
  if (l.gso_max_size !== undefined) link.push(`gso_max_size ${l.gso_max_size}`);
  if (l.gso_max_segs !== undefined) link.push(`gso_max_segs ${l.gso_max_segs}`);
  const addrs = l.addr_info
    .filter((a) => a.scope !== 'link' && (a.family === 'inet' || a.family === 'inet6'))
    .map((a) => `${a.local}/${a.prefixlen}${a.broadcast ? ` brd ${a.broadcast}` : ''}`);

  type Qdisc = { kind: string; root?: boolean; parent?: string; options?: Record<string, number> };
  let qdisc: string | undefined;
  for (const q of JSON.parse(qdiscJson) as Qdisc[]) {
    if (q.kind === 'noqueue' || (q.root && q.kind === 'pfifo_fast')) continue;
    const o = q.options ?? {};
    if (!q.root || q.kind !== 'tbf' || o.peakrate !== undefined || o.rate === undefined || o.burst === undefined) {
      throw new Error(`delay line: ${ns} ${dev}: qdisc ${q.kind}${q.root ? ' (root)' : ` (parent ${q.parent})`} cannot be carried over to the new device (only a root tbf without peakrate)`);
    }
    qdisc = `tbf rate ${o.rate * 8}bit burst ${o.burst} ${o.lat !== undefined ? `latency ${o.lat}us` : `limit ${o.limit}`}`;
  }

  type Route = { type?: string; dst: string; gateway?: string; table?: string; protocol?: string; metric?: number; prefsrc?: string; scope?: string; flags?: string[] };
  const routes = (JSON.parse(routeJson) as Route[])
    .filter((r) => r.protocol !== 'kernel' && r.table !== 'local' && !['local', 'broadcast', 'multicast', 'anycast'].includes(r.type ?? 'unicast'))
    .map((r) =>
      [
        r.dst.includes(':') ? '-6' : '-4',
        'route replace',
        r.type && r.type !== 'unicast' ? r.type : '',
        r.dst,
        r.gateway ? `via ${r.gateway}` : '',
        `dev ${dev}`,
        r.table && r.table !== 'main' ? `table ${r.table}` : '',
        r.protocol && r.protocol !== 'boot' ? `proto ${r.protocol}` : '',
        r.metric !== undefined ? `metric ${r.metric}` : '',
        r.prefsrc ? `src ${r.prefsrc}` : '',
        r.scope === 'host' ? 'scope host' : '',
        r.flags?.includes('onlink') ? 'onlink' : '',
      ].filter(Boolean).join(' '),
    );
  return { mac: l.address, mtu: l.mtu, up: l.flags.includes('UP'), link, addrs, qdisc, routes };
}

/** The commands that make `dev` in `ns` what `s` says: link settings first (some need it down), then up, addresses, shaping, routes. */
function applyEnd(ns: string, dev: string, s: EndState): string[] {
  const d = shellQuote(dev);
  return [
    `ip -n ${ns} link set dev ${d} ${s.link.join(' ')}`,
    ...(s.up ? [`ip -n ${ns} link set dev ${d} up`] : []),
    ...s.addrs.map((a) => `ip -n ${ns} addr replace ${a} dev ${d}`),
    ...(s.qdisc ? [`tc -n ${ns} qdisc replace dev ${d} root ${s.qdisc}`] : []),
    ...s.routes.map((r) => `ip -n ${ns} ${r}`),
  ];
}

function paramsText(p: DelayParams): string {
  const line = (name: string, d: Direction) => `${name} delay=${d.delayMs} jitter=${d.jitterMs} loss=${d.lossPct}\n`;
  return line('ab', p.aToB) + line('ba', p.bToA);
}

function merged(p: DelayParams, c: DelayChange): DelayParams {
  return { aToB: { ...p.aToB, ...c.aToB }, bToA: { ...p.bToA, ...c.bToA } };
}

function names(lab: Lab, link: Link, moved: 'a' | 'b') {
  const end = link[moved];
  return {
    end,
    endNs: lab.ns(end.node),
    ns: `${lab.id}-dl-${end.node}-${end.dev}`,
    // The moved device faces the other end; the new pair's port faces the moved end's node.
    oldPort: moved === 'a' ? 'dlb' : 'dla',
    newPort: moved === 'a' ? 'dla' : 'dlb',
    file: `${lab.dir}/delayline-${end.node}-${end.dev}`,
  };
}

/**
 * Puts a delay line on a link of a built lab (see the top of this file). Undone by removeDelayLine;
 * dropDelayLines or the process's exit only end the tool and delete its namespace.
 */
export async function insertDelayLine(lab: Lab, link: Link, change: DelayChange = {}, opts: { moved?: 'a' | 'b'; queueLimitBytes?: number } = {}): Promise<DelayLine> {
  const moved = opts.moved ?? 'a';
  const n = names(lab, link, moved);
  if (!existsSync(lab.dir)) throw new Error('delay line: build the lab first');
  if (existsSync(`/run/netns/${n.ns}`)) throw new Error(`delay line: ${n.ns} exists: ${n.end.node} ${n.end.dev} has one already`);
  const bin = delayLineBinary();
  if (!exitHook) {
    exitHook = true;
    process.once('exit', () => dropDelayLines());
  }
  const state = await readEnd(lab, n.endNs, n.end.dev);
  const params = merged({ aToB: ZERO, bToA: ZERO }, change);
  writeFileSync(`${n.file}.params`, paramsText(params));
  const tmp = `dl${randomBytes(4).toString('hex')}`;
  const dev = shellQuote(n.end.dev);
  let child: ChildProcess | undefined;
  try {
    await root(lab, [
      `ip netns add ${n.ns}`,
      `ip -n ${n.ns} link set dev lo up`,
      // No address and no IPv6 in here: the kernel of this namespace must stay silent on the wire.
      `ip netns exec ${n.ns} sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1 net.ipv4.ip_forward=0`,
      `ip link add ${tmp} netns ${n.endNs} type veth peer name ${n.newPort} netns ${n.ns}`,
      `ip -n ${n.endNs} link set dev ${tmp} ${state.link.join(' ')}`,
      `ip -n ${n.ns} link set dev ${n.newPort} mtu ${state.mtu} up`,
      `ip -n ${n.endNs} link set dev ${dev} netns ${n.ns}`,
      `ip -n ${n.ns} link set dev ${dev} name ${n.oldPort}`,
      // Not the MAC the new device now answers to: frames for it stay "for another host" in here.
      `ip -n ${n.ns} link set dev ${n.oldPort} address 02:${randomBytes(5).toString('hex').replace(/(..)(?!$)/g, '$1:')} up`,
    ]);
    const logFd = openSync(`${n.file}.log`, 'a');
    const args = [...(opts.queueLimitBytes ? ['-l', String(opts.queueLimitBytes)] : []), `${n.file}.params`, 'dla', 'dlb'];
    child = spawn('nsenter', [`--net=/run/netns/${n.ns}`, bin, ...args], { detached: true, stdio: ['ignore', logFd, logFd] });
    closeSync(logFd);
    child.unref();
    const c = child;
    await waitFor(`the delay line in ${n.ns} forwarding`, 5000, async () => {
      if (c.exitCode !== null || c.signalCode !== null) throw new Error(`it exited: ${readFileSync(`${n.file}.log`, 'utf8').trim()}`);
      return readFileSync(`${n.file}.log`, 'utf8').includes('forwarding');
    }, 20);
    await root(lab, [`ip -n ${n.endNs} link set dev ${tmp} name ${dev}`, ...applyEnd(n.endNs, n.end.dev, state)]);
  } catch (err) {
    if (child?.pid) signal(child.pid, 'SIGKILL');
    await restoreEnd(lab, n, state).catch((e: unknown) => {
      throw new Error(`${String(err)}\nand undoing it failed: ${String(e)}`);
    });
    throw err;
  }
  const line: DelayLine = { lab, link, moved, ns: n.ns, pid: child.pid!, log: `${n.file}.log`, paramsFile: `${n.file}.params`, params };
  running.set(n.ns, { line, child });
  return line;
}

/** Moves the original device back from the delay line's namespace, with `state`, and deletes that namespace. */
async function restoreEnd(lab: Lab, n: ReturnType<typeof names>, state: EndState): Promise<void> {
  const inDl = (await root(lab, [`ip -n ${n.ns} -o link show 2>/dev/null | cut -d: -f2 | cut -d@ -f1 || true`])).split('\n').map((s) => s.trim());
  const script: string[] = [];
  // Deleting the new pair's port deletes its peer in the end's namespace too, whatever it is named by now.
  if (inDl.includes(n.newPort)) script.push(`ip -n ${n.ns} link del dev ${n.newPort}`);
  const old = [n.oldPort, n.end.dev].find((d) => inDl.includes(d));
  if (old) {
    script.push(`ip -n ${n.ns} link set dev ${shellQuote(old)} netns ${n.endNs}`);
    if (old !== n.end.dev) script.push(`ip -n ${n.endNs} link set dev ${old} name ${shellQuote(n.end.dev)}`);
    script.push(...applyEnd(n.endNs, n.end.dev, state));
  }
  if (existsSync(`/run/netns/${n.ns}`)) script.push(`ip netns del ${n.ns}`);
  if (script.length) await root(lab, script);
}

/** Changes a running delay line's parameters (what `change` leaves out stays); resolves once the tool has reloaded them. */
export async function setDelay(line: DelayLine, change: DelayChange): Promise<void> {
  const next = merged(line.params, change);
  const count = (what: string) => readFileSync(line.log, 'utf8').split('\n').filter((l) => l.startsWith(`delayline: ${what}`)).length;
  const [ok, failed] = [count('reloaded'), count('reload failed')];
  writeFileSync(`${line.paramsFile}.new`, paramsText(next));
  renameSync(`${line.paramsFile}.new`, line.paramsFile);
  process.kill(line.pid, 'SIGHUP');
  await waitFor(`the delay line in ${line.ns} reloading its parameters`, 3000, async () => {
    if (count('reload failed') > failed) throw new Error(readFileSync(line.log, 'utf8').trim().split('\n').slice(-2).join('\n'));
    return count('reloaded') > ok;
  }, 10);
  line.params = next;
}

function parseStats(text: string): DelayStats {
  const dir = (part: string): DirectionStats => {
    const v = Object.fromEntries([...part.matchAll(/(\w+)=(\d+)/g)].map((m) => [m[1]!, Number(m[2])]));
    return { rx: v.rx ?? 0, rxbytes: v.rxbytes ?? 0, tx: v.tx ?? 0, lost: v.lost ?? 0, qdrop: v.qdrop ?? 0, txerr: v.txerr ?? 0, kdrop: v.kdrop ?? 0, trunc: v.trunc ?? 0, gso: v.gso ?? 0, queued: v.queued ?? 0 };
  };
  const m = /stats ab (.*) \| ba (.*)$/.exec(text);
  if (!m) throw new Error(`delay line: not a stats line: ${text}`);
  return { aToB: dir(m[1]!), bToA: dir(m[2]!) };
}

const statsLines = (line: DelayLine) => readFileSync(line.log, 'utf8').split('\n').filter((l) => l.startsWith('delayline: stats '));

/** The tool's counters since it started. */
export async function delayStats(line: DelayLine): Promise<DelayStats> {
  const before = statsLines(line).length;
  process.kill(line.pid, 'SIGUSR1');
  const lines = await waitFor(`the delay line in ${line.ns} printing its counters`, 3000, async () => statsLines(line).length > before && statsLines(line), 10);
  return parseStats(lines.at(-1)!);
}

/** CPU time the tool has used so far, in seconds (user + system). */
export function delayLineCpuSeconds(line: DelayLine): number {
  const f = readFileSync(`/proc/${line.pid}/stat`, 'utf8').split(')').at(-1)!.trim().split(' ');
  return (Number(f[11]) + Number(f[12])) / 100;
}

/** Ends the tool (its last counters are returned) and puts the link back as it was, with the settings its end has now. */
export async function removeDelayLine(line: DelayLine): Promise<DelayStats> {
  const entry = running.get(line.ns);
  if (!entry) throw new Error(`delay line: ${line.ns} is not running`);
  const { child } = entry;
  const exited = new Promise<void>((resolve) => (child.exitCode !== null || child.signalCode !== null ? resolve() : child.once('exit', () => resolve())));
  // Referenced while waiting: an unreferenced child and timer would let the event loop end under the await.
  child.ref();
  signal(line.pid, 'SIGTERM');
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([exited, new Promise((r) => (timer = setTimeout(r, 3000)))]);
  clearTimeout(timer);
  if (child.exitCode === null && child.signalCode === null) {
    signal(line.pid, 'SIGKILL');
    await exited;
  }
  running.delete(line.ns);
  const n = names(line.lab, line.link, line.moved);
  await restoreEnd(line.lab, n, await readEnd(line.lab, n.endNs, n.end.dev));
  const last = statsLines(line).at(-1);
  if (!last || child.exitCode !== 0) throw new Error(`delay line in ${line.ns} did not stop cleanly (exit ${child.exitCode ?? child.signalCode}): ${readFileSync(line.log, 'utf8').trim().split('\n').slice(-3).join('\n')}`);
  return parseStats(last);
}
