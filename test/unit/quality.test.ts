import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig } from '../../src/config/load.js';
import { renderSpokeIni } from '../../src/config/write.js';
import { ConfigError } from '../../src/base/errors.js';
import type { HubConfig, SpokeConfig } from '../../src/config/types.js';
import { DEGRADED_COST, STANDBY_COST, policyFromCosts, splitCost, tunnelCost } from '../../src/model/policy.js';
import { DEFAULT_QUALITY, addProbe, initialSteer, judge, scatteredLoss, verdict, windowStats, type Probe, type QualitySettings, type SteerState, type Verdict } from '../../src/model/quality.js';
import { desiredState } from '../../src/plan/desired.js';
import { planApply } from '../../src/plan/plan.js';
import { renderSpokeFrr } from '../../src/render/frr.js';
import { fpingArgs, parseFpingLine } from '../../src/daemon/jobs/quality.js';
import { sameTunnels } from '../../src/router/records.js';
import { parseLinkEvent } from '../../src/daemon/jobs/carrier.js';
import { followSteering, FOLLOWED } from '../../src/daemon/jobs/mirror.js';
import { fixture } from './files.js';
import { appliedRouter, freshRouter, lines, testSecrets } from './routers.js';

const S: QualitySettings = DEFAULT_QUALITY;
const spoke = parseConfig('/etc/ospfbond/ospfbond.ini', fixture('spoke.ini')) as SpokeConfig;
const hub = parseConfig('/etc/ospfbond/ospfbond.ini', fixture('hub.ini')) as HubConfig;

/** Probes at `rate`/s seen after `from` until `to` ms; `lost(i)` says which are lost, `rtt(i)` their RTT. */
function probes(from: number, to: number, lost: (i: number) => boolean, rtt: (i: number) => number = () => 20, rate = 10): Probe[] {
  const out: Probe[] = [];
  for (let i = 0, t = from + 1000 / rate; t <= to; i++, t += 1000 / rate) out.push({ at: t, rttMs: lost(i) ? null : rtt(i) });
  return out;
}

test('window statistics: loss, median, 95th percentile and jitter of the probes in the window', () => {
  const ps = probes(0, 10_000, (i) => i % 10 === 0, (i) => 20 + (i % 2));
  const w = windowStats(ps, 10_000, 5000);
  assert.equal(w.probes, 50);
  assert.equal(w.lost, 5);
  assert.equal(w.lossRatio, 0.1);
  assert.equal(w.rttMedianMs, 21, "25 odd probes at 21 ms, 20 even ones at 20 ms (5 lost)");
  assert.equal(w.rttP95Ms, 21);
  assert.ok(w.jitterMs! > 0.5 && w.jitterMs! <= 1, `jitter ${w.jitterMs}`);
  assert.deepEqual(windowStats([], 10_000, 5000), { probes: 0, lost: 0, lossRatio: null, rttMedianMs: null, rttP95Ms: null, jitterMs: null });
});

test('loss is judged without outages: a run of lost probes of half a second or more is BFD\'s business', () => {
  // 10 % scattered loss counts...
  assert.deepEqual(scatteredLoss(probes(0, 5000, (i) => i % 10 === 3), 5000, 5000, 10), { probes: 50, lost: 5 });
  // ...a 2 s outage does not, and leaves too few probes to judge on.
  const outage = probes(0, 5000, (i) => i >= 10 && i < 30);
  assert.deepEqual(scatteredLoss(outage, 5000, 5000, 10), { probes: 30, lost: 0 });
  assert.equal(verdict(outage, 5000, S), 'good');
  assert.equal(verdict(probes(0, 5000, (i) => i >= 10), 5000, S), 'unknown', 'a tunnel in an outage is not judged');
  // The start of an outage is not loss: the last 4 probes lost, the window otherwise clean.
  for (let run = 1; run <= 6; run++) assert.equal(verdict(probes(0, 5000, (i) => i >= 50 - run), 5000, S), 'good', `${run} lost at the end`);
  // The tail of an outage that began before the window is still an outage, and the losses of the
  // 2 s after it are its own: an outage until probe 45, then 3 scattered losses at 45.8-46.9 s.
  const after = probes(0, 50_000, (i) => (i >= 400 && i < 452) || [458, 463, 468].includes(i));
  assert.deepEqual(scatteredLoss(after, 50_000, 5000, 10), { probes: 45, lost: 0 });
  assert.equal(verdict(after, 50_000, S), 'good');
  // The same 3 losses 3 s after the outage count.
  assert.deepEqual(scatteredLoss(probes(0, 50_000, (i) => (i >= 400 && i < 420) || [458, 463, 468].includes(i)), 50_000, 5000, 10), { probes: 50, lost: 3 });
  // Runs shorter than the outage length still count: 2 lost in a row, 3 times.
  assert.deepEqual(scatteredLoss(probes(0, 5000, (i) => [5, 6, 20, 21, 40, 41].includes(i)), 5000, 5000, 10), { probes: 50, lost: 6 });
});

