import { loadConfig, type Config } from '../config/config.js';
import { desiredState, endpointHosts } from '../model/desired.js';
import { observe } from '../system/observe.js';
import { planApply, planDown } from '../plan/planner.js';
import { execute, printPlan, type Printer } from '../system/executor.js';
import { OspfbondError, EXIT } from '../errors.js';
import { withRouterLock } from '../system/lock.js';
import { executeAtomically, commit, reject, forgetCommitted, StepFailed } from '../system/transaction.js';

export function requireRoot(): void {
  if (process.getuid?.() !== 0) throw new OspfbondError('this changes the router and needs root', EXIT.precondition, 'run it with sudo, or add --dry-run to see the plan');
}

/** How long a user's command waits for the daemon (or another apply) to finish with the router. */
export const LOCK_WAIT_MS = 120_000;

export function lockRouter<T>(what: string, print: Printer, fn: () => Promise<T>): Promise<T> {
  return withRouterLock(what, fn, { waitMs: LOCK_WAIT_MS, onWait: (holder) => print(`ospfbond: waiting for the router: ${holder}`) });
}

/**
 * Makes the router match `cfg` and returns how many steps that took. `warn` (the daemon's) turns
 * a WAN that is not there yet (device gone, no DHCP lease) into a warning instead of an error, so
 * one dead modem does not stop the repair of everything else. `atomic` (a user's apply): a failed
 * step rolls the whole run back. The caller holds the router lock.
 */
export async function converge(cfg: Config, print: Printer, opts: { dryRun?: boolean; warn?: (message: string) => void; atomic?: boolean } = {}): Promise<number> {
  const want = desiredState(cfg);
  const have = await observe({ sysctls: Object.keys(want.sysctls), hosts: endpointHosts(cfg) });
  const steps = planApply(want, have, { warn: opts.warn });
  if (steps.length === 0) return 0;
  if (opts.dryRun) printPlan(steps, print);
  else if (opts.atomic) await executeAtomically(steps, want, have, print, failStep());
  else await execute(steps, print);
  return steps.length;
}

/** The lab's fault injection: OSPFBOND_FAIL_STEP=N fails a user's apply before its Nth step. */
function failStep(): number | undefined {
  const v = process.env.OSPFBOND_FAIL_STEP;
  return v && /^[1-9]\d*$/.test(v) ? Number(v) : undefined;
}

export async function apply(file: string, opts: { dryRun?: boolean }, print: Printer): Promise<void> {
  const cfg = loadConfig(file);
  if (opts.dryRun) {
    const n = await converge(cfg, print, opts);
    print(n ? `ospfbond: dry run, ${n} steps planned, nothing changed` : `ospfbond: ${cfg.role} is up to date, nothing to do`);
    return;
  }
  requireRoot();
  await lockRouter('apply', print, async () => {
    let n: number;
    try {
      n = await converge(cfg, print, { atomic: true });
    } catch (err) {
      if (err instanceof StepFailed) reject(cfg, err.message.split('\n')[0]!);
      throw err;
    }
    commit(cfg);
    print(n ? `ospfbond: ${cfg.role} applied (${n} steps)` : `ospfbond: ${cfg.role} is up to date, nothing to do`);
  });
}

export async function down(print: Printer): Promise<void> {
  requireRoot();
  await lockRouter('down', print, async () => {
    const first = await observe({ sysctls: [], hosts: [] });
    const have = first.saved ? await observe({ sysctls: Object.keys(first.saved.sysctls), hosts: [] }) : first;
    const steps = planDown(have);
    if (steps.length) await execute(steps, print);
    // Nothing of ospfbond is left to go back to: a later failed apply goes back to this.
    forgetCommitted();
    print(steps.length ? `ospfbond: down (${steps.length} steps)` : 'ospfbond: nothing of ospfbond on this router');
  });
}
