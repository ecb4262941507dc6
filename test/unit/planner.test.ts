import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig, type HubConfig, type SpokeConfig } from '../../src/config/config.js';
import { desiredState } from '../../src/model/desired.js';
import { planApply, planDown, setDaemons } from '../../src/plan/planner.js';
import { describe as describeStep, type Step } from '../../src/plan/steps.js';
import { parseWgDump, blockInSync, type Observed } from '../../src/system/observe.js';
import { shaperFor, shapeSignature } from '../../src/render/tc.js';
import { fixture, golden } from './golden.js';
import { LINK_ALIAS_PREFIX } from '../../src/model/addressing.js';
import { renderHubFrr, renderSpokeFrr, spliceFrrConf } from '../../src/render/frr.js';

const FRR_RELOAD_CONF = 'python3 /usr/lib/frr/frr-reload.py --reload /etc/frr/frr.conf';
/** frr-reload.py --test on a FRR that runs exactly frr.conf. */
const IN_SYNC = 'Lines To Delete\n===============\n\nLines To Add\n============\n';

const hub = parseConfig('/etc/ospfbond/ospfbond.ini', fixture('hub.ini')) as HubConfig;
const spoke = parseConfig('/etc/ospfbond/ospfbond.ini', fixture('spoke.ini')) as SpokeConfig;
const DEBIAN_DAEMONS = 'bgpd=no\nospfd=no\nbfdd=no\nvtysh_enable=yes\n';

/** A router as a fresh Debian install leaves it: its devices, a DHCP default on the LTE modem. */
function freshRouter(devs: string[]): Observed {
  return {
    links: devs.map((name) => ({ name, mtu: 1500, up: true, addrs: [] })),
    wg: {},
    shapes: {},
    rules: [
      { pref: 0, table: 'local' },
      { pref: 32766, table: 'main' },
      { pref: 32767, table: 'default' },
    ],
    routes: [{ table: 'main', dst: 'default', gateway: '100.64.7.1', dev: 'wwan0', metric: 0, protocol: 'dhcp' }],
    sysctls: {},
    nftRuleset: undefined,
    frr: { conf: 'log syslog informational\n', daemons: DEBIAN_DAEMONS, running: false, reloadTest: '', systemd: false, ipv6Forwarding: '1' },
    resolved: { 'hub.example.net': '198.51.100.2' },
    saved: undefined,
    policyRecord: false,
  };
}

const lines = (steps: Step[]) => `${steps.map(describeStep).join('\n')}\n`;

test('hub plan on a fresh router', () => golden('hub.plan.txt', lines(planApply(desiredState(hub), freshRouter(['lo', 'eth0'])))));
test('spoke plan on a fresh router', () => golden('spoke.plan.txt', lines(planApply(desiredState(spoke), freshRouter(['lo', 'eth0', 'wwan0', 'eth2', 'eth3'])))));

test('a missing device stops the plan before any step, naming the config key', () => {
  assert.throws(() => planApply(desiredState(spoke), freshRouter(['lo', 'eth0', 'eth2', 'eth3'])), /device wwan0 \(wan\.lte\.dev\) does not exist/);
});

test('a dhcp WAN without a lease is an error, not a guess', () => {
  const r = freshRouter(['lo', 'eth0', 'wwan0', 'eth2', 'eth3']);
  r.routes = [];
  assert.throws(() => planApply(desiredState(spoke), r), /wan lte: no DHCP gateway on wwan0 yet/);
});

