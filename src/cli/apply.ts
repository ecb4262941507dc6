import { readFileSync } from 'node:fs';
import { OspfbondError, EXIT, usage } from '../base/errors.js';
import { STATE } from '../base/paths.js';
import { loadConfig } from '../config/load.js';
import type { Config } from '../config/types.js';
import { keyFileProblems } from '../config/key-files.js';
import { confirmSeconds, openWindow, settleStale } from '../engine/confirm.js';
import { dropPending } from '../engine/confirm-timer.js';
import { converge, type ConvergeOptions } from '../engine/converge.js';
import { lockRouter } from '../engine/lock.js';
import { requireRoot } from '../engine/root.js';
import { commit, rollbackTarget, StepFailed } from '../engine/transaction.js';
import type { Printer } from '../router/executor.js';
import { hasApplied, readPending, recordRejected, rejection } from '../router/records.js';

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
    const n = (await converge(cfg, print, opts)).steps;
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

/** An atomic apply; a config whose apply failed and rolled back is recorded as rejected. */
async function atomicConverge(cfg: Config, print: Printer, beforeChange?: ConvergeOptions['beforeChange']): Promise<number> {
  try {
    return (await converge(cfg, print, { atomic: true, beforeChange })).steps;
  } catch (err) {
    if (err instanceof StepFailed) recordRejected(cfg.file, `apply failed on it and rolled back: ${err.message.split('\n')[0]!}`);
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
  print(`ospfbond: run \`ospfbond confirm\` by ${window.deadline} (${seconds} s), or the router goes back to ${hasApplied() ? 'the last applied config' : 'how it was without ospfbond'}`);
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
    if (why && !hasApplied()) {
      print(`ospfbond: not applying ${file}: ${why}; nothing was applied before it, so the router stays as it is`);
      return;
    }
    if (why) print(`ospfbond: not applying ${file}: ${why}; applying the last applied config (${STATE.applied})`);
    const cfg = loadConfig(why ? STATE.applied : file);
    const text = readFileSync(cfg.file, 'utf8');
    const n = why ? (await converge(cfg, print, { atomic: true })).steps : await atomicConverge(cfg, print);
    // An open window stays open: only `confirm` (or a plain apply by hand) confirms.
    if (!why && !pending) commit(text);
    print(n ? `ospfbond: ${cfg.role} applied (${n} steps)` : `ospfbond: ${cfg.role} is up to date, nothing to do`);
  });
}
