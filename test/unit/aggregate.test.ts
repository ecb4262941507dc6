import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, OspfbondError, EXIT } from '../../src/base/errors.js';
import { parseAggregate } from '../../src/cli/hub.js';
import { parseConfig } from '../../src/config/load.js';
import { renderSpokeIni } from '../../src/config/write.js';
import type { HubConfig, SpokeConfig } from '../../src/config/types.js';
import { aggregateSecret, parseExclude } from '../../src/model/aggregate.js';
import { generateKeyPair } from '../../src/model/keys.js';
import { describe as describeStep } from '../../src/model/step.js';
import { planEndpoints, planProxies, wantedEndpoints } from '../../src/plan/aggregate.js';
import { desiredState, desiredSysctls } from '../../src/plan/desired.js';
import { Leniency } from '../../src/plan/leniency.js';
import { planRules, planTapRoutes, planWanRoutes } from '../../src/plan/routing.js';
import { planApply } from '../../src/plan/plan.js';
import { planDown } from '../../src/plan/down.js';
import { renderHubNft, renderSpokeNft } from '../../src/render/nft.js';
import { renderProxyUnit } from '../../src/render/proxy.js';
import { fixture, golden, verifyUnits } from './files.js';
import { aggregating, appliedRouter, freshRouter, testSecrets } from './routers.js';

// Aggregation on (the default; the fixtures do not say): the goldens show its steps, rules and nft chains.
const hub = aggregating(parseConfig('/etc/ospfbond/ospfbond.ini', fixture('hub.ini')) as HubConfig);
const spoke = aggregating(parseConfig('/etc/ospfbond/ospfbond.ini', fixture('spoke.ini')) as SpokeConfig);
const withSpokeLine = (line: string) => fixture('spoke.ini').replace('bfd_profile = aggressive', `bfd_profile = aggressive\naggregate = tcp\n${line}`);

test('aggregate_exclude: CIDRs, addresses and port ranges; a bad item is named with its line', () => {
  assert.deepEqual(parseExclude('192.0.2.0/24, 198.51.100.7, port/22,port/5060-5070'), [
    { kind: 'net', cidr: '192.0.2.0/24' },
    { kind: 'net', cidr: '198.51.100.7/32' },
    { kind: 'port', from: 22, to: 22 },
    { kind: 'port', from: 5060, to: 5070 },
  ]);
  assert.match(JSON.stringify(parseExclude('192.0.2.1/24')), /not a network address \(did you mean 192\.0\.2\.0\/24\?\)/);
  assert.match(JSON.stringify(parseExclude('port/70000')), /expected port\/N or port\/N-M/);
  assert.match(JSON.stringify(parseExclude('ssh')), /expected an IPv4 address, a CIDR/);
  assert.throws(
    () => parseConfig('/x.ini', withSpokeLine('aggregate_exclude = port/0').replace('aggregate = tcp', 'aggregate = udp')),
    (err: unknown) => err instanceof ConfigError && /spoke\.aggregate.*expected one of tcp, off/s.test(err.message) && /spoke\.aggregate_exclude.*port\/0/s.test(err.message),
  );
});

test('aggregate, aggregate_exclude and aggregate_connections survive a write and a read', () => {
  const cfg = parseConfig('/x.ini', withSpokeLine('aggregate_exclude = 192.0.2.0/24,port/22\naggregate_connections = 6').replace('aggregate = tcp', 'aggregate = off')) as SpokeConfig;
  assert.equal(cfg.aggregate, 'off');
  const again = parseConfig('/x.ini', renderSpokeIni(cfg)) as SpokeConfig;
  assert.deepEqual([again.aggregate, again.aggregateExclude, again.aggregateConnections], [cfg.aggregate, cfg.aggregateExclude, 6]);
  assert.equal((parseConfig('/x.ini', fixture('spoke.ini')) as SpokeConfig).aggregate, 'tcp', 'on by default');
});

