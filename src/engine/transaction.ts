import { OspfbondError, EXIT } from '../base/errors.js';
import { readSysctl, underSystemd } from '../base/host.js';
import { STATE } from '../base/paths.js';
import { aggregateSecrets } from '../config/key-files.js';
import { loadConfig } from '../config/load.js';
import { LINK_ALIAS_PREFIX } from '../model/addressing.js';
import { run, type Step } from '../model/step.js';
import { extractBlock } from '../frr/block.js';
import { observeFrr, type FrrObserved } from '../frr/observe.js';
import { IPV6_FORWARDING, ipv6ForwardingBack } from '../frr/reload.js';
import { frrControl } from '../frr/service.js';
import { desiredState, endpointHosts, type Desired } from '../plan/desired.js';
import { planApply } from '../plan/plan.js';
import { planDown } from '../plan/down.js';
import { execute, type Printer } from '../router/executor.js';
import { observeLinks } from '../router/kernel.js';
import { observe, type Observed } from '../router/observe.js';
import { forgetApplied, hasApplied, readSteering, recordApplied } from '../router/records.js';
import { dropPending } from './confirm-timer.js';
import { followAggregation } from './aggregate.js';

/** A step of an atomic run failed (rolled back or not): the config it applied is rejected. */
export class StepFailed extends OspfbondError {}

/** Where a failed apply goes back to: the last applied config, or (first apply) no ospfbond at all. */
export type RollbackTarget = { kind: 'config'; file: string } | { kind: 'down' } | { kind: 'none'; why: string };

export function rollbackTarget(have: Observed): RollbackTarget {
  if (hasApplied()) return { kind: 'config', file: STATE.applied };
  const ours = have.saved || have.links.some((l) => l.alias?.startsWith(LINK_ALIAS_PREFIX)) || extractBlock(have.frr.conf) !== undefined;
  if (!ours) return { kind: 'down' };
  // ospfbond from before this record existed: the state it converged to is not known.
  return { kind: 'none', why: `no record of the last applied config (${STATE.applied}); it is written by each apply that succeeds` };
}

/**
 * Records `text`, the config as applied, as what the router runs and a failed apply goes
 * back to. An `apply --confirm` waiting for its confirm is settled by this: the router runs what
 * was just applied (like `commit` after `commit confirmed` on Junos), so its revert is cancelled.
 */
export function commit(text: string): void {
  recordApplied(text);
  dropPending();
}

/** After `down`: nothing of ospfbond is left to go back to. */
export function forgetCommitted(): void {
  forgetApplied();
  dropPending();
}

/**
 * Runs `steps` (planned for `want` on `have`) all or nothing: when one fails, the router is taken
 * back to the last applied config (or, on a first apply, to no ospfbond at all) by the same planner,
 * reading the router afresh; FRR is put back to running or stopped as it was, and a daemons file
 * this run changed is reloaded so the daemons it started stop again. `failAt` (1-based) makes that
 * step fail before it runs: the lab uses it to break a real apply at every step.
 */
export async function executeAtomically(steps: Step[], want: Desired, have: Observed, print: Printer, failAt?: number): Promise<void> {
  const target = rollbackTarget(have);
  let done = 0;
  try {
    await execute(steps, print, {
      before: (i) => {
        done = i;
        if (failAt === i + 1) throw new OspfbondError(`failure injected before step ${failAt} (OSPFBOND_FAIL_STEP)`, EXIT.failure);
      },
    });
  } catch (err) {
    const what = err instanceof Error ? err.message : String(err);
    print(`[!] step ${done + 1} of ${steps.length} failed: ${what}`);
    if (target.kind === 'none') {
      throw new StepFailed(`${what}\nnot rolled back: ${target.why}`, EXIT.partial, 'fix the cause and run `ospfbond apply` again, or `ospfbond down`');
    }
    print(`[!] rolling back to ${target.kind === 'config' ? `the last applied config (${target.file})` : 'the router without ospfbond'}`);
    try {
      await rollBack(target, have.frr, Object.keys(want.sysctls), steps.slice(0, done + 1), print);
    } catch (err2) {
      const why = err2 instanceof Error ? err2.message : String(err2);
      throw new StepFailed(`${what}\nthe rollback failed too: ${why}`, EXIT.partial, 'the router is between the two configs: fix the cause and run `ospfbond apply` again, or `ospfbond down`');
    }
    throw new StepFailed(`${what}\nrolled back: the router is as it was before this apply`, EXIT.failure, 'fix the cause and run `ospfbond apply` again');
  }
}

/** What a rollback puts back of FRR: running or stopped, and IPv6 forwarding (frr/reload.ts). */
export type FrrBefore = Pick<FrrObserved, 'running' | 'unsettled' | 'ipv6Forwarding'>;

/**
 * Converges the router to `target` from whatever a run of `ran` (the steps it started) left;
 * `sysctls`: those the run set, so the ones the target does not set are restored. Then FRR goes
 * back to how it was `before` the run. Also what an unconfirmed `apply --confirm` goes back to.
 */
export async function rollBack(target: Exclude<RollbackTarget, { kind: 'none' }>, before: FrrBefore, sysctls: string[], ran: Step[], print: Printer): Promise<void> {
  // A link the run created but did not tag yet is not recognisably ospfbond's: the planner would
  // refuse to touch it ("not ospfbond's"), and it did not exist before this run.
  const untagged = new Set((await observeLinks()).filter((l) => !l.alias?.startsWith(LINK_ALIAS_PREFIX)).map((l) => l.name));
  await execute(ran.flatMap((s) => (s.creates && untagged.has(s.creates.link) ? [s.creates.undo] : [])), print);
  const prevCfg = target.kind === 'config' ? loadConfig(target.file) : undefined;
  const prev = prevCfg && desiredState(prevCfg, aggregateSecrets(prevCfg), new Set(Object.keys(readSteering()).map(Number)));
  const hosts = prevCfg ? endpointHosts(prevCfg) : [];
  const now = await observe({ sysctls: [...new Set([...sysctls, ...Object.keys(prev?.sysctls ?? {})])], hosts });
  const steps = prev ? planApply(prev, now).steps : planDown(now);
  await execute(steps, print);
  if (prev) await followAggregation(prev, print, { assumeUp: true });
  const after = await observeFrr(underSystemd());
  if (!before.running && !before.unsettled && after.running) await execute([run('frr', frrControl('stop', after.systemd))], print);
  else if (before.running && after.daemons !== now.frr.daemons) await execute([run('frr', frrControl('reload', after.systemd))], print);
  // A reload of the failed run turned IPv6 forwarding on, and the rollback's own reload only keeps what it found.
  await execute(ipv6ForwardingBack(before.ipv6Forwarding, readSysctl(IPV6_FORWARDING)), print);
}
