import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { Lab } from './lab.js';
import type { Topology } from './topology.js';
import { insertDelayLine, setDelay, removeDelayLine, delayStats, delayLineCpuSeconds, dropDelayLines, bothWays, type DelayLine } from './delayline.js';

/**
 * The delay line on a lab of two namespaces joined by one tbf-shaped link (50 Mbit/s each way, as
 * link.sh shapes an ISP's access line): delay, jitter, loss, a change while running, TCP at the
 * shaped rate, and removal. `far` is the link's a end (moved into the delay line), `near` its b end.
 */
const RATE_MBIT = 50;
const FAR = '100.64.0.1';
const NEAR = '100.64.0.2';
const topo: Topology = {
  nodes: [{ name: 'far' }, { name: 'near' }],
  links: [{ a: { node: 'far', dev: 'eth0', addr: `${FAR}/30` }, b: { node: 'near', dev: 'eth0', addr: `${NEAR}/30` }, rateMbit: RATE_MBIT }],
  // Lab.build reads only nodes, links and isps; the rest describes the bonded lab and is unused here.
  isps: [],
  hub: { node: 'far', uplink: 'eth0', endpoint: FAR, name: 'far.lab.example' },
  server: { node: 'far', addr: FAR },
  spokes: [],
  tunnelPool: '100.127.0.0/16',
};
const link = topo.links[0]!;

let lab: Lab;
let line: DelayLine;

interface PingRun {
  sent: number;
  received: number;
  rtts: number[];
}

/** `ping` from near to far; its RTTs in ms, in the order of the replies. */
async function ping(count: number, intervalS: number): Promise<PingRun> {
  const r = await lab.try('near', `ping -n -c ${count} -i ${intervalS} -W 2 ${FAR}`, 120_000);
  const m = /(\d+) packets transmitted, (\d+) received/.exec(r.out);
  if (!m) throw new Error(`ping printed no summary:\n${r.out}`);
  return { sent: Number(m[1]), received: Number(m[2]), rtts: [...r.out.matchAll(/time=([\d.]+) ms/g)].map((x) => Number(x[1])) };
}

const sorted = (xs: number[]) => [...xs].sort((a, b) => a - b);
const quantile = (xs: number[], q: number) => sorted(xs)[Math.min(xs.length - 1, Math.floor(q * xs.length))]!;
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const sd = (xs: number[]) => Math.sqrt(mean(xs.map((x) => (x - mean(xs)) ** 2)));
const f1 = (x: number) => x.toFixed(1);

/** What the far end's device is to its neighbours and shaper: MAC, addresses, root qdisc. */
async function farIdentity(): Promise<string> {
  const l = JSON.parse(await lab.sh('far', 'ip -j addr show dev eth0')) as { address: string; addr_info: { family: string; local: string; prefixlen: number }[] }[];
  const addrs = l[0]!.addr_info.filter((a) => a.family === 'inet').map((a) => `${a.local}/${a.prefixlen}`);
  const qdisc = (await lab.sh('far', 'tc qdisc show dev eth0')).replace(/ [0-9a-f]+: root refcnt \d+/, ' root').trim();
  return `${l[0]!.address} ${addrs.join(',')} ${qdisc}`;
}

/** ICMP echo requests far has received so far (/proc/net/snmp). */
async function farEchoRequests(): Promise<number> {
  const [names, values] = (await lab.sh('far', 'grep ^Icmp: /proc/net/snmp')).trim().split('\n').map((l) => l.split(/\s+/));
  return Number(values![names!.indexOf('InEchos')]);
}

/** Loss 100 % from a to b only: the requests (b -> a) reach far, every reply (a -> b) is lost. */
async function checkDirection(l: DelayLine): Promise<void> {
  const saved = l.params;
  // Neighbours first: with every reply lost, an ARP reply would be lost too, and no request would leave.
  await ping(2, 0.05);
  await setDelay(l, { aToB: { lossPct: 100 }, bToA: { lossPct: 0 } });
  const before = await farEchoRequests();
  const run = await ping(10, 0.01);
  const arrived = (await farEchoRequests()) - before;
  await setDelay(l, saved);
  assert.equal(run.received, 0, 'no reply crosses a -> b at loss 100 %');
  assert.ok(arrived >= 10, `the requests cross b -> a (${arrived} of 10 arrived)`);
}

