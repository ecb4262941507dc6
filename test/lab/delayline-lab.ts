// The delay line on the bonded lab: a delay line on sitea's wan2 (between it and ISP 2), checked as
// a test checks, figures printed. Run: npm run build && node dist/test/lab/delayline-lab.js (root;
// about 2-3 minutes, most of it building and bonding the lab). Exit status 1 when a check fails.
import { setTimeout as sleep } from 'node:timers/promises';
import { buildBondedLab, adjacencyUptimes, adjacencyResets, allBonded, fullTaps, rebonded } from './scenario.js';
import { labTopology, demoSites } from './topology.js';
import { waitFor } from './lab.js';
import { insertDelayLine, setDelay, removeDelayLine, delayStats, dropDelayLines, bothWays } from './delayline.js';

const t = labTopology(demoSites());
const site = t.spokes[0]!;
const wan = site.wans[1]!;
const link = t.links.find((l) => l.b.node === site.name && l.b.dev === wan.name)!;
let failures = 0;
const check = (ok: boolean, what: string) => {
  console.log(`${ok ? 'ok' : 'FAILED'}: ${what}`);
  if (!ok) failures++;
};

const { lab } = await buildBondedLab(t);
try {
  const ping = async (args: string) => {
    const out = (await lab.try(site.name, `ping -n ${args} -W 2 ${wan.gw}`, 60_000)).out;
    const m = /(\d+) packets transmitted, (\d+) received/.exec(out);
    const rtts = [...out.matchAll(/time=([\d.]+) ms/g)].map((x) => Number(x[1])).sort((a, b) => a - b);
    return { sent: Number(m?.[1] ?? 0), received: Number(m?.[2] ?? 0), median: rtts[Math.floor(rtts.length / 2)] ?? NaN, max: rtts.at(-1) ?? NaN };
  };
  // Without the peer's ifindex (`wan2@if3`): the new veth's peer is another device, as intended.
  const addrs = async () =>
    `${await lab.sh(site.name, `ip -br addr show dev ${wan.name}; ip -br link show dev ${wan.name}`)}${await lab.sh(link.a.node, `ip -br addr show dev ${link.a.dev}; ip -br link show dev ${link.a.dev}; tc qdisc show dev ${link.a.dev} | cut -d' ' -f2,5-`)}`.replace(/@if\d+/g, '');
  const before = await addrs();
  const uptimes = await adjacencyUptimes(lab);

  // What the insertion costs: pings every 10 ms over wan2 to ISP 2 while the line goes in.
  const probe = ping('-i 0.01 -c 300');
  await sleep(500);
  const start = Date.now();
  const line = await insertDelayLine(lab, link, bothWays({ delayMs: 30 }));
  const insertMs = Date.now() - start;
  const p = await probe;
  console.log(`# measured: delay line inserted on ${site.name} ${wan.name} (bonded lab) in ${insertMs} ms; pings every 10 ms across it: ${p.sent - p.received} of ${p.sent} lost`);
  check((await addrs()) === before, `addresses and shaping on both ends unchanged:\n${before}`);

  const rtt = await ping('-i 0.05 -c 20');
  console.log(`# measured: ${site.name} -> its ${wan.name} gateway through the delay line (30 ms each way): RTT median ${rtt.median} max ${rtt.max} ms`);
  check(rtt.received === 20 && rtt.median >= 60 && rtt.median <= 62, 'RTT over the WAN is 2 x 30 ms');
  await waitFor('the site bonded', 30_000, () => allBonded(lab));
  const resets = await adjacencyResets(lab, uptimes, Date.now() - start);
  console.log(`# measured: adjacencies reset by the insertion: ${resets.length ? resets.join(', ') : 'none'}`);
  check(await allBonded(lab), 'the site is bonded over both WANs with the delay line in');

  // An RTT spike (issue 17's drill): 800 ms each way for 10 s; BFD (100 ms x 3) takes the WAN out meanwhile.
  await setDelay(line, bothWays({ delayMs: 800 }));
  const spike = await ping('-i 0.2 -c 10');
  await sleep(5000);
  const fullDuring = await fullTaps(lab, site.name);
  await setDelay(line, bothWays({ delayMs: 30 }));
  const back = Date.now();
  const re = await rebonded(lab, back, 60_000);
  console.log(`# measured: spike to 800 ms each way: RTT median ${spike.median} ms; taps Full on ${site.name} during it: ${fullDuring.join(', ') || 'none'}; back to 30 ms: Full again ${re.full.toFixed(1)} s, bonded ${re.bonded.toFixed(1)} s later`);
  check(spike.median >= 1600 && spike.median <= 1610, 'the spike RTT is 2 x 800 ms');
  const stats = await delayStats(line);
  console.log(`# measured: delay line counters: ${JSON.stringify(stats)}`);

  await removeDelayLine(line);
  check((await addrs()) === before, 'addresses and shaping unchanged after removal');
  const direct = await ping('-i 0.05 -c 10');
  check(direct.received === 10 && direct.max < 5, `direct RTT again (max ${direct.max} ms)`);
  await waitFor('the site bonded', 30_000, () => allBonded(lab));
  check(true, 'bonded after removal');
} catch (err) {
  console.log(`FAILED: ${String(err)}`);
  failures++;
} finally {
  dropDelayLines(lab);
  lab.teardown();
}
console.log(failures ? `${failures} check(s) failed` : 'all checks passed');
process.exit(failures ? 1 : 0);
