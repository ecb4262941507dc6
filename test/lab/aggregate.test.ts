import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Lab } from './lab.js';
import { waitFor } from './lab.js';
import { buildBondedLab, proxiesIdle, proxyPlaces, proxyRedirects, ecmpWidth, failWan, restoreWan, itLeaksNoSecrets, startDaemon, daemonLog, daemonLogLines, hubTunnels, wanBytes, type FailureKind } from './scenario.js';
import { labTopology, coreSites, type SpokeSpec } from './topology.js';
import { limitMbit, type IperfRun } from './iperf.js';
import { HUB_PROXY_PORT, SPOKE_REDIR_PORT } from '../../src/model/aggregate.js';
import { hubProxyAddr } from '../../src/model/addressing.js';

/**
 * Single-connection aggregation (docs/aggregation.md) in the namespace lab: one TCP connection
 * from a site's LAN through ss-redir -> MPTCP, one subflow per tunnel -> ss-server at the hub.
 */
const RATE = 20;
const t = labTopology(coreSites(RATE).map((s) => ({ ...s, aggregate: 'tcp' as const })));
const [sitea, siteb] = t.spokes as [SpokeSpec, SpokeSpec];
let lab: Lab;

const endpoints = async (site: SpokeSpec) => JSON.parse(await lab.sh(site.name, 'ip -j mptcp endpoint show')) as { address: string; dev: string; backup?: boolean }[];
const armed = async (site: SpokeSpec) => /elements = \{ tcp \}/.test(await lab.sh(site.name, 'nft list set inet ospfbond aggregate_proto'));
const pidOf = async (node: string, name: string) => Number((await lab.sh(node, `cat /run/ospfbond/aggregate-${name}.pid`)).trim());
const redirected = (site: SpokeSpec) => proxyRedirects(lab, site.name);

function describeRun(r: IperfRun): string {
  return r.intervals.map((i) => i.mbit.toFixed(1)).join(' ');
}

