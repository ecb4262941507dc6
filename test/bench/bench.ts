// The benchmark: builds a lab of shaped ISP links, bonds four sites (2, 3 and 4 equal WANs, and a
// 50 + 10 Mbit/s pair) and measures aggregation, flow spread, failover and TCP survival over ECMP;
// then turns single-connection aggregation on (MPTCP proxies) and measures one connection over all
// the links, its failover, and many flows through the proxies. Prints a table, writes a JSON report
// and an SVG chart of per-WAN throughput across a failure and recovery.
// Every figure comes from this run. Exit status 1 when a target is missed.
//   npm run bench [-- --short] [-- --out DIR]
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import os from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { buildBondedLab, proxiesIdle, proxyRedirects, allBonded, ecmpWidth, ospfNexthopDevs, adjacencyUptimes, adjacencyResets, startDaemon, daemonLogLines, daemonUnitArgs, hubTunnels } from '../lab/scenario.js';
import { labTopology, type SiteSpec, type SpokeSpec } from '../lab/topology.js';
import { bothWays, dropDelayLines, insertDelayLine, removeDelayLine, setDelay } from '../lab/delayline.js';
import { waitFor, type Lab } from '../lab/lab.js';
import {
  FLOWS_JS,
  PAYLOAD_SHARE,
  limitMbit,
  udpFlowPaths,
  wanBytes,
  failWan,
  restoreWan,
  median,
  PathRecorder,
  hubTapWans,
  mainWan,
  type FailureKind,
  type IperfRun,
  flowsHarnessDrops,
  directionLosses,
  cpuSeconds,
} from './measure.js';
import { renderChart, type ChartPoint } from './chart.js';
import { Scorecard } from './report.js';
import { HUB_PROXY_PORT } from '../../src/model/aggregate.js';
import { parseSockets } from '../../src/status/build.js';

const { values: args } = parseArgs({ options: { short: { type: 'boolean', default: false }, out: { type: 'string', default: '/tmp/ospfbond-bench' } } });
const SHORT = args.short!;
const OUT = args.out!;
const SERVER = '203.0.113.2';
const RATE = 20;
const TRIALS = 5;
const IPERF_SECONDS = SHORT ? 5 : 10;
const FAILED = 'wan1';
const log = (s: string) => process.stderr.write(`[bench] ${s}\n`);
/** Seconds each phase took, printed and kept in the report: what to cut when CI runs long. */
const phases: Record<string, number> = {};
async function phase<T>(name: string, run: () => Promise<T>): Promise<T> {
  const start = Date.now();
  try {
    return await run();
  } finally {
    phases[name] = Math.round((Date.now() - start) / 1000);
    log(`phase ${name}: ${phases[name]} s`);
  }
}

interface Recorders {
  up: PathRecorder;
  down: PathRecorder;
}

const card = new Scorecard(log);
const { info, target } = card;

const sites: SiteSpec[] = [
  { name: 'two', wanRates: [RATE, RATE] },
  { name: 'three', wanRates: [RATE, RATE, RATE] },
  { name: 'four', wanRates: [RATE, RATE, RATE, RATE] },
  { name: 'uneq', wanRates: [50, 10] },
];
/** The site of ECMP's figures on one site: spread, failover, TCP on a failing tunnel. */
const ECMP = 'two';

async function diagnose(lab: Lab, what: string): Promise<void> {
  log(`diagnosis after ${what}:`);
  for (const cmd of ["vtysh -c 'show ip ospf neighbor'", "vtysh -c 'show bfd peers brief'", 'ip route']) log(await lab.sh('hub', cmd));
  for (const isp of lab.topo.isps) log(`${isp.name}: ${await lab.sh(isp.name, 'tc -s qdisc show | grep -E "qdisc|dropped"')}`);
}

async function iperf(lab: Lab, site: SpokeSpec, port: number, opts: string, seconds = IPERF_SECONDS): Promise<IperfRun> {
  return lab.iperfRun(site.host, SERVER, port, `-t ${seconds} ${opts}`, (seconds + 30) * 1000);
}

/**
 * A run with aggregation on, begun when no connection holds a place in the site's proxies: as on a
 * site where nothing else is busy, its first connections go through them (aggregate_connections).
 */
async function proxied(lab: Lab, site: SpokeSpec, port: number, opts: string, seconds = IPERF_SECONDS): Promise<IperfRun> {
  await proxiesIdle(lab, site.name);
  return iperf(lab, site, port, opts, seconds);
}

async function aggregation(lab: Lab, report: Record<string, unknown>): Promise<void> {
  const stop = await lab.iperfServer('server', 5201);
  const rows: Record<string, unknown>[] = [];
  for (const spec of sites) {
    const site = lab.topo.spokes.find((s) => s.name === spec.name)!;
    const limit = limitMbit(spec.wanRates);
    const what = spec.name === 'uneq' ? '50 + 10 Mbit/s' : `${spec.wanRates.length} x ${RATE} Mbit/s`;
    for (const dir of ['upload', 'download'] as const) {
      // ECMP hashes flows onto tunnels: 8 flows leave one of 4 tunnels idle about a third of the
      // time (4 * (3/4)^8), 32 flows practically never. Both are measured; 32 is the gate.
      for (const flows of [8, 32]) {
        const before = await wanBytes(lab, site);
        const run = await iperf(lab, site, 5201, `-P ${flows} -O 2 ${dir === 'download' ? '-R' : ''}`);
        const after = await wanBytes(lab, site);
        const share = run.mbit / limit;
        rows.push({ site: spec.name, rates: spec.wanRates, dir, flows, mbit: run.mbit, limitMbit: limit, share, error: run.error });
        const label = `${flows} flows, ${what}, ${dir}`;
        const value = `${run.mbit.toFixed(1)} Mbit/s = ${(100 * share).toFixed(1)} % of ${limit.toFixed(1)}`;
        if (flows === 8) info(label, value);
        else target(label, value, '>= 97 % of the encapsulation limit', share >= 0.97 && !run.error);
        if (spec.name === 'uneq' && dir === 'upload' && flows === 32) {
          // Both links busy: each WAN's own bytes against its line rate over the run.
          const util = spec.wanRates.map((r, i) => ((after[`wan${i + 1}`]!.tx - before[`wan${i + 1}`]!.tx) * 8) / (IPERF_SECONDS + 2) / (r * 1e6));
          rows.push({ site: 'uneq', dir: 'upload per-WAN line use', utilization: util });
          target("50 + 10 Mbit/s: each WAN's line in use", util.map((u, i) => `wan${i + 1} ${(100 * u).toFixed(0)} %`).join(', '), 'both >= 85 % of line rate', util.every((u) => u >= 0.85));
        }
      }
    }
  }
  const ecmp = lab.topo.spokes.find((s) => s.name === ECMP)!;
  for (const dir of ['upload', 'download'] as const) {
    const run = await iperf(lab, ecmp, 5201, `-P 1 -O 2 ${dir === 'download' ? '-R' : ''}`);
    const limit = limitMbit([RATE]);
    rows.push({ site: ECMP, dir, flows: 1, mbit: run.mbit, limitMbit: limit, share: run.mbit / limit, error: run.error });
    target(`1 flow, ${dir}`, `${run.mbit.toFixed(1)} Mbit/s = ${((100 * run.mbit) / limit).toFixed(1)} % of one link's ${limit.toFixed(1)}`, '>= 97 %', run.mbit / limit >= 0.97 && !run.error);
  }
  await stop();
  report.aggregation = rows;
}

