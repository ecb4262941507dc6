// The demo (`npm run demo`, in the README): a hub and a two-WAN site behind two carrier-NAT ISPs, bonded
// with the installed ospfbond CLI; shows `ospfbond status`, an aggregated download, one TCP download
// riding through the loss of the WAN it is on, the failover time, the WAN rejoining, then tears it
// all down. Run: npm run demo (as root). Every figure it prints is measured in this run.
import { setTimeout as sleep } from 'node:timers/promises';
import { buildBondedLab, allBonded, failWan, restoreWan, linkBytes, ospfNexthopDevs, hubTunnels, hubTunnelOf } from './scenario.js';
import { labTopology, demoSites } from './topology.js';
import { waitFor, type Lab } from './lab.js';
import { limitMbit } from './iperf.js';

const RATE = 20;
const STEPS = 6;
let step = 0;
const say = (s: string) => console.log(`\n[${++step}/${STEPS}] ${s}`);
const t0 = Date.now();

say(`building the lab (hub, site "sitea" with 2 x ${RATE} Mbit/s WANs behind two carrier-NAT ISPs, a server) and bonding it with ospfbond init / hub add-spoke / init spoke / apply`);
const { lab, fullSeconds, bondedSeconds } = await buildBondedLab(labTopology(demoSites(RATE)));
try {
  const site = lab.topo.spokes[0]!;
  const server = lab.topo.server.addr;
  console.log(`    OSPF adjacencies Full after ${fullSeconds.toFixed(1)} s, both tunnels in the default route after ${bondedSeconds.toFixed(1)} s`);

  say('ospfbond status on the site (run it yourself: npm run lab, then enter a node as it says)');
  console.log(await lab.sh(site.name, 'ospfbond status'));

  say(`8 TCP flows downloading from the server through the bond`);
  const stop = await lab.iperfServer('server', 5201);
  const mbit = await lab.iperf(site.host, server, 5201, '-P 8 -t 5 -R');
  const limit = limitMbit(site.wans.map((w) => w.rateMbit));
  console.log(`    ${mbit.toFixed(1)} Mbit/s: ${((100 * mbit) / limit).toFixed(0)} % of the ${limit.toFixed(1)} Mbit/s two ${RATE} Mbit/s lines carry after encapsulation (one line alone: ${(limit / 2).toFixed(1)})`);

  say('one TCP download running; the WAN it rides loses carrier (its modem dies)');
  const flowStart = Date.now();
  const flow = lab.iperfRun(site.host, server, 5201, '-t 12 -R -i 0.5');
  await sleep(3000);
  const cut = await busiestWan(lab, site.wans.map((w) => w.name), site.name);
  const hubTap = hubTunnelOf(await hubTunnels(lab), site.name, cut).tap;
  const cutAt = Date.now();
  await failWan(lab, site, cut, 'carrier');
  console.log(`    ${cut} down (ip link set ${site.name}-${cut} down at its ISP)`);
  // Both ends must notice (BFD): the site's default route and the hub's route back to the site.
  const moved = async (node: string, prefix: string, dev: string) => {
    await waitFor(`${node}: ${prefix} off ${dev}`, 10_000, async () => !(await ospfNexthopDevs(lab, node, prefix)).includes(dev), 10);
    return Date.now() - cutAt;
  };
  const [spokeMs, hubMs] = await Promise.all([moved(site.name, 'default', `obt-${cut}`), moved('hub', site.lanPrefix, hubTap)]);
  const worstGapMs = Math.max(spokeMs, hubMs);
  console.log(`    routes off ${cut}: the site's default after ${spokeMs} ms, the hub's route to the site after ${hubMs} ms`);
  const run = await flow;
  // The 0.5 s intervals from the one holding the cut on (iperf counts from its connection, a little after flowStart).
  const after = run.intervals.filter((i) => i.end * 1000 > cutAt - flowStart);
  console.log(`    the download ${run.error ? `FAILED: ${run.error}` : `kept going: ${run.mbit.toFixed(1)} Mbit/s on average, ${after.length ? `${Math.min(...after.map((i) => i.mbit)).toFixed(1)} to ${Math.max(...after.map((i) => i.mbit)).toFixed(1)}` : '-'} Mbit/s per 0.5 s from the cut on`}`);
  await stop();

  say(`${cut} comes back`);
  await restoreWan(lab, site, cut, 'carrier');
  const back = Date.now();
  await waitFor(`${cut} back in the bond`, 60_000, () => allBonded(lab), 100);
  console.log(`    both tunnels in the default route again ${((Date.now() - back) / 1000).toFixed(1)} s after the line came back`);

  say('summary');
  console.log(`    bonded in ${bondedSeconds.toFixed(1)} s; 8-flow download ${mbit.toFixed(1)} Mbit/s over 2 x ${RATE} Mbit/s; losing ${cut}: both ends' routes off it within ${worstGapMs} ms, the TCP download ${run.error ? 'was reset' : 'survived'}; ${cut} rejoined by itself`);
} finally {
  lab.teardown();
  console.log(`\nlab torn down (${((Date.now() - t0) / 1000).toFixed(0)} s in all)`);
}

/** The WAN whose tap sends the most toward the LAN just now: where the single download rides. */
async function busiestWan(lab: Lab, wans: string[], node: string): Promise<string> {
  const taps = wans.map((w) => `obt-${w}`);
  const a = await linkBytes(lab, node, taps);
  await sleep(500);
  const b = await linkBytes(lab, node, taps);
  const rx = (w: string) => b[`obt-${w}`]!.rx - a[`obt-${w}`]!.rx;
  return wans.reduce((best, w) => (rx(w) > rx(best) ? w : best), wans[0]!);
}