test('probes are judged in the order they were sent, not the order fping reports them (timeouts come 1 s late)', () => {
  // A WAN down one second and up the next, for 20 s: fping reports a probe sent while it was down
  // at its timeout, among the answers to the probes sent after it came back.
  const seen: { at: number; rttMs: number | null }[] = [];
  for (let sent = 100; sent <= 20_000; sent += 100) {
    const down = Math.floor(sent / 1000) % 2 === 1;
    seen.push(down ? { at: sent + 1000, rttMs: null } : { at: sent + 20, rttMs: 20 });
  }
  seen.sort((a, b) => a.at - b.at);
  const list: Probe[] = [];
  let i = 0;
  let sawInterleaving = false;
  for (let now = 250; now <= 21_000; now += 250) {
    for (; i < seen.length && seen[i]!.at <= now; i++) {
      sawInterleaving ||= i > 0 && seen[i]!.rttMs === null && seen[i - 1]!.rttMs !== null && seen[i - 2]?.rttMs === null;
      addProbe(list, seen[i]!.at, seen[i]!.rttMs);
    }
    const v = verdict(list, now, S);
    assert.notEqual(typeof v, 'object', `at ${now} ms: every loss is an outage of 1 s, yet ${JSON.stringify(v)}`);
  }
  assert.ok(sawInterleaving, 'the reports interleave timeouts and answers, as fping\'s do');
  assert.deepEqual(list.map((p) => p.at), [...list.map((p) => p.at)].sort((a, b) => a - b), 'kept in the order sent');
  // The same reports kept in the order seen read as scattered loss: what degraded the CI's flapping WAN.
  const unordered = seen.map((p) => ({ at: p.at, rttMs: p.rttMs }));
  assert.equal(typeof verdict(unordered, 10_000, S), 'object');
});

test('verdict: 10 % loss and an 800 ms RTT are bad, 1 lost probe is not; too few probes decide nothing', () => {
  const lossy = verdict(probes(0, 5000, (i) => i % 10 === 3), 5000, S);
  assert.deepEqual(lossy, { bad: 'loss 10.0 % >= 5 %' });
  assert.equal(verdict(probes(0, 5000, (i) => i === 7), 5000, S), 'good');
  assert.equal(verdict(probes(0, 5000, (i) => i % 25 === 0), 5000, S), 'good', '2 of 50 (4 %) stays under 5 %');
  // A spike: the last 2 s at 800 ms, before that 30 ms.
  const spike = probes(0, 5000, () => false, (i) => (i >= 30 ? 800 : 30));
  assert.deepEqual(verdict(spike, 5000, S), { bad: 'RTT 800 ms > 500 ms' });
  // The median moves within about a second: 1.2 s of 800 ms in the 2 s window is enough.
  assert.deepEqual(verdict(probes(0, 5000, () => false, (i) => (i >= 38 ? 800 : 30)), 5000, S), { bad: 'RTT 800 ms > 500 ms' });
  assert.equal(verdict(probes(0, 5000, () => false, (i) => (i >= 42 ? 800 : 30)), 5000, S), 'good', '0.8 s of it is not');
  assert.equal(verdict(probes(3000, 5000, () => false), 5000, S), 'unknown', 'a prober that just started');
});

test('loss at a full queue is congestion, not a degraded link: judged only while the RTT is near its lowest', () => {
  // 10 % loss with the RTT at its floor (1 ms): bad. The same with the probes queued behind a
  // download (the last 5 s at 30-50 ms, the minute's lowest 1 ms): not judged on loss.
  const idle = probes(0, 60_000, (i) => i >= 550 && i % 10 === 3, () => 1);
  assert.deepEqual(verdict(idle, 60_000, S), { bad: 'loss 10.0 % >= 5 %' });
  const full = probes(0, 60_000, (i) => i >= 550 && i % 10 === 3, (i) => (i >= 550 ? 30 + (i % 20) : 1));
  assert.equal(verdict(full, 60_000, S), 'good');
  // An LTE link idling at 30-60 ms (median 45, lowest 30) is not "queueing": its loss counts.
  const lte = probes(0, 60_000, (i) => i >= 550 && i % 10 === 3, (i) => 30 + (i % 31));
  assert.deepEqual(verdict(lte, 60_000, S), { bad: 'loss 10.0 % >= 5 %' });
  // RTT past its threshold still degrades a full link.
  assert.deepEqual(verdict(probes(0, 60_000, () => false, (i) => (i >= 570 ? 700 : 1)), 60_000, S), { bad: 'RTT 700 ms > 500 ms' });
});

