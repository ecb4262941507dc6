// The daemon at rest, alone: the benchmark's lab (a hub, sites with 2, 3, 4 and 2 WANs, aggregation
// on), daemons on every router, no traffic; CPU (own and children's, the living ones too, /proc/PID/stat) and memory
// (VmRSS sampled every 2 s, VmHWM) of the hub's and the 4-WAN site's daemon over a window. The
// benchmark's "daemon at rest" figure without its 19 minutes, and several ways of starting the
// daemon compared in one lab, round after round, so that a neighbour's load falls on each alike.
//   node dist/test/bench/rest.js [--variant LABEL=COMMAND]... [--rounds N] [--seconds S] [--trace]
// COMMAND replaces `ospfbond` (default: the unit's command line, with the lab's installed package), e.g.
//   --variant 'old=node /somewhere/dist/src/cli/main.js' --variant 'semi=env NODE_OPTIONS=--max-semi-space-size=1 ospfbond'
// --trace: one more round with `strace -f -e trace=execve` on both daemons, to list what they spawn.
// --hold: build the lab, print how to enter its nodes and keep it up (no daemon) until a signal.
// --sites N: instead, a hub with N sites of 2 WANs (no aggregation, as the scale benchmark), and a
// daemon on the hub only: its figure is the hub's.
import { readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { buildBondedLab, daemonLog, daemonUnitCommand } from '../lab/scenario.js';
import { labTopology, type SiteSpec } from '../lab/topology.js';
import { waitFor, type Lab } from '../lab/lab.js';
import { cpuSeconds as treeCpuSeconds } from './measure.js';

const { values: args } = parseArgs({
  options: {
    variant: { type: 'string', multiple: true, default: [`unit=${daemonUnitCommand()!.replace(/ daemon$/, '')}`] },
    rounds: { type: 'string', default: '2' },
    seconds: { type: 'string', default: '60' },
    trace: { type: 'boolean', default: false },
    hold: { type: 'boolean', default: false },
    sites: { type: 'string' },
    'id-prefix': { type: 'string', default: 'mem' },
  },
});
const variants = args.variant!.map((v) => ({ label: v.slice(0, v.indexOf('=')), command: v.slice(v.indexOf('=') + 1) }));
const ROUNDS = Number(args.rounds);
const SECONDS = Number(args.seconds);
const log = (s: string) => process.stderr.write(`[rest ${new Date().toISOString().slice(11, 19)}] ${s}\n`);

const SITES = args.sites === undefined ? undefined : Number(args.sites);
const sites: SiteSpec[] =
  SITES === undefined
    ? [
        { name: 'two', wanRates: [20, 20], aggregate: 'tcp' },
        { name: 'three', wanRates: [20, 20, 20], aggregate: 'tcp' },
        { name: 'four', wanRates: [20, 20, 20, 20], aggregate: 'tcp' },
        { name: 'uneq', wanRates: [50, 10], aggregate: 'tcp' },
      ]
    : Array.from({ length: SITES }, (_, i) => ({ name: `s${String(i + 1).padStart(2, '0')}`, wanRates: [20, 20] }));
const MEASURED = SITES === undefined ? ['hub', 'four'] : ['hub'];
const DAEMONS = SITES === undefined ? ['hub', ...sites.map((s) => s.name)] : ['hub'];
const PATTERN = / daemon( |$)/;

const status = (pid: number, key: string) => Number(new RegExp(`${key}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]) / 1024;
const ownCpuSeconds = (pid: number) => treeCpuSeconds(pid);

function daemonPid(lab: Lab, node: string): number | undefined {
  const found = lab.programPids(node, PATTERN).filter((p) => !/strace/.test(readFileSync(`/proc/${p}/cmdline`, 'utf8')));
  if (found.length > 1) throw new Error(`${node}: more than one daemon: ${found.join(', ')}`);
  return found[0];
}

async function startAll(lab: Lab, command: string): Promise<Map<string, number>> {
  const pids = new Map<string, number>();
  for (const node of DAEMONS) {
    await lab.sh(node, `setsid ${command} daemon >> ${daemonLog(lab, node)} 2>&1 < /dev/null &`);
  }
  for (const node of DAEMONS) {
    await waitFor(`the daemon on ${node}`, 20_000, async () => daemonPid(lab, node) !== undefined);
    pids.set(node, daemonPid(lab, node)!);
  }
  return pids;
}

async function stopAll(lab: Lab, pids: Map<string, number>): Promise<void> {
  lab.kill([...pids.values()], 'SIGTERM');
  await waitFor('the daemons to stop', 90_000, async () => [...pids.entries()].every(([n]) => daemonPid(lab, n) === undefined), 200);
}

interface Row {
  variant: string;
  round: number;
  node: string;
  cpu: number;
  ownCpu: number;
  rss: number;
  rssMax: number;
  hwm: number;
}

async function round(lab: Lab, v: { label: string; command: string }, n: number, trace: boolean): Promise<Row[]> {
  const pids = await startAll(lab, v.command);
  try {
    // The reconcile runs at seconds 0 and 30 of the clock; the first after a start has no cached
    // frr-reload.py answer. At least 20 s of warm-up, then from 5 s past a round.
    await sleep(20_000);
    await sleep(30_000 - ((Date.now() - 5000) % 30_000));
    const measured = MEASURED.map((node) => ({ node, pid: pids.get(node)! }));
    const tracers: number[] = [];
    if (trace) {
      for (const m of measured) {
        await lab.sh(m.node, `setsid strace -f -qq -e trace=execve -e signal=none -ttt -o /tmp/memtools/${id}-${m.node}-execve.txt -p ${m.pid} >/dev/null 2>&1 < /dev/null &`);
        await sleep(500);
        tracers.push(...lab.pidsMatching(m.node, new RegExp(`^strace .* -p ${m.pid}`)));
      }
    }
    const c0 = measured.map((m) => [treeCpuSeconds(m.pid, true), ownCpuSeconds(m.pid)] as const);
    const t0 = Date.now();
    const rssMax = measured.map(() => 0);
    while (Date.now() - t0 < SECONDS * 1000) {
      measured.forEach((m, i) => (rssMax[i] = Math.max(rssMax[i]!, status(m.pid, 'VmRSS'))));
      await sleep(2000);
    }
    const secs = (Date.now() - t0) / 1000;
    const rows = measured.map((m, i) => ({
      variant: v.label,
      round: n,
      node: m.node,
      cpu: (100 * (treeCpuSeconds(m.pid, true) - c0[i]![0])) / secs,
      ownCpu: (100 * (ownCpuSeconds(m.pid) - c0[i]![1])) / secs,
      rss: status(m.pid, 'VmRSS'),
      rssMax: Math.max(rssMax[i]!, status(m.pid, 'VmRSS')),
      hwm: status(m.pid, 'VmHWM'),
    }));
    if (trace) {
      lab.kill(tracers, 'SIGINT');
      await sleep(1000);
      for (const m of measured) log(`${m.node}: /tmp/memtools/${id}-${m.node}-execve.txt`);
    }
    for (const r of rows) log(`${r.variant} #${r.round} ${r.node}: ${r.cpu.toFixed(2)} % (own ${r.ownCpu.toFixed(2)}), RSS ${r.rss.toFixed(1)} MB (max ${r.rssMax.toFixed(1)}, HWM ${r.hwm.toFixed(1)})`);
    return rows;
  } finally {
    await stopAll(lab, pids);
  }
}

const id = `${args['id-prefix']}${randomBytes(3).toString('hex')}`;
log(`building lab ${id}`);
const { lab } = await buildBondedLab(labTopology(sites), id);
try {
  for (const s of lab.topo.spokes.filter((x) => x.aggregate === 'tcp')) {
    await waitFor(`${s.name}: an MPTCP endpoint per tap`, 30_000, async () => (JSON.parse(await lab.sh(s.name, 'ip -j mptcp endpoint show')) as unknown[]).length === s.wans.length);
  }
  log(`lab bonded${SITES === undefined ? ', aggregation armed' : ''}`);
  if (args.hold) {
    log(`enter a node: nsenter --net=/run/netns/${lab.id}-NODE --mount=${lab.dir}/NODE.mnt bash; PATH=${lab.prefix}/bin:$PATH`);
    await new Promise(() => setInterval(() => undefined, 1 << 30));
  }
  const rows: Row[] = [];
  for (let n = 1; n <= ROUNDS; n++) for (const v of variants) rows.push(...(await round(lab, v, n, false)));
  if (args.trace) rows.push(...(await round(lab, variants[0]!, 0, true)));
  const range = (xs: number[], d = 1) => (Math.min(...xs) === Math.max(...xs) ? xs[0]!.toFixed(d) : `${Math.min(...xs).toFixed(d)}–${Math.max(...xs).toFixed(d)}`);
  console.log(`| variant | node | CPU % of a core (own) | RSS MB at end | RSS max | VmHWM |`);
  console.log(`|---|---|---|---|---|---|`);
  for (const v of variants) {
    for (const node of MEASURED) {
      const r = rows.filter((x) => x.variant === v.label && x.node === node && x.round > 0);
      console.log(`| ${v.label} | ${node} | ${range(r.map((x) => x.cpu), 2)} (${range(r.map((x) => x.ownCpu), 2)}) | ${range(r.map((x) => x.rss))} | ${range(r.map((x) => x.rssMax))} | ${range(r.map((x) => x.hwm))} |`);
    }
  }
  console.log(JSON.stringify({ id, seconds: SECONDS, rows }));
} finally {
  lab.teardown();
}
