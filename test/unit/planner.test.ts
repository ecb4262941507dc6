import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig } from '../../src/config/load.js';
import type { HubConfig, SpokeConfig } from '../../src/config/types.js';
import { describe as describeStep, type Step } from '../../src/model/step.js';
import { spliceFrrConf, wrapBlock } from '../../src/frr/block.js';
import { setDaemons } from '../../src/frr/daemons.js';
import { blockInSync } from '../../src/frr/drift.js';
import { desiredState } from '../../src/plan/desired.js';
import { planDown } from '../../src/plan/down.js';
import { planApply } from '../../src/plan/plan.js';
import { renderHubFrr, renderSpokeFrr } from '../../src/render/frr.js';
import { shaperFor, shapeSignature } from '../../src/render/tc.js';
import { parseWgDump } from '../../src/router/kernel.js';
import { fixture, golden } from './files.js';
import { aggregating, appliedRouter, freshRouter, lines, ospfbondLink, testSecrets, DEBIAN_DAEMONS, FRR_RELOAD_CONF, IN_SYNC } from './routers.js';

// Aggregation on (the default; the fixtures do not say): the goldens show its steps, rules and nft chains.
const hub = aggregating(parseConfig('/etc/ospfbond/ospfbond.ini', fixture('hub.ini')) as HubConfig);
const spoke = aggregating(parseConfig('/etc/ospfbond/ospfbond.ini', fixture('spoke.ini')) as SpokeConfig);
const HUB_DEVS = ['lo', 'eth0'];
const SPOKE_DEVS = ['lo', 'eth0', 'wwan0', 'eth2', 'eth3'];
const plan = (cfg: HubConfig | SpokeConfig, have = freshRouter(cfg.role === 'hub' ? HUB_DEVS : SPOKE_DEVS)) => planApply(desiredState(cfg, testSecrets(cfg)), have).steps;
const standbySpoke: SpokeConfig = { ...spoke, policy: { mode: 'active-standby', primary: ['dsl'] } };
const standbyHub: HubConfig = { ...hub, spokes: hub.spokes.map((s) => (s.name === 'branch1' ? { ...s, policy: { mode: 'active-standby', primary: ['dsl'] } } : s)) };

test('hub plan on a fresh router', () => golden('hub.plan.txt', lines(plan(hub))));
test('spoke plan on a fresh router', () => golden('spoke.plan.txt', lines(plan(spoke))));

test('the router read back after an apply plans nothing (hub and spoke)', () => {
  for (const cfg of [hub, spoke, standbySpoke, standbyHub]) {
    const want = desiredState(cfg, testSecrets(cfg));
    const applied = appliedRouter(want, freshRouter(cfg.role === 'hub' ? HUB_DEVS : SPOKE_DEVS));
    assert.deepEqual(planApply(want, applied).steps.map(describeStep), [], `${cfg.role} ${cfg.role === 'spoke' ? cfg.policy.mode : ''}`);
  }
});

test('the same router with one part changed plans that part back, and only that', () => {
  const want = desiredState(spoke, testSecrets(spoke));
  const applied = appliedRouter(want, freshRouter(SPOKE_DEVS));
  const areas = (have: typeof applied) => planApply(want, have).steps.map((s) => s.area);
  // add, alias, mtu, address, up; no shaper: lte has no upload rate
  assert.deepEqual(areas({ ...applied, links: applied.links.filter((l) => l.name !== 'obt-lte') }), ['link', 'link', 'link', 'link', 'link'], 'a deleted tap comes back');
  assert.deepEqual(areas({ ...applied, rules: applied.rules.filter((r) => r.pref !== 4302) }), ['rule']);
  assert.deepEqual(areas({ ...applied, routes: applied.routes.filter((r) => r.table !== '4201') }), ['wan-route']);
  assert.deepEqual(areas({ ...applied, sysctls: { ...applied.sysctls, 'net.ipv4.ip_forward': '0' } }), ['sysctl']);
  assert.deepEqual(areas({ ...applied, nftRuleset: undefined }), ['nft']);
  assert.deepEqual(areas({ ...applied, shapes: {} }), ['shaper']);
  assert.deepEqual(areas({ ...applied, frr: { ...applied.frr, running: false } }), ['frr']);
});

