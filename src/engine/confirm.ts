import { existsSync, readFileSync } from 'node:fs';
import { writeFileAtomic } from '../base/files.js';
import { OspfbondError, EXIT, usage } from '../base/errors.js';
import { bootId } from '../base/host.js';
import { STATE } from '../base/paths.js';
import type { Printer } from '../router/executor.js';
import { hasApplied, readPending, recordRejected, writePending, type Pending } from '../router/records.js';
import { rollBack, type RollbackTarget } from './transaction.js';
import { armRevert, disarm, dropPending, newToken, whyStale } from './confirm-timer.js';

/**
 * The confirm window of `apply --confirm`, as Junos' `commit confirmed`: a change that nobody
 * confirms in time goes back to the last applied config.
 */

/** The range `apply --confirm` accepts: long enough to log in again and check, short of forgetting it. */
export const CONFIRM_MIN_S = 5;
export const CONFIRM_MAX_S = 86_400;
/** A revert waits this long for the router lock (an apply longer than its window still holds it). */
export const REVERT_LOCK_WAIT_MS = 600_000;

export function confirmSeconds(v: string): number {
  const n = /^\d+$/.test(v) ? Number(v) : NaN;
  if (!(n >= CONFIRM_MIN_S && n <= CONFIRM_MAX_S)) throw usage(`--confirm ${v}: expected whole seconds from ${CONFIRM_MIN_S} to ${CONFIRM_MAX_S}`, 'for example --confirm 120');
  return n;
}

/**
 * Opens (or renews) a confirm window: a timer that reverts unless `ospfbond confirm` comes first.
 * The new timer is armed before the record names it, and the old one stopped after: whatever
 * moment this is interrupted at, one armed timer matches the record, or none is armed and the
 * record's deadline passes (then the daemon or the next boot reverts, see settleStale).
 */
export async function openWindow(file: string, config: string, seconds: number, base: Pick<Pending, 'frr' | 'sysctls'>, old: Pending | undefined): Promise<Pending> {
  const token = newToken();
  const timer = await armRevert(file, seconds, token);
  const { running, unsettled, ipv6Forwarding } = base.frr;
  const p: Pending = { token, file, config, seconds, deadline: new Date(Date.now() + seconds * 1000).toISOString(), boot: bootId(), frr: { running, unsettled, ipv6Forwarding }, sysctls: base.sysctls, timer };
  writePending(p);
  if (old) disarm(old);
  return p;
}

function targetNow(): Exclude<RollbackTarget, { kind: 'none' }> {
  return hasApplied() ? { kind: 'config', file: STATE.applied } : { kind: 'down' };
}

/**
 * Takes the router back to the last applied (confirmed) config, or to no ospfbond when there was
 * none, and the config file with it: the unconfirmed file is kept as FILE.rejected. The caller
 * holds the router lock. A revert that fails leaves the window open, so it is tried again.
 */
export async function revertPending(p: Pending, reason: string, print: Printer): Promise<void> {
  const target = targetNow();
  print(`[!] ${reason}: reverting to ${target.kind === 'config' ? `the last applied config (${STATE.applied})` : 'the router without ospfbond'}`);
  try {
    await rollBack(target, p.frr, p.sysctls, [], print);
  } catch (err) {
    throw new OspfbondError(
      `the revert failed: ${err instanceof Error ? err.message : String(err)}`,
      EXIT.partial,
      'the router is between the two configs and the change stays unconfirmed: run `ospfbond revert` again, or `ospfbond confirm` to keep what runs',
    );
  }
  // The config file says what the router runs; at boot it is applied again.
  const text = existsSync(p.file) ? readFileSync(p.file, 'utf8') : undefined;
  if (target.kind === 'config') {
    const prev = readFileSync(STATE.applied, 'utf8');
    if (text !== undefined && text !== prev) {
      writeFileAtomic(`${p.file}.rejected`, text, 0o600);
      writeFileAtomic(p.file, prev);
      print(`[!] ${p.file} holds the last applied config again; the unconfirmed one is in ${p.file}.rejected`);
    }
  } else if (text !== undefined) {
    // No config to put back in its place: the file stays, marked so that neither the boot-time
    // apply nor the daemon applies it again until it is edited or applied by hand.
    recordRejected(p.file, `not confirmed within ${p.seconds} s of \`apply --confirm\` and reverted`);
    print(`[!] ${p.file} stays; \`apply --boot\` and the daemon leave it alone until it is edited or applied by hand`);
  }
  dropPending();
}

/**
 * A window whose timer can no longer revert it (a reboot, or a timer lost or failed) is reverted
 * by the next boot-time apply or daemon reconcile. The caller holds the router lock.
 */
export async function settleStale(print: Printer): Promise<boolean> {
  const p = readPending();
  const why = p && whyStale(p, Date.now(), bootId());
  if (!p || !why) return false;
  await revertPending(p, `the change applied with \`apply --confirm ${p.seconds}\` was not confirmed and ${why}`, print);
  return true;
}
