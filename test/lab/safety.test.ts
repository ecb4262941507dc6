import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { Lab } from './lab.js';
import { waitFor } from './lab.js';
import { preparedLab, routerSnapshot, allFull, allBonded } from './scenario.js';
import { labTopology, demoSites } from './topology.js';

/**
 * Issue 6: an apply is all or nothing. OSPFBOND_FAIL_STEP=N makes a real apply fail before its
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
});
