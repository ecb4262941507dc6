import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError } from '../../src/base/errors.js';
import { parseConfig } from '../../src/config/load.js';
import { renderHubIni, renderSpokeIni } from '../../src/config/write.js';
import type { HubConfig, SpokeConfig } from '../../src/config/types.js';
import { desiredState } from '../../src/plan/desired.js';
import { planDown } from '../../src/plan/down.js';
import { planApply } from '../../src/plan/plan.js';
import { duplicateRing, parsePorts } from '../../src/model/realtime.js';
import { describe as describeStep } from '../../src/model/step.js';
import { renderHubNft, renderSpokeNft, nftHash, nftScript } from '../../src/render/nft.js';
import { fixture, golden } from './files.js';
import { appliedRouter, freshRouter, testSecrets } from './routers.js';

const FILE = '/etc/ospfbond/ospfbond.ini';
const spokeIni = fixture('spoke.ini');
const hubIni = fixture('hub.ini');
const spokeWith = (realtime: string, text = spokeIni) => parseConfig(FILE, `${text}\n[realtime]\n${realtime}\n`) as SpokeConfig;
const hubWith = (realtime: string) => parseConfig(FILE, `${hubIni}\n[realtime]\n${realtime}\n`) as HubConfig;
/** The spoke fixture with a third WAN, so the ring has three members. */
const threeWans = `${spokeIni}
[wan.sat]
dev = eth9
gw = 192.0.2.9
tunnel = 7
private_key_file = /etc/ospfbond/keys/sat.key
public_key = JMTjcAjAaPDcs2NAzJsEHRQxetP4TCUt47j6s1jbIHI=
`;
/** The ip table's rules, without the inet table before them. */
const dupTable = (ruleset: string) => /^table ip ospfbond \{[^]*/m.exec(ruleset)?.[0];
const copies = (ruleset: string) => /dup to oifname map \{ (.*) \}/.exec(ruleset)?.[1];

test('[realtime] defaults: duplicate EF, no UDP port listed; a config without the section is written back without it', () => {
  const s = parseConfig(FILE, spokeIni) as SpokeConfig;
  const h = parseConfig(FILE, hubIni) as HubConfig;
  assert.deepEqual(s.realtime, { duplicate: true, udpPorts: [] });
  assert.deepEqual(h.realtime, { duplicate: true, udpPorts: [] });
  assert.doesNotMatch(renderSpokeIni(s), /realtime/);
  assert.doesNotMatch(renderHubIni(h), /realtime/);
});

test('[realtime] udp_ports takes ports and ranges; duplicate takes true/false/yes/no; both round-trip through the writer', () => {
  const s = spokeWith('duplicate = no\nudp_ports = 5060, 10000-20000 ,3478');
  assert.deepEqual(s.realtime, { duplicate: false, udpPorts: [{ from: 5060, to: 5060 }, { from: 10000, to: 20000 }, { from: 3478, to: 3478 }] });
  assert.deepEqual(parseConfig(FILE, renderSpokeIni(s)), s);
  const h = hubWith('udp_ports = 4569');
  assert.deepEqual(h.realtime, { duplicate: true, udpPorts: [{ from: 4569, to: 4569 }] });
  assert.deepEqual(parseConfig(FILE, renderHubIni(h)), h);
});

test('[realtime] mistakes are reported with file:line, key and how to write it, all at once (spoke and hub)', () => {
  const bad = 'duplicate = maybe\nudp_ports = 5060,20000-10000\ncolour = red';
  const messages = (parse: () => unknown) => {
    try {
      parse();
    } catch (err) {
      assert.ok(err instanceof ConfigError, String(err));
      return err.message;
    }
    assert.fail('accepted');
  };
  golden('realtime.errors.txt', `${messages(() => spokeWith(bad))}\n${messages(() => hubWith(bad))}\n`);
  for (const item of ['0', '65536', 'sip', '5060-', '-5', '10-5']) assert.ok('error' in (parsePorts(item) as object), `${item} is refused`);
});

test('the spoke copies EF and listed UDP ports into the next tap, to the hub\'s address on it (golden)', () => {
  const s = spokeWith('udp_ports = 5060,10000-20000');
  golden('realtime-spoke.nft', dupTable(renderSpokeNft(s)) ?? 'no ip table\n');
});

test('the ring: A->B, B->C, C->A in config order; two WANs cover each other; one WAN has nothing to pair', () => {
  assert.deepEqual(duplicateRing(['a', 'b', 'c']), [['a', 'b'], ['b', 'c'], ['c', 'a']]);
  assert.deepEqual(duplicateRing(['a', 'b']), [['a', 'b'], ['b', 'a']]);
  assert.deepEqual(duplicateRing(['a']), []);
  // dsl = tunnel 1, lte = 2, sat = 7: each copy goes to the hub's tap address (+5) of the next tunnel.
  assert.equal(copies(renderSpokeNft(parseConfig(FILE, threeWans) as SpokeConfig)), '"obt-dsl" : 10.255.0.21, "obt-lte" : 10.255.0.61, "obt-sat" : 10.255.0.13');
});

test('the hub copies into the site\'s next tap, to the spoke\'s address on it; a one-WAN site gets no rule', () => {
  const h = parseConfig(FILE, hubIni) as HubConfig;
  // branch1: tunnels 1 and 2 (spoke tap addresses +6: .14, .22); farm: tunnel 3 alone.
  assert.equal(copies(renderHubNft(h)), '"obt1" : 10.255.0.22, "obt2" : 10.255.0.14');
  assert.doesNotMatch(renderHubNft(h), /obt3/);
});

test('active-standby duplicates onto the standby too: the same rules as active-active', () => {
  const s = parseConfig(FILE, spokeIni) as SpokeConfig;
  assert.equal(renderSpokeNft({ ...s, policy: { mode: 'active-standby', primary: ['dsl'] } }), renderSpokeNft(s));
});

test('duplicate = false, or a single WAN: no ip table, and the inet table\'s hash is its own body\'s as before', () => {
  const off = spokeWith('duplicate = false\nudp_ports = 5060');
  const one = parseConfig(FILE, spokeIni.slice(0, spokeIni.indexOf('[wan.lte]'))) as SpokeConfig;
  for (const cfg of [off, one]) {
    const r = renderSpokeNft(cfg);
    assert.equal(dupTable(r), undefined);
    assert.match(nftHash(r)!, /^[0-9a-f]{16}$/, 'one table, one hash');
  }
  assert.equal(dupTable(renderHubNft(hubWith('duplicate = false'))), undefined);
});

test('apply: a router with only the inet table (an ospfbond from before) gets both, replaced in one nft transaction; switching off removes the ip table', () => {
  const s = parseConfig(FILE, spokeIni) as SpokeConfig;
  const want = desiredState(s, testSecrets(s));
  const applied = appliedRouter(want, freshRouter(['lo', 'eth0', 'wwan0', 'eth2', 'eth3']));
  const inetOnly = want.nft.slice(0, want.nft.indexOf('table ip ospfbond'));
  const steps = planApply(want, { ...applied, nftRuleset: inetOnly }).steps;
  assert.deepEqual(steps.map((x) => x.area), ['nft']);
  assert.equal((steps[0] as { input?: string }).input, nftScript(want.nft));
  assert.match(nftScript(want.nft), /^table inet ospfbond\ndelete table inet ospfbond\ntable ip ospfbond\ndelete table ip ospfbond\n/);
  const wantOff = desiredState(spokeWith('duplicate = false'), testSecrets(s));
  assert.deepEqual(planApply(wantOff, applied).steps.map((x) => x.area), ['nft'], 'the switch turned off replaces the tables');
  assert.deepEqual(planDown({ ...applied, nftRuleset: inetOnly }).map(describeStep).filter((d) => d.includes('nft')), ['nft delete table inet ospfbond']);
  assert.deepEqual(planDown(applied).map(describeStep).filter((d) => d.includes('nft')), ['nft delete table inet ospfbond', 'nft delete table ip ospfbond']);
});