/** One connection through the MPTCP proxies (docs/aggregation.md): the sum of the links, and the spoke proxy's CPU. */
async function singleConnection(lab: Lab, report: Record<string, unknown>): Promise<void> {
  const stop = await lab.iperfServer('server', 5206);
  const rows: Record<string, unknown>[] = [];
  let cpu: { mbit: number; share: number } | undefined;
  for (const spec of sites) {
    const site = lab.topo.spokes.find((s) => s.name === spec.name)!;
    const limit = limitMbit(spec.wanRates);
    const what = spec.name === 'uneq' ? '50 + 10 Mbit/s' : `${spec.wanRates.length} x ${RATE} Mbit/s`;
    const goal = spec.name === 'uneq' ? 0.85 : 0.9;
    for (const dir of ['upload', 'download'] as const) {
      const pid = Number((await lab.sh(site.name, 'cat /run/ospfbond/aggregate-redir.pid')).trim());
      const [c0, t0] = [cpuSeconds(pid), Date.now()];
      const run = await proxied(lab, site, 5206, `-P 1 -O 2 ${dir === 'download' ? '-R' : ''}`);
      const share = run.mbit / limit;
      const cpuShare = (cpuSeconds(pid) - c0) / ((Date.now() - t0) / 1000);
      rows.push({ site: spec.name, dir, flows: 1, mbit: run.mbit, limitMbit: limit, share, proxyCpu: cpuShare, error: run.error });
      const label = `1 flow through the proxies, ${what}, ${dir}`;
      const value = `${run.mbit.toFixed(1)} Mbit/s = ${(100 * share).toFixed(1)} % of ${limit.toFixed(1)}`;
      if (spec.name === 'four') info(label, value);
      else target(label, value, `>= ${100 * goal} % of the encapsulation limit`, share >= goal && !run.error);
      if (spec.name === 'three' && dir === 'upload') cpu = { mbit: run.mbit, share: cpuShare };
    }
  }
  if (cpu) {
    const per100 = (100 * cpu.share) / (cpu.mbit / 100);
    info("spoke proxy's CPU per 100 Mbit/s of one flow (goal <= 15 % of a core)", `${per100.toFixed(1)} % of one core (${(100 * cpu.share).toFixed(1)} % at ${cpu.mbit.toFixed(1)} Mbit/s, ss-redir upload on 3 x ${RATE})${per100 <= 15 ? '' : ': above the goal'}`);
  }
  await stop();
  report.singleConnection = rows;
}

/** One connection on 50 + 10 Mbit/s where the slow link has a long, jittery RTT. */
async function delayedConnection(lab: Lab, report: Record<string, unknown>): Promise<void> {
  const stop = await lab.iperfServer('server', 5209);
  const rows: Record<string, unknown>[] = [];
  // 50 + 10 with 60 +- 20 ms of RTT on the slow link (30 +- 10 ms each way): the slow link must not
  // hold the fast one back. The delay line goes in between the 10 Mbit/s line and its ISP.
  const uneq = lab.topo.spokes.find((s) => s.name === 'uneq')!;
  const link = lab.topo.links.find((l) => l.b.node === 'uneq' && l.b.dev === 'wan2')!;
  await insertDelayLine(lab, link, bothWays({ delayMs: 30, jitterMs: 10 }));
  await waitFor('uneq bonded again behind the delay line', 60_000, async () => (await ecmpWidth(lab, 'uneq', 'default')) === 2 && (await ecmpWidth(lab, 'hub', uneq.lanPrefix)) === 2, 250);
  await sleep(2000);
  const rtt = /= ([\d.]+)\/([\d.]+)\/([\d.]+)/.exec(await lab.sh('uneq', `ping -n -q -c 20 -i 0.05 ${uneq.wans[1]!.gw}`));
  info('the delay line on the 10 Mbit/s line: RTT to its ISP, min / avg / max of 20 pings', rtt ? `${rtt[1]} / ${rtt[2]} / ${rtt[3]} ms` : 'no answer');
  const fast = limitMbit([50]);
  for (const dir of ['upload', 'download'] as const) {
    const run = await proxied(lab, uneq, 5209, `-P 1 -O 2 ${dir === 'download' ? '-R' : ''}`);
    rows.push({ site: 'uneq', delayed: 'wan2 60 +- 20 ms RTT', dir, flows: 1, mbit: run.mbit, fastLimitMbit: fast, error: run.error });
    target(`1 flow, 50 + 10 Mbit/s with 60 +- 20 ms RTT on the 10, ${dir}`, `${run.mbit.toFixed(1)} Mbit/s = ${((100 * run.mbit) / fast).toFixed(1)} % of the fast link's ${fast.toFixed(1)}`, '>= 95 % of the fast link alone', run.mbit >= 0.95 * fast && !run.error);
  }
  await stop();
  report.delayedConnection = rows;
}

/**
 * The median time from connect to the first byte of a small HTTP fetch from a site's host, in ms;
 * `gapS` apart. A fetch's connection holds a place in the proxies for 1 s (and until the set's
 * garbage collection, up to 1 s more): 1.5 s apart, each of them finds one of two places free.
 */
async function firstByteMs(lab: Lab, site: SpokeSpec, port: number, gapS = 0): Promise<number> {
  const script = `${lab.dir}/first-byte.py`;
  writeFileSync(
    script,
    [
      'import socket, statistics, sys, time',
      'xs = []',
      'for i in range(15):',
      '    time.sleep(float(sys.argv[3]))',
      '    t = time.monotonic()',
      '    s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5)',
      "    s.sendall(b'GET /small HTTP/1.0\\r\\n\\r\\n')",
      '    s.recv(1)',
      '    xs.append((time.monotonic() - t) * 1000)',
      '    s.close()',
      'print(statistics.median(xs))',
      '',
    ].join('\n'),
  );
  return Number((await lab.sh(site.host, `python3 ${script} ${SERVER} ${port} ${gapS}`)).trim());
}

const HTTP_PORT = 8081;

/** A small file served by python's http.server on the lab's server, for the first-byte figures. */
async function startHttp(lab: Lab): Promise<void> {
  await lab.sh('server', `mkdir -p ${lab.dir}/www && head -c 2000 /dev/zero > ${lab.dir}/www/small && cd ${lab.dir}/www && (setsid python3 -m http.server ${HTTP_PORT} --bind ${SERVER} > /dev/null 2>&1 & echo $! > ${lab.dir}/www.pid)`);
  await waitFor('http server', 10_000, async () => (await lab.sh('server', `ss -Htln 'sport = :${HTTP_PORT}'`)).trim() !== '', 100);
}

