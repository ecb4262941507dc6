import { test } from 'node:test';
import assert from 'node:assert/strict';
import { z } from 'zod';
import { parseConfig } from '../../src/config/load.js';
import type { SpokeConfig } from '../../src/config/types.js';
import { parseWgDump, parseLinkCounters, type LinkSample } from '../../src/router/kernel.js';
import { neighborsByIface, bfdByIface, ospfNexthops, routerLinks, costOnPrefix, ospfInterfaces } from '../../src/frr/json.js';
import { buildReport, peerPolicies, type StatusInputs } from '../../src/status/build.js';
import type { QualityRecord } from '../../src/model/quality.js';
import { policyKey } from '../../src/model/policy.js';
import { statusReport } from '../../src/status/schema.js';
import { renderStatus } from '../../src/status/view.js';
import { metricsRegistry } from '../../src/daemon/metrics.js';
import { fixture, golden } from './files.js';
import { aggregating } from './routers.js';

/**
 * Status is built from real FRR 8.4.4 JSON, wg and ip output captured in the namespace lab
 * (test/golden/frr84): "healthy" with every tunnel up, "degraded" with sitea's wan2 cut at its ISP.
 */
// The captured lab ran with aggregation on.
const spokeCfg = aggregating(parseConfig('/etc/ospfbond/ospfbond.ini', fixture('frr84/spoke.ini')));
const hubCfg = aggregating(parseConfig('/etc/ospfbond/ospfbond.ini', fixture('frr84/hub.ini')));

/**
 * `nft -j list counters` as nft 1.0.6 wrote it for the rendered tables (test/fixtures/frr84/*-nft-counters.json,
 * fresh: every counter 0), with bytes put in: each counter gets its own value, so a mix-up shows.
 */
function withBytes(json: string): string {
  const j = JSON.parse(json) as { nftables: { counter?: { bytes: number; name: string } }[] };
  let n = 0;
  for (const e of j.nftables) if (e.counter) e.counter.bytes = 1_000_000 * ++n + e.counter.name.length;
  return JSON.stringify(j);
}

function inputs(role: 'spoke' | 'hub', state: '' | 'degraded-'): StatusInputs {
  const f = (name: string) => fixture(`frr84/${state}${role}-${name}`);
  const links = parseLinkCounters(f('ip-link.json'));
  // The capture holds one link sample; a second one 2 s later with 1000 bytes more each way gives rates.
  const sample: LinkSample = { at: Date.parse('2026-11-21T08:05:00Z'), links };
  const previous: LinkSample = { at: sample.at - 2000, links: links.map((l) => ({ ...l, rxBytes: l.rxBytes - 1000, txBytes: l.txBytes - 1000 })) };
  return {
    sample,
    previous,
    wg: parseWgDump(f('wg-dump.txt')),
    kernelRoutes: role === 'spoke' ? (JSON.parse(f('kernel-routes.json')) as { dst: string; gateway?: string; dev?: string; table?: string; protocol?: string }[]).map((r) => ({ table: r.table ?? 'main', dst: r.dst, gateway: r.gateway, dev: r.dev, metric: 0, protocol: r.protocol })) : [],
    vtysh: { neighbors: f('ip-ospf-neighbor.json'), interfaces: f('ip-ospf-interface.json'), bfd: f('bfd-peers.json'), routes: f('ip-route.json'), routerLsas: f('ip-ospf-database-router.json') },
    // `ss` captured in the benchmark's lab during one proxied download (its first two sites have
    // these sites' tunnel numbers); the degraded capture predates aggregation: no connections.
    // siteb's hub proxy is set down here, to show how that reads.
    aggregation: state
      ? { subflows: '', connections: '', counters: '', proxyUp: role === 'spoke' ? { redir: true } : { 'site-sitea': true, 'site-siteb': true } }
      : { subflows: f('ss-subflows.txt'), connections: f('ss-mptcp.txt'), counters: withBytes(f('nft-counters.json')), proxyUp: role === 'spoke' ? { redir: true } : { 'site-sitea': true, 'site-siteb': false } },
    // The degraded capture: the site's daemon steers wan2 away for its loss, and the hub follows.
    steering: state ? { 2: role === 'spoke' ? 'loss 9.8 % >= 5 %' : 'degraded by the site (its cost)' } : {},
    quality: role === 'spoke' ? qualityRecord(sample.at, state === 'degraded-') : undefined,
  };
}