test('aggregate_connections: the size of the set of busy proxied connections; out of range is named', () => {
  assert.equal(spoke.aggregateConnections, 2, 'two by default');
  const six = parseConfig('/x.ini', withSpokeLine('aggregate_connections = 6')) as SpokeConfig;
  assert.match(renderSpokeNft(six), /set aggregate_busy \{\n\t\ttypeof ip saddr \. tcp sport\n\t\tsize 6\n\t\tflags dynamic,timeout\n\t\ttimeout 5s\n/);
  // what keeps a place: full-sized packets of the connection, to the proxy from the LAN side or
  // back, once it has moved 128 KB of them
  assert.match(renderSpokeNft(six), /iifname \{ "eth2", "eth3" \} tcp dport 7301 meta length > 1000 update @aggregate_bulk \{ ip saddr \. tcp sport quota over 128 kbytes \} update @aggregate_busy \{ ip saddr \. tcp sport \}/);
  assert.match(renderSpokeNft(six), /tcp sport 7301 meta length > 1000 update @aggregate_bulk \{ ip daddr \. tcp dport quota over 128 kbytes \} update @aggregate_busy \{ ip daddr \. tcp dport \}/);
  for (const bad of ['0', '4097', 'many'])
    assert.throws(
      () => parseConfig('/x.ini', withSpokeLine(`aggregate_connections = ${bad}`)),
      (err: unknown) => err instanceof ConfigError && /spoke\.aggregate_connections/.test(err.message),
    );
});

test('both ends derive the same proxy key, each site its own, from keys they already hold', () => {
  const h = generateKeyPair();
  const [a, b] = [generateKeyPair(), generateKeyPair()];
  const atHub = aggregateSecret(h.privateKey, a.publicKey);
  assert.equal(aggregateSecret(a.privateKey, h.publicKey), atHub);
  assert.notEqual(aggregateSecret(b.privateKey, h.publicKey), atHub);
  assert.equal(Buffer.from(atHub, 'base64url').length, 32);
  // shadowsocks-libev takes URL-safe base64 only
  for (let i = 0; i < 20; i++) assert.match(aggregateSecret(generateKeyPair().privateKey, h.publicKey), /^[A-Za-z0-9_-]{43}=$/);
});

test('excluded destinations and ports are not redirected; aggregate = off has no redirect and no proxy', () => {
  const cfg = parseConfig('/x.ini', withSpokeLine('aggregate_exclude = 198.51.100.0/24, port/22, port/5060-5070')) as SpokeConfig;
  const nft = renderSpokeNft(cfg);
  assert.match(nft, /elements = \{ [^}]*198\.51\.100\.0\/24 \}/);
  assert.match(nft, /tcp dport != \{ 22, 5060-5070 \} fib daddr oifname "obt-\*" add @aggregate_busy \{ ip saddr \. tcp sport timeout 1s \} counter redirect to :7301/);
  const off = { ...spoke, aggregate: 'off' as const };
  assert.doesNotMatch(renderSpokeNft(off), /redirect|aggregate/);
  const want = desiredState(off, {});
  assert.equal(want.aggregate, undefined);
  assert.deepEqual(want.tapRoutes, []);
  // a router that ran the proxy: turning aggregation off stops it and removes its config
  const ran = appliedRouter(desiredState(spoke, testSecrets(spoke)), freshRouter(['lo', 'eth0', 'wwan0', 'eth2', 'eth3']));
  assert.deepEqual(planProxies(want, ran).map(describeStep), [
    'start-stop-daemon --stop --quiet --oknodo --pid 1000 --exec /usr/bin/ss-redir --retry TERM/5/KILL/2',
    "rm /run/ospfbond/aggregate-redir.pid (proxy redir's pid file)",
    "rm /etc/ospfbond/aggregate/redir.json (proxy redir's config)",
  ]);
});

