// The scale benchmark: (A) the hub's `apply` for 200 spokes x 2 WANs, on a hub alone in
// the lab (no spoke runs); (B) 30 spokes x 2 WANs bonded to one hub: every adjacency Full and every
// BFD session up. Every figure comes from this run; prints a table, exit status 1 when a target is
// missed.
//   npm run bench:scale [-- --part hub|spokes] [-- --hub-spokes N] [-- --sites N]
import { parseArgs } from 'node:util';
import os from 'node:os';
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { Lab } from '../lab/lab.js';
import { labTopology, routerNodes, type SiteSpec } from '../lab/topology.js';
import { ospfbondSteps, stepCommand, bundlePath } from '../lab/provision.js';
import { allFull, hubTunnels } from '../lab/scenario.js';
import { neighborsByIface, bfdByIface, ospfInterfaces } from '../../src/frr/json.js';
import { Scorecard } from './report.js';

const { values: args } = parseArgs({
  options: {
    part: { type: 'string', default: 'all' },
    'hub-spokes': { type: 'string', default: '200' },
    sites: { type: 'string', default: '30' },
  },
});
const HUB_SPOKES = Number(args['hub-spokes']);
const SITES = Number(args.sites);
// A part nobody asked for runs nothing, and no spoke makes nothing to count: either would print
// "0 passed, 0 failed" or pass targets vacuously, and exit 0.
if (!['all', 'hub', 'spokes'].includes(args.part!) || ![HUB_SPOKES, SITES].every((n) => Number.isInteger(n) && n > 0)) {
  process.stderr.write(`[scale] usage: --part all|hub|spokes, --hub-spokes N and --sites N at least 1 (got --part ${args.part}, --hub-spokes ${args['hub-spokes']}, --sites ${args.sites})\n`);
  process.exit(2);
}
const HUB_APPLY_TARGET_S = 30;
const BOND_TARGET_S = 60;
/** The drills' hub restart figure (every spoke back within 15 s), for the config alone. */
const RESTART_LOAD_TARGET_S = 15;
/** How long the bonded lab is watched for adjacencies or BFD sessions going down. */
const WATCH_S = 60;
const log = (s: string) => process.stderr.write(`[scale] ${s}\n`);

const card = new Scorecard(log);
const { info, target } = card;
const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

/** Runs `cmd` on `node` and returns its output and how long it took, in ms. */
async function timed(lab: Lab, node: string, cmd: string, timeoutMs = 600_000): Promise<{ out: string; ms: number }> {
  const t0 = performance.now();
  const out = await lab.sh(node, cmd, { timeoutMs });
  return { out, ms: performance.now() - t0 };
}

/**
 * Where an apply spent its time, from its output with each line stamped as it was printed: the
 * reading and planning before the first step, then each kind of step (`ip link add`, `tc`,
 * `python3 frr-reload.py` ...) until the next line.
 */
function profile(stamped: string, startS: number, endS: number): string {
  const lines = stamped
    .split('\n')
    .map((l) => /^(\d+\.\d+) (.*)$/.exec(l))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ at: Number(m[1]), text: m[2]! }));
  const steps = lines.filter((l) => l.text.startsWith('[#] '));
  const per = new Map<string, { n: number; s: number }>();
  if (steps.length) per.set('read and plan (before the first step)', { n: 1, s: steps[0]!.at - startS });
  steps.forEach((l, i) => {
    const words = l.text.slice(4).split(' ');
    const kind = words[0] === 'python3' || words[0] === 'write' ? words.slice(0, 2).join(' ') : words.slice(0, words[0] === 'ip' ? 3 : 2).join(' ');
    const next = steps[i + 1]?.at ?? endS;
    const p = per.get(kind) ?? { n: 0, s: 0 };
    per.set(kind, { n: p.n + 1, s: p.s + (next - l.at) });
  });
  return [...per.entries()]
    .sort((a, b) => b[1].s - a[1].s)
    .map(([k, v]) => `${k} ×${v.n} ${v.s.toFixed(1)} s`)
    .join('; ');
}

