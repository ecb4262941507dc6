import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mirrorAction, policyFromCosts, tunnelCost, policyKey, type Policy } from '../../src/model/policy.js';
import { costOnlyChanges } from '../../src/frr/block.js';
import { intervalCron } from '../../src/config/schema.js';
import { parseConfig } from '../../src/config/load.js';
import { ConfigError } from '../../src/base/errors.js';
import { renderChecks } from '../../src/doctor/checks.js';
import { fixture } from './files.js';

const AA: Policy = { mode: 'active-active' };
const S1: Policy = { mode: 'active-standby', primary: ['dsl'] };
const S2: Policy = { mode: 'active-standby', primary: ['lte'] };

test('costs: standbys far above any primary; read back into the same policy', () => {
  assert.equal(tunnelCost(S1, 'dsl', 10), 10);
  assert.equal(tunnelCost(S1, 'lte', 10), 1010);
  assert.equal(tunnelCost(AA, 'lte', 999), 999);
  const wans = ['dsl', 'lte'];
  assert.deepEqual(policyFromCosts(wans, { dsl: 10, lte: 1010 }), S1);
  assert.deepEqual(policyFromCosts(wans, { dsl: 20, lte: 10 }), AA, 'unequal user costs are still active-active');
  assert.equal(policyFromCosts(wans, { dsl: 10 }), undefined, 'a WAN not seen: no verdict');
  assert.equal(policyKey({ mode: 'active-standby', primary: ['b', 'a'] }), policyKey({ mode: 'active-standby', primary: ['a', 'b'] }));
});

test('mirroring: the latest change wins; when both changed, the spoke wins', () => {
  const k = policyKey;
  // The spoke switched to S1 since both agreed on AA: the hub adopts, the spoke waits.
  assert.equal(mirrorAction('hub', AA, S1, k(AA)), 'adopt');
  assert.equal(mirrorAction('spoke', S1, AA, k(AA)), 'wait');
  // The hub switched: the spoke adopts.
  assert.equal(mirrorAction('spoke', AA, S2, k(AA)), 'adopt');
  // Both switched to different policies (or no record): the spoke's stands.
  assert.equal(mirrorAction('hub', S2, S1, k(AA)), 'adopt');
  assert.equal(mirrorAction('spoke', S1, S2, k(AA)), 'wait');
  assert.equal(mirrorAction('hub', S2, S1, undefined), 'adopt');
  assert.equal(mirrorAction('spoke', S1, S2, undefined), 'wait');
  assert.equal(mirrorAction('hub', S1, S1, undefined), 'in-sync');
  assert.equal(mirrorAction('hub', S1, undefined, k(AA)), 'unknown');
});

test('a cost-only change of the FRR block is recognised; anything else is not', () => {
  const block = 'interface obt1\n ip ospf area 0.0.0.1\n ip ospf cost 10\nexit\n!\ninterface obt2\n ip ospf cost 10\nexit\n';
  assert.deepEqual(costOnlyChanges(block, block.replace(/cost 10\nexit\n$/, 'cost 1010\nexit\n')), [{ iface: 'obt2', cost: 1010 }]);
  assert.deepEqual(costOnlyChanges(block, block), []);
  assert.equal(costOnlyChanges(block, block.replace('area 0.0.0.1', 'area 0.0.0.2')), undefined);
  assert.equal(costOnlyChanges(undefined, block), undefined);
  assert.equal(costOnlyChanges(block, `${block}interface obt3\n`), undefined);
});

test('daemon intervals become cron schedules; uneven ones are refused', () => {
  assert.equal(intervalCron('2s'), '*/2 * * * * *');
  assert.equal(intervalCron('30s'), '*/30 * * * * *');
  assert.equal(intervalCron('5m'), '0 */5 * * * *');
  assert.equal(intervalCron('1h'), '0 0 */1 * * *');
  assert.equal(intervalCron('7s'), undefined);
  assert.equal(intervalCron('90s'), undefined);
  assert.equal(intervalCron('soon'), undefined);
});

const errorsOf = (text: string) => {
  try {
    parseConfig('/etc/ospfbond/ospfbond.ini', text);
  } catch (err) {
    if (err instanceof ConfigError) return err.message;
    throw err;
  }
  return '';
};

test('policy and daemon settings in the config: bad values are file:line errors', () => {
  const base = fixture('frr84/spoke.ini');
  const withSpoke = (lines: string) => base.replace('bfd_profile = fast\n', `bfd_profile = fast\n${lines}\n`);
  assert.equal(errorsOf(withSpoke('mode = active-standby\nprimary = wan1')), '');
  assert.match(errorsOf(withSpoke('mode = active-standby\nprimary = wan9')), /ospfbond\.ini:1[0-9] spoke\.primary: primary wan9: no such WAN \(the WANs are wan1, wan2\)/);
  assert.match(errorsOf(withSpoke('mode = active-standby\nprimary = wan1,wan2')), /spoke\.primary: every WAN is primary: that is active-active/);
  assert.match(errorsOf(withSpoke('mode = active-standby')), /spoke\.mode: active-standby needs primary = WAN/);
  assert.match(errorsOf(withSpoke('primary = wan1')), /spoke\.primary: primary only applies to mode = active-standby/);
  assert.match(errorsOf(withSpoke('mode = standby')), /spoke\.mode: expected one of active-active, active-standby/);
  assert.match(errorsOf(`${base}\n[daemon]\nreconcile_every = 7s\nmetrics_listen = 0.0.0.0\n`), /daemon\.reconcile_every: expected an interval[^\n]*\n[^\n]*daemon\.metrics_listen: expected IPV4:PORT/);
  assert.match(errorsOf(base.replace('cost = 10', 'cost = 1000')), /wan\.wan1\.cost: expected a whole number from 1 to 999/);
});

test('doctor output: every problem with its fix, and a verdict', () => {
  const text = renderChecks([
    { name: 'packages', status: 'ok', detail: 'present' },
    { name: 'frr running', status: 'fail', detail: 'FRR runs without bfdd', fix: '/usr/lib/frr/frrinit.sh restart' },
    { name: 'clock', status: 'warn', detail: 'cannot tell', fix: 'apt-get install systemd-timesyncd' },
  ]);
  assert.equal(
    text,
    [
      'ok    packages     present',
      'FAIL  frr running  FRR runs without bfdd',
      '                   fix: /usr/lib/frr/frrinit.sh restart',
      'warn  clock        cannot tell',
      '                   fix: apt-get install systemd-timesyncd',
      'ospfbond doctor: 1 problem to fix, 1 warning',
    ].join('\n'),
  );
});