test('hysteresis: degraded at once, back after the hold-down without a break, longer after a relapse', () => {
  const bad: Verdict = { bad: 'loss 10.0 % >= 5 %' };
  let s: SteerState = initialSteer(S);
  s = judge(s, 'good', 0, S);
  assert.equal(s.degraded, false);
  s = judge(s, bad, 1000, S);
  assert.deepEqual([s.degraded, s.reason, s.changes], [true, 'loss 10.0 % >= 5 %', 1]);
  // Good from 2 s on, broken at 20 s by an unknown round (an outage), good again from 21 s.
  for (let t = 2000; t < 20_000; t += 1000) s = judge(s, 'good', t, S);
  s = judge(s, 'unknown', 20_000, S);
  for (let t = 21_000; t < 51_000; t += 1000) s = judge(s, 'good', t, S);
  assert.equal(s.degraded, true, '29 s good since the break is not yet the 30 s hold-down');
  s = judge(s, 'good', 51_000, S);
  assert.deepEqual([s.degraded, s.changes, s.returnedAt], [false, 2, 51_000]);
  // A relapse within 5 minutes doubles the hold-down, up to 8 times.
  s = judge(s, bad, 60_000, S);
  assert.equal(s.holdDownMs, 60_000);
  let t = 60_000;
  for (let i = 0; i < 5; i++) {
    t += 1000;
    const good = t;
    while (s.degraded) s = judge(s, 'good', (t += 1000), S);
    assert.ok(t - good >= s.holdDownMs, 'it waited its hold-down');
    s = judge(s, bad, (t += 1000), S);
  }
  assert.equal(s.holdDownMs, 240_000);
  // Toggling bad/good every 5 s for 2 minutes: degraded once, never back.
  let toggling = initialSteer(S);
  for (let t2 = 0; t2 < 120_000; t2 += 1000) toggling = judge(toggling, Math.floor(t2 / 5000) % 2 ? 'good' : bad, t2, S);
  assert.deepEqual([toggling.degraded, toggling.changes], [true, 1]);
});

test('the degraded cost: above every standby, policy kept among degraded tunnels, read back by the other end', () => {
  const AS = { mode: 'active-standby' as const, primary: ['dsl'] };
  assert.equal(tunnelCost(AS, 'dsl', 10, true), DEGRADED_COST + 10);
  assert.ok(tunnelCost(AS, 'dsl', 999, true) > tunnelCost(AS, 'lte', 999), 'a degraded primary hands over to its standby');
  assert.ok(tunnelCost(AS, 'dsl', 999, true) < tunnelCost(AS, 'lte', 10, true), 'both degraded: the primary still first');
  assert.ok(tunnelCost(AS, 'lte', 999, true) <= 65535, 'within OSPF\'s 16-bit interface cost');
  assert.deepEqual(splitCost(DEGRADED_COST + STANDBY_COST + 20), { policyCost: STANDBY_COST + 20, degraded: true });
  assert.deepEqual(policyFromCosts(['dsl', 'lte'], { dsl: DEGRADED_COST + 10, lte: STANDBY_COST + 20 }), AS, 'the degraded mark is not a policy');
  assert.deepEqual(policyFromCosts(['dsl', 'lte'], { dsl: DEGRADED_COST + 10, lte: 20 }), { mode: 'active-active' });
  const frr = renderSpokeFrr(spoke, new Set([2]));
  assert.match(frr, /interface obt-lte\n(?: .*\n)*? ip ospf cost 10020\n/);
  assert.match(frr, /interface obt-dsl\n(?: .*\n)*? ip ospf cost 10\n/);
});

test('a degraded tunnel is one vtysh cost change, and its subflows become backups', () => {
  const before = freshRouter(['eth0', 'wwan0', 'eth2', 'eth3']);
  const cfg = { ...spoke, aggregate: 'tcp' as const };
  const applied = appliedRouter(desiredState(cfg, testSecrets(cfg)), before);
  const want = desiredState(cfg, testSecrets(cfg), new Set([2]));
  const plan = lines(planApply(want, applied).steps);
  assert.match(plan, /vtysh -c 'configure terminal' -c 'interface obt-lte' -c 'ip ospf cost 10020' -c exit/);
  assert.doesNotMatch(plan, /frr-reload/);
  assert.equal(want.aggregate!.endpoints.find((e) => e.wan === 'lte')!.standby, true);
  assert.equal(want.aggregate!.endpoints.find((e) => e.wan === 'dsl')!.standby, false);
});