describe('the delay line: delay, jitter, loss and TCP through a userspace wire', { timeout: 120_000 }, () => {
  let identity: string;
  before(async () => {
    lab = new Lab(topo);
    await lab.build();
    identity = await farIdentity();
    line = await insertDelayLine(lab, link, bothWays({ delayMs: 30 }));
  });
  after(() => {
    dropDelayLines(lab);
    lab?.teardown();
  });

  it('takes the far device\'s place with its MAC, address and shaping, in a namespace named with the lab\'s id', async () => {
    assert.equal(await farIdentity(), identity);
    assert.match(identity, /tbf root rate 50Mbit/);
    assert.ok(line.ns.startsWith(`${lab.id}-`), line.ns);
    assert.ok(existsSync(`/proc/${line.pid}`), 'the tool runs');
  });

  it('delays each direction by its delay: 30 ms each way gives an RTT of 60 ms, never less', async () => {
    await ping(2, 0.05); // neighbours resolved before measuring
    const run = await ping(50, 0.02);
    assert.equal(run.received, 50);
    const [min, med, max] = [Math.min(...run.rtts), quantile(run.rtts, 0.5), Math.max(...run.rtts)];
    console.log(`# measured: delay line 30 ms each way: RTT min ${min} median ${med} mean ${f1(mean(run.rtts))} max ${max} ms (50 pings)`);
    assert.ok(min >= 60, `no frame is released early (min ${min} ms)`);
    assert.ok(med <= 62, `median within 2 ms of 60 (${med} ms)`);
  });

  it('sends a -> b frames on a -> b: each direction\'s parameters act on that direction only', async () => {
    await checkDirection(line);
  });

  it('spreads the delay uniformly over delay ± jitter: 30 ± 10 ms one way gives RTTs over 50-70 ms', async () => {
    await setDelay(line, { aToB: { delayMs: 30, jitterMs: 10 }, bToA: { delayMs: 30, jitterMs: 0 } });
    // 50 ms apart, more than the spread: no frame waits behind the one before it.
    const run = await ping(100, 0.05);
    await setDelay(line, { aToB: { jitterMs: 0 } });
    assert.equal(run.received, 100);
    const [min, max, s] = [Math.min(...run.rtts), Math.max(...run.rtts), sd(run.rtts)];
    console.log(`# measured: delay line 30 ± 10 ms one way, 30 ms back: RTT min ${min} median ${quantile(run.rtts, 0.5)} max ${max} ms, sd ${s.toFixed(2)} ms (uniform: 5.77; 100 pings)`);
    const [p5, p90, p95] = [quantile(run.rtts, 0.05), quantile(run.rtts, 0.9), quantile(run.rtts, 0.95)];
    assert.ok(min >= 50, `never below delay - jitter (min ${min})`);
    // A percentile, not the maximum: on a busy machine a reply now and then comes a few ms late.
    assert.ok(p90 <= 70, `not above delay + jitter (90th percentile ${p90}; uniform: 68)`);
    assert.ok(p5 < 53 && p95 > 67, `spread over the whole range (5th-95th percentile ${p5}-${p95})`);
    assert.ok(s > 4.5 && s < 7, `the spread of a uniform draw (sd ${s.toFixed(2)}, uniform 5.77)`);
  });

  it('loses about its loss: 10 % one way loses 6-15 % of 500 pings, each one counted by the tool', async () => {
    await setDelay(line, { aToB: { delayMs: 5, lossPct: 10 }, bToA: { delayMs: 5 } });
    const before = await delayStats(line);
    const run = await ping(500, 0.01);
    const after = await delayStats(line);
    await setDelay(line, bothWays({ lossPct: 0 }));
    const lostPings = run.sent - run.received;
    const counted = after.aToB.lost - before.aToB.lost;
    console.log(`# measured: delay line loss 10 % one way: ${lostPings} of ${run.sent} pings lost (${f1((100 * lostPings) / run.sent)} %); the tool counted ${counted} frames lost`);
    assert.equal(run.sent, 500);
    assert.ok(lostPings >= 30 && lostPings <= 75, `6-15 % lost (${lostPings} of 500)`);
    // ARP between the pings crosses too: a lost ARP reply counts in the tool but costs no ping.
    assert.ok(counted >= lostPings && counted <= lostPings + 3, `the tool's count ${counted} matches the pings lost ${lostPings}`);
    assert.equal(after.bToA.lost - before.bToA.lost, 0, 'nothing lost the other way');
  });

  it('changes parameters while running: a spike to 200 ms each way and back, nothing lost, same process', async () => {
    await setDelay(line, bothWays({ delayMs: 30 }));
    const pid = line.pid;
    const running = ping(200, 0.02);
    await sleep(1000);
    await setDelay(line, bothWays({ delayMs: 200 }));
    await sleep(1000);
    await setDelay(line, bothWays({ delayMs: 30 }));
    const run = await running;
    const max = Math.max(...run.rtts);
    const last = run.rtts.slice(-20);
    console.log(`# measured: delay line spike 30 -> 200 -> 30 ms each way under 50 pings/s: max RTT ${max} ms, last 20 RTTs ${Math.min(...last)}-${Math.max(...last)} ms, ${run.sent - run.received} lost`);
    assert.equal(run.received, run.sent, 'nothing lost across the changes');
    assert.ok(max >= 400 && max <= 410, `the spike's RTT is 2 x 200 ms (max ${max})`);
    assert.ok(quantile(last, 0.5) <= 62, `back to 60 ms after the spike (last 20: median ${quantile(last, 0.5)})`);
    assert.equal(line.pid, pid);
    assert.ok(existsSync(`/proc/${pid}`));
  });

  it(`carries TCP both ways at once at ${RATE_MBIT} Mbit/s tbf with 10 ms each way, at >= 85 % of the shaped rate`, async () => {
    await setDelay(line, bothWays({ delayMs: 10, jitterMs: 0, lossPct: 0 }));
    const stop = await lab.iperfServer('far', 5201);
    try {
      const [cpu0, t0, s0] = [delayLineCpuSeconds(line), Date.now(), await delayStats(line)];
      const r = await lab.try('near', `iperf3 -c ${FAR} -p 5201 -J --bidir -t 8`, 60_000);
      const [cpu1, t1, s1] = [delayLineCpuSeconds(line), Date.now(), await delayStats(line)];
      const end = (JSON.parse(r.out.slice(0, r.out.lastIndexOf('}') + 1)) as { end?: { sum_received?: { bits_per_second: number }; sum_received_bidir_reverse?: { bits_per_second: number } } }).end;
      const up = (end?.sum_received?.bits_per_second ?? 0) / 1e6;
      const down = (end?.sum_received_bidir_reverse?.bits_per_second ?? 0) / 1e6;
      const cpu = (100 * (cpu1 - cpu0)) / ((t1 - t0) / 1000);
      const frames = s1.aToB.rx - s0.aToB.rx + s1.bToA.rx - s0.bToA.rx;
      const gso = s1.aToB.gso - s0.aToB.gso + s1.bToA.gso - s0.bToA.gso;
      const dropped = (['qdrop', 'txerr', 'kdrop'] as const).map((k) => `${k} ${s1.aToB[k] - s0.aToB[k] + s1.bToA[k] - s0.bToA[k]}`).join(', ');
      console.log(`# measured: delay line 10 ms each way, tbf ${RATE_MBIT} Mbit/s, one TCP flow each way at once: near -> far ${f1(up)}, far -> near ${f1(down)} Mbit/s (${f1((100 * Math.min(up, down)) / RATE_MBIT)} % of the rate at least); the tool used ${f1(cpu)} % of a CPU, ${frames} frames (${gso} GSO), ${dropped}`);
      assert.equal(r.code, 0, r.out.slice(-500));
      assert.ok(up >= 0.85 * RATE_MBIT, `near -> far ${f1(up)} Mbit/s`);
      assert.ok(down >= 0.85 * RATE_MBIT, `far -> near ${f1(down)} Mbit/s`);
    } finally {
      await stop();
    }
  });

  it('is removed: the direct link comes back as it was, the tool and its namespace are gone; the other end can be moved too', async () => {
    const stats = await removeDelayLine(line);
    assert.ok(stats.aToB.tx > 0 && stats.bToA.tx > 0, 'the last counters come back');
    assert.ok(!existsSync(`/run/netns/${line.ns}`), 'its namespace is deleted');
    assert.ok(!existsSync(`/proc/${line.pid}`), 'the tool has exited');
    assert.equal(await farIdentity(), identity);
    const direct = await ping(5, 0.05);
    assert.equal(direct.received, 5);
    assert.ok(Math.max(...direct.rtts) < 5, `direct RTT ${Math.max(...direct.rtts)} ms`);

    const other = await insertDelayLine(lab, link, bothWays({ delayMs: 5 }), { moved: 'b' });
    await checkDirection(other);
    const run = await ping(10, 0.02);
    assert.ok(Math.min(...run.rtts) >= 10 && quantile(run.rtts, 0.5) <= 12, `5 ms each way, moved b: RTT ${Math.min(...run.rtts)}-${Math.max(...run.rtts)} ms`);
    await removeDelayLine(other);
    assert.equal(await farIdentity(), identity);
  });
});