test('a mode change (active-active -> active-standby) on an applied router: the block written, the costs set in one vtysh transaction', () => {
  const spokeRouter = appliedRouter(desiredState(spoke, testSecrets(spoke)), freshRouter(SPOKE_DEVS));
  golden('spoke.mode-standby.plan.txt', lines(plan(standbySpoke, spokeRouter)));
  const hubRouter = appliedRouter(desiredState(hub, testSecrets(hub)), freshRouter(HUB_DEVS));
  golden('hub.mode-standby.plan.txt', lines(plan(standbyHub, hubRouter)));
});

test('down on an applied router (golden), and on a router without ospfbond: nothing', () => {
  // Debian 12's own values, which down puts back.
  const debian = (devs: string[]) => ({ ...freshRouter(devs), sysctls: { 'net.ipv4.ip_forward': '0', 'net.ipv4.fib_multipath_hash_policy': '0', 'net.ipv4.conf.all.rp_filter': '2', 'net.ipv4.conf.all.src_valid_mark': '0', 'net.ipv4.igmp_max_memberships': '20' } });
  golden('spoke.down.txt', lines(planDown(appliedRouter(desiredState(spoke, testSecrets(spoke)), debian(SPOKE_DEVS)))));
  golden('hub.down.txt', lines(planDown(appliedRouter(desiredState(hub, testSecrets(hub)), debian(HUB_DEVS)))));
  assert.deepEqual(planDown(freshRouter(HUB_DEVS)), []);
});

test('a missing device stops the plan before any step, naming the config key', () => {
  assert.throws(() => plan(spoke, freshRouter(['lo', 'eth0', 'eth2', 'eth3'])), /device wwan0 \(wan\.lte\.dev\) does not exist/);
});

test('a dhcp WAN without a lease is an error, not a guess', () => {
  const r = freshRouter(SPOKE_DEVS);
  r.routes = [];
  assert.throws(() => plan(spoke, r), /wan lte: no DHCP gateway on wwan0 yet/);
});

