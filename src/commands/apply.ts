import { existsSync, readFileSync } from 'node:fs';
import { loadConfig, type Config } from '../config/config.js';
import { keyFileProblems } from '../config/key-files.js';
import { desiredState, endpointHosts, type Desired } from '../model/desired.js';
import { observe, type Observed } from '../system/observe.js';
import { planApply, planDown } from '../plan/planner.js';
import { execute, printPlan, type Printer } from '../system/executor.js';
import { OspfbondError, EXIT, usage } from '../errors.js';
import { withRouterLock } from '../system/lock.js';
import { executeAtomically, commit, reject, forgetCommitted, rejection, rollbackTarget, StepFailed, COMMITTED_FILE } from '../system/transaction.js';
import { readPending, dropPending } from '../system/pending.js';
import { confirmSeconds, openWindow, settleStale } from './confirm.js';

export function requireRoot(): void {
  if (process.getuid?.() !== 0) throw new OspfbondError('this changes the router and needs root', EXIT.precondition, 'run it with sudo, or add --dry-run to see the plan');
}

/** How long a user's command waits for the daemon (or another apply) to finish with the router. */
export const LOCK_WAIT_MS = 120_000;

export function lockRouter<T>(what: string, print: Printer, fn: () => Promise<T>, waitMs = LOCK_WAIT_MS): Promise<T> {
  return withRouterLock(what, fn, { waitMs, onWait: (holder) => print(`ospfbond: waiting for the router: ${holder}`) });
}

/**
 * Makes the router match `cfg` and returns how many steps that took. `warn` (the daemon's) turns
 * a WAN that is not there yet (device gone, no DHCP lease) into a warning instead of an error, so
 * one dead modem does not stop the repair of everything else. `atomic` (a user's apply): a failed
 * step rolls the whole run back. The caller holds the router lock.
 */
export async function converge(
  cfg: Config,
  print: Printer,
  opts: { dryRun?: boolean; warn?: (message: string) => void; atomic?: boolean; beforeChange?: (have: Observed, want: Desired) => Promise<void> } = {},
): Promise<number> {
  const want = desiredState(cfg);
  const have = await observe({ sysctls: Object.keys(want.sysctls), hosts: endpointHosts(cfg) });
  const steps = planApply(want, have, { warn: opts.warn });
  if (steps.length === 0) return 0;
  if (opts.dryRun) {
    printPlan(steps, print);
    return steps.length;
  }
  await opts.beforeChange?.(have, want);
  if (opts.atomic) await executeAtomically(steps, want, have, print, failStep());
  else await execute(steps, print);
  return steps.length;
}

/** The lab's fault injection: OSPFBOND_FAIL_STEP=N fails a user's apply before its Nth step. */
function failStep(): number | undefined {
  const v = process.env.OSPFBOND_FAIL_STEP;
  return v && /^[1-9]\d*$/.test(v) ? Number(v) : undefined;
}

export interface ApplyOptions {
  dryRun?: boolean;
  /** Seconds until the change reverts by itself unless `ospfbond confirm` comes first. */
  confirm?: string;
  /** What ospfbond-apply.service runs at boot. */
  boot?: boolean;
}

export async function apply(file: string, opts: ApplyOptions, print: Printer): Promise<void> {
  const seconds = opts.confirm === undefined ? undefined : confirmSeconds(opts.confirm);
  if (opts.boot && (seconds !== undefined || opts.dryRun)) throw usage('--boot goes with neither --confirm nor --dry-run', 'it is what ospfbond-apply.service runs at boot');
  if (opts.boot) return applyAtBoot(file, print);
  const cfg = loadConfig(file);
  // What is recorded as applied is the text that was read, whatever happens to the file meanwhile.
  const text = readFileSync(cfg.file, 'utf8');
  if (opts.dryRun) {
    const n = await converge(cfg, print, opts);
    print(n ? `ospfbond: dry run, ${n} steps planned, nothing changed` : `ospfbond: ${cfg.role} is up to date, nothing to do`);
    return;
  }
  requireRoot();
  checkKeyFiles(cfg);
  await lockRouter(seconds === undefined ? 'apply' : `apply --confirm ${seconds}`, print, async () => {
    if (seconds !== undefined) return applyConfirmed(cfg, text, seconds, print);
    const pending = readPending();
    const n = await atomicConverge(cfg, print);
    commit(text);
    print(n ? `ospfbond: ${cfg.role} applied (${n} steps)` : `ospfbond: ${cfg.role} is up to date, nothing to do`);
    if (pending) print(`ospfbond: this apply confirms the change of \`apply --confirm ${pending.seconds}\`; its revert is cancelled`);
  });
}