/** Time to first byte through the proxies, against the same fetch before they were on and a tunnel's round trip. */
async function firstByte(lab: Lab, report: Record<string, unknown>, offMs: number): Promise<void> {
  const two = lab.topo.spokes.find((s) => s.name === ECMP)!;
  try {
    await proxiesIdle(lab, two.name);
    const before = await proxyRedirects(lab, two.name);
    const on = await firstByteMs(lab, two, HTTP_PORT, 1.5);
    const through = (await proxyRedirects(lab, two.name)) - before;
    const rtt = Number(/= [\d.]+\/([\d.]+)\//.exec(await lab.sh(two.host, `ping -n -q -c 10 -i 0.05 ${SERVER}`))?.[1]);
    report.firstByte = { onMs: on, offMs, rttMs: rtt, proxiedFetches: through };
    info('time to first byte of a small fetch, aggregation on vs off (goal: at most one tunnel RTT more)', `${on.toFixed(1)} vs ${offMs.toFixed(1)} ms (median of 15; ${through} of the 15 with aggregation on went through the proxies); a round trip through the tunnel ${rtt.toFixed(1)} ms${on - offMs <= rtt ? '' : ': above the goal'}`);
  } finally {
    await lab.try('server', `kill $(cat ${lab.dir}/www.pid)`);
  }
}

/**
 * Turns single-connection aggregation on for every site as an operator would: `aggregate = tcp` in
 * each spoke's section on the hub and in each spoke's config, then `apply` at both ends.
 */
async function enableAggregation(lab: Lab): Promise<void> {
  const conf = '/etc/ospfbond/ospfbond.ini';
  for (const s of sites) await lab.sh('hub', `sed -i '/^\\[spoke\\.${s.name}\\]$/,/^\\[/ s/^aggregate = off$/aggregate = tcp/' ${conf}`);
  await lab.sh('hub', 'ospfbond apply >/dev/null');
  for (const s of sites) await lab.sh(s.name, `sed -i '/^\\[spoke\\]$/,/^\\[/ s/^aggregate = off$/aggregate = tcp/' ${conf} && ospfbond apply >/dev/null`);
  for (const s of lab.topo.spokes) {
    await waitFor(`${s.name}: the proxy armed, an MPTCP endpoint per tap`, 20_000, async () => {
      const eps = JSON.parse(await lab.sh(s.name, 'ip -j mptcp endpoint show')) as unknown[];
      return eps.length === s.wans.length && /elements = \{ tcp \}/.test(await lab.sh(s.name, 'nft list set inet ospfbond aggregate_proto'));
    });
  }
}

/**
 * Issue 3's 32 flows with aggregation on, the median of three runs, judged against issue 3's 97 %.
 * The first aggregate_connections of them go through the proxies, the rest ride the tunnels per
 * flow (docs/aggregation.md, "Many connections"); the figure says how many were proxied. Two causes
 * kept these rows from being judged, both measured (docs/benchmarks.md): daemons that polled with a
 * process per query, and the one MPTCP stream re-sending data while its subflows ran BBR, this
 * machine's default (now cubic, set by the routes).
 */
async function manyFlowsThroughProxies(lab: Lab, report: Record<string, unknown>): Promise<void> {
  const stop = await lab.iperfServer('server', 5208);
  const rows: Record<string, unknown>[] = [];
  // 24 runs of 32 flows took five and a half minutes, the longest phase of a CI run: the short run
  // takes the two sites that differ most (two equal WANs, and 50 + 10), the full one all four.
  for (const spec of SHORT ? sites.filter((s) => s.name === ECMP || s.name === 'uneq') : sites) {
    const site = lab.topo.spokes.find((s) => s.name === spec.name)!;
    const limit = limitMbit(spec.wanRates);
    for (const dir of ['upload', 'download'] as const) {
      const trials: { mbit: number; through: number; error?: string }[] = [];
      for (let i = 0; i < 3; i++) {
        await proxiesIdle(lab, site.name);
        const before = await proxyRedirects(lab, site.name);
        const run = await iperf(lab, site, 5208, `-P 32 -O 2 ${dir === 'download' ? '-R' : ''}`);
        trials.push({ mbit: run.mbit, through: (await proxyRedirects(lab, site.name)) - before, error: run.error });
      }
      const mbit = median(trials.map((t) => t.mbit));
      const error = trials.find((t) => t.error)?.error;
      rows.push({ site: spec.name, dir, flows: 32, mbit, limitMbit: limit, share: mbit / limit, trials, error });
      target(
        `32 flows, aggregation on, ${spec.name === 'uneq' ? '50 + 10 Mbit/s' : `${spec.wanRates.length} x ${RATE} Mbit/s`}, ${dir} (median of 3)`,
        `${mbit.toFixed(1)} Mbit/s = ${((100 * mbit) / limit).toFixed(1)} % of ${limit.toFixed(1)} (runs: ${trials.map((t) => t.mbit.toFixed(1)).join(', ')}); through the proxies: ${trials.map((t) => t.through).join(', ')} of 33 connections${error ? ` (${error})` : ''}`,
        '>= 97 % of the encapsulation limit, some through the proxies',
        mbit / limit >= 0.97 && !error && trials.every((t) => t.through >= 1),
      );
    }
  }
  await stop();
  report.manyFlowsThroughProxies = rows;
}

/**
 * The daemon at rest, no traffic, on the hub and on the site with the most tunnels: CPU of one core
 * (its own and its children's, from /proc/PID/stat) and resident memory. Printed against issue
 * 17's budget (1 %, 80 MB), not judged yet: the jobs still start `ip`, `nft` and `ss` at times,
 * and a reconcile every 30 s reads the whole router.
 */
async function daemonAtRest(lab: Lab, report: Record<string, unknown>): Promise<void> {
  const seconds = SHORT ? 30 : 60;
  const rssMb = (pid: number) => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]) / 1024;
  const pattern = new RegExp(`ospfbond ${daemonUnitArgs()!}`);
  const nodes = ['hub', [...sites].sort((a, b) => b.wanRates.length - a.wanRates.length)[0]!.name];
  const pids = nodes.map((n) => {
    const found = lab.programPids(n, pattern);
    if (found.length !== 1) throw new Error(`${n}: expected one daemon, found pids ${found.join(', ') || 'none'}`);
    return found[0]!;
  });
  // The reconcile runs at seconds 0 and 30 of the clock; the first after a start has no cached
  // frr-reload.py answer. Begin 5 s past the next round, so that the window holds steady rounds.
  await sleep(30_000 - ((Date.now() - 5000) % 30_000));
  const cpu = () => nodes.map((_, i) => cpuSeconds(pids[i]!, true));
  const before = cpu();
  await sleep(seconds * 1000);
  const after = cpu();
  const rows = nodes.map((node, i) => ({ node, cpuPercent: (100 * (after[i]! - before[i]!)) / seconds, rssMb: rssMb(pids[i]!) }));
  report.daemonAtRest = { seconds, rows };
  for (const r of rows) {
    info(
      `daemon at rest on ${r.node === 'hub' ? `the hub (${sites.length} sites)` : `a spoke (${r.node})`}, over ${seconds} s (goal, issue 17: CPU <= 1 % of one core, children included; RSS <= 80 MB)`,
      `${r.cpuPercent.toFixed(1)} % of one core, ${r.rssMb.toFixed(0)} MB`,
    );
  }
}

/** Bytes a site's WAN sent (upload) or received (download) in `ms`. */
async function wanTraffic(lab: Lab, site: SpokeSpec, wan: string, dir: 'upload' | 'download', ms: number): Promise<number> {
  const pick = (b: Record<string, { rx: number; tx: number }>) => (dir === 'upload' ? b[wan]!.tx : b[wan]!.rx);
  const a = pick(await wanBytes(lab, site));
  await sleep(ms);
  return pick(await wanBytes(lab, site)) - a;
}

/**
 * What the spoke shows when a WAN back in the route carries none of a proxied connection's data: its
 * endpoint, the connection's subflows by local address, the kernel's join counters, and what the
 * daemon's aggregate job did since the restore. For reading a miss of the 5 s target: it showed
 * that the misses of earlier CI runs were a connection that had already ended.
 */
async function rejoinDiagnosis(lab: Lab, site: SpokeSpec, wan: string, since: number): Promise<void> {
  log(`${site.name}: ${wan} back but idle; endpoints: ${(await lab.sh(site.name, 'ip mptcp endpoint show')).trim().replaceAll('\n', ' | ')}`);
  const byAddr: Record<string, number> = {};
  for (const { local } of parseSockets(await lab.sh(site.name, `ss -Htn state established 'dport = :${HUB_PROXY_PORT}'`))) byAddr[local] = (byAddr[local] ?? 0) + 1;
  log(`${site.name}: subflows to the hub's proxy by local address: ${JSON.stringify(byAddr)}; MPTCP connections: ${(await lab.sh(site.name, 'ss -HnM state established')).split('\n').filter(Boolean).length}`);
  log(`${site.name}: ${(await lab.sh(site.name, "nstat -az | grep -E 'MPTcpExt(MPJoin|RmSubflow|AddAddr|RmAddr)' | grep -v ' 0 ' || true")).trim().replaceAll('\n', ' | ')}`);
  const lines = await daemonLogLines(lab, site.name, { job: 'aggregate' }).catch(() => []);
  const recent = lines.filter((l) => l.time >= since - 10_000);
  log(`${site.name}: the aggregate job since 10 s before the restore: ${recent.map((l) => `${new Date(l.time).toISOString().slice(11, 23)} ${l.msg}`).join(' | ') || 'nothing'}`);
}