test('a user\'s router ospf in frr.conf is refused', () => {
  const r = freshRouter(HUB_DEVS);
  r.frr.conf += 'router ospf\n network 192.0.2.0/24 area 0\nexit\n';
  assert.throws(() => plan(hub, r), /frr\.conf has a `router ospf` block outside ospfbond's/);
});

test('down deletes ospfbond\'s links before FRR reloads without its block (FRR 10 keeps an existing interface\'s config)', () => {
  const r = freshRouter(HUB_DEVS);
  r.links.push(ospfbondLink('obt1', 'tap sitea wan1'));
  r.frr = { ...r.frr, conf: spliceFrrConf(r.frr.conf, wrapBlock(renderHubFrr(hub))), running: true };
  const steps = planDown(r).map(describeStep);
  const del = steps.indexOf('ip link del obt1');
  const reload = steps.indexOf(FRR_RELOAD_CONF);
  assert.ok(del >= 0 && reload >= 0, steps.join('\n'));
  assert.ok(del < reload, `the link goes first:\n${steps.join('\n')}`);
});

test('down takes the OSPF settings off the LAN devices that stay, by vtysh, before the reload (FRR 10 refuses `no interface` on them)', () => {
  const r = freshRouter(SPOKE_DEVS);
  r.links.push(ospfbondLink('obt-dsl', 'tap dsl'));
  r.frr = { ...r.frr, conf: spliceFrrConf(r.frr.conf, wrapBlock(renderSpokeFrr(spoke))), running: true };
  const steps = planDown(r).map(describeStep);
  const unset = steps.findIndex((l) => l.startsWith('vtysh '));
  assert.equal(steps[unset], "vtysh -c 'configure terminal' -c 'interface eth2' -c 'no ip ospf area 0.0.0.1' -c 'no ip ospf passive' -c exit -c 'interface eth3' -c 'no ip ospf area 0.0.0.1' -c 'no ip ospf passive' -c exit");
  assert.ok(unset < steps.indexOf(FRR_RELOAD_CONF) && unset > steps.indexOf('ip link del obt-dsl'), steps.join('\n'));
});

test('a step that creates a link says so, with the step that deletes it', () => {
  const created = plan(spoke).filter((s) => s.creates);
  assert.deepEqual(created.map((s) => s.creates!.link), ['obw-dsl', 'obw-lte', 'obt-dsl', 'obt-lte']);
  assert.deepEqual(created.map((s) => describeStep(s.creates!.undo)), ['ip link del obw-dsl', 'ip link del obw-lte', 'ip link del obt-dsl', 'ip link del obt-lte']);
});

test('wg dump parsing keeps no private key', () => {
  const priv = 'wMtIWMZL6sF8igRSLKDR/kD92NLSSDfMTtVJNc4zW14=';
  const dump = [
    `obw-dsl\t${priv}\tNywnmwrwUXBa0tcdfG+x2I4m7Af7RUfmeeF2RKCgXzs=\t40000\t0x4f420001`,
    'obw-dsl\tJhCtvYe1hVI610Ctdbl5F8TBxAR3inEzUpENbtSU/1Q=\t(none)\t198.51.100.2:51820\t10.255.0.8/32\t1700000000\t100\t200\t25',
  ].join('\n');
  const wg = parseWgDump(dump);
  assert.deepEqual(wg['obw-dsl'], {
    publicKey: 'NywnmwrwUXBa0tcdfG+x2I4m7Af7RUfmeeF2RKCgXzs=',
    listenPort: 40000,
    fwmark: 0x4f420001,
    peers: [{ publicKey: 'JhCtvYe1hVI610Ctdbl5F8TBxAR3inEzUpENbtSU/1Q=', endpoint: '198.51.100.2:51820', allowedIps: ['10.255.0.8/32'], keepalive: 25, latestHandshake: 1700000000, rxBytes: 100, txBytes: 200 }],
  });
  assert.ok(!JSON.stringify(wg).includes(priv));
});

test('frr-reload --test output: machine defaults are no drift, ospfbond lines are', () => {
  const block = 'interface obt-dsl\n ip ospf cost 10\nexit\n';
  const machine = '\nLines To Delete\n===============\nno hostname vm\nipv6 forwarding\n\nLines To Add\n============\n';
  assert.ok(blockInSync(machine, block));
  assert.ok(!blockInSync(`${machine}interface obt-dsl\n ip ospf cost 10\n`, block));
  assert.ok(!blockInSync('\nLines To Delete\n===============\nrouter ospf\n', block));
  // FRR 8.4 takes `ospf maxage-delay` but never shows it, so frr-reload.py always lists it to add.
  const ospf = 'router ospf\n ospf maxage-delay 1\n timers lsa min-arrival 0\nexit\n';
  assert.ok(blockInSync(`${machine}router ospf\n ospf maxage-delay 1\n`, ospf));
  assert.ok(!blockInSync(`${machine}router ospf\n timers lsa min-arrival 0\n`, ospf));
});

test('shapers: kept when tc shows what the config wants, rebuilt when the rate changed, removed when the rate is gone', () => {
  const want = desiredState(hub, testSecrets(hub));
  const r = appliedRouter(want, freshRouter(HUB_DEVS));
  const [dsl, lte, farm] = want.shapes;
  assert.deepEqual([dsl?.dev, lte?.dev, farm?.dev, farm?.shaper], ['obt1', 'obt2', 'obt3', undefined]);
  r.shapes = { obt1: shapeSignature(dsl!.shaper!), obt2: shapeSignature(shaperFor('obt2', 10, 1390)), obt3: shapeSignature(shaperFor('obt3', 10, 1382)) };
  const tc = planApply(want, r).steps.filter((s) => s.area === 'shaper');
  assert.deepEqual(tc.map(describeStep), ['tc qdisc del dev obt2 root', 'tc -batch -', 'tc qdisc del dev obt3 root']);
  assert.match(tc[1]!.kind === 'run' ? tc[1]!.input! : '', /^class add dev obt2 parent 1: classid 1:1 htb rate 6885kbit /m, 'obt2 rebuilt at 7.5 Mbit/s');
});

test('a policy change on a FRR out of step with its block is a full reload, not a cost change', () => {
  const r = appliedRouter(desiredState(spoke, testSecrets(spoke)), freshRouter(SPOKE_DEVS));
  r.frr.reloadTest = 'Lines To Delete\n===============\n\nLines To Add\n============\ninterface obt-dsl\n ip ospf cost 10\n';
  assert.deepEqual(frrSteps(plan(standbySpoke, r)), ['write /etc/frr/frr.conf (ospfbond block)', FRR_RELOAD_CONF]);
});

test('FRR unsettled (partly running, or outside frr.service): apply refuses with the fix, the daemon\'s repair waits a round', () => {
  const r = freshRouter(HUB_DEVS);
  r.frr.unsettled = { what: 'FRR is partly running (zebra, ospfd without watchfrr): stopping, or a daemon died', fix: 'wait' };
  assert.throws(() => plan(hub, r), /FRR is partly running \(zebra, ospfd without watchfrr\)/);
  const repair = planApply(desiredState(hub, testSecrets(hub)), r, 'repair');
  assert.deepEqual(frrSteps(repair.steps).filter((s) => !s.startsWith('write ')), [], 'neither start nor reload');
  assert.match(repair.warnings.join('\n'), /not starting or reloading it this round/);
});

/** FRR's steps (the daemons file, frr.conf, start, reload, cost changes, IPv6 forwarding back), as command lines. */
const frrSteps = (steps: Step[]) => steps.filter((s) => s.area === 'frr').map(describeStep);

test('FRR is started and reloaded through its service manager; a new frr.conf alone is frr-reload.py\'s', async (t) => {
  const enabled = setDaemons(DEBIAN_DAEMONS, { ospfd: 'yes', bfdd: 'yes' });
  const block = desiredState(hub, testSecrets(hub)).frrBlock;
  const cases: { name: string; systemd: boolean; running: boolean; daemons: string; conf: string; ipv6?: string; want: string[] }[] = [
    { name: 'stopped, systemd', systemd: true, running: false, daemons: DEBIAN_DAEMONS, conf: '', want: ['systemctl start frr.service'] },
    { name: 'stopped, no systemd', systemd: false, running: false, daemons: DEBIAN_DAEMONS, conf: '', want: ['/usr/lib/frr/frrinit.sh start'] },
    { name: 'new daemons, systemd', systemd: true, running: true, daemons: DEBIAN_DAEMONS, conf: '', want: ['systemctl reload frr.service'] },
    { name: 'new daemons, no systemd', systemd: false, running: true, daemons: DEBIAN_DAEMONS, conf: '', want: ['/usr/lib/frr/frrinit.sh reload'] },
    { name: 'new frr.conf only, systemd', systemd: true, running: true, daemons: enabled, conf: '', want: [FRR_RELOAD_CONF] },
    { name: 'new frr.conf only, no systemd', systemd: false, running: true, daemons: enabled, conf: '', want: [FRR_RELOAD_CONF] },
    { name: 'nothing new', systemd: true, running: true, daemons: enabled, conf: block, want: [] },
    // frr-reload.py turns IPv6 forwarding on (FRR issue 21368): where it was off, it is put back.
    { name: 'reload, IPv6 forwarding off', systemd: true, running: true, daemons: enabled, conf: '', ipv6: '0', want: [FRR_RELOAD_CONF, 'sysctl -q -w net.ipv6.conf.all.forwarding=0'] },
    { name: 'service reload, IPv6 forwarding off', systemd: true, running: true, daemons: DEBIAN_DAEMONS, conf: '', ipv6: '0', want: ['systemctl reload frr.service', 'sysctl -q -w net.ipv6.conf.all.forwarding=0'] },
  ];
  for (const c of cases) {
    await t.test(c.name, () => {
      const r = freshRouter(HUB_DEVS);
      r.frr = { ...r.frr, systemd: c.systemd, running: c.running, daemons: c.daemons, conf: spliceFrrConf('log syslog informational\n', c.conf), reloadTest: IN_SYNC, ipv6Forwarding: c.ipv6 ?? '1' };
      assert.deepEqual(frrSteps(plan(hub, r)).filter((s) => !s.startsWith('write ')), c.want);
    });
  }
});

test('the daemon\'s repair: a WAN whose device or lease is missing is a warning, and everything else is still planned', () => {
  const r = freshRouter(['lo', 'eth0', 'eth2', 'eth3']);
  r.routes = [];
  const { steps, warnings } = planApply(desiredState(spoke, testSecrets(spoke)), r, 'repair');
  assert.match(warnings.join('\n'), /device wwan0 \(wan\.lte\.dev\) does not exist \(yet\): left as it is/);
  assert.ok(!steps.some((s) => s.kind === 'run' && s.argv.includes('wwan0')), 'nothing through the missing device');
  assert.ok(steps.some((s) => s.creates?.link === 'obt-dsl'), 'the other WAN\'s tunnel is still built');
});
