import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Lab } from './lab.js';
import { waitFor } from './lab.js';
import { buildBondedLab, rebonded, adjacencyUptimes, adjacencyResets, pingRun, failWan, restoreWan, itLeaksNoSecrets, daemonUnitArgs, daemonLog as scenarioDaemonLog, daemonLogLines, startDaemon as startDaemonOn, type LogLine } from './scenario.js';
import { labTopology, demoSites } from './topology.js';
import { FLOWS_JS, udpFlowPaths, hubTapWans, flowsHarnessDrops, directionLosses } from '../bench/measure.js';

/**
 * Fault drills on a bonded two-WAN site: what the internet and the machines themselves do
 * to a bond, each bounded in time, with what was measured printed.
 */
let lab: Lab;
const t = labTopology(demoSites());
const site = t.spokes[0]!;
const wan1 = site.wans[0]!;
const daemonLog = (node = site.name) => scenarioDaemonLog(lab, node);
/** The WireGuard keepalive ospfbond sets on spokes (KEEPALIVE_SECONDS). */
const KEEPALIVE_S = 25;

const seconds = (since: number) => ((Date.now() - since) / 1000).toFixed(1);

const startDaemon = (node: string) => startDaemonOn(lab, node);

const jobLines = (node: string, job: string) => daemonLogLines(lab, node, { job });
/** The site's new WireGuard sessions so far, started by its daemon rather than by WireGuard's own timer. */
const sessionRestarts = async () => (await jobLines(site.name, 'wg-watch')).filter((l) => l.msg.includes('starting a new WireGuard session'));

/** The hub's view of a spoke WAN's WireGuard endpoint: the address and port its NAT gave it. */
async function hubEndpointOf(wan: string): Promise<string | undefined> {
  const key = (await lab.sh(site.name, `wg show obw-${wan} public-key`)).trim();
  const line = (await lab.sh(t.hub.node, 'wg show obwg0 endpoints')).split('\n').find((l) => l.startsWith(key));
  return line?.split('\t')[1];
}