test('fping lines: answers and timeouts, nothing else', () => {
  assert.deepEqual(parseFpingLine('10.255.0.13 : [3], 64 bytes, 20.5 ms (27.3 avg, 0% loss)'), { target: '10.255.0.13', rttMs: 20.5 });
  assert.deepEqual(parseFpingLine('[1796027646.17020] 10.255.0.21 : [2], timed out (0.062 avg, 25% loss)'), { target: '10.255.0.21', rttMs: null, at: 1796027646170 });
  assert.equal(parseFpingLine('ICMP Host Unreachable from 10.255.0.14 for ICMP Echo sent to 10.255.0.13'), undefined);
  assert.deepEqual(fpingArgs(['10.255.0.13', '10.255.0.21'], 10), ['-D', '-l', '-p', '100', '-i', '50', '-t', '1000', '10.255.0.13', '10.255.0.21']);
  assert.equal(sameTunnels({ 1: 'a' }, { 1: 'b' }), true);
  assert.equal(sameTunnels({ 1: 'a' }, { 1: 'a', 2: 'b' }), false);
});

test('carrier events from `ip -o monitor link`', () => {
  assert.deepEqual(parseLinkEvent('2: va0@if2: <NO-CARRIER,BROADCAST,MULTICAST,UP> mtu 1500 qdisc noqueue state DOWN group default \\    link/ether 22:15:01:b0:fc:9f'), { dev: 'va0', carrier: false });
  assert.deepEqual(parseLinkEvent('2: wwan0: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc noqueue state UP group default'), { dev: 'wwan0', carrier: true });
  assert.deepEqual(parseLinkEvent('Deleted 7: eth0: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500'), { dev: 'eth0', carrier: false });
  assert.equal(parseLinkEvent('    link/ether 22:15:01:b0:fc:9f brd ff:ff:ff:ff:ff:ff'), undefined);
});

test('the hub follows the sites\' degraded marks; a tunnel it cannot see keeps its state', () => {
  const tunnels = hub.spokes.flatMap((s) => s.wans.map((w) => w.tunnel));
  const [a, b] = tunnels as [number, number];
  assert.deepEqual(followSteering(hub, { [a]: true, [b]: false }, {}), { [a]: FOLLOWED });
  assert.equal(followSteering(hub, { [a]: true }, { [a]: FOLLOWED }), undefined, 'no change');
  assert.equal(followSteering(hub, {}, { [a]: FOLLOWED }), undefined, 'not visible: kept');
  assert.deepEqual(followSteering(hub, { [a]: false }, { [a]: FOLLOWED }), {});
  assert.deepEqual(followSteering(hub, {}, { 99999: FOLLOWED }), {}, 'a tunnel gone from the config is dropped');
});

test('[quality]: defaults, what a user may set, errors that say where and what', () => {
  assert.deepEqual(spoke.quality, DEFAULT_QUALITY);
  const text = `${fixture('spoke.ini')}\n[quality]\nsteer = off\nprobe_rate = 20\nloss_percent = 2.5\nrtt_ms = 300\nhold_down = 2m\n`;
  const cfg = parseConfig('/x.ini', text) as SpokeConfig;
  assert.deepEqual(cfg.quality, { steer: false, probeRate: 20, lossPercent: 2.5, rttMs: 300, holdDownSeconds: 120 });
  // Written back and read again: the same settings; the defaults are not written.
  assert.deepEqual((parseConfig('/x.ini', renderSpokeIni(cfg)) as SpokeConfig).quality, cfg.quality);
  assert.doesNotMatch(renderSpokeIni(spoke), /\[quality\]/);
  const bad = `${fixture('spoke.ini')}\n[quality]\nprobe_rate = 500\nloss_percent = 0\nhold_down = soon\nthreshold = 3\n`;
  try {
    parseConfig('/x.ini', bad);
    assert.fail('accepted');
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    const msg = err.message;
    assert.match(msg, /quality\.probe_rate: expected a whole number from 2 to 50/);
    assert.match(msg, /quality\.loss_percent: below 1 %/);
    assert.match(msg, /quality\.hold_down: expected a time such as 30s or 2m/);
    assert.match(msg, /quality\.threshold: unknown key/);
  }
});
