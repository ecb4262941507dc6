import { FRR } from '../base/paths.js';
import { LINK_ALIAS_PREFIX } from '../model/addressing.js';
import { run, type Step } from '../model/step.js';
import { costOnlyChanges, extractBlock, spliceFrrConf } from '../frr/block.js';
import { daemonsChanges, setDaemons } from '../frr/daemons.js';
import { blockInSync } from '../frr/drift.js';
import { reloadSteps } from '../frr/reload.js';
import { frrControl } from '../frr/service.js';
import type { Observed } from '../router/observe.js';
import type { Desired } from './desired.js';
import type { Leniency } from './leniency.js';

/** FRR: the daemons file, ospfbond's block in frr.conf, and the start, reload or cost change that loads them. */
export function planFrr(want: Desired, have: Observed, lenient: Leniency): Step[] {
  const steps: Step[] = [];
  const changes = daemonsChanges(want.daemons, have.frr.daemons);
  const daemonsChanged = Object.keys(changes).length > 0;
  if (daemonsChanged) {
    steps.push({ kind: 'write', area: 'frr', path: FRR.daemons, content: setDaemons(have.frr.daemons, changes), mode: 0o640, label: `enable ${Object.keys(changes).join(', ')}`, preview: Object.entries(changes).map(([d, v]) => `${d}=${v}`).join('\n') });
  }
  const current = extractBlock(have.frr.conf);
  const confChanged = current !== want.frrBlock;
  if (confChanged) {
    steps.push({ kind: 'write', area: 'frr', path: FRR.conf, content: spliceFrrConf(have.frr.conf, want.frrBlock), mode: 0o640, label: 'ospfbond block', preview: want.frrBlock });
  }
  // A policy change (costs only) on a FRR that runs exactly the current block: one vtysh transaction.
  const costs = costOnlyChanges(current, want.frrBlock);
  if (have.frr.running && costs?.length && !daemonsChanged && blockInSync(have.frr.reloadTest, current!)) {
    // Raises first: each change is flooded at once, and a half-done switch then reads as "every
    // tunnel standby" (no policy, ignored by the other end) rather than as active-active (a policy).
    const ordered = [...costs].sort((a, b) => b.cost - a.cost);
    steps.push(run('frr', ['vtysh', '-c', 'configure terminal', ...ordered.flatMap((c) => ['-c', `interface ${c.iface}`, '-c', `ip ospf cost ${c.cost}`, '-c', 'exit'])]));
    return steps;
  }
  if (have.frr.unsettled) {
    const { what, fix } = have.frr.unsettled;
    // A start or reload now could run a second FRR; the daemon's next round sees it settled.
    lenient.tolerate(`${what}: not starting or reloading it this round`, what, `${fix}; nothing was changed`);
  } else if (!have.frr.running) steps.push(run('frr', frrControl('start', have.frr.systemd)));
  else if (confChanged || daemonsChanged || !blockInSync(have.frr.reloadTest, want.frrBlock)) {
    steps.push(...reloadSteps(current, want.frrBlock, have.frr, (iface) => foreignLink(have, iface), daemonsChanged));
  }
  return steps;
}

/** A device ospfbond did not make: it stays on the router when it leaves the block. */
export function foreignLink(have: Observed, iface: string): boolean {
  return have.links.some((l) => l.name === iface && !l.alias?.startsWith(LINK_ALIAS_PREFIX));
}
