import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { Lab } from './lab.js';
import { waitFor } from './lab.js';
import { preparedLab, routerSnapshot, allFull, allBonded, fullTaps, itLeaksNoSecrets } from './scenario.js';
import { labTopology, demoSites } from './topology.js';

/**
 * An apply is all or nothing, and `apply --confirm` undoes a change nobody confirmed. OSPFBOND_FAIL_STEP=N makes a real apply fail before its
 * Nth step; the router must then read exactly as before (routerSnapshot), for every N.
 */
let lab: Lab;
const t = labTopology(demoSites());
const spoke = t.spokes[0]!;

/** The commands a dry run plans, counted from its `[#]` lines. */
async function plannedSteps(node: string): Promise<number> {
  return (await lab.sh(node, 'ospfbond apply --dry-run 2>&1')).split('\n').filter((l) => l.startsWith('[#] ')).length;
}

/** Fails an apply before each of its steps in turn; each time the router must read as `before`. */
async function failEveryStep(node: string, opts: { learnedEndpoints?: boolean } = {}): Promise<{ steps: number; seconds: number }> {
  const steps = await plannedSteps(node);
  assert.ok(steps > 0, `${node}: the change plans steps`);
  const before = await routerSnapshot(lab, node, opts);
  const start = Date.now();
  for (let i = 1; i <= steps; i++) {
    const r = await lab.try(node, `OSPFBOND_FAIL_STEP=${i} ospfbond apply 2>&1`);
    assert.equal(r.code, 1, `${node}, failure before step ${i}: exit 1\n${r.out}`);
    // The steps before the failure really ran: a rollback of nothing would prove nothing.
    const forward = r.out.slice(0, r.out.indexOf(`[!] step ${i} of ${steps} failed`));
    // (wireguard-go, where the kernel has no WireGuard, prints as a second command of its step)
    const ran = forward.split('\n').filter((l) => l.startsWith('[#] ') && !l.startsWith('[#] wireguard-go '));
    assert.equal(ran.length, i - 1, `${node}: ${i - 1} steps ran before the failure\n${r.out}`);
    assert.match(r.out, /failure injected before step/);
    assert.match(r.out, /rolled back: the router is as it was before this apply/);
    assert.equal(await routerSnapshot(lab, node, opts), before, `${node}: after a failure before step ${i} of ${steps}`);
  }
  return { steps, seconds: (Date.now() - start) / 1000 };
}