/** A site daemon's record one second before the sample: wan1 clean, wan2 clean or losing a tenth. */
function qualityRecord(at: number, lossy: boolean): QualityRecord {
  const w = (probes: number, lost: number, median: number, p95: number, jitter: number) => ({ probes, lost, lossRatio: lost / probes, rttMedianMs: median, rttP95Ms: p95, jitterMs: jitter });
  return {
    at: new Date(at - 1000).toISOString(),
    probeRate: 10,
    steer: true,
    tunnels: [
      { tunnel: 1, short: w(50, 0, 1.21, 1.9, 0.18), long: w(600, 0, 1.25, 2.1, 0.2), degraded: false, reason: null, changes: 0 },
      lossy
        ? { tunnel: 2, short: w(51, 5, 1.34, 2.4, 0.3), long: w(600, 48, 1.3, 2.2, 0.25), degraded: true, reason: 'loss 9.8 % >= 5 %', changes: 1 }
        : { tunnel: 2, short: w(50, 0, 1.3, 2.0, 0.2), long: w(600, 1, 1.28, 2.0, 0.21), degraded: false, reason: null, changes: 0 },
    ],
  };
}

test('FRR 8.4 JSON: neighbours, BFD, interfaces and ECMP nexthops by tap', () => {
  const n = neighborsByIface(fixture('frr84/spoke-ip-ospf-neighbor.json'));
  assert.deepEqual(Object.keys(n).sort(), ['obt-wan1', 'obt-wan2']);
  assert.equal(n['obt-wan1']!.state, 'Full/DR');
  assert.deepEqual(Object.keys(neighborsByIface(fixture('frr84/degraded-spoke-ip-ospf-neighbor.json'))), ['obt-wan1'], 'the cut tunnel has no neighbour');
  assert.equal(bfdByIface(fixture('frr84/spoke-bfd-peers.json'))['obt-wan2']!.status, 'up');
  assert.equal(bfdByIface(fixture('frr84/degraded-spoke-bfd-peers.json'))['obt-wan2'], undefined, 'bfdd deleted the session with the neighbour');
  assert.equal(ospfInterfaces(fixture('frr84/spoke-ip-ospf-interface.json'))['obt-wan1']!.cost, 10);
  assert.deepEqual(ospfNexthops(fixture('frr84/spoke-ip-route.json'))['0.0.0.0/0']!.sort(), ['obt-wan1', 'obt-wan2']);
  assert.deepEqual(ospfNexthops(fixture('frr84/degraded-spoke-ip-route.json'))['0.0.0.0/0'], ['obt-wan1']);
});

test('router LSAs: the other end\'s cost per tap, also for a down tunnel (stub link)', () => {
  const links = routerLinks(fixture('frr84/degraded-hub-ip-ospf-database-router.json'));
  const spoke = (r: string) => r !== '100.127.0.1';
  // tunnel 2 (tap 100.127.0.20/30) is down: the spoke's LSA carries it as a stub link, still with its cost.
  assert.equal(costOnPrefix(links, '0.0.0.1', spoke, '100.127.0.20/30'), 10);
  assert.equal(costOnPrefix(links, '0.0.0.1', spoke, '100.127.0.12/30'), 10);
  assert.equal(costOnPrefix(links, '0.0.0.1', spoke, '100.127.0.99/32'), undefined);
  assert.equal(costOnPrefix(links, '0.0.0.2', spoke, '100.127.0.20/30'), undefined, 'only the site\'s own area counts');
});

for (const role of ['spoke', 'hub'] as const) {
  for (const state of ['', 'degraded-'] as const) {
    test(`status report and view, ${role}${state ? ', one tunnel down' : ''} (golden)`, () => {
      const report = buildReport(role === 'spoke' ? spokeCfg : hubCfg, inputs(role, state));
      statusReport.parse(report);
      golden(`status-${state}${role}.json`, `${JSON.stringify(report, null, 2)}\n`);
      golden(`status-${state}${role}.txt`, `${renderStatus(report, false)}\n`);
      const wan2 = report.tunnels.find((t) => t.spoke === 'sitea' && t.wan === 'wan2')!;
      if (state) {
        assert.equal(wan2.ospf, 'Down');
        assert.equal(wan2.bfd, 'none');
        assert.equal(wan2.inEcmp, false);
        assert.equal(wan2.peerCost, 10, 'cost still seen through the other tunnel');
      } else {
        assert.ok(report.tunnels.every((t) => t.ospf.startsWith('Full') && t.bfd === 'up' && t.inEcmp));
      }
      assert.ok(report.tunnels.every((t) => t.rxBitsPerSecond === 4000), "1000 bytes in 2 s = 4 kbit/s");
      assert.equal(report.spokes.find((s) => s.name === 'sitea')!.inSync, true);
      // What the daemon's mirror job reads from the router LSAs alone agrees with the full report.
      const peers = peerPolicies(role === 'spoke' ? spokeCfg : hubCfg, inputs(role, state).vtysh.routerLsas);
      assert.deepEqual(Object.keys(peers), report.spokes.map((s) => s.name));
      for (const s of report.spokes) assert.equal(peers[s.name] ? policyKey(peers[s.name]!) : null, s.peerPolicy, s.name);
      assert.ok(report.spokes.every((s) => s.peerPolicy !== null));
    });
  }
}