/**
 * A WAN fails under one proxied connection: no reset, the other tunnel's share within 1.5 s, and
 * once the WAN's tunnel is back its subflow carries the connection's data again within 5 s.
 */
async function singleConnectionFailover(lab: Lab, report: Record<string, unknown>): Promise<void> {
  const site = lab.topo.spokes.find((s) => s.name === 'two')!;
  const remaining = limitMbit([RATE]);
  const stop = await lab.iperfServer('server', 5207, undefined, '-J -i 0.1');
  const runs: Record<string, unknown>[] = [];
  // Long enough for the WAN's return to be seen on the same connection: the failure at 4 s, the
  // restore at 8 s, the tunnel back up to 6 s later (WireGuard's next handshake after an upstream
  // drop), then 5 s for its subflow. With 12 s runs, a tunnel back 5.6 s after the restore found
  // the connection already over, and that was counted as a subflow that never came back.
  const RUN_S = 24;
  for (const kind of ['carrier', 'blackhole'] as const) {
    for (const dir of ['upload', 'download'] as const) {
      // idle first, then the clock: failAt is read against the run's own intervals
      await proxiesIdle(lab, site.name);
      const started = Date.now();
      const pending = iperf(lab, site, 5207, `-i 0.1 ${dir === 'download' ? '-R' : '--get-server-output'}`, RUN_S);
      await sleep(4000);
      await failWan(lab, site, FAILED, kind);
      const failAt = (Date.now() - started) / 1000;
      await sleep(4000);
      await restoreWan(lab, site, FAILED, kind);
      const restored = Date.now();
      // First the tunnel itself: after an upstream drop that outlasted the daemon's WireGuard
      // watch (3 s), the new session waits for WireGuard's next handshake, up to 5 s (issue 3's
      // restore figures cover that). Then the WAN's own bytes, 250 ms at a time: its subflow
      // carries the connection's data again (more than BFD and OSPF's trickle).
      const inRoute = async () => (await ecmpWidth(lab, site.name, 'default')) === site.wans.length;
      while (Date.now() - restored < 15_000 && !(await inRoute())) await sleep(50);
      const tunnelMs = Date.now() - restored;
      let backMs = Infinity;
      const runEnds = started + RUN_S * 1000 - 500;
      while (Date.now() - restored - tunnelMs < 8000 && Date.now() < runEnds) {
        if ((await wanTraffic(lab, site, FAILED, dir, 250)) > 50_000) {
          backMs = Date.now() - restored - tunnelMs;
          break;
        }
      }
      if (!Number.isFinite(backMs)) await rejoinDiagnosis(lab, site, FAILED, restored);
      const run = await pending;
      if (dir === 'upload' && !run.receiverSide) throw new Error('single connection upload: iperf3 returned no server-side intervals');
      await restoredAndBonded(lab, site);
      const { dip, back, recovery } = recoveryAfter(run, failAt, 0.8 * remaining);
      runs.push({ kind, dir, failAt, recoverySeconds: recovery, tunnelBackMs: tunnelMs, rejoinMs: backMs, error: run.error ?? null, intervals: run.intervals });
      log(`one proxied connection, ${kind} ${dir}: fail at ${failAt.toFixed(2)} s, dip from ${dip?.start.toFixed(1) ?? '-'} s, back ${back?.end.toFixed(1) ?? '-'} s; the tunnel back in the route ${tunnelMs} ms after the restore, wan1 carries data ${backMs} ms after that`);
      target(`one proxied connection (${kind}, ${dir}): a WAN fails`, run.error ? `reset: ${run.error}` : `no reset; back above 80 % of the remaining ${remaining.toFixed(1)} Mbit/s in ${recovery.toFixed(2)} s`, 'no reset; <= 1.5 s', !run.error && recovery <= 1.5);
      const ended = !Number.isFinite(backMs) && Date.now() >= runEnds;
      target(
        `one proxied connection (${kind}, ${dir}): the WAN back`,
        `its subflow carries data ${Number.isFinite(backMs) ? `${(backMs / 1000).toFixed(2)} s` : ended ? 'not before the connection ended' : 'not within 8 s'} after its tunnel is back in the route (${(tunnelMs / 1000).toFixed(2)} s after the restore)`,
        'data within 5 s of the tunnel',
        backMs <= 5000,
      );
    }
  }
  await stop();
  report.singleConnectionFailover = runs;
}

async function spread(lab: Lab, report: Record<string, unknown>, rec: Recorders): Promise<void> {
  const site = lab.topo.spokes.find((s) => s.name === ECMP)!;
  const stop = await lab.iperfServer('server', 5202);
  const stopDown = await lab.iperfServer('server', 5205);
  const trials: { upShare: number; downShare: number; up: Record<string, number>; down: Record<string, number> }[] = [];
  // A flow counts for the WAN that carried most of its bytes.
  const count = (paths: Map<number, Record<string, number>>, ports: number[]) => {
    const per: Record<string, number> = {};
    for (const p of ports) {
      const w = mainWan(paths.get(p)) ?? 'none';
      per[w] = (per[w] ?? 0) + 1;
    }
    return per;
  };
  for (let i = 0; i < TRIALS; i++) {
    await rec.up.flush();
    await rec.down.flush();
    const up = await iperf(lab, site, 5202, '-P 32', 3);
    const down = await iperf(lab, site, 5205, '-P 32 -R', 3);
    for (const run of [up, down]) if (run.ports.length !== 32) throw new Error(`spread: iperf3 opened ${run.ports.length} of 32 connections (${run.error ?? ''})`);
    const upPer = count(await rec.up.read(), up.ports);
    const downPer = count(await rec.down.read(), down.ports);
    trials.push({ up: upPer, down: downPer, upShare: Math.max(...Object.values(upPer)) / 32, downShare: Math.max(...Object.values(downPer)) / 32 });
    log(`spread #${i + 1}: upload ${JSON.stringify(upPer)}, download ${JSON.stringify(downPer)}`);
  }
  await stop();
  await stopDown();
  const up = median(trials.map((t) => t.upShare));
  const down = median(trials.map((t) => t.downShare));
  report.spread = { flows: 32, trials };
  target("32 flows over 2 WANs, busiest WAN's share (median of 5)", `upload ${(100 * up).toFixed(0)} %, download ${(100 * down).toFixed(0)} % (trials: ${trials.map((t) => `${(100 * t.upShare).toFixed(0)}/${(100 * t.downShare).toFixed(0)}`).join(' ')})`, '<= 65 %', up <= 0.65 && down <= 0.65);
}

interface FailoverTrial {
  kind: FailureKind;
  trial: number;
  /** The failed WAN's tunnel left both ECMP sets. */
  tookEffect: boolean;
  flowsOnFailed: number;
  worstGapMs: number;
  survivorsLost: number;
  /** Which attempt this is: a trial whose flows changed path before the failure is run again. */
  attempt: number;
  /** Per surviving flow (by source port), the datagrams it lost going up and coming down. */
  lostBySurvivors: { up: Record<number, number>; down: Record<number, number> };
  /** Flows on the surviving WANs, going up and coming down. */
  survivors: { up: number; down: number };
  /** Datagrams the echo server's and the host's own sockets dropped (full buffers): not the tunnels'. */
  harnessDrops: number;
  restoreSeconds: number;
}

/**
 * From the receiver's data: the first interval below `bar` after the failure began, to the end of
 * the first interval back above it (Infinity: never back; 0: no dip). Conservative by up to one interval.
 */
function recoveryAfter(run: IperfRun, failAt: number, bar: number): { dip?: IperfRun['intervals'][number]; back?: IperfRun['intervals'][number]; recovery: number } {
  const dip = run.intervals.find((i) => i.end > failAt - 0.3 && i.mbit < bar);
  const back = dip ? run.intervals.find((i) => i.start >= dip.end && i.mbit >= bar) : undefined;
  return { dip, back, recovery: dip && back ? back.end - dip.start : dip ? Infinity : 0 };
}