describe('fault drills: NAT rebinding, FRR daemons killed, the hub restarted, a WAN flap storm', { timeout: 900_000 }, () => {
  before(async () => {
    ({ lab } = await buildBondedLab(t));
    // The daemon on both ends, as its unit runs it: it reports what happens to FRR and repairs.
    await Promise.all([startDaemon(site.name), startDaemon(t.hub.node)]);
  });
  after(() => lab?.teardown());

  it('NAT rebinding: the ISP flushes its NAT table and maps the tunnel to a new port; the tunnel carries on within keepalive + 2 s', async () => {
    const before = await hubEndpointOf(wan1.name);
    assert.ok(before, 'the hub knows the WAN\'s endpoint');
    const uptimes = await adjacencyUptimes(lab);
    // A carrier NAT that forgets its mappings and hands out random ports (`masquerade random`).
    const uplink = (await lab.sh(wan1.isp, "nft list table ip isp | grep -o 'oifname \"[^\"]*\"' | cut -d'\"' -f2")).trim();
    // One nft transaction: between a flush and an add, packets would leave un-NATed (and the hub roam to them).
    const nat = (flags: string) => lab.sh(wan1.isp, `printf 'flush chain ip isp post\nadd rule ip isp post oifname "${uplink}" masquerade ${flags}\n' | nft -f - && conntrack -F 2>&1`);
    const start = Date.now();
    await nat('random');
    const after = await waitFor('the hub sees the new mapping', (KEEPALIVE_S + 2) * 1000, async () => {
      const now = await hubEndpointOf(wan1.name);
      return now !== before && now?.split(':')[0] === before.split(':')[0] && now;
    }, 100);
    const rebound = seconds(start);
    const ok = (await rebonded(lab, start, (KEEPALIVE_S + 2) * 1000)).bonded.toFixed(1);
    const resets = await adjacencyResets(lab, uptimes, Date.now() - start);
    console.log(`# measured: NAT rebinding ${before} -> ${after}: hub followed in ${rebound} s, bonded at ${ok} s; adjacencies reset: ${resets.length ? resets.join(', ') : 'none'}`);
    assert.ok(Number(ok) <= KEEPALIVE_S + 2, `bonded within keepalive + 2 s (${ok} s)`);
    await nat('');
  });

  for (const daemon of ['ospfd', 'bfdd']) {
    it(`${daemon} killed on the spoke: watchfrr restarts it, traffic resumes, the daemon reports it`, async () => {
      const pids = lab.programPids(site.name, new RegExp(`/usr/lib/frr/${daemon} `));
      assert.equal(pids.length, 1, `one ${daemon}`);
      const start = Date.now();
      process.kill(pids[0]!, 'SIGKILL');
      await waitFor(`${daemon} restarted`, 30_000, async () => lab.programPids(site.name, new RegExp(`/usr/lib/frr/${daemon} `)).some((p) => p !== pids[0]));
      const restarted = seconds(start);
      const bonded = (await rebonded(lab, start)).bonded.toFixed(1);
      const ping = await pingRun(lab, site, 100, 2);
      assert.ok(ping.seqs.length >= ping.sent - 1 && ping.sent > 0, `traffic flows: ${ping.seqs.length}/${ping.sent} replies`);
      // watchfrr waits a moment before it restarts a daemon, so the daemon sees it gone, then back
      // (or, if both happened between two looks, a new pid).
      let seen: LogLine[] = [];
      const [gone, back] = await waitFor('the daemon reports it', 10_000, async () => {
        const log = (await jobLines(site.name, 'frr-watch')).filter((l) => l.daemon === daemon);
        seen = log;
        const said = (text: string) => log.find((l) => l.msg.includes(text));
        const gone = said(`FRR ${daemon} restarted (pid ${pids[0]} -> `) ?? said(`FRR ${daemon} is not running (pid ${pids[0]} gone)`);
        const back = said(`FRR ${daemon} restarted (pid ${pids[0]} -> `) ?? said(`FRR ${daemon} is running (pid `);
        return gone && back && ([gone, back] as const);
      }).catch(async (err: Error) => {
        // What the daemon reads: FRR's pid file, and the process name it checks it against.
        const pidFile = (await lab.try(site.name, `p=$(cat /run/frr/${daemon}.pid) && echo "pid file $p, comm $(cat /proc/$p/comm)"`)).out.trim();
        const all = (await lab.sh(site.name, `cat ${daemonLog()}`)).split('\n').filter((l) => l && !l.includes('"msg":"stats"'));
        throw new Error(`${err.message}; killed pid ${pids[0]} at ${start}; the daemon's frr-watch lines for ${daemon}: ${seen.map((l) => JSON.stringify(l)).join(' | ') || 'none'}; ${pidFile}; its log: ${all.slice(0, 12).join(' | ')}`);
      });
      assert.ok(gone.level >= 40, `as a warning or an error: ${JSON.stringify(gone)}`);
      const reported = gone === back ? gone.msg : `${gone.msg}, then ${back.msg}`;
      console.log(`# measured: ${daemon} SIGKILLed: restarted by watchfrr in ${restarted} s, site bonded again at ${bonded} s; daemon logged: ${reported}`);
    });
  }

  it('the hub\'s FRR restarted: the site is back to full ECMP within 15 s of FRR running again (3 restarts)', async () => {
    const figures: string[] = [];
    for (let i = 1; i <= 3; i++) {
      const start = Date.now();
      await lab.sh(t.hub.node, '/usr/lib/frr/frrinit.sh restart > /dev/null 2>&1');
      const up = Date.now();
      // Counted from FRR running again: the init script's stop and start are FRR's own time. From
      // there OSPF takes its wait timer (one dead interval, 4 s) before the hub, DR, forms adjacencies;
      // the default follows at once only because of maxage-delay 1 (see OSPF in render/frr.ts).
      const { full, bonded } = await rebonded(lab, up);
      figures.push(`init ${((up - start) / 1000).toFixed(1)} s, Full +${full.toFixed(1)} s, ECMP +${bonded.toFixed(1)} s`);
      assert.ok(bonded <= 15, `restart ${i}: full ECMP within 15 s of FRR running again (${bonded.toFixed(1)} s)`);
    }
    console.log(`# measured: hub FRR restarted 3 times: ${figures.join('; ')}`);
  });

  it('WAN flap storm: wan1 goes down and up every 2 s for 60 s; flows on wan2 lose nothing; settled within 10 s after', async () => {
    const [port, sportBase, flows, stormS] = [9300, 43000, 16, 60];
    // UDP flows have no socket hash, so `ip route get` says which tunnel each takes both ways.
    const paths = await udpFlowPaths(lab, site, flows, sportBase, port);
    const other = site.wans.filter((w) => w !== wan1).map((w) => w.name);
    // Judged per direction (see directionLosses): after an FRR restart no flow may ride one WAN both ways.
    const upOther = paths.filter((p) => other.includes(p.up));
    const downOther = paths.filter((p) => other.includes(p.down));
    const routes = paths.map((p) => `${p.up}/${p.down}`).join(' ');
    assert.ok(upOther.length > 0 && downOther.length > 0, `some flows ride the other WANs up and some down (${routes})`);
    // The adjacencies of the other WANs, at both ends (the hub's taps are named by number).
    const tapWan = await hubTapWans(lab, site);
    const wanOf = (key: string) => {
      const [node, tap] = key.split(' ') as [string, string];
      return node === t.hub.node ? tapWan(tap) : tap.replace(/^obt-/, '');
    };
    const uptimes = new Map([...(await adjacencyUptimes(lab))].filter(([k]) => wanOf(k) !== wan1.name));
    assert.equal(uptimes.size, 2 * other.length, `the other WANs' adjacencies are Full at both ends (${[...uptimes.keys()].join(', ')})`);

    const harnessBefore = await flowsHarnessDrops(lab, site);
    const out = `${lab.dir}/echo-storm.json`;
    const echo = lab.sh('server', `node ${FLOWS_JS} echo --port ${port} --seconds ${stormS + 12} --out ${out}`, { timeoutMs: 120_000 });
    await waitFor('echo listening', 5000, async () => (await lab.sh('server', `ss -Huln 'sport = :${port}'`)).trim() !== '', 50);
    const send = lab.sh(site.host, `node ${FLOWS_JS} send --dst ${lab.topo.server.addr} --port ${port} --flows ${flows} --sport-base ${sportBase} --pps 50 --seconds ${stormS + 6}`, { timeoutMs: 120_000 });
    await sleep(2000);
    const start = Date.now();
    let flaps = 0;
    let stormEnd = start;
    while (Date.now() - start < stormS * 1000) {
      await failWan(lab, site, wan1.name, 'carrier');
      await sleep(1000 - ((Date.now() - start) % 1000));
      await restoreWan(lab, site, wan1.name, 'carrier');
      stormEnd = Date.now();
      flaps++;
      await sleep(1000 - ((Date.now() - start) % 1000));
    }
    const settled = (await rebonded(lab, stormEnd)).bonded;
    type Flows = { sport: number; received: number; lost: number; missing: number[] }[];
    const sent = JSON.parse(await send) as { sent: number; startedAt: number; flows: Flows };
    await echo;
    const recv = JSON.parse(await lab.sh('server', `cat ${out}`)) as { flows: Flows };
    const harnessDrops = (await flowsHarnessDrops(lab, site)) - harnessBefore;
    const flow = (p: { sport: number }) => ({ s: sent.flows.find((f) => f.sport === p.sport), r: recv.flows.find((f) => f.sport === p.sport) });
    const { up: lostUp, down: lostDown } = directionLosses(sent, recv, upOther, downOther);
    const touching = paths.filter((p) => p.up === wan1.name || p.down === wan1.name).map((p) => sent.sent - (flow(p).s?.received ?? 0));
    const resets = await adjacencyResets(lab, uptimes, Date.now() - start + 2000);
    // The site's daemon saw each carrier loss (its carrier job takes the tunnel out at once), and its
    // quality job must not have judged the flapping WAN degraded: its losses are outages, not loss.
    const carrierLost = (await jobLines(site.name, 'carrier')).filter((l) => l.time >= start && l.wan === wan1.name && l.msg.includes('lost carrier')).length;
    const steered = (await jobLines(site.name, 'quality')).filter((l) => l.time >= start && l.wan === wan1.name).map((l) => `${((l.time - start) / 1000).toFixed(1)} s: ${l.msg}`);
    const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
    // When a survivor lost packets: when each was sent, in seconds from the storm's start.
    const when = (seqs: number[]) => seqs.map((q) => ((sent.startedAt + (q * 1000) / 50 - start) / 1000).toFixed(2)).join(',');
    const lossTimes = [
      ...upOther.filter((p) => (flow(p).r?.missing.length ?? 0) > 0).map((p) => `${p.sport} up at ${when(flow(p).r!.missing)}`),
      ...downOther.filter((p) => (flow(p).s?.missing.length ?? 0) > (sent.sent - (flow(p).r?.received ?? 0))).map((p) => `${p.sport} up+down at ${when(flow(p).s!.missing)}`),
    ];
    if (lossTimes.length) {
      const restarts = (await jobLines(site.name, 'wg-watch')).filter((l) => l.time >= start).map((l) => `${String(l.wan)} at ${((l.time - start) / 1000).toFixed(2)}`);
      lossTimes.push(`the site's WireGuard session restarts during the storm: ${restarts.join(', ') || 'none'}`);
    }
    console.log(
      `# measured: flap storm: ${flaps} flaps of ${wan1.name} in ${((stormEnd - start) / 1000).toFixed(1)} s, 16 flows (up/down: ${routes}); ` +
        `${upOther.length} flows going up ${other.join('+')} lost ${sum(lostUp)} up, ${downOther.length} coming down ${other.join('+')} lost ${sum(lostDown)} down (of ${sent.sent} each); ` +
        `round trips of the ${touching.length} flows touching ${wan1.name} lost ${touching.join('/')}; the site's daemon saw ${carrierLost} carrier losses; ` +
        `its quality job on ${wan1.name}: ${steered.join(' | ') || 'nothing'}; settled ${settled.toFixed(1)} s after the last flap; ` +
        `other adjacencies reset: ${resets.length ? resets.join(', ') : 'none'}; dropped by the flows' own sockets: ${harnessDrops}` +
        (lossTimes.length ? `; survivors' losses (s after the storm began, wan1 down in [k, k+1) for even k): ${lossTimes.join('; ')}` : ''),
    );
    assert.ok(flaps >= stormS / 2 - 1, `the storm ran (${flaps} flaps)`);
    assert.equal(harnessDrops, 0, 'the echo server and the host dropped nothing themselves (full socket buffers): else the losses below are not all the tunnels\'');
    // The daemon's carrier job moves the flows off before they lose much (often nothing), so the
    // proof that the WAN really flapped under them is the carrier losses the daemon saw.
    assert.ok(carrierLost >= flaps - 1, `the daemon saw the storm: ${carrierLost} carrier losses for ${flaps} flaps`);
    assert.deepEqual(steered, [], 'a carrier storm is outages, not loss: the quality job did not degrade the WAN');
    assert.deepEqual(lostUp, upOther.map(() => 0), 'flows going up the other WANs lost nothing');
    assert.deepEqual(lostDown, downOther.map(() => 0), 'flows coming down the other WANs lost nothing');
    assert.deepEqual(resets, [], 'no adjacency on the other WANs went down');
    assert.ok(settled <= 10, `settled within 10 s after the storm (${settled.toFixed(1)} s)`);
  });

  it('the whole hub killed (FRR, WireGuard, the daemon) and restarted as systemd would: the site is back to full ECMP within 15 s', async () => {
    const figures: string[] = [];
    for (let i = 1; i <= 2; i++) {
      for (const [what, cmd] of [['FRR', /\/usr\/lib\/frr\/ospfd /], ['the daemon', /ospfbond daemon/]] as const) assert.ok(lab.programPids(t.hub.node, cmd).length > 0, `${what} runs on the hub`);
      // The daemon runs short-lived commands (vtysh, ip, wg): one listed may be gone before its kill.
      lab.kill(lab.pidsMatching(t.hub.node, /./));
      await waitFor('everything on the hub gone', 10_000, async () => lab.pidsMatching(t.hub.node, /./).length === 0);
      // frr.service and ospfbond.service both restart 5 s after an abnormal exit (RestartSec=5).
      await sleep(5000);
      const start = Date.now();
      await Promise.all([lab.sh(t.hub.node, '/usr/lib/frr/frrinit.sh start > /dev/null 2>&1'), startDaemon(t.hub.node)]);
      const up = Date.now();
      const { full, bonded } = await rebonded(lab, up);
      const restarts = await sessionRestarts();
      figures.push(`restart ${((up - start) / 1000).toFixed(1)} s, Full +${full.toFixed(1)} s, ECMP +${bonded.toFixed(1)} s (site's new WireGuard sessions so far: ${restarts.length})`);
      assert.ok(bonded <= 15, `kill ${i}: full ECMP within 15 s of the hub's services running again (${bonded.toFixed(1)} s)`);
      const repaired = (await jobLines(t.hub.node, 'reconcile')).filter((l) => l.msg.startsWith('repaired drift'));
      assert.ok(repaired.length >= i, 'the hub\'s daemon re-created what died with it (obwg0)');
      // The site arms its next WireGuard restart once traffic has flowed a few seconds (wg-watch.ts);
      // a hub dying again sooner is left to WireGuard's own 15 s.
      await sleep(5000);
    }
    const restarts = await sessionRestarts();
    assert.ok(restarts.length >= 2, `the site started new WireGuard sessions rather than wait for WireGuard's 15 s (${restarts.length})`);
    console.log(`# measured: whole hub killed twice: ${figures.join('; ')}`);
  });

  itLeaksNoSecrets(() => lab);
});