describe('single-connection aggregation: one TCP flow over MPTCP proxies, one subflow per tunnel', { timeout: 900_000 }, () => {
  before(async () => {
    ({ lab } = await buildBondedLab(t));
    await Promise.all([startDaemon(lab, sitea.name), startDaemon(lab, siteb.name), startDaemon(lab, t.hub.node)]);
  });
  after(() => lab?.teardown());

  it('apply started the proxies (as nobody, configs 0600), armed the redirect and gave each tap an MPTCP endpoint', async () => {
    for (const site of [sitea, siteb]) {
      await waitFor(`${site.name}: an endpoint per tap and the redirect armed`, 20_000, async () => (await endpoints(site)).length === site.wans.length && (await armed(site))).catch(async (err: unknown) => {
        const state = await lab.try(site.name, `ip mptcp endpoint show; nft list set inet ospfbond aggregate_proto; ip route show default; cat ${daemonLog(lab, site.name)} | tail -20`);
        throw new Error(`${String(err)}\n${state.out}`);
      });
      assert.deepEqual((await endpoints(site)).map((e) => e.dev).sort(), site.wans.map((w) => `obt-${w.name}`).sort());
      const pid = await pidOf(site.name, 'redir');
      assert.equal((await lab.sh(site.name, `ps -o user= -p ${pid}`)).trim(), 'nobody', 'ss-redir runs as nobody');
      assert.equal((await lab.sh(site.name, 'stat -c %a /etc/ospfbond/aggregate/redir.json')).trim(), '600');
      assert.doesNotMatch(await lab.sh(site.name, `cat /proc/${pid}/cmdline | tr '\\0' ' '`), /key|password/, 'no key on the command line');
    }
    for (const s of ['sitea', 'siteb']) {
      const pid = await pidOf(t.hub.node, `site-${s}`);
      assert.equal((await lab.sh(t.hub.node, `ps -o user= -p ${pid}`)).trim(), 'nobody');
    }
  });

  for (const site of [sitea, siteb]) {
    it(`${site.name} (${site.wans.length} x ${RATE} Mbit/s): one TCP flow up and one down get more than one link can carry (measured, printed)`, async () => {
      const stop = await lab.iperfServer('server', 5401);
      const before = await redirected(site);
      // each measurement on a site whose proxies are idle: the first's connection keeps its place for 5 s
      await proxiesIdle(lab, site.name);
      const up = await lab.iperfRun(site.host, t.server.addr, 5401, '-t 8 -O 2');
      await proxiesIdle(lab, site.name);
      const down = await lab.iperfRun(site.host, t.server.addr, 5401, '-t 8 -O 2 -R');
      await stop();
      const limit = limitMbit(site.wans.map((w) => w.rateMbit));
      const one = limitMbit([RATE]);
      console.log(`# measured: ${site.name}, one TCP flow over ${site.wans.length} x ${RATE} Mbit/s: up ${up.mbit.toFixed(1)}, down ${down.mbit.toFixed(1)} Mbit/s; limit ${limit.toFixed(1)} (${((100 * up.mbit) / limit).toFixed(0)} % / ${((100 * down.mbit) / limit).toFixed(0)} %), one link's limit ${one.toFixed(1)}`);
      if (up.error || down.error) {
        const lines = await daemonLogLines(lab, site.name, { job: 'aggregate' });
        const routes = await lab.sh(site.name, 'ip route show default; ip mptcp endpoint show');
        assert.fail(`iperf3: ${up.error ?? down.error}\nthe spoke's aggregate job:\n${lines.map((l) => `${new Date(l.time).toISOString()} ${l.msg} ${JSON.stringify(l.changes ?? '')}`).join('\n')}\n${routes}`);
      }
      assert.ok((await redirected(site)) > before, 'the flows went through the proxy (the redirect counted them)');
      // One flow over ECMP is capped at one link: more than 1.3 links' worth proves the subflows add up.
      for (const [dir, r] of [['up', up], ['down', down]] as const) assert.ok(r.mbit > 1.3 * one, `${dir}: ${r.mbit.toFixed(1)} Mbit/s is more than one link carries (${one.toFixed(1)})`);
      // status at both ends counts the proxied bytes: at least what the 8 s of each direction carried
      const sent = (r: IperfRun) => (r.mbit * 1e6 * 8) / 8;
      type Site = { name: string; proxyUp: boolean | null; proxiedBytesUp: number | null; proxiedBytesDown: number | null };
      const mine = (JSON.parse(await lab.sh(site.name, 'ospfbond status --json')) as { spokes: Site[] }).spokes[0]!;
      const atHub = (JSON.parse(await lab.sh(t.hub.node, 'ospfbond status --json')) as { spokes: Site[] }).spokes.find((x) => x.name === site.name)!;
      console.log(`# measured: ${site.name}: status counts ${((mine.proxiedBytesUp ?? 0) / 1e6).toFixed(1)} MB up, ${((mine.proxiedBytesDown ?? 0) / 1e6).toFixed(1)} MB down at the spoke; ${((atHub.proxiedBytesUp ?? 0) / 1e6).toFixed(1)} / ${((atHub.proxiedBytesDown ?? 0) / 1e6).toFixed(1)} MB at the hub`);
      for (const x of [mine, atHub]) {
        assert.equal(x.proxyUp, true);
        assert.ok((x.proxiedBytesUp ?? 0) >= 0.9 * sent(up) && (x.proxiedBytesDown ?? 0) >= 0.9 * sent(down), 'proxied bytes counted both ways');
      }
    });
  }

  it("the subflows run cubic at both ends, the namespaces' default being BBR: the routes' locked congctl beats MPTCP's sync to the connection's", async () => {
    const site = sitea;
    // On this machine a namespace's default is BBR and cannot be cubic; on a stock Debian, cubic already.
    const system = (await lab.sh(t.hub.node, 'sysctl -n net.ipv4.tcp_congestion_control')).trim();
    const stop = await lab.iperfServer('server', 5402);
    await proxiesIdle(lab, site.name);
    const running = lab.iperfRun(site.host, t.server.addr, 5402, '-t 6 -R');
    await sleep(3000);
    // one subflow is one TCP socket: the state line, then a line that starts with its congestion control
    const congestion = async (node: string, filter: string) =>
      (await lab.sh(node, `ss -tinH state established '( ${filter} )'`))
        .split('\n')
        .filter((l) => /tcp-ulp-mptcp/.test(l))
        .map((l) => l.trim().split(/\s+/)[0]);
    const atHub = await congestion(t.hub.node, `sport = :${HUB_PROXY_PORT}`);
    const atSpoke = await congestion(site.name, `dport = :${HUB_PROXY_PORT}`);
    const r = await running;
    await stop();
    console.log(`# measured: ${site.name}: system default ${system}; subflows at the hub ${atHub.join(' ')}, at the spoke ${atSpoke.join(' ')}; ${r.mbit.toFixed(1)} Mbit/s down`);
    assert.ok(atHub.length >= site.wans.length && atSpoke.length >= site.wans.length, 'a subflow per tunnel at each end');
    assert.deepEqual([...new Set([...atHub, ...atSpoke])], ['cubic']);
  });

  it('at most aggregate_connections (2 here) busy connections at once go through the proxies: more ride the tunnels per flow; a place frees when its connection idles', async () => {
    const stop = await lab.iperfServer('server', 5407);
    const capped = async () => (JSON.parse(await lab.sh(sitea.name, 'ospfbond status --json')) as { spokes: { cappedConnections: number | null }[] }).spokes[0]!.cappedConnections;
    await proxiesIdle(lab, sitea.name);
    const before = await redirected(sitea);
    const cappedBefore = await capped();
    // iperf3's control connection and its first stream take the two places; the other 7 streams
    // meet a full set and are not redirected
    const run = lab.iperfRun(sitea.host, t.server.addr, 5407, '-P 8 -t 6 -R');
    await sleep(3000);
    const mptcp = (await lab.sh(sitea.name, 'ss -HnM state established')).split('\n').filter(Boolean).length;
    const places = await proxyPlaces(lab, sitea.name);
    const r = await run;
    const taken = (await redirected(sitea)) - before;
    const past = (await capped())! - cappedBefore!;
    console.log(`# measured: 8 streams at once: ${taken} connections redirected, ${past} past the cap, ${mptcp} MPTCP connections and ${places} busy places after 3 s; ${r.mbit.toFixed(1)} Mbit/s`);
    assert.equal(r.error, undefined);
    assert.equal(r.ports.length, 8);
    assert.equal(taken, 2, 'two connections redirected: the control connection and one stream');
    assert.equal(past, 7, 'status counts the other 7 streams as past the cap');
    assert.equal(mptcp, 2, 'two MPTCP connections between the proxies');
    // the control connection sends next to nothing: after 1 s only the stream keeps its place
    assert.equal(places, 1, 'the stream holds its place; the idle control connection gave its up');
    assert.ok(r.mbit > 1.3 * limitMbit([RATE]), `the 8 streams use both links (${r.mbit.toFixed(1)} Mbit/s)`);
    // idle again: the next connection is proxied
    await proxiesIdle(lab, sitea.name);
    const again = await redirected(sitea);
    assert.ok((await lab.iperf(sitea.host, t.server.addr, 5407, '-t 1')) > 1);
    assert.equal((await redirected(sitea)) - again, 2, 'once the places are free, new connections are proxied again');
    await stop();
  });

  for (const kind of ['blackhole', 'carrier'] as FailureKind[]) {
    it(`a WAN fails (${kind}) under a proxied download: the connection lives on, the other tunnel carries it; the WAN back, its subflow carries data again`, async () => {
      const stop = await lab.iperfServer('server', 5402);
      await proxiesIdle(lab, sitea.name);
      const run = lab.iperfRun(sitea.host, t.server.addr, 5402, '-t 14 -R -i 0.5');
      await sleep(5000);
      const failedAt = Date.now();
      await failWan(lab, sitea, 'wan1', kind);
      await waitFor('wan1 out of the MPTCP endpoints', 5_000, async () => !(await endpoints(sitea)).some((e) => e.dev === 'obt-wan1'), 50);
      const removedMs = Date.now() - failedAt;
      await sleep(4000);
      await restoreWan(lab, sitea, 'wan1', kind);
      const restoredAt = Date.now();
      await waitFor('wan1 back in the MPTCP endpoints', 30_000, async () => (await endpoints(sitea)).some((e) => e.dev === 'obt-wan1'), 100);
      const backMs = Date.now() - restoredAt;
      const r = await run;
      await stop();
      console.log(`# measured: ${kind}: endpoint removed ${removedMs} ms after the failure, re-added ${backMs} ms after the restore; download per 0.5 s: ${describeRun(r)}`);
      assert.equal(r.error, undefined, 'the connection was not reset');
      // The failure came 5 s in (+2 s of iperf's start): from 2 s after it, one link's worth at least half the time.
      const one = limitMbit([RATE]);
      const after = r.intervals.filter((i) => i.start >= 7.5 && i.end <= 9.5);
      assert.ok(after.every((i) => i.mbit > 0.5 * one), `the remaining tunnel carries the flow (${after.map((i) => i.mbit.toFixed(1)).join(' ')})`);
    });
  }

  it('the proxy killed: the redirect is disarmed within 2 s (TCP takes the plain path), the daemon restarts the proxy and re-arms it', async () => {
    const pid = await pidOf(sitea.name, 'redir');
    const killedAt = Date.now();
    await lab.sh(sitea.name, `kill -9 ${pid}`);
    await waitFor('redirect disarmed', 3_000, async () => !(await armed(sitea)), 50);
    const disarmedMs = Date.now() - killedAt;
    await waitFor('proxy restarted and redirect armed', 10_000, async () => (await armed(sitea)) && (await pidOf(sitea.name, 'redir')) !== pid, 100);
    console.log(`# measured: proxy killed: redirect disarmed after ${disarmedMs} ms, proxy back and armed after ${Date.now() - killedAt} ms`);
    assert.ok(disarmedMs <= 2000, `disarmed within 2 s (${disarmedMs} ms)`);
    const logged = await daemonLogLines(lab, sitea.name, { job: 'aggregate', msg: /not running; starting it/ });
    assert.ok(logged.length >= 1, 'the daemon logged the restart');
    // a TCP connection through the restarted proxy
    const stop = await lab.iperfServer('server', 5403);
    await proxiesIdle(lab, sitea.name);
    assert.ok((await lab.iperf(sitea.host, t.server.addr, 5403, '-t 2')) > 1);
    await stop();
  });

  it('a pid file naming a gone process (two starts at once leave one) starts no second proxy, and apply leaves the running one alone', async () => {
    const pid = await pidOf(sitea.name, 'redir');
    // A pid no process has: the copy that lost the port and exited.
    const gone = Number((await lab.sh(sitea.name, 'sh -c \'echo $$\'')).trim());
    const before = (await daemonLogLines(lab, sitea.name, { job: 'aggregate', msg: /not running; starting it/ })).length;
    await lab.sh(sitea.name, `echo ${gone} > /run/ospfbond/aggregate-redir.pid`);
    await sleep(2500);
    assert.equal((await lab.try(sitea.name, `test -d /proc/${pid}`)).code, 0, 'the proxy runs on');
    assert.equal((await daemonLogLines(lab, sitea.name, { job: 'aggregate', msg: /not running; starting it/ })).length, before, 'the daemon started nothing');
    assert.ok(await armed(sitea), 'the redirect stays armed');
    const apply = await lab.sh(sitea.name, 'ospfbond apply 2>&1');
    assert.doesNotMatch(apply, /start-stop-daemon --start/, 'apply starts no second proxy');
    assert.match((await lab.sh(sitea.name, 'pgrep -x ss-redir -a || true')), new RegExp(`^${pid} `, 'm'));
    await lab.sh(sitea.name, `echo ${pid} > /run/ospfbond/aggregate-redir.pid`);
  });

  it('the hub\'s proxy killed: the hub\'s daemon starts it again', async () => {
    const pid = await pidOf(t.hub.node, 'site-sitea');
    const killedAt = Date.now();
    await lab.sh(t.hub.node, `kill -9 ${pid}`);
    await waitFor('the hub proxy back', 5_000, async () => {
      const now = await lab.try(t.hub.node, 'cat /run/ospfbond/aggregate-site-sitea.pid');
      return Number(now.out.trim()) !== pid && (await lab.try(t.hub.node, `test -d /proc/${now.out.trim()}`)).code === 0;
    }, 100);
    console.log(`# measured: the hub's proxy for sitea back ${Date.now() - killedAt} ms after a kill -9`);
    const stop = await lab.iperfServer('server', 5404);
    await proxiesIdle(lab, sitea.name);
    assert.ok((await lab.iperf(sitea.host, t.server.addr, 5404, '-t 2')) > 1, 'a connection through the restarted proxy');
    await stop();
  });

  it('the hub\'s proxy unreachable: the spoke disarms its redirect, TCP takes the plain path, and comes back through the proxies when it answers again', async () => {
    const addr = hubProxyAddr('100.127.0.0/16', (await hubTunnels(lab)).filter((x) => x.site === 'sitea').map((x) => Number(/obt(\d+)/.exec(x.tap)![1])));
    // Something between the site and its proxy eats the connections (a firewall, a proxy that hangs).
    await lab.sh(t.hub.node, `nft add table inet eat-proxy && nft add chain inet eat-proxy c '{ type filter hook input priority -10; policy accept; }' && nft add rule inet eat-proxy c ip daddr ${addr} tcp dport ${HUB_PROXY_PORT} drop`);
    const cutAt = Date.now();
    await waitFor('the redirect disarmed', 10_000, async () => !(await armed(sitea)), 100);
    const disarmedMs = Date.now() - cutAt;
    const stop = await lab.iperfServer('server', 5405);
    const before = await redirected(sitea);
    const plain = await lab.iperf(sitea.host, t.server.addr, 5405, '-t 2');
    assert.equal(await redirected(sitea), before, 'not redirected while the hub\'s proxy does not answer');
    assert.ok(plain > 1, `TCP works meanwhile, on the plain path (${plain.toFixed(1)} Mbit/s)`);
    // Nor does the daemon's reconcile (every 30 s) arm it again meanwhile, even for a moment: the
    // connections it would send to the proxy then would be accepted and closed.
    let rearmed = 0;
    for (const until = Date.now() + 31_000; Date.now() < until; await sleep(200)) if (await armed(sitea)) rearmed++;
    assert.equal(rearmed, 0, `the redirect was seen armed ${rearmed} times in 31 s while the hub's proxy did not answer`);
    await lab.sh(t.hub.node, 'nft delete table inet eat-proxy');
    const backAt = Date.now();
    await waitFor('the redirect armed again', 10_000, async () => armed(sitea), 100);
    console.log(`# measured: hub proxy unreachable: redirect disarmed after ${disarmedMs} ms; armed ${Date.now() - backAt} ms after it answered again`);
    // Two failed probes: each up to 2 s apart plus a 1 s tick of the job, and 1 s of timeout.
    assert.ok(disarmedMs <= 8000, `disarmed within two probes (${disarmedMs} ms)`);
    await proxiesIdle(lab, sitea.name);
    const through = await lab.iperf(sitea.host, t.server.addr, 5405, '-t 2');
    assert.ok((await redirected(sitea)) > before && through > 1, 'through the proxies again');
    await stop();
    const logged = await daemonLogLines(lab, sitea.name, { job: 'aggregate', msg: /hub's aggregation proxy does not answer/ });
    assert.ok(logged.length >= 1, 'the spoke\'s daemon said so');
  });

  it('active-standby: the standby\'s endpoint is a backup and carries next to nothing while the primary is up; with the primary gone it carries the connection', async () => {
    await lab.sh(sitea.name, 'ospfbond mode active-standby --primary wan1 2>&1');
    await waitFor('wan2 a backup endpoint', 20_000, async () => (await endpoints(sitea)).some((e) => e.dev === 'obt-wan2' && e.backup === true), 200);
    // Measured once both ends route over the primary alone, not while the hub's daemon is still
    // following the new costs. A run that did not wait saw 12 % on the standby, with the upload at
    // 12.7 Mbit/s where 16-17 is usual; that the costs changing under it caused this is not shown.
    await waitFor('both ends on the primary alone', 20_000, async () => (await ecmpWidth(lab, sitea.name, 'default')) === 1 && (await ecmpWidth(lab, 'hub', sitea.lanPrefix)) === 1, 200);
    const stop = await lab.iperfServer('server', 5406);
    const wan2 = async () => (await wanBytes(lab, sitea)).wan2!.tx;
    await proxiesIdle(lab, sitea.name);
    const b0 = await wan2();
    const up = await lab.iperf(sitea.host, t.server.addr, 5406, '-t 4');
    const onStandby = (await wan2()) - b0;
    console.log(`# measured: active-standby: one upload ${up.toFixed(1)} Mbit/s; the standby WAN sent ${(onStandby / 1e3).toFixed(0)} kB of ${((up * 4) / 8 * 1e3).toFixed(0)} kB`);
    // Seen: 11 kB, 439 kB (6 %), and without the wait above 780 kB (12 %), of 6-8 MB. The kernel's
    // scheduler puts data on a backup subflow only while it finds the primary stale.
    assert.ok(onStandby < 0.1 * ((up * 1e6 * 4) / 8), 'the standby carried under 10 % of the upload');
    // the primary dies under a running upload: the backup subflow takes it, no reset
    await proxiesIdle(lab, sitea.name);
    const run = lab.iperfRun(sitea.host, t.server.addr, 5406, '-t 10 -i 0.5 --get-server-output');
    await sleep(3000);
    await failWan(lab, sitea, 'wan1', 'blackhole');
    await sleep(4000);
    const r = await run;
    await restoreWan(lab, sitea, 'wan1', 'blackhole');
    await stop();
    console.log(`# measured: active-standby, primary cut at 3 s: upload per 0.5 s ${describeRun(r)}`);
    assert.equal(r.error, undefined, 'no reset');
    // From 3 s after the cut to the end, on average (the server's 0.5 s intervals come in bursts).
    const after = r.intervals.filter((i) => i.start >= 6);
    const mean = after.reduce((a, i) => a + i.mbit, 0) / Math.max(1, after.length);
    assert.ok(after.length >= 6 && mean > 0.7 * limitMbit([RATE]), `the standby carries the upload (${mean.toFixed(1)} Mbit/s on average)`);
    await lab.sh(sitea.name, 'ospfbond mode active-active 2>&1');
    await waitFor('both endpoints full again', 30_000, async () => (await endpoints(sitea)).filter((e) => !e.backup).length === 2, 200);
  });

  it('the hub\'s proxies are closed to the internet, and one site cannot reach another site\'s proxy', async () => {
    const tunnels = await hubTunnels(lab);
    const addrOf = (site: string) => hubProxyAddr('100.127.0.0/16', tunnels.filter((x) => x.site === site).map((x) => Number(/obt(\d+)/.exec(x.tap)![1])));
    const [a, b] = [addrOf('sitea'), addrOf('siteb')];
    // Someone next to the hub routes to the proxy address: the lab's core and server are told the way.
    await lab.sh('core', `ip route replace ${a}/32 via 198.51.100.2`);
    await lab.sh('server', `ip route replace ${a}/32 via 203.0.113.1`);
    const fromServer = await lab.try('server', `timeout 3 bash -c 'exec 3<>/dev/tcp/${a}/${HUB_PROXY_PORT}' && echo connected`, 10_000);
    assert.doesNotMatch(fromServer.out, /connected/, 'the server cannot connect to a site proxy');
    // sitea, from its own tap address, to siteb's proxy: dropped at the hub (timeout, not a refusal)
    const tapA = (await lab.sh(sitea.name, "ip -j addr show dev obt-wan1 | python3 -c 'import json,sys; print(json.load(sys.stdin)[0][\"addr_info\"][0][\"local\"])'")).trim();
    const cross = await lab.try(sitea.name, `timeout 3 python3 -c "import socket; s=socket.socket(); s.bind(('${tapA}',0)); s.settimeout(2); s.connect(('${b}', ${HUB_PROXY_PORT})); print('connected')"`, 10_000);
    assert.doesNotMatch(cross.out, /connected/, 'sitea cannot connect to siteb\'s proxy');
    // and the same from sitea to its own proxy works: the drop is about the site, not the path
    const own = await lab.try(sitea.name, `timeout 3 python3 -c "import socket; s=socket.socket(); s.bind(('${tapA}',0)); s.settimeout(2); s.connect(('${a}', ${HUB_PROXY_PORT})); print('connected')"`, 10_000);
    assert.match(own.out, /connected/, 'sitea reaches its own proxy');
    const drops = await lab.sh(t.hub.node, 'nft list chain inet ospfbond input');
    assert.match(drops, new RegExp(`tcp dport ${HUB_PROXY_PORT} iifname != "obt\\*" counter packets [1-9]`), 'the drop from outside counted');
    assert.match(drops, /@aggregate_clients counter packets [1-9]/, 'the cross-site drop counted');
    // The spoke's redirect port is closed to its WANs too.
    assert.match(await lab.sh(sitea.name, 'nft list chain inet ospfbond aggregate_input'), new RegExp(`tcp dport ${SPOKE_REDIR_PORT} iifname`));
  });

  itLeaksNoSecrets(() => lab);
});