/** The hub's taps on which ospfd runs OSPF. */
async function ospfTaps(lab: Lab): Promise<number> {
  return Object.keys(ospfInterfaces(await lab.sh(lab.topo.hub.node, "vtysh -c 'show ip ospf interface json'"))).filter((n) => /^obt\d+$/.test(n)).length;
}

/** The stub areas (one per spoke) in a running config. */
const stubAreas = (running: string) => running.split('\n').filter((l) => /^ area \S+ stub no-summary$/.test(l)).length;

async function hubApply(): Promise<void> {
  log(`part A: a hub alone, ${HUB_SPOKES} spokes x 2 WANs added, then apply`);
  const lab = new Lab(labTopology([]));
  try {
    await lab.build();
    await lab.installPackage();
    const t = lab.topo;
    const [init] = ospfbondSteps(t, lab.dir);
    await lab.sh(t.hub.node, stepCommand(init!));
    // FRR runs, as Debian's frr package leaves it: apply reloads it rather than starting it.
    // Output to /dev/null: FRR 10.3's daemons keep the script's stdout and stderr open, and a
    // command waiting for them to close hung there on Debian 13.
    await lab.sh(t.hub.node, '/usr/lib/frr/frrinit.sh start >/dev/null 2>&1');
    // One shell runs the real CLI once per spoke, as an operator's loop would.
    const names = Array.from({ length: HUB_SPOKES }, (_, i) => `s${String(i + 1).padStart(3, '0')}`);
    const addCmd = names
      .map((n) => stepCommand({ node: t.hub.node, script: 'hub.sh', args: ['add-spoke', n, bundlePath(lab.dir, n), 'wan1=20', 'wan2=20'] }))
      .join(' >/dev/null && ');
    const add = await timed(lab, t.hub.node, `${addCmd} >/dev/null`);
    info(`${HUB_SPOKES} × \`ospfbond hub add-spoke\` (2 WANs, rates), one after another`, `${secs(add.ms)} in all, ${(add.ms / HUB_SPOKES).toFixed(0)} ms each`);

    // Each output line stamped as it is printed, for the profile.
    const stamp = `perl -MTime::HiRes=time -ne 'BEGIN { $| = 1 } printf "%.3f %s", time, $_'`;
    const startS = Date.now() / 1000;
    const first = await timed(lab, t.hub.node, `set -o pipefail; ospfbond apply 2>&1 | ${stamp}`);
    const endS = Date.now() / 1000;
    const steps = Number(/applied \((\d+) steps\)/.exec(first.out)?.[1] ?? NaN);
    // FRR's reload of the 3,300-line block took 22-41 s of it while the block put the taps before
    // `router ospf` (see the restart below); see docs/design.md, "The hub's block".
    target(`hub \`apply\`, ${HUB_SPOKES} spokes × 2 WANs (nothing applied before)`, `${secs(first.ms)}, ${steps} steps`, `< ${HUB_APPLY_TARGET_S} s`, first.ms < HUB_APPLY_TARGET_S * 1000);
    target('that apply ran and succeeded', `${steps} steps`, 'applied', steps > 0);
    info('where that apply spent its time', profile(first.out, startS, endS));

    // What the apply made, counted on the router: the figure above must not be a no-op's.
    const tunnels = 2 * HUB_SPOKES;
    const taps = (JSON.parse(await lab.sh(t.hub.node, 'ip -j -d link show type vxlan')) as { ifname: string; ifalias?: string; flags: string[] }[]).filter(
      (l) => /^obt\d+$/.test(l.ifname) && l.ifalias?.startsWith('ospfbond:') && l.flags.includes('UP'),
    ).length;
    const peers = (await lab.sh(t.hub.node, 'wg show obwg0 peers')).split('\n').filter(Boolean).length;
    const running = await lab.sh(t.hub.node, "vtysh -c 'show running-config'");
    const frrIfaces = running.split(/^(?=interface )/m).filter((b) => /^interface obt\d+\n/.test(b) && /^ ip ospf area /m.test(b)).length;
    const ospfIfaces = await ospfTaps(lab);
    const shaped = (await lab.sh(t.hub.node, 'tc qdisc show')).split('\n').filter((l) => /^qdisc htb 1: dev obt\d+ root/.test(l)).length;
    // ospfd listens for hellos on a tap only once it joined AllSPFRouters there (the kernel's
    // per-socket limit once stopped that at 20 taps): give it the time it takes to start up.
    const joined = async () => (await lab.sh(t.hub.node, 'ip maddr show')).split(/^(?=\d+:\s)/m).filter((d) => /^\d+:\s+obt\d+\s/.test(d) && /inet\s+224\.0\.0\.5\b/.test(d)).length;
    let listening = await joined();
    for (const end = Date.now() + 30_000; listening < tunnels && Date.now() < end; listening = await joined()) await sleep(1000);
    const stubs = stubAreas(running);
    const made = `${taps} taps up, ${peers} WireGuard peers, ${frrIfaces} taps with OSPF in FRR's running config, ${ospfIfaces} OSPF interfaces, ${shaped} taps shaped, ${listening} taps where ospfd joined 224.0.0.5; ${stubs} stub areas`;
    target('what that apply made', made, `${tunnels} of each; ${HUB_SPOKES} stubs`, [taps, peers, frrIfaces, ospfIfaces, shaped, listening].every((n) => n === tunnels) && stubs === HUB_SPOKES);

    const second = await timed(lab, t.hub.node, 'ospfbond apply 2>&1');
    const nothing = /nothing to do/.test(second.out);
    target('the same `apply` again', `${secs(second.ms)}: ${second.out.trim().split('\n').at(-1)}`, 'nothing to do', nothing);

    // A reboot or a crash: FRR starts with the whole block. Written with the interfaces before
    // `router ospf`, ospfd joined each tap to a plain area and then made it a stub, and 3 minutes
    // after this restart 42 of the 200 areas were still not stubs (those spokes' hellos refused).
    const restart = await timed(lab, t.hub.node, '/usr/lib/frr/frrinit.sh restart >/dev/null 2>&1');
    const loaded = async () => {
      return { stubs: stubAreas(await lab.sh(t.hub.node, "vtysh -c 'show running-config'")), ifaces: await ospfTaps(lab) };
    };
    const t0 = performance.now();
    let got = await loaded();
    while ((got.stubs < HUB_SPOKES || got.ifaces < tunnels) && performance.now() - t0 < 60_000) {
      await sleep(500);
      got = await loaded();
    }
    const loadMs = performance.now() - t0;
    const whole = got.stubs === HUB_SPOKES && got.ifaces === tunnels;
    target(
      `the hub's FRR restarted (${HUB_SPOKES} spokes): its config loaded`,
      `${whole ? `${secs(loadMs)} after \`frrinit.sh restart\` returned (${secs(restart.ms)})` : `not in 60 s`}: ${got.stubs} stub areas, ${got.ifaces} OSPF taps`,
      `all, within ${RESTART_LOAD_TARGET_S} s`,
      whole && loadMs <= RESTART_LOAD_TARGET_S * 1000,
    );
  } finally {
    lab.teardown();
  }
}

/** CPU time of the whole machine (all cores), from /proc/stat: busy and total jiffies. */
function cpuTimes(): { busy: number; total: number } {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  const total = f.reduce((a, b) => a + b, 0);
  return { busy: total - f[3]! - (f[4] ?? 0), total };
}
const busyPct = (a: { busy: number; total: number }, b: { busy: number; total: number }) => `${((100 * (b.busy - a.busy)) / (b.total - a.total)).toFixed(0)} %`;
const memAvailableMiB = () => Number(/MemAvailable:\s+(\d+)/.exec(readFileSync('/proc/meminfo', 'utf8'))![1]) / 1024;
const loadavg = () => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');

/** Resident memory of the lab's processes by command name, in MiB, and how many of each. */
function labMemory(lab: Lab): Map<string, { n: number; mib: number }> {
  const out = new Map<string, { n: number; mib: number }>();
  for (const node of lab.topo.nodes) {
    for (const pid of lab.pidsMatching(node.name, /./)) {
      try {
        const status = readFileSync(`/proc/${pid}/status`, 'utf8');
        const comm = /^Name:\s+(\S+)/m.exec(status)![1]!;
        const kib = Number(/^VmRSS:\s+(\d+)/m.exec(status)?.[1] ?? 0);
        const e = out.get(comm) ?? { n: 0, mib: 0 };
        out.set(comm, { n: e.n + 1, mib: e.mib + kib / 1024 });
      } catch {
        // gone meanwhile
      }
    }
  }
  return out;
}

/** The hub's OSPF neighbours and BFD sessions on its taps: Full / up counts and each one's uptime. */
async function hubSessions(lab: Lab): Promise<{ full: number; bfdUp: number; states: string; nbrUpMs: Map<string, number>; bfdUpS: Map<string, number> }> {
  const out = await lab.sh(lab.topo.hub.node, "vtysh -c 'show ip ospf neighbor json'; echo '@@'; vtysh -c 'show bfd peers json'", { timeoutMs: 20_000 });
  const [nbrJson, bfdJson] = out.split('\n@@\n') as [string, string];
  const all = Object.entries(neighborsByIface(nbrJson)).filter(([i]) => /^obt\d+$/.test(i));
  const nbrs = all.filter(([, n]) => n.state.startsWith('Full'));
  const count = new Map<string, number>();
  for (const [, n] of all) {
    const state = n.state.split('/')[0]!;
    count.set(state, (count.get(state) ?? 0) + 1);
  }
  const states = [...count].map(([k, v]) => `${v} ${k}`).join(', ') || 'no neighbours';
  const bfd = Object.entries(bfdByIface(bfdJson)).filter(([i, p]) => /^obt\d+$/.test(i) && p.status === 'up');
  return { full: nbrs.length, bfdUp: bfd.length, states, nbrUpMs: new Map(nbrs.map(([i, n]) => [i, n.upMs ?? 0])), bfdUpS: new Map(bfd.map(([i, p]) => [i, p.uptime ?? 0])) };
}

/** Runs `fn` over `items`, at most `n` at a time. */
async function pool<T>(items: T[], n: number, fn: (item: T) => Promise<void>): Promise<void> {
  const queue = [...items];
  await Promise.all(Array.from({ length: n }, async () => {
    for (let item = queue.shift(); item !== undefined; item = queue.shift()) await fn(item);
  }));
}

/** What a missed bring-up looks like: which tunnels are up at the hub, WireGuard handshakes, one site that is not bonded. */
async function diagnose(lab: Lab): Promise<void> {
  const hub = lab.topo.hub.node;
  const s = await hubSessions(lab).catch(() => undefined);
  const tunnels = await hubTunnels(lab);
  const full = tunnels.filter((x) => s?.nbrUpMs.has(x.tap));
  log(`diagnosis: Full at the hub: ${full.map((x) => `${x.site}/${x.wan}`).sort().join(' ')}`);
  const now = Math.floor(Date.now() / 1000);
  const hs = (await lab.sh(hub, 'wg show obwg0 latest-handshakes')).split('\n').filter(Boolean).map((l) => Number(l.split('\t')[1]));
  log(`diagnosis: hub WireGuard peers with a handshake: ${hs.filter((h) => h > 0).length} of ${hs.length}, within 3 min: ${hs.filter((h) => h > now - 180).length}`);
  const down = lab.topo.spokes.find((sp) => !sp.wans.every((w) => full.some((x) => x.site === sp.name && x.wan === w.name)));
  if (down) {
    for (const cmd of ['wg show all', "vtysh -c 'show ip ospf neighbor'", "vtysh -c 'show ip ospf interface brief'", 'ip route', 'ip rule']) log(`diagnosis: ${down.name}: ${cmd}\n${(await lab.try(down.name, cmd)).out}`);
  }
}

async function spokesBond(): Promise<void> {
  const sites: SiteSpec[] = Array.from({ length: SITES }, (_, i) => ({ name: `s${String(i + 1).padStart(2, '0')}`, wanRates: [20, 20] }));
  const tunnels = 2 * SITES;
  log(`part B: ${SITES} sites x 2 WANs (20 Mbit/s each, behind 2 carrier-NAT ISPs) on one hub`);
  const memBefore = memAvailableMiB();
  const lab = new Lab(labTopology(sites));
  try {
    const tBuild = performance.now();
    await lab.build();
    await lab.installPackage();
    info('lab built (namespaces, links, ospfbond installed)', `${secs(performance.now() - tBuild)}, ${lab.topo.nodes.length} namespaces`);
    const t = lab.topo;
    const steps = ospfbondSteps(t, lab.dir);
    const tProv = performance.now();
    // The hub's steps one after another (they edit one config), then the spokes' `init spoke`, a few at a time.
    await lab.sh(t.hub.node, steps.filter((s) => s.node === t.hub.node).map(stepCommand).join(' >/dev/null && '), { timeoutMs: 600_000 });
    const hubMs = performance.now() - tProv;
    await pool(steps.filter((s) => s.node !== t.hub.node), 4, async (s) => void (await lab.sh(s.node, stepCommand(s))));
    info('provisioning: `init hub` and the add-spokes on the hub, then each site\'s `init spoke` (4 at a time)', `${secs(performance.now() - tProv)} (hub ${secs(hubMs)})`);

    // t0: `ospfbond apply` started on the hub and on every site at the same moment.
    const routers = routerNodes(t);
    const cpu0 = cpuTimes();
    const t0 = performance.now();
    const applyDone: number[] = [];
    const applies = Promise.all(
      routers.map(async (n) => {
        const out = await lab.sh(n, 'ospfbond apply 2>&1', { timeoutMs: 600_000 });
        if (!/applied \(\d+ steps\)/.test(out)) throw new Error(`${n}: apply did not apply:\n${out}`);
        applyDone.push(performance.now() - t0);
      }),
    );
    let failed: unknown;
    applies.catch((err: unknown) => (failed = err));
    let full: number | undefined;
    let bfd: number | undefined;
    let both: number | undefined;
    let last = { full: 0, bfdUp: 0 };
    let shown = 0;
    const deadline = t0 + 3 * BOND_TARGET_S * 1000;
    while (both === undefined && performance.now() < deadline && failed === undefined) {
      await sleep(250);
      const s = await hubSessions(lab).catch(() => ({ full: 0, bfdUp: 0, states: 'FRR not answering' }));
      const now = performance.now() - t0;
      // The hub's neighbours by state every 5 s: where a slow bring-up waits.
      if (now - shown >= 5000) {
        shown = now;
        log(`  ${secs(now)}: hub neighbours ${s.states}; BFD up ${s.bfdUp}`);
      }
      last = s;
      if (full === undefined && s.full === tunnels) full = now;
      if (bfd === undefined && s.bfdUp === tunnels) bfd = now;
      if (s.full === tunnels && s.bfdUp === tunnels) both = now;
    }
    await applies;
    const cpu1 = cpuTimes();
    const allApplied = Math.max(...applyDone);
    info(`\`apply\` on all ${routers.length} routers, started together (t0)`, `first done ${secs(Math.min(...applyDone))}, last ${secs(allApplied)} after t0; CPU ${busyPct(cpu0, cpu1)} busy from t0 to all up, load ${loadavg()}`);
    target(
      `t0 → all ${tunnels} adjacencies Full and all ${tunnels} BFD sessions up (on the hub)`,
      both === undefined
        ? `not within ${3 * BOND_TARGET_S} s: ${last.full} Full, ${last.bfdUp} BFD up`
        : `${secs(both)} (Full ${secs(full!)}, BFD ${secs(bfd!)}; ${secs(both - allApplied)} after the last apply finished)`,
      `≤ ${BOND_TARGET_S} s`,
      both !== undefined && both <= BOND_TARGET_S * 1000,
    );
    if (both === undefined) {
      await diagnose(lab);
      return;
    }
    const spokesSee = await allFull(lab);
    target('every site: each tap Full with the hub as DR', spokesSee ? `yes, ${SITES} sites` : 'no', 'yes', spokesSee);

    // Under this load (2 cores here), does BFD at 100 ms × 3 hold? An adjacency or BFD session that
    // went down and came back shows as an uptime shorter than the watch.
    const cpu2 = cpuTimes();
    const w0 = performance.now();
    const dips: string[] = [];
    while (performance.now() - w0 < WATCH_S * 1000) {
      await sleep(5000);
      const s = await hubSessions(lab);
      if (s.full !== tunnels || s.bfdUp !== tunnels) dips.push(`${secs(performance.now() - w0)}: ${s.full} Full, ${s.bfdUp} BFD up`);
    }
    const end = await hubSessions(lab);
    const watched = performance.now() - w0;
    const taps = (await hubTunnels(lab)).map((x) => x.tap);
    if (taps.length !== tunnels) throw new Error(`the hub's config has ${taps.length} tunnels, not ${tunnels}`);
    const resets = [
      ...taps.filter((i) => (end.nbrUpMs.get(i) ?? 0) < watched - 1000).map((i) => `${i} OSPF`),
      ...taps.filter((i) => (end.bfdUpS.get(i) ?? 0) < watched / 1000 - 1).map((i) => `${i} BFD`),
    ];
    const cpu3 = cpuTimes();
    target(
      `adjacencies and BFD sessions that went down in the ${WATCH_S} s after all were up`,
      resets.length ? `${resets.length}: ${resets.join(', ')}${dips.length ? `; samples: ${dips.join('; ')}` : ''}` : `none of ${tunnels} + ${tunnels}`,
      'none',
      resets.length === 0 && dips.length === 0,
    );
    const mem = labMemory(lab);
    const frr = ['zebra', 'ospfd', 'bfdd', 'staticd', 'watchfrr'].map((d) => mem.get(d) ?? { n: 0, mib: 0 });
    const wg = mem.get('wireguard-go') ?? { n: 0, mib: 0 };
    info(
      `load while bonded (${WATCH_S} s watch)`,
      `CPU ${busyPct(cpu2, cpu3)} busy, load ${loadavg()}; ${frr.reduce((a, b) => a + b.n, 0)} FRR processes ${frr.reduce((a, b) => a + b.mib, 0).toFixed(0)} MiB, ${wg.n} wireguard-go ${wg.mib.toFixed(0)} MiB resident; MemAvailable ${(memBefore / 1024).toFixed(1)} GiB before the lab, ${(memAvailableMiB() / 1024).toFixed(1)} GiB now`,
    );
  } finally {
    lab.teardown();
  }
}

async function main(): Promise<void> {
  log(`machine: ${os.cpus().length} CPUs, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Linux ${os.release()}`);
  if (args.part === 'all' || args.part === 'hub') await hubApply();
  if (args.part === 'all' || args.part === 'spokes') await spokesBond();
  card.printTable(card.rows, [46, 70, 20, 8]);
  card.verdict();
}

await main();