async function restoredAndBonded(lab: Lab, site: SpokeSpec, timeoutMs = 30_000): Promise<number> {
  const t0 = Date.now();
  await waitFor('the restored WAN back in both ECMP sets', timeoutMs, async () => (await ecmpWidth(lab, site.name, 'default')) === site.wans.length && (await ecmpWidth(lab, 'hub', site.lanPrefix)) === site.wans.length, 50);
  return (Date.now() - t0) / 1000;
}

async function failoverTrial(lab: Lab, site: SpokeSpec, kind: FailureKind, trial: number, attempt = 1): Promise<FailoverTrial> {
  const port = 9100 + 10 * trial + attempt + (kind === 'blackhole' ? 50 : 0);
  const sportBase = 42000 + 100 * trial + 20 * attempt + (kind === 'blackhole' ? 1000 : 0);
  const flows = 16;
  const seconds = 6;
  await restoredAndBonded(lab, site);
  const paths = await udpFlowPaths(lab, site, flows, sportBase, port);
  const harnessBefore = await flowsHarnessDrops(lab, site);
  const out = `${lab.dir}/echo-${kind}-${trial}-${attempt}.json`;
  const echo = lab.sh('server', `node ${FLOWS_JS} echo --port ${port} --seconds ${seconds + 3} --out ${out}`, { timeoutMs: 60_000 });
  await waitFor('echo listening', 5000, async () => (await lab.sh('server', `ss -Huln 'sport = :${port}'`)).trim() !== '', 50);
  const send = lab.sh(site.host, `node ${FLOWS_JS} send --dst ${SERVER} --port ${port} --flows ${flows} --sport-base ${sportBase} --pps 200 --seconds ${seconds}`, { timeoutMs: 60_000 });
  await sleep(1200);
  // The survivors are the flows whose paths were predicted before the flows began. When a route
  // changed since (a CI run's trial found the hub's route to the site on one tunnel only, a moment
  // after both had been in it), the prediction is stale and the trial measures no failover from a
  // bonded state: it is run again, and the report says so.
  const before = await udpFlowPaths(lab, site, flows, sportBase, port);
  const moved = paths.filter((p, i) => p.up !== before[i]!.up || p.down !== before[i]!.down);
  await sleep(800);
  await failWan(lab, site, FAILED, kind);
  const sent = JSON.parse(await send) as { sent: number; flows: { sport: number; received: number; lost: number; maxGapMs: number }[] };
  await echo;
  const recv = JSON.parse(await lab.sh('server', `cat ${out}`)) as { flows: { sport: number; received: number; lost: number; maxGapMs: number }[] };
  const harnessDrops = (await flowsHarnessDrops(lab, site)) - harnessBefore;
  // 4 s into the failure the WAN's tunnel must be out of both ends' routes: a trial whose failure
  // did not take measured nothing. Short run J's drops once left every flow whole (the gaps were
  // 40-130 ms, none lost at the server), unexplained; this says so, with where the tunnel went.
  const tap = `obt-${FAILED}`;
  const hubTap = (await hubTunnels(lab)).find((x) => x.site === site.name && x.wan === FAILED)!.tap;
  const stillIn = [
    ...((await ospfNexthopDevs(lab, site.name, 'default')).includes(tap) ? [`${site.name}'s default`] : []),
    ...((await ospfNexthopDevs(lab, 'hub', site.lanPrefix)).includes(hubTap) ? [`the hub's route to ${site.lanPrefix}`] : []),
  ];
  if (stillIn.length) {
    const where = await lab.try('hub', 'wg show obwg0 endpoints');
    log(`failover ${kind} #${trial}: the failed WAN's tunnel is still in ${stillIn.join(' and ')} 4 s into the failure; the hub's WireGuard endpoints: ${where.out.replace(/\s+/g, ' ').trim()}`);
  }
  await restoreWan(lab, site, FAILED, kind);
  const restoreSeconds = await restoredAndBonded(lab, site);
  if (moved.length) {
    const now = (sport: number) => before.find((b) => b.sport === sport)!;
    const detail = moved.map((p) => `${p.sport} ${p.up}/${p.down} -> ${now(p.sport).up}/${now(p.sport).down}`).join(', ');
    log(`failover ${kind} #${trial}: ${moved.length} flows changed path before the failure (up/down: ${detail}); the trial is run again`);
    if (attempt < 3) return failoverTrial(lab, site, kind, trial, attempt + 1);
    throw new Error(`failover ${kind} #${trial}: the routes did not hold still for 2 s in 3 attempts`);
  }
  const onFailed = paths.filter((p) => p.up === FAILED || p.down === FAILED);
  // Round trip: an echo is missing when either direction's tunnel is down, so the host's longest
  // gap per flow covers both the spoke's and the hub's failover.
  const gaps = onFailed.map((p) => sent.flows.find((f) => f.sport === p.sport)?.maxGapMs ?? Infinity);
  // Survivors are judged per direction (see directionLosses): when the two ends' nexthop orders
  // differ, every flow rides both WANs and none survives both ways (a CI run saw that in all 10 trials).
  const up = paths.filter((p) => p.up !== FAILED);
  const down = paths.filter((p) => p.down !== FAILED);
  const lost = directionLosses(sent, recv, up, down);
  const survivorsLost = [...lost.up, ...lost.down].reduce((a, b) => a + b, 0);
  const survivors = { up: up.length, down: down.length };
  const t: FailoverTrial = { kind, trial, attempt, tookEffect: stillIn.length === 0, flowsOnFailed: onFailed.length, worstGapMs: Math.max(0, ...gaps), survivorsLost, survivors, lostBySurvivors: { up: Object.fromEntries(up.map((p, i) => [p.sport, lost.up[i]!])), down: Object.fromEntries(down.map((p, i) => [p.sport, lost.down[i]!])) }, harnessDrops, restoreSeconds };
  const losses = (dir: 'up' | 'down') => Object.entries(t.lostBySurvivors[dir]).filter(([, n]) => n > 0).map(([s, n]) => `${s}: ${n}`).join(', ') || 'none';
  log(`failover ${kind} #${trial}: ${onFailed.length} flows on ${FAILED}, worst gap ${t.worstGapMs} ms; survivors (${survivors.up} up, ${survivors.down} down) lost ${survivorsLost} (up: ${losses('up')}; down: ${losses('down')}); dropped by the flows' own sockets ${harnessDrops}; restored in ${restoreSeconds.toFixed(2)} s`);
  return t;
}

async function failover(lab: Lab, report: Record<string, unknown>): Promise<void> {
  const site = lab.topo.spokes.find((s) => s.name === ECMP)!;
  const trials: FailoverTrial[] = [];
  for (const kind of ['carrier', 'blackhole'] as const) {
    for (let i = 1; i <= TRIALS; i++) trials.push(await failoverTrial(lab, site, kind, i));
    const mine = trials.filter((t) => t.kind === kind);
    const worst = median(mine.map((t) => t.worstGapMs));
    const untaken = mine.filter((t) => !t.tookEffect).map((t) => `#${t.trial}`);
    target(
      `failover (${kind}): worst flow's gap, median of ${TRIALS}`,
      `${worst.toFixed(0)} ms (trials: ${mine.map((t) => t.worstGapMs.toFixed(0)).join(', ')})${untaken.length ? `; the failure left the tunnel in ECMP in trials ${untaken.join(', ')}` : ''}`,
      '<= 300 ms, each failure taking the tunnel out',
      worst <= 300 && mine.every((t) => t.flowsOnFailed > 0) && untaken.length === 0,
    );
    const lost = mine.reduce((n, t) => n + t.survivorsLost, 0);
    const up = mine.reduce((n, t) => n + t.survivors.up, 0);
    const down = mine.reduce((n, t) => n + t.survivors.down, 0);
    // A drop by the measuring sockets themselves would count as a loss here: shown, and it misses.
    const harnessDrops = mine.reduce((n, t) => n + t.harnessDrops, 0);
    target(`failover (${kind}): packets lost by flows on the surviving WAN`, `${lost} (flows on it in ${TRIALS} trials: ${up} up, ${down} down; dropped by the flows' own sockets: ${harnessDrops})`, '0', lost === 0 && up > 0 && down > 0);
    const restore = Math.max(...mine.map((t) => t.restoreSeconds));
    target(`restore (${kind}): WAN back in both ECMP sets, worst of ${TRIALS}`, `${restore.toFixed(2)} s (trials: ${mine.map((t) => t.restoreSeconds.toFixed(2)).join(', ')})`, '<= 5 s', restore <= 5);
  }
  report.failover = trials;
}