test('without systemd, a proxy started twice at once is found by its command line: the copy goes, and a stale pid file starts nothing', () => {
  const want = desiredState(spoke, testSecrets(spoke));
  const ran = appliedRouter(want, freshRouter(['lo', 'eth0', 'wwan0', 'eth2', 'eth3']));
  const p = ran.proxies[0]!;
  // the pid file names the copy that lost the port and exited; the one that runs is found by `-c PATH`
  const stale = { ...ran, proxies: [{ ...p, pid: 2001, detached: [{ pid: 2001, program: '/usr/bin/ss-redir' }] }] };
  assert.deepEqual(planProxies(want, stale), [], 'no second start while the first runs');
  const twice = { ...ran, proxies: [{ ...p, detached: [...p.detached, { pid: 2002, program: '/usr/bin/ss-redir' }] }] };
  assert.deepEqual(planProxies(want, twice).map(describeStep), ['start-stop-daemon --stop --quiet --oknodo --pid 2002 --exec /usr/bin/ss-redir --retry TERM/5/KILL/2']);
});

test('the hub runs one proxy per aggregating site, on its own address, open only to that site\'s taps', () => {
  const one = { ...hub, spokes: hub.spokes.map((s) => (s.name === 'farm' ? { ...s, aggregate: 'off' as const } : s)) };
  const want = desiredState(one, testSecrets(one));
  assert.deepEqual(want.aggregate?.proxies.map((p) => [p.name, p.settings.server]), [['site-branch1', '10.255.0.10']]);
  assert.match(renderHubNft(one), /elements = \{ 10\.255\.0\.10 \. 10\.255\.0\.14, 10\.255\.0\.10 \. 10\.255\.0\.22 \}/);
  // the key is in the 0600 config file only
  const p = want.aggregate!.proxies[0]!;
  assert.equal(JSON.parse(p.config).key, testSecrets(one)['branch1']);
  const steps = planProxies(want, freshRouter(['lo', 'eth0']));
  assert.ok(steps.some((s) => s.kind === 'write' && s.mode === 0o600 && s.path === p.configPath));
  assert.ok(!steps.map(describeStep).join('\n').includes(testSecrets(one)['branch1']!), 'no step prints the key');
});

test('endpoints follow the tunnels: out of the route, out of MPTCP; a standby keeps a backup subflow', () => {
  const specs = desiredState(spoke, testSecrets(spoke)).aggregate!.endpoints;
  assert.deepEqual(specs.map((e) => [e.id, e.addr, e.dev]), [[1, '10.255.0.14', 'obt-dsl'], [2, '10.255.0.22', 'obt-lte']]);
  const both = new Set(['obt-dsl', 'obt-lte']);
  const added = planEndpoints(specs, both, []).map(describeStep);
  assert.deepEqual(added, ['ip mptcp endpoint add 10.255.0.14 dev obt-dsl id 1 subflow', 'ip mptcp endpoint add 10.255.0.22 dev obt-lte id 2 subflow']);
  const have = specs.map((e) => ({ id: e.id, addr: e.addr, dev: e.dev, subflow: true, backup: false }));
  assert.deepEqual(planEndpoints(specs, both, have), [], 'in step: nothing to do');
  // lte's tunnel left the route (BFD): its endpoint goes, and a first subflow opened from its address with it
  assert.deepEqual(planEndpoints(specs, new Set(['obt-dsl']), have).map(describeStep), ['ip mptcp endpoint delete id 2', 'ip mptcp endpoint delete id 0 10.255.0.22']);
  // active-standby with lte as standby: kept, as a backup
  const standby = desiredState({ ...spoke, policy: { mode: 'active-standby', primary: ['dsl'] } }, testSecrets(spoke)).aggregate!.endpoints;
  assert.deepEqual(wantedEndpoints(standby, new Set(['obt-dsl'])).map((w) => [w.spec.dev, w.backup]), [['obt-dsl', false], ['obt-lte', true]]);
  assert.deepEqual(planEndpoints(standby, new Set(['obt-dsl']), have).map(describeStep), ['ip mptcp endpoint change id 2 backup']);
  // every primary gone: the standby is the route, and carries data as a full subflow
  assert.deepEqual(planEndpoints(standby, new Set(['obt-lte']), have).map(describeStep), ['ip mptcp endpoint delete id 1', 'ip mptcp endpoint delete id 0 10.255.0.14']);
  // an endpoint that is not ospfbond's is left alone
  assert.deepEqual(planEndpoints(specs, both, [...have, { id: 9, addr: '192.0.2.50', dev: 'eth9', subflow: true, backup: false }]), []);
});

