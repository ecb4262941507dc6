// The demo: builds the namespace lab (hub, two spokes, three carrier-NAT ISPs, a server), bonds it
// with the installed ospfbond CLI, shows OSPF and the ECMP routes, runs an 8-flow download through a
// two-WAN site, and tears everything down. Run: npm run demo (as root).
import { buildBondedLab, allBonded } from './scenario.js';
import { labTopology, coreSites } from './topology.js';
import { waitFor } from './lab.js';

const RATE = 20;
const say = (s: string) => console.log(`\n=== ${s}`);
say('building the lab and bonding it (ospfbond init hub / hub add-spoke / init spoke / apply)');
const { lab, fullSeconds, bondedSeconds } = await buildBondedLab(labTopology(coreSites(RATE)));
try {
  const site = lab.topo.spokes[0]!;
  console.log(`adjacencies Full after ${fullSeconds.toFixed(1)} s, every site bonded after ${bondedSeconds.toFixed(1)} s`);
  say('hub: OSPF neighbours (one per spoke WAN; the hub is DR on every tap)');
  console.log(await lab.sh('hub', "vtysh -c 'show ip ospf neighbor'"));
  say(`${site.name}: default route, ECMP over its tunnels`);
  console.log(await lab.sh(site.name, 'ip route show default'));
  say(`${site.name}: 8 TCP flows downloading from the server through the bond (${site.wans.length} x ${RATE} Mbit/s)`);
  const stop = await lab.iperfServer('server', 5201);
  const mbit = await lab.iperf(site.host, lab.topo.server.addr, 5201, '-P 8 -t 5 -R');
  await stop();
  say(`${site.name}: WAN wan1 loses carrier`);
  await lab.sh(site.wans[0]!.isp, `ip link set ${site.name}-wan1 down`);
  const t0 = Date.now();
  await waitFor('the default route to leave wan1', 10_000, async () => !(await lab.sh(site.name, 'ip route show default')).includes('obt-wan1'), 20);
  const failover = Date.now() - t0;
  console.log(await lab.sh(site.name, 'ip route show default'));
  await lab.sh(site.host, 'ping -c 3 -i 0.2 203.0.113.2');
  await lab.sh(site.wans[0]!.isp, `ip link set ${site.name}-wan1 up`);
  await waitFor('wan1 back in the bond', 30_000, () => allBonded(lab));
  say('summary');
  console.log(`bonded download: ${mbit.toFixed(1)} Mbit/s over ${site.wans.length} x ${RATE} Mbit/s links`);
  console.log(`wan1 carrier loss: default route moved to the other tunnel after ${failover} ms; traffic kept flowing; wan1 rejoined by itself`);
} finally {
  lab.teardown();
  console.log('lab torn down');
}
