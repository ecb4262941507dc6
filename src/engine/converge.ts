import { existsSync } from 'node:fs';
import { OspfbondError, EXIT } from '../base/errors.js';
import { aggregateSecrets } from '../config/key-files.js';
import type { Config } from '../config/types.js';
import { followAggregation } from './aggregate.js';
import { desiredState, endpointHosts, type Desired } from '../plan/desired.js';
import { planApply } from '../plan/plan.js';
import { execute, printPlan, type Printer } from '../router/executor.js';
import { observe, type Observed } from '../router/observe.js';
import { readSteering } from '../router/records.js';
import { executeAtomically } from './transaction.js';

export interface ConvergeOptions {
  /** Print the plan, change nothing. */
  dryRun?: boolean;
  /** The daemon's repair: a part of the router not there yet is left with a warning (plan/leniency.ts). */
  repair?: boolean;
  /** A user's apply: a failed step rolls the whole run back. */
  atomic?: boolean;
  /** Runs after planning and before the first change (a confirm window opens its timer here). */
  beforeChange?: (have: Observed, want: Desired) => Promise<void>;
}

/** The router `cfg` asks for, with the tunnels the link quality steering holds degraded now. */
export function desiredNow(cfg: Config): Desired {
  return desiredState(cfg, aggregateSecrets(cfg), new Set(Object.keys(readSteering()).map(Number)));
}

/**
 * Makes the router match `cfg`: reads it, plans, runs the steps. Returns how many steps that took
 * and, for a repair, what was left as it is. The caller holds the router lock.
 */
export async function converge(cfg: Config, print: Printer, opts: ConvergeOptions = {}): Promise<{ steps: number; warnings: string[] }> {
  const want = desiredNow(cfg);
  const lacking = (want.aggregate?.proxies ?? []).filter((p) => !existsSync(p.program));
  if (lacking.length) {
    throw new OspfbondError(`aggregate = tcp needs ${lacking[0]!.program} (shadowsocks-libev), which is not installed`, EXIT.precondition, 'apt-get install shadowsocks-libev, or set aggregate = off; nothing was changed');
  }
  const have = await observe({ sysctls: Object.keys(want.sysctls), hosts: endpointHosts(cfg) });
  const { steps, warnings } = planApply(want, have, opts.repair ? 'repair' : 'apply');
  if (opts.dryRun) {
    printPlan(steps, print);
    return { steps: steps.length, warnings };
  }
  if (steps.length) {
    await opts.beforeChange?.(have, want);
    if (opts.atomic) await executeAtomically(steps, want, have, print, failStep());
    else await execute(steps, print);
  }
  // A repair leaves the endpoints and the redirect to the daemon's aggregate job, which alone knows
  // whether the hub's proxy answers: arming here re-armed a redirect to a dead hub proxy at every
  // reconcile, for a second or two (the systemd test's spoke and aggregate.test showed it).
  if (!opts.repair) await followAggregation(want, print, { assumeUp: true });
  return { steps: steps.length, warnings };
}

/** The lab's fault injection: OSPFBOND_FAIL_STEP=N fails a user's apply before its Nth step. */
function failStep(): number | undefined {
  const v = process.env.OSPFBOND_FAIL_STEP;
  return v && /^[1-9]\d*$/.test(v) ? Number(v) : undefined;
}