test('a user\'s router ospf in frr.conf is refused', () => {
  const r = freshRouter(['lo', 'eth0']);
  r.frr.conf += 'router ospf\n network 192.0.2.0/24 area 0\nexit\n';
  assert.throws(() => planApply(desiredState(hub), r), /frr\.conf has a `router ospf` block outside ospfbond's/);
});

test('down on a router without ospfbond plans nothing', () => {
  assert.deepEqual(planDown(freshRouter(['lo', 'eth0'])), []);
});

test('down deletes ospfbond\'s links before FRR reloads without its block (FRR 10 keeps an existing interface\'s config)', () => {
  const r = freshRouter(['lo', 'eth0']);
  r.links.push({ name: 'obt1', mtu: 1450, up: true, addrs: [], alias: `${LINK_ALIAS_PREFIX}tap sitea wan1` });
  r.frr = { ...r.frr, conf: spliceFrrConf(r.frr.conf, renderHubFrr(hub)), running: true };
  const steps = planDown(r).map(describeStep);
  const del = steps.indexOf('ip link del obt1');
  const reload = steps.indexOf(FRR_RELOAD_CONF);
  assert.ok(del >= 0 && reload >= 0, steps.join('\n'));
  assert.ok(del < reload, `the link goes first:\n${steps.join('\n')}`);
});

test('down takes the OSPF settings off the LAN devices that stay, by vtysh, before the reload (FRR 10 refuses `no interface` on them)', () => {
  const r = freshRouter(['lo', 'eth0', 'wwan0', 'eth2', 'eth3']);
  r.links.push({ name: 'obt-dsl', mtu: 1450, up: true, addrs: [], alias: `${LINK_ALIAS_PREFIX}tap dsl` });
  r.frr = { ...r.frr, conf: spliceFrrConf(r.frr.conf, renderSpokeFrr(spoke)), running: true };
  const steps = planDown(r).map(describeStep);
  const unset = steps.findIndex((l) => l.startsWith('vtysh '));
  assert.equal(steps[unset], "vtysh -c 'configure terminal' -c 'interface eth2' -c 'no ip ospf area 0.0.0.1' -c 'no ip ospf passive' -c exit -c 'interface eth3' -c 'no ip ospf area 0.0.0.1' -c 'no ip ospf passive' -c exit");
  assert.ok(unset < steps.indexOf(FRR_RELOAD_CONF) && unset > steps.indexOf('ip link del obt-dsl'), steps.join('\n'));
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
  const want = desiredState(hub);
  const r = freshRouter(['lo', 'eth0']);
  r.links.push(...want.links.map((l) => ({ name: l.name, kind: l.kind, mtu: l.mtu, up: true, alias: l.alias, vxlan: l.vxlan, addrs: l.addrs })));
  const [dsl, lte, farm] = want.shapes;
  assert.deepEqual([dsl?.dev, lte?.dev, farm?.dev, farm?.shaper], ['obt1', 'obt2', 'obt3', undefined]);
  r.shapes = { obt1: shapeSignature(dsl!.shaper!), obt2: shapeSignature(shaperFor('obt2', 10, 1390)), obt3: shapeSignature(shaperFor('obt3', 10, 1382)) };
  const tc = planApply(want, r).filter((s) => s.kind === 'run' && s.argv[0] === 'tc');
  assert.deepEqual(tc.map(describeStep), ['tc qdisc del dev obt2 root', 'tc -batch -', 'tc qdisc del dev obt3 root']);
  assert.match(tc[1]!.kind === 'run' ? tc[1]!.input! : '', /^class add dev obt2 parent 1: classid 1:1 htb rate 6885kbit /m, 'obt2 rebuilt at 7.5 Mbit/s');
});

test('a policy change on a running FRR in sync: the block is written and the costs set in one vtysh transaction', () => {
  const r = freshRouter(['lo', 'eth0', 'wwan0', 'eth2', 'eth3']);
  const before = desiredState(spoke);
  // The router as apply left it for the active-active config, FRR running exactly that block.
  r.frr = { conf: `log syslog informational\n${before.frrBlock}`, daemons: 'ospfd=yes\nbfdd=yes\n', running: true, reloadTest: IN_SYNC, systemd: false, ipv6Forwarding: '1' };
  const standby = desiredState({ ...spoke, policy: { mode: 'active-standby', primary: ['dsl'] } });
  const frr = planApply(standby, r).filter((s) => (s.kind === 'write' && s.path.startsWith('/etc/frr')) || (s.kind === 'run' && /vtysh|frrinit|systemctl|python3/.test(s.argv[0]!)));
  assert.deepEqual(frr.map(describeStep), ['write /etc/frr/frr.conf (ospfbond block)', "vtysh -c 'configure terminal' -c 'interface obt-lte' -c 'ip ospf cost 1020' -c exit"]);
  // With FRR out of step (a reload would change more than the costs), it is a full reload.
  r.frr.reloadTest = 'Lines To Delete\n===============\n\nLines To Add\n============\ninterface obt-dsl\n ip ospf cost 10\n';
  assert.ok(planApply(standby, r).some((s) => s.kind === 'run' && s.argv.join(' ') === FRR_RELOAD_CONF));
});

test('FRR unsettled (partly running, or outside frr.service): apply refuses with the fix, the daemon waits a round', () => {
  const r = freshRouter(['lo', 'eth0']);
  r.frr.unsettled = { what: 'FRR is partly running (zebra, ospfd without watchfrr): stopping, or a daemon died', fix: 'wait' };
  assert.throws(() => planApply(desiredState(hub), r), /FRR is partly running \(zebra, ospfd without watchfrr\)/);
  const warnings: string[] = [];
  const steps = planApply(desiredState(hub), r, { warn: (m) => warnings.push(m) });
  assert.deepEqual(frrSteps(steps), [], 'neither start nor reload');
  assert.match(warnings.join('\n'), /not starting or reloading it this round/);
});

/** The steps that start or reload FRR (and what follows a reload), as command lines. */
const frrSteps = (steps: Step[]) => steps.filter((s) => s.kind === 'run' && /frrinit|systemctl|frr-reload|ipv6\.conf/.test(s.argv.join(' '))).map(describeStep);

test('FRR is started and reloaded through its service manager; a new frr.conf alone is frr-reload.py\'s', async (t) => {
  const enabled = setDaemons(DEBIAN_DAEMONS, { ospfd: 'yes', bfdd: 'yes' });
  const block = desiredState(hub).frrBlock;
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
      const r = freshRouter(['lo', 'eth0']);
      r.frr = { ...r.frr, systemd: c.systemd, running: c.running, daemons: c.daemons, conf: spliceFrrConf('log syslog informational\n', c.conf), reloadTest: IN_SYNC, ipv6Forwarding: c.ipv6 ?? '1' };
      assert.deepEqual(frrSteps(planApply(desiredState(hub), r)), c.want);
    });
  }
});

test('the daemon\'s plan: a WAN whose device or lease is missing is a warning, and everything else is still planned', () => {
  const r = freshRouter(['lo', 'eth0', 'eth2', 'eth3']);
  r.routes = [];
  const warnings: string[] = [];
  const steps = planApply(desiredState(spoke), r, { warn: (m) => warnings.push(m) });
  assert.match(warnings.join('\n'), /device wwan0 \(wan\.lte\.dev\) does not exist \(yet\): left as it is/);
  assert.ok(!steps.some((s) => s.kind === 'run' && s.argv.includes('wwan0')), 'nothing through the missing device');
  assert.ok(steps.some((s) => s.kind === 'run' && s.argv.join(' ').includes('link add obt-dsl')), 'the other WAN\'s tunnel is still built');
});