describe('transactional apply: a failure at any step leaves the router as it was', { timeout: 900_000 }, () => {
  before(async () => {
    lab = await preparedLab(t);
  });
  after(() => lab?.teardown());

  it('a spoke\'s first apply failing at each step leaves it without ospfbond, FRR stopped as it was', async () => {
    const r = await failEveryStep(spoke.name);
    console.log(`# measured: ${r.steps} failed first applies rolled back in ${r.seconds.toFixed(1)} s (${(r.seconds / r.steps).toFixed(1)} s each, apply and rollback)`);
    // The daemon does not retry a config apply rolled back; a successful apply clears that record.
    assert.match(await lab.sh(spoke.name, 'cat /var/lib/ospfbond/rejected.json'), /failure injected before step/);
  });

  it('a hub change failing at each step goes back to the last applied config, and the site bonds again', async () => {
    await Promise.all([t.hub.node, spoke.name].map((n) => lab.sh(n, 'ospfbond apply 2>&1')));
    await waitFor('all adjacencies Full', 90_000, () => allFull(lab));
    await waitFor('the spoke bonded', 60_000, () => allBonded(lab));
    assert.equal((await lab.try(spoke.name, 'test -e /var/lib/ospfbond/rejected.json')).code, 1, 'a successful apply clears the rejected record');
    // The change: the site removed on the hub (its tunnels, peers and OSPF interfaces go).
    await lab.sh(t.hub.node, `cp /etc/ospfbond/ospfbond.ini ${lab.dir}/hub.ini && ospfbond hub remove-spoke ${spoke.name}`);
    const r = await failEveryStep(t.hub.node, { learnedEndpoints: true });
    console.log(`# measured: ${r.steps} failed hub changes rolled back in ${r.seconds.toFixed(1)} s`);
    const start = Date.now();
    await waitFor('all adjacencies Full after the rollbacks', 60_000, () => allFull(lab));
    await waitFor('the spoke bonded after the rollbacks', 60_000, () => allBonded(lab));
    console.log(`# measured: the site bonded again ${((Date.now() - start) / 1000).toFixed(1)} s after the last rollback`);
    await lab.sh(t.hub.node, `cp ${lab.dir}/hub.ini /etc/ospfbond/ospfbond.ini`);
  });

  it('apply --confirm: a change that cuts the site off reverts by itself; a confirmed one stays; a reboot in the window reverts', async () => {
    const s = spoke.name;
    const ini = '/etc/ospfbond/ospfbond.ini';
    const pending = '/var/lib/ospfbond/pending.json';
    const waiters = () => lab.pidsMatching(s, /ospfbond.* revert --token /);
    await waitFor('the spoke bonded', 60_000, () => allBonded(lab));
    const before = await routerSnapshot(lab, s);
    const good = await lab.sh(s, `cat ${ini} && cp ${ini} ${lab.dir}/spoke.ini`);
    // The change: a hub key that is not the hub's (pasted from another one): no handshake completes.
    const wrongKey = (await lab.sh(s, 'wg genkey | wg pubkey')).trim();
    const breakIt = `sed -i 's|^hub_public_key *=.*|hub_public_key = ${wrongKey}|' ${ini}`;
    await lab.sh(s, breakIt);
    const bad = await lab.sh(s, `cat ${ini}`);
    assert.notEqual(bad, good);
    let r = await lab.try(s, 'ospfbond apply --confirm 15 2>&1');
    const applied = Date.now();
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /run `ospfbond confirm` by \S+ \(15 s\), or the router goes back to the last applied config/);
    assert.equal(waiters().length, 1, 'one waiter holds the revert (the one armed during the apply was stopped)');
    await waitFor('the site cut off: no adjacency Full', 12_000, async () => (await fullTaps(lab, s)).length === 0);
    const cut = (Date.now() - applied) / 1000;
    await waitFor('the revert', 45_000, async () => (await lab.try(s, `test -e ${pending}`)).code !== 0, 250);
    const reverted = (Date.now() - applied) / 1000;
    assert.ok(reverted >= 15, `not reverted before the window ended (${reverted} s)`);
    assert.equal(await lab.sh(s, `cat ${ini}`), good, 'the config file holds the last applied config again');
    assert.equal(await lab.sh(s, `cat ${ini}.rejected`), bad, 'the unconfirmed config is kept beside it');
    assert.match(await lab.sh(s, 'cat /var/lib/ospfbond/revert.log'), /not confirmed within 15 s: reverting to the last applied config/);
    await waitFor('all adjacencies Full after the revert', 60_000, () => allFull(lab));
    await waitFor('the site bonded after the revert', 60_000, () => allBonded(lab));
    const back = (Date.now() - applied) / 1000;
    console.log(`# measured: apply --confirm 15 of a wrong hub key: site cut off ${cut.toFixed(1)} s after the apply, reverted at ${reverted.toFixed(1)} s, bonded again at ${back.toFixed(1)} s`);
    assert.equal(await routerSnapshot(lab, s), before, 'the router reads as before the unconfirmed change');

    // A confirmed change stays, and its waiter is gone.
    await lab.sh(s, `sed -i 's/^up_mbit = .*/up_mbit = 17/' ${ini}`);
    const shaped = await lab.sh(s, `cat ${ini}`);
    assert.notEqual(shaped, good, 'the lab spoke has up_mbit to change');
    r = await lab.try(s, 'ospfbond apply --confirm 15 2>&1');
    assert.equal(r.code, 0, r.out);
    assert.equal(waiters().length, 1, r.out);
    r = await lab.try(s, 'ospfbond confirm 2>&1');
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /confirmed; the revert due at \S+ is cancelled/);
    await waitFor('the waiter stopped', 5_000, async () => waiters().length === 0);
    assert.equal(await lab.sh(s, 'cat /var/lib/ospfbond/applied.ini'), shaped, 'the confirmed config is the applied one');
    r = await lab.try(s, 'ospfbond confirm 2>&1');
    assert.equal(r.code, 3, `nothing left to confirm\n${r.out}`);
    assert.match(r.out, /nothing to confirm/);

    // A reboot in the window: the waiter dies with the old boot, and the boot-time apply reverts.
    await lab.sh(s, breakIt);
    r = await lab.try(s, 'ospfbond apply --confirm 600 2>&1');
    assert.equal(r.code, 0, r.out);
    await waitFor('the site cut off again', 12_000, async () => (await fullTaps(lab, s)).length === 0);
    lab.kill(waiters());
    await lab.sh(s, `sed -i 's/"boot": "[^"]*"/"boot": "an-earlier-boot"/' ${pending}`);
    const booted = Date.now();
    r = await lab.try(s, 'ospfbond apply --boot 2>&1');
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /was not confirmed and the router rebooted during the confirm window: reverting to the last applied config/);
    assert.equal(await lab.sh(s, `cat ${ini}`), shaped, 'the boot-time apply put the confirmed config back');
    await waitFor('the site bonded after the boot-time revert', 60_000, () => allBonded(lab));
    console.log(`# measured: boot-time revert of an unconfirmed change: bonded again ${((Date.now() - booted) / 1000).toFixed(1)} s after \`apply --boot\``);
    await lab.sh(s, `cp ${lab.dir}/spoke.ini ${ini} && ospfbond apply`);
  });

  itLeaksNoSecrets(() => lab);
});