test('--aggregate takes tcp or off; anything else is a usage error that says both', () => {
  assert.equal(parseAggregate(undefined), 'tcp', 'on by default');
  assert.equal(parseAggregate('tcp'), 'tcp');
  assert.throws(() => parseAggregate('on'), (err: unknown) => err instanceof OspfbondError && err.exitCode === EXIT.usage && /--aggregate on: expected tcp or off/.test(err.message));
});

test('the sysctls doctor compares are the ones apply sets, without any secret', () => {
  for (const cfg of [hub, spoke]) assert.deepEqual(desiredSysctls(cfg), desiredState(cfg, testSecrets(cfg)).sysctls);
});

test('under systemd each proxy is a unit of its own: written, started, restarted on a change, removed when off', () => {
  const systemdRouter = (r: ReturnType<typeof freshRouter>) => ({ ...r, frr: { ...r.frr, systemd: true } });
  const fresh = systemdRouter(freshRouter(['lo', 'eth0', 'wwan0', 'eth2', 'eth3']));
  const want = desiredState(spoke, testSecrets(spoke));
  const unit = '/run/systemd/system/ospfbond-aggregate-redir.service';
  assert.deepEqual(planProxies(want, fresh).map(describeStep), [
    "write /etc/ospfbond/aggregate/redir.json (proxy redir's config (holds the site's key))",
    `write ${unit} (proxy redir's systemd unit)`,
    'systemctl daemon-reload',
    'systemctl start ospfbond-aggregate-redir.service',
  ]);
  const ran = appliedRouter(want, fresh);
  assert.deepEqual(planProxies(want, ran), [], 'nothing to do once it runs');
  // systemd restarts a dead proxy by itself; the planner (daemon's repair, apply) starts it too
  const dead = { ...ran, proxies: ran.proxies.map((p) => ({ ...p, pid: undefined })) };
  assert.deepEqual(planProxies(want, dead).map(describeStep), ['systemctl start ospfbond-aggregate-redir.service']);
  // a new key (a re-keyed hub) restarts it, as the proxy reads its config only at start
  const rekeyed = desiredState(spoke, { [spoke.name]: Buffer.from('another key'.padEnd(32, '.')).toString('base64url') });
  assert.deepEqual(planProxies(rekeyed, ran).map(describeStep), [
    "write /etc/ospfbond/aggregate/redir.json (proxy redir's config (holds the site's key))",
    'systemctl restart ospfbond-aggregate-redir.service',
  ]);
  // a router that ran the proxy detached (an older ospfbond): that one is stopped, the unit takes over
  const detached = { ...fresh, proxies: [{ name: 'redir', detached: [{ pid: 4242, program: '/usr/bin/ss-redir' }], pidFile: true, config: want.aggregate!.proxies[0]!.config }] };
  assert.deepEqual(planProxies(want, detached).map(describeStep), [
    'start-stop-daemon --stop --quiet --oknodo --pid 4242 --exec /usr/bin/ss-redir --retry TERM/5/KILL/2',
    "rm /run/ospfbond/aggregate-redir.pid (proxy redir's pid file)",
    `write ${unit} (proxy redir's systemd unit)`,
    'systemctl daemon-reload',
    'systemctl start ospfbond-aggregate-redir.service',
  ]);
  // aggregation off, and `down`: the unit stops and goes, then its config
  const off = desiredState({ ...spoke, aggregate: 'off' }, {});
  const removed = [
    'systemctl stop ospfbond-aggregate-redir.service',
    `rm ${unit} (proxy redir's systemd unit)`,
    "rm /etc/ospfbond/aggregate/redir.json (proxy redir's config)",
    'systemctl daemon-reload',
  ];
  assert.deepEqual(planProxies(off, ran).map(describeStep), removed);
  assert.deepEqual(planDown(ran).map(describeStep).filter((s) => /aggregate/.test(s) && !/nft|mptcp/.test(s)), removed.slice(0, 3));
  assert.ok(planDown(ran).map(describeStep).includes('systemctl daemon-reload'));
});