/** The site's daemon stopped (SIGTERM, as systemd does) and started again: a drill that follows starts with no steering history. */
async function restartDaemon(lab: Lab, node: string): Promise<void> {
  const pattern = new RegExp(`ospfbond ${daemonUnitArgs()!}`);
  const pids = lab.programPids(node, pattern);
  for (const pid of pids) process.kill(pid, 'SIGTERM');
  await waitFor(`the daemon on ${node} stopped`, 70_000, async () => lab.programPids(node, pattern).every((p) => !pids.includes(p)));
  await startDaemon(lab, node);
}

/**
 * Links that degrade without dying (issue 17, docs/quality.md), on the ECMP site's wan2 through a
 * delay line: 10 % loss, an RTT spike to 800 ms, a link toggling bad and good every 5 s. The site's
 * daemon is restarted before each drill, so none inherits the last one's relapse rule. The short
 * run uses a 10 s hold-down (targets that depend on it say so), the full one the default 30 s.
 */
async function degradingLinks(lab: Lab, report: Record<string, unknown>): Promise<void> {
  const site = lab.topo.spokes.find((s) => s.name === ECMP)!;
  const wan = site.wans[1]!;
  const holdDown = SHORT ? 10 : 30;
  if (SHORT) await lab.sh(site.name, `printf '\n[quality]\nhold_down = ${holdDown}s\n' >> /etc/ospfbond/ospfbond.ini`);
  const hubTaps = await hubTapWans(lab, site);
  const line = await insertDelayLine(lab, lab.topo.links.find((l) => l.b.node === site.name && l.b.dev === wan.name)!, bothWays({ delayMs: 1 }));
  const seconds = (since: number) => (Date.now() - since) / 1000;
  const sets = async () => ({ spoke: await ospfNexthopDevs(lab, site.name, 'default'), hub: (await ospfNexthopDevs(lab, 'hub', site.lanPrefix)).map(hubTaps) });
  const out = async () => {
    const e = await sets();
    return !e.spoke.includes(`obt-${wan.name}`) && !e.hub.includes(wan.name) && e.spoke.length === site.wans.length - 1 && e.hub.length === site.wans.length - 1;
  };
  const bonded = (timeoutMs?: number) => restoredAndBonded(lab, site, timeoutMs);
  const drills: Record<string, unknown> = { holdDownSeconds: holdDown };

  // 10 % loss both ways: how soon no flow rides it, then 16 UDP flows 20-30 s after it began.
  await restartDaemon(lab, site.name);
  await bonded();
  let t0 = Date.now();
  await setDelay(line, bothWays({ lossPct: 10 }));
  await waitFor(`${wan.name} out of ECMP at both ends`, 30_000, out, 100);
  const outS = seconds(t0);
  target('10 % loss on one WAN: time until no flow rides the lossy tunnel (both ends\' routes)', `${outS.toFixed(1)} s`, '<= 10 s', outS <= 10);
  await sleep(Math.max(0, 20_000 - (Date.now() - t0)));
  const flows = 16;
  const pps = 200;
  const port = 9400;
  const echo = lab.sh('server', `node ${FLOWS_JS} echo --port ${port} --seconds 13 --out ${lab.dir}/echo-loss.json`, { timeoutMs: 60_000 });
  await waitFor('echo listening', 5000, async () => (await lab.sh('server', `ss -Huln 'sport = :${port}'`)).trim() !== '', 50);
  const sent = JSON.parse(await lab.sh(site.host, `node ${FLOWS_JS} send --dst ${SERVER} --port ${port} --flows ${flows} --sport-base 47000 --pps ${pps} --seconds 10`, { timeoutMs: 60_000 })) as { sent: number; flows: { sport: number; received: number; lost: number }[] };
  await echo;
  const perFlow = sent.sent / flows;
  const worstLoss = Math.max(...sent.flows.map((f) => f.lost / perFlow), ...Array.from({ length: flows - sent.flows.length }, () => 1)) * 100;
  target(`10 % loss on one WAN: worst of ${flows} UDP flows' round-trip loss, 20-30 s after the loss began`, `${worstLoss.toFixed(2)} % (${pps} packets/s each)`, '<= 1 %', worstLoss <= 1);
  const clean = Date.now();
  await setDelay(line, bothWays({ lossPct: 0 }));
  await bonded((holdDown + 30) * 1000);
  info(`10 % loss on one WAN: back in both ECMP sets after the loss ended (hold-down ${holdDown} s)`, `${seconds(clean).toFixed(1)} s`);
  drills.loss = { outSeconds: outS, worstLossPercent: worstLoss, backSeconds: seconds(clean) };

  // An RTT spike to 800 ms (400 ms each way): off within 5 s and kept off while it lasts, then back.
  await restartDaemon(lab, site.name);
  await bonded();
  const spikeS = SHORT ? 20 : 30;
  t0 = Date.now();
  await setDelay(line, bothWays({ delayMs: 400 }));
  await waitFor(`${wan.name} out of ECMP at both ends`, 15_000, out, 100);
  const offS = seconds(t0);
  const inAgain: number[] = [];
  while (Date.now() - t0 < spikeS * 1000) {
    if (!(await out())) inAgain.push(seconds(t0));
    await sleep(100);
  }
  const ended = Date.now();
  await setDelay(line, bothWays({ delayMs: 1 }));
  // BFD takes the tunnel out at the jump; OSPF may bring it back over the slow line before both
  // ends have the degraded cost. What counts is when the flows are off for good.
  const offForGood = inAgain.length ? Math.max(...inAgain) + 0.1 : offS;
  target(`RTT spike to 800 ms for ${spikeS} s: flows off the tunnel for good (both ends' routes, watched every 100 ms)`, `${offForGood.toFixed(1)} s (first off at ${offS.toFixed(1)} s; back in at ${inAgain.length ? `${inAgain.map((x) => x.toFixed(1)).join(', ')} s` : 'no time'})`, '<= 5 s', offForGood <= 5);
  await bonded((holdDown + 30) * 1000);
  const backS = seconds(ended);
  target(`RTT spike: back in both ECMP sets after it ended (hold-down ${holdDown} s)`, `${backS.toFixed(1)} s`, `<= ${holdDown + 10} s (hold-down + 10)`, backS <= holdDown + 10);
  drills.spike = { seconds: spikeS, offSeconds: offS, backInDuring: inAgain, backSeconds: backS };

  // Bad (20 % loss) and good every 5 s: how often the routes at either end change.
  await restartDaemon(lab, site.name);
  await bonded();
  const toggleS = SHORT ? 60 : 120;
  t0 = Date.now();
  let last = JSON.stringify(await sets());
  let changes = 0;
  let bad = false;
  let flip = t0;
  while (Date.now() - t0 < toggleS * 1000) {
    if (Date.now() >= flip) {
      bad = !bad;
      await setDelay(line, bothWays({ lossPct: bad ? 20 : 0 }));
      flip += 5000;
    }
    const now = JSON.stringify(await sets());
    if (now !== last) changes++;
    last = now;
    await sleep(200);
  }
  await setDelay(line, bothWays({ lossPct: 0 }));
  const perMinute = changes / (toggleS / 60);
  target(`a WAN toggling bad (20 % loss) and good every 5 s for ${toggleS} s: route changes at either end per minute`, `${perMinute.toFixed(1)} (${changes} changes)`, '<= 4', perMinute <= 4);
  drills.toggle = { seconds: toggleS, changes };
  await removeDelayLine(line);
  await bonded((8 * holdDown + 30) * 1000);
  report.degradingLinks = drills;
}

