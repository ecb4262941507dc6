import { lockRouter } from '../engine/lock.js';
import { requireRoot } from '../engine/root.js';
import { forgetCommitted } from '../engine/transaction.js';
import { planDown } from '../plan/down.js';
import { execute, type Printer } from '../router/executor.js';
import { observe } from '../router/observe.js';
import { readSaved } from '../router/records.js';

/** `ospfbond down`: everything ospfbond made removed by its tags, and what it changed put back. */
export async function down(print: Printer): Promise<void> {
  requireRoot();
  await lockRouter('down', print, async () => {
    // The sysctls to read are the ones ospfbond recorded changing.
    const have = await observe({ sysctls: Object.keys(readSaved()?.sysctls ?? {}), hosts: [] });
    const steps = planDown(have);
    if (steps.length) await execute(steps, print);
    // Nothing of ospfbond is left to go back to: a later failed apply goes back to this.
    forgetCommitted();
    print(steps.length ? `ospfbond: down (${steps.length} steps)` : 'ospfbond: nothing of ospfbond on this router');
  });
}