test("a proxy's unit: the command line the lab runs, restarted for good, and systemd-analyze finds nothing wrong with it", async () => {
  const hubWant = desiredState(hub, testSecrets(hub));
  const p = hubWant.aggregate!.proxies[0]!;
  const text = renderProxyUnit(p);
  golden('proxy.service', text);
  assert.match(text, new RegExp(`^ExecStart=/usr/bin/ss-server -c ${p.configPath} -a nobody$`, 'm'));
  assert.doesNotMatch(text, new RegExp(testSecrets(hub)['branch1']!), 'the key stays in the 0600 config');
  await verifyUnits({ 'ospfbond-aggregate-site-branch1.service': text });
});

test("subflows use cubic: the spoke's tap tables and the hub's table of routes to its sites' taps; older or stray routes are replaced", () => {
  const want = desiredState(spoke, testSecrets(spoke));
  const ran = appliedRouter(want, freshRouter(['lo', 'eth0', 'wwan0', 'eth2', 'eth3']));
  assert.deepEqual(planTapRoutes(want, ran, new Leniency(false)), [], 'nothing to do once applied');
  // a table written before the congestion control was set
  const older = { ...ran, routes: ran.routes.map((r) => (r.congctl ? { ...r, congctl: undefined } : r)) };
  assert.deepEqual(planTapRoutes(want, older, new Leniency(false)).map(describeStep), [
    'ip route replace default via 10.255.0.13 dev obt-dsl onlink congctl lock cubic table 4401 proto 79',
    'ip route replace default via 10.255.0.21 dev obt-lte onlink congctl lock cubic table 4402 proto 79',
  ]);

  const hubWant = desiredState(hub, testSecrets(hub));
  const hubRan = appliedRouter(hubWant, freshRouter(['lo', 'eth0']));
  assert.deepEqual(planTapRoutes(hubWant, hubRan, new Leniency(false)), []);
  // farm stops aggregating: its route goes, branch1's stay; a route of ours to nowhere we want goes too
  const fewer = desiredState({ ...hub, spokes: hub.spokes.map((s) => (s.name === 'farm' ? { ...s, aggregate: 'off' as const } : s)) }, testSecrets(hub));
  const stray = { table: '4400', dst: '10.255.0.99', dev: 'obt1', metric: 0, protocol: '79', congctl: 'cubic' };
  const notOurs = { table: '4400', dst: '192.0.2.7', dev: 'eth0', metric: 0, protocol: 'static' };
  assert.deepEqual(planTapRoutes(fewer, { ...hubRan, routes: [...hubRan.routes, stray, notOurs] }, new Leniency(false)).map(describeStep), [
    'ip route del 10.255.0.30 dev obt3 table 4400',
    'ip route del 10.255.0.99 dev obt1 table 4400',
  ]);
  // farm removed from the hub: its tap goes, and its route with it (a `route del` after would fail)
  const gone = planApply(desiredState({ ...hub, spokes: hub.spokes.filter((s) => s.name !== 'farm') }, testSecrets(hub)), hubRan).steps.map(describeStep);
  assert.ok(gone.includes('ip link del obt3'), gone.join('\n'));
  assert.deepEqual(gone.filter((d) => /route del .*obt3/.test(d)), []);
  // no site aggregates: the rule goes, and the table with it
  const none = desiredState({ ...hub, spokes: hub.spokes.map((s) => ({ ...s, aggregate: 'off' as const })) }, testSecrets(hub));
  assert.deepEqual(planRules(none, hubRan).map(describeStep), ['ip rule del pref 4100']);
  assert.deepEqual(planWanRoutes(none, hubRan, new Leniency(false)).map(describeStep), [
    'ip route del 10.255.0.14 dev obt1 table 4400',
    'ip route del 10.255.0.22 dev obt2 table 4400',
    'ip route del 10.255.0.30 dev obt3 table 4400',
  ]);
});