/**
 * Carrier loss with the site's daemon running (docs/quality.md): the daemon drops the tunnel's
 * adjacency on the kernel's event, so the gap is no longer BFD's. The same trials as `failover`,
 * which runs before the daemons start (BFD alone). The restore is printed, not judged: with the
 * daemon, wg-watch restarts the failed WAN's WireGuard session during the outage, and the new
 * handshake waits for WireGuard's 5 s retry (2.5-3.7 s in the first run, against 0.7-1.2 s without).
 */
async function carrierWithDaemon(lab: Lab, report: Record<string, unknown>): Promise<void> {
  const site = lab.topo.spokes.find((s) => s.name === ECMP)!;
  const trials: FailoverTrial[] = [];
  for (let i = 1; i <= TRIALS; i++) trials.push(await failoverTrial(lab, site, 'carrier', 10 + i));
  const gaps = trials.map((t) => t.worstGapMs);
  const worst = median(gaps);
  const everyTrial = trials.every((t) => t.flowsOnFailed > 0 && t.tookEffect);
  const untaken = trials.filter((t) => !t.tookEffect).map((t) => `#${t.trial}`);
  target(
    `carrier loss, the site's daemon running: worst flow's gap, median of ${TRIALS}`,
    `${worst.toFixed(0)} ms (trials: ${gaps.map((g) => g.toFixed(0)).join(', ')})${untaken.length ? `; the failure left the tunnel in ECMP in trials ${untaken.join(', ')}` : ''}`,
    '<= 100 ms, each failure taking the tunnel out',
    worst <= 100 && everyTrial,
  );
  info(`carrier loss, the site's daemon running: worst flow's gap, worst trial (goal, issue 17: <= 150 ms)`, `${Math.max(...gaps).toFixed(0)} ms`);
  const lost = trials.reduce((n, t) => n + t.survivorsLost, 0);
  target(`carrier loss, the site's daemon running: packets lost by flows on the surviving WAN`, `${lost}`, '0', lost === 0);
  info(`carrier loss, the site's daemon running: restored WAN back in both ECMP sets, worst of ${TRIALS}`, `${Math.max(...trials.map((t) => t.restoreSeconds)).toFixed(2)} s (trials: ${trials.map((t) => t.restoreSeconds.toFixed(2)).join(', ')})`);
  report.carrierWithDaemon = trials;
}

/**
 * Real-time flows (docs/realtime.md): 16 flows marked DSCP EF at 50 packets/s, round trips between
 * the ECMP site's LAN host and the server, while wan1 dies silently and, in a second run, loses
 * carrier. Each EF packet is copied into the site's other tunnel at both ends, so nothing may be
 * lost either way. Lost going up: what the server never received; coming down: what it echoed
 * that the host never received.
 */
async function realtimeFlows(lab: Lab, report: Record<string, unknown>): Promise<void> {
  const site = lab.topo.spokes.find((s) => s.name === ECMP)!;
  const flows = 16;
  const pps = 50;
  const seconds = 8;
  const runs: Record<string, unknown>[] = [];
  for (const kind of ['blackhole', 'carrier'] as const) {
    await restoredAndBonded(lab, site);
    const port = kind === 'blackhole' ? 9501 : 9502;
    const out = `${lab.dir}/echo-ef-${kind}.json`;
    const echo = lab.sh('server', `node ${FLOWS_JS} echo --port ${port} --seconds ${seconds + 4} --tos ${0xb8} --out ${out}`, { timeoutMs: 60_000 });
    await waitFor('echo listening', 5000, async () => (await lab.sh('server', `ss -Huln 'sport = :${port}'`)).trim() !== '', 50);
    const send = lab.sh(site.host, `node ${FLOWS_JS} send --dst ${SERVER} --port ${port} --flows ${flows} --sport-base 48000 --pps ${pps} --seconds ${seconds} --tos ${0xb8}`, { timeoutMs: 60_000 });
    await sleep(4000);
    await failWan(lab, site, FAILED, kind);
    type Result = { sent: number; flows: { sport: number; received: number; duplicates: number }[] };
    const sent = JSON.parse(await send) as Result;
    await echo;
    const recv = JSON.parse(await lab.sh('server', `cat ${out}`)) as Result;
    await restoreWan(lab, site, FAILED, kind);
    const all = Array.from({ length: flows }, (_, i) => ({ sport: 48000 + i }));
    const lost = directionLosses(sent, recv, all, all);
    const [up, down] = [lost.up, lost.down].map((l) => l.reduce((a, b) => a + b, 0)) as [number, number];
    const dups = recv.flows.reduce((n, f) => n + f.duplicates, 0);
    target(`${flows} EF flows (${pps} packets/s each), ${FAILED} ${kind === 'carrier' ? 'losing carrier' : 'dying silently'}: packets lost`, `${up} up, ${down} down (of ${sent.sent * flows} each way; duplicates at the server ${dups})`, '0', up === 0 && down === 0 && sent.sent > 0);
    runs.push({ kind, lostUp: up, lostDown: down, duplicatesAtServer: dups, sentPerFlow: sent.sent });
  }
  await restoredAndBonded(lab, site);
  report.realtimeFlows = runs;
}

