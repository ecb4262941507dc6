import { createHash } from 'node:crypto';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { writeFileAtomic, writeSecretAtomic } from '../config/fs-safe.js';
import { STATE_DIR } from './state-dir.js';
import { dropPending } from './pending.js';
import { loadConfig } from '../config/config.js';
import { desiredState, endpointHosts, type Desired } from '../model/desired.js';
import { LINK_ALIAS_PREFIX } from '../model/addressing.js';
import { planApply, planDown, IPV6_FORWARDING_OFF } from '../plan/planner.js';
import { extractBlock } from '../render/frr.js';
import type { Step } from '../plan/steps.js';
import { OspfbondError, EXIT } from '../errors.js';
import { execute, type Printer } from './executor.js';
import { observe, frrControl, readSysctl, IPV6_FORWARDING, type Observed } from './observe.js';

/** The config of the last apply that finished: what a failed apply goes back to. */
export const COMMITTED_FILE = `${STATE_DIR}/applied.ini`;
/** The config text an apply failed on and rolled back; the daemon does not retry it. */
export const REJECTED_FILE = `${STATE_DIR}/rejected.json`;

export const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

/** A step of an atomic run failed (rolled back or not): the config it applied is rejected. */
export class StepFailed extends OspfbondError {}

/** Where a failed apply goes back to: the last applied config, or (first apply) no ospfbond at all. */
export type RollbackTarget = { kind: 'config'; file: string } | { kind: 'down' } | { kind: 'none'; why: string };

export function rollbackTarget(have: Observed): RollbackTarget {
  if (existsSync(COMMITTED_FILE)) return { kind: 'config', file: COMMITTED_FILE };
  const ours = have.saved || have.links.some((l) => l.alias?.startsWith(LINK_ALIAS_PREFIX)) || extractBlock(have.frr.conf) !== undefined;
  if (!ours) return { kind: 'down' };
  // ospfbond from before this record existed: the state it converged to is not known.
  return { kind: 'none', why: `no record of the last applied config (${COMMITTED_FILE}); it is written by each apply that succeeds` };
}

/**
 * Records `text`, the config as applied, as what the router runs and a failed apply goes
 * back to. An `apply --confirm` waiting for its confirm is settled by this: the router runs what
 * was just applied (like `commit` after `commit confirmed` on Junos), so its revert is cancelled.
 */
export function commit(text: string): void {
  writeSecretAtomic(COMMITTED_FILE, text);
  rmSync(REJECTED_FILE, { force: true });
  dropPending();
}

export function forgetCommitted(): void {
  rmSync(COMMITTED_FILE, { force: true });
  rmSync(REJECTED_FILE, { force: true });
  dropPending();
}

export function reject(file: string, reason: string): void {
  writeFileAtomic(REJECTED_FILE, `${JSON.stringify({ file, sha256: sha256(readFileSync(file, 'utf8')), reason, at: new Date().toISOString() }, null, 2)}\n`, 0o600);
}

/** Why the config in `file` is not to be applied again unchanged, if an apply rolled it back. */
export function rejection(file: string): string | undefined {
  try {
    const r = JSON.parse(readFileSync(REJECTED_FILE, 'utf8')) as { sha256: string; reason: string; at: string };
    return r.sha256 === sha256(readFileSync(file, 'utf8')) ? `${r.reason} (${r.at})` : undefined;
  } catch {
    return undefined;
  }
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
      await rollBack(target, have.frr, Object.keys(want.sysctls), createdLinks(steps.slice(0, done + 1)), print);
    } catch (err2) {
      const why = err2 instanceof Error ? err2.message : String(err2);
      throw new StepFailed(`${what}\nthe rollback failed too: ${why}`, EXIT.partial, 'the router is between the two configs: fix the cause and run `ospfbond apply` again, or `ospfbond down`');
    }
    throw new StepFailed(`${what}\nrolled back: the router is as it was before this apply`, EXIT.failure, 'fix the cause and run `ospfbond apply` again');
  }
}

/** Links the steps create: until its alias is set, such a link is not recognisably ospfbond's. */
function createdLinks(steps: Step[]): string[] {
  return steps.flatMap((s) => (s.kind === 'wg-link' ? [s.name] : s.kind === 'run' && s.argv.slice(0, 3).join(' ') === 'ip link add' ? [s.argv[3]!] : []));
}

/** What a rollback puts back of FRR: running or stopped, and IPv6 forwarding (see reloadFrr). */
export type FrrBefore = Pick<Observed['frr'], 'running' | 'unsettled' | 'ipv6Forwarding'>;

/**
 * Converges the router to `target` from whatever a run left (`sysctls`: those the run set, so the
 * ones the target does not set are restored), then FRR to how it was `before` the run. Also what
 * an unconfirmed `apply --confirm` goes back to.
 */
export async function rollBack(target: Exclude<RollbackTarget, { kind: 'none' }>, before: FrrBefore, sysctls: string[], created: string[], print: Printer): Promise<void> {
  // `ip link add` takes no alias, so a run that failed between creating a link and tagging it left
  // one the planner would refuse to touch ("not ospfbond's"); it did not exist before this run.
  const untagged = (await observe({ sysctls: [], hosts: [] })).links.filter((l) => created.includes(l.name) && !l.alias?.startsWith(LINK_ALIAS_PREFIX));
  await execute(untagged.map((l) => ({ kind: 'run', argv: ['ip', 'link', 'del', l.name] })), print);
  const prevCfg = target.kind === 'config' ? loadConfig(target.file) : undefined;
  const prev = prevCfg && desiredState(prevCfg);
  const hosts = prevCfg ? endpointHosts(prevCfg) : [];
  const now = await observe({ sysctls: [...new Set([...sysctls, ...Object.keys(prev?.sysctls ?? {})])], hosts });
  const steps = prev ? planApply(prev, now) : planDown(now);
  await execute(steps, print);
  const after = await observe({ sysctls: [], hosts: [] });
  if (!before.running && !before.unsettled && after.frr.running) await execute([{ kind: 'run', argv: frrControl('stop', after.frr.systemd) }], print);
  else if (before.running && after.frr.daemons !== now.frr.daemons) await execute([{ kind: 'run', argv: frrControl('reload', after.frr.systemd) }], print);
  // A reload of the failed run turned IPv6 forwarding on (see reloadFrr), and the rollback's own
  // reload only keeps what it found.
  if (before.ipv6Forwarding === '0' && readSysctl(IPV6_FORWARDING) !== '0') await execute([IPV6_FORWARDING_OFF], print);
}