/** Before anything changes: a key file that is not the config's key would make a tunnel no handshake completes. */
function checkKeyFiles(cfg: Config): void {
  const problems = keyFileProblems(cfg);
  if (problems.length === 0) return;
  const hint =
    cfg.role === 'spoke'
      ? '`ospfbond init spoke --bundle FILE --force` writes the keys and the config again from the hub\'s bundle'
      : 'put the hub\'s key file back, or set public_key to its public key (a new hub key needs a new bundle for every spoke)';
  throw usage(`${cfg.file}: its keys:\n${problems.join('\n')}`, hint);
}

async function atomicConverge(cfg: Config, print: Printer, beforeChange?: (have: Observed, want: Desired) => Promise<void>): Promise<number> {
  try {
    return await converge(cfg, print, { atomic: true, beforeChange });
  } catch (err) {
    if (err instanceof StepFailed) reject(cfg.file, `apply failed on it and rolled back: ${err.message.split('\n')[0]!}`);
    throw err;
  }
}

/**
 * Like Junos' `commit confirmed`: the change is applied and recorded as unconfirmed; unless
 * `ospfbond confirm` comes within `seconds`, a timer takes the router back to the last applied
 * config. Another `apply --confirm` in the window renews it and still reverts to that config.
 */
async function applyConfirmed(cfg: Config, text: string, seconds: number, print: Printer): Promise<void> {
  let window = readPending();
  const n = await atomicConverge(cfg, print, async (have, want) => {
    const target = rollbackTarget(have);
    if (target.kind === 'none' && !window) throw new OspfbondError(`apply --confirm: nothing to revert to: ${target.why}`, EXIT.precondition, 'run a plain `ospfbond apply` once first; nothing was changed');
    // A timer runs during the apply too: an apply killed halfway (its ssh session dropped) still reverts.
    const base = window ?? { frr: have.frr, sysctls: [] };
    window = await openWindow(cfg.file, text, seconds, { frr: base.frr, sysctls: [...new Set([...base.sysctls, ...Object.keys(want.sysctls)])] }, window);
  }).catch((err: unknown) => {
    // Rolled back to the last applied config: nothing is left to confirm or revert.
    if (err instanceof StepFailed) dropPending();
    throw err;
  });
  if (n === 0 && !window) {
    print(`ospfbond: ${cfg.role} is up to date; nothing changed, so there is nothing to confirm`);
    return;
  }
  // The window counts from the end of the apply.
  window = await openWindow(cfg.file, text, seconds, window!, window);
  print(n ? `ospfbond: ${cfg.role} applied (${n} steps)` : `ospfbond: ${cfg.role} is up to date`);
  print(`ospfbond: run \`ospfbond confirm\` by ${window.deadline} (${seconds} s), or the router goes back to ${existsSync(COMMITTED_FILE) ? 'the last applied config' : 'how it was without ospfbond'}`);
}

/**
 * ospfbond-apply.service: first reverts a confirm window the reboot cut short (its timer died with
 * the old boot), and applies neither a config that an apply rolled back nor one a window reverted.
 */
async function applyAtBoot(file: string, print: Printer): Promise<void> {
  requireRoot();
  await lockRouter('apply --boot', print, async () => {
    await settleStale(print);
    const pending = readPending();
    const why = pending ? undefined : rejection(file);
    if (why && !existsSync(COMMITTED_FILE)) {
      print(`ospfbond: not applying ${file}: ${why}; nothing was applied before it, so the router stays as it is`);
      return;
    }
    if (why) print(`ospfbond: not applying ${file}: ${why}; applying the last applied config (${COMMITTED_FILE})`);
    const cfg = loadConfig(why ? COMMITTED_FILE : file);
    const text = readFileSync(cfg.file, 'utf8');
    const n = why ? await converge(cfg, print, { atomic: true }) : await atomicConverge(cfg, print);
    // An open window stays open: only `confirm` (or a plain apply by hand) confirms.
    if (!why && !pending) commit(text);
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