async function tcpSurvival(lab: Lab, report: Record<string, unknown>, rec: Recorders, chart: ChartPoint[], marks: { failAt: number; restoreAt: number }): Promise<void> {
  const site = lab.topo.spokes.find((s) => s.name === ECMP)!;
  const remaining = limitMbit([RATE]);
  const runs: Record<string, unknown>[] = [];
  // The server reports 0.1 s intervals in JSON, so an upload is judged by what arrived, not by
  // what the client's socket accepted (which comes in bursts).
  const stop = await lab.iperfServer('server', 5203, undefined, '-J -i 0.1');
  const cport = 45001;
  for (const kind of ['carrier', 'blackhole'] as const) {
    for (const dir of ['upload', 'download'] as const) {
      const seconds = 12;
      const recorder = dir === 'upload' ? rec.up : rec.down;
      await recorder.flush();
      const started = Date.now();
      const pending = iperf(lab, site, 5203, `--cport ${cport} -i 0.1 ${dir === 'download' ? '-R' : '--get-server-output'}`, seconds);
      await sleep(2000);
      // The tunnel this connection really uses (its socket's hash picked it), so that is the one to break.
      const victim = mainWan((await recorder.read()).get(cport));
      if (!victim) throw new Error(`TCP ${dir}: the connection was seen on no tunnel`);
      await sleep(2000);
      await failWan(lab, site, victim, kind);
      const failAt = (Date.now() - started) / 1000;
      await sleep(4000);
      await restoreWan(lab, site, victim, kind);
      const restoreAt = (Date.now() - started) / 1000;
      const run = await pending;
      if (dir === 'upload' && !run.receiverSide) throw new Error('TCP upload: iperf3 returned no server-side intervals');
      await restoredAndBonded(lab, site);
      const { dip, back, recovery } = recoveryAfter(run, failAt, 0.8 * remaining);
      const worstAfterRestore = Math.min(...run.intervals.filter((i) => i.start > restoreAt + 0.5).map((i) => i.mbit));
      runs.push({ kind, dir, cport, victim, failAt, restoreAt, recoverySeconds: recovery, error: run.error ?? null, dipStart: dip?.start ?? null, minMbitAfterRestore: worstAfterRestore, intervals: run.intervals });
      log(`tcp ${kind} ${dir}: on ${victim}, fail at ${failAt.toFixed(2)} s, dip from ${dip?.start.toFixed(1) ?? '-'} s, back ${back?.end.toFixed(1) ?? '-'} s; restore at ${restoreAt.toFixed(2)} s`);
      target(`TCP (${kind}, ${dir}) on the failing WAN survives`, run.error ? `reset: ${run.error}` : `kept going: ${run.mbit.toFixed(1)} Mbit/s average, ${run.intervals.length} intervals`, 'no reset, through failure and restore', !run.error && run.intervals.length >= seconds * 10 - 2);
      target(`TCP (${kind}, ${dir}): back above 80 % of the remaining ${remaining.toFixed(1)} Mbit/s`, dip ? `${recovery.toFixed(2)} s` : 'no dip seen (not on the failed tunnel?)', '<= 2 s', !!dip && recovery <= 2);
    }
  }
  await stop();
  report.tcp = runs;

  // The chart: 8 flows uploading through 'two' while wan1 dies (carrier) and comes back.
  const stop2 = await lab.iperfServer('server', 5204);
  const pending = iperf(lab, site, 5204, '-P 8', 16);
  const t0 = Date.now();
  let prev = await wanBytes(lab, site);
  let prevT = 0;
  let failed = false;
  let restored = false;
  while ((Date.now() - t0) / 1000 < 16) {
    await sleep(250);
    const t = (Date.now() - t0) / 1000;
    if (!failed && t >= 5) {
      await failWan(lab, site, FAILED, 'carrier');
      marks.failAt = t;
      failed = true;
    }
    if (!restored && t >= 10) {
      await restoreWan(lab, site, FAILED, 'carrier');
      marks.restoreAt = t;
      restored = true;
    }
    const now = await wanBytes(lab, site);
    let total = 0;
    for (const w of site.wans) {
      const mbit = ((now[w.name]!.tx - prev[w.name]!.tx) * 8) / (t - prevT) / 1e6;
      total += mbit;
      chart.push({ t: Math.round(t * 100) / 100, series: w.name, mbit });
    }
    chart.push({ t: Math.round(t * 100) / 100, series: 'total', mbit: total });
    prev = now;
    prevT = t;
  }
  await pending;
  await stop2();
}

async function main(): Promise<void> {
  const started = new Date();
  log(`building the lab (${sites.map((s) => `${s.name}: ${s.wanRates.join('+')} Mbit/s`).join('; ')})${SHORT ? ', short run' : ''}`);
  const setup = await phase('bringUp', () => buildBondedLab(labTopology(sites)));
  const { lab } = setup;
  const report: Record<string, unknown> = {
    started: started.toISOString(),
    machine: { hostname: os.hostname(), cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model, kernel: os.release(), memGiB: Math.round(os.totalmem() / 2 ** 30) },
    short: SHORT,
    payloadShare: PAYLOAD_SHARE,
    bringUp: { fullSeconds: setup.fullSeconds, bondedSeconds: setup.bondedSeconds },
  };
  const chart: ChartPoint[] = [];
  const marks = { failAt: 0, restoreAt: 0 };
  try {
    log(`bonded: adjacencies Full ${setup.fullSeconds.toFixed(1)} s, ECMP ${setup.bondedSeconds.toFixed(1)} s after apply`);
    // No adjacency may go down under full load. BFD's own session-down counter cannot show this:
    // bfdd deletes a session with its OSPF neighbour, counters and all. OSPF's uptimes can.
    const loadStart = Date.now();
    const uptimes = await adjacencyUptimes(lab);
    await phase('aggregation', () => aggregation(lab, report));
    const ecmp = lab.topo.spokes.find((s) => s.name === ECMP)!;
    const rec: Recorders = {
      up: await PathRecorder.start(lab, ecmp.name, 'sport', 'obt-*', (tap) => tap.replace(/^obt-/, '')),
      down: await PathRecorder.start(lab, 'hub', 'dport', 'obt*', await hubTapWans(lab, ecmp)),
    };
    await phase('spread', () => spread(lab, report, rec));
    const resets = await adjacencyResets(lab, uptimes, Date.now() - loadStart);
    target(`adjacencies that went down under full load (aggregation, spread: ${((Date.now() - loadStart) / 60000).toFixed(0)} min)`, resets.length ? resets.join(', ') : `none of ${uptimes.size}`, 'none', resets.length === 0);
    if (resets.length) await diagnose(lab, 'the load phases');
    await phase('failover', () => failover(lab, report));
    await phase('tcpSurvival', () => tcpSurvival(lab, report, rec, chart, marks));
    await startHttp(lab);
    const offMs = await firstByteMs(lab, ecmp, HTTP_PORT);
    log('turning single-connection aggregation on at every site');
    await phase('enableAggregation', () => enableAggregation(lab));
    // The daemon moves a failed tunnel's subflows off at once (docs/aggregation.md), as on a router;
    // started only now, so the ECMP figures above are without its CPU.
    await Promise.all(['hub', ...sites.map((s) => s.name)].map((n) => startDaemon(lab, n)));
    await phase('daemonAtRest', () => daemonAtRest(lab, report));
    // With the daemons: a WAN losing carrier is the site daemon's event (docs/quality.md).
    await phase('carrierWithDaemon', () => carrierWithDaemon(lab, report));
    await phase('realtimeFlows', () => realtimeFlows(lab, report));
    await phase('degradingLinks', () => degradingLinks(lab, report));
    await phase('firstByte', () => firstByte(lab, report, offMs));
    await phase('singleConnectionFailover', () => singleConnectionFailover(lab, report));
    await phase('singleConnection', () => singleConnection(lab, report));
    const aggUptimes = await adjacencyUptimes(lab);
    const manyStart = Date.now();
    await phase('manyFlowsThroughProxies', () => manyFlowsThroughProxies(lab, report));
    const flapped = await adjacencyResets(lab, aggUptimes, Date.now() - manyStart);
    info('adjacencies that went down while 32 flows ran with aggregation on', flapped.length ? flapped.join(', ') : `none of ${aggUptimes.size}`);
    // Last: the delay line's insertion takes uneq's wan2 down for a moment.
    await phase('delayedConnection', () => delayedConnection(lab, report));
    if (!(await allBonded(lab))) log('warning: the lab was not fully bonded at the end');
    // What the daemons did to the endpoints and the redirect, for reading a missed figure.
    for (const s of sites) {
      const lines = await daemonLogLines(lab, s.name, { job: 'aggregate' }).catch(() => []);
      log(`${s.name}: the aggregate job logged ${lines.length} lines${lines.length ? `; last: ${lines.slice(-5).map((l) => `${new Date(l.time).toISOString().slice(11, 23)} ${l.msg}`).join(' | ')}` : ''}`);
    }
  } catch (err) {
    await diagnose(lab, String(err)).catch(() => undefined);
    throw err;
  } finally {
    dropDelayLines(lab);
    lab.teardown();
  }
  report.phases = phases;
  report.targets = card.targets;
  report.info = card.infos;
  report.chart = { points: chart, ...marks };
  mkdirSync(OUT, { recursive: true });
  writeFileSync(`${OUT}/report.json`, `${JSON.stringify(report, null, 2)}\n`);
  writeFileSync(`${OUT}/throughput.svg`, await renderChart(chart, marks, `8 TCP flows through 2 x ${RATE} Mbit/s WANs (aggregation off); wan1 loses carrier, then returns`));
  card.printTable([...card.targets, ...card.rows.filter((r) => r.met === undefined)], [46, 60, 22, 8]);
  console.log(`report: ${OUT}/report.json   chart: ${OUT}/throughput.svg`);
  card.verdict();
}

await main();