test('aggregation in status: connections and subflows per tunnel from ss, as captured', () => {
  const spoke = buildReport(spokeCfg, inputs('spoke', ''));
  assert.deepEqual(spoke.tunnels.map((t) => [t.wan, t.subflows]), [['wan1', 1], ['wan2', 2]]);
  assert.deepEqual([spoke.spokes[0]!.aggregate, spoke.spokes[0]!.proxyUp, spoke.spokes[0]!.proxiedConnections], ['tcp', true, 2]);
  // the counters by name: aggregate_up is the first in the file, aggregate_down the second
  assert.deepEqual([spoke.spokes[0]!.proxiedBytesUp, spoke.spokes[0]!.proxiedBytesDown], [1_000_012, 2_000_014]);
  const hub = buildReport(hubCfg, inputs('hub', ''));
  const a = hub.spokes.find((s) => s.name === 'sitea')!;
  assert.deepEqual([a.proxyUp, a.proxiedConnections], [true, 2]);
  assert.deepEqual([a.proxiedBytesUp, a.proxiedBytesDown], [1_000_000 + 'aggregate_sitea_up'.length, 2_000_000 + 'aggregate_sitea_down'.length]);
  assert.deepEqual(hub.tunnels.filter((t) => t.spoke === 'sitea').map((t) => t.subflows), [1, 2]);
  assert.equal(hub.spokes.find((s) => s.name === 'siteb')!.proxyUp, false);
  // the capture's table predates the cap's counter: not known, so null; the hub never counts it
  assert.deepEqual([spoke.spokes[0]!.cappedConnections, a.cappedConnections], [null, null]);
  // the cap's counter, shaped as nft writes the captured ones: its packets are connections
  const base = inputs('spoke', '');
  const j = JSON.parse(base.aggregation.counters) as { nftables: unknown[] };
  j.nftables.push({ counter: { family: 'inet', name: 'aggregate_capped', table: 'ospfbond', handle: 8, packets: 7, bytes: 420 } });
  const capped = buildReport(spokeCfg, { ...base, aggregation: { ...base.aggregation, counters: JSON.stringify(j) } });
  assert.equal(capped.spokes[0]!.cappedConnections, 7);
  assert.match(renderStatus(capped, false), /2 conn, 7 past the cap, /);
  // a site that does not aggregate has nulls, not zeros
  const off = buildReport({ ...(spokeCfg as SpokeConfig), aggregate: 'off' }, inputs('spoke', ''));
  assert.deepEqual([off.spokes[0]!.proxyUp, off.spokes[0]!.proxiedConnections, off.spokes[0]!.cappedConnections, off.tunnels[0]!.subflows], [null, null, null, null]);
});

test('status JSON schema: docs/status.schema.json is generated from the zod schema', () => {
  golden('../../docs/status.schema.json', `${JSON.stringify(z.toJSONSchema(statusReport), null, 2)}\n`);
});

test('Prometheus metrics from a report (golden)', async () => {
  const { registry, update } = metricsRegistry();
  update(buildReport(hubCfg, inputs('hub', 'degraded-')));
  const text = await registry.metrics();
  golden('metrics-degraded-hub.prom', text);
  assert.match(text, /^ospfbond_tunnel_up\{spoke="sitea",wan="wan2"\} 0$/m);
  assert.match(text, /^ospfbond_ospf_neighbor_state\{spoke="sitea",wan="wan1",state="Full"\} 1$/m);
  assert.match(text, /^# TYPE ospfbond_tunnel_receive_bytes_total counter$/m);
  // A second scrape sets the counters to the kernel's values again, not twice them.
  update(buildReport(hubCfg, inputs('hub', 'degraded-')));
  assert.equal(await registry.metrics(), text);
  assert.match(text, /^ospfbond_tunnel_degraded\{spoke="sitea",wan="wan2"\} 1$/m, 'the hub shows the steering it follows');
});

test('Prometheus metrics of a site that measures its tunnels (golden)', async () => {
  const { registry, update } = metricsRegistry();
  update(buildReport(spokeCfg, inputs('spoke', 'degraded-')));
  const text = await registry.metrics();
  golden('metrics-degraded-spoke.prom', text);
  assert.match(text, /^ospfbond_tunnel_loss_ratio\{spoke="sitea",wan="wan2",window="short"\} 0\.098/m);
  assert.match(text, /^ospfbond_tunnel_rtt_seconds\{spoke="sitea",wan="wan1",window="long",quantile="0\.95"\} 0\.0021/m);
  assert.match(text, /^ospfbond_tunnel_steering_changes_total\{spoke="sitea",wan="wan2"\} 1$/m);
  // A quality record from a daemon that stopped minutes ago is not shown as now.
  const stale = buildReport(spokeCfg, { ...inputs('spoke', 'degraded-'), sample: { ...inputs('spoke', 'degraded-').sample, at: Date.parse('2026-11-21T08:10:00Z') } });
  assert.equal(stale.tunnels[0]!.quality, null);
});
