import { setTimeout as sleep } from 'node:timers/promises';
import { OspfbondError, EXIT } from '../base/errors.js';
import { STATE } from '../base/paths.js';
import { confirmSeconds, revertPending, REVERT_LOCK_WAIT_MS } from '../engine/confirm.js';
import { lockRouter } from '../engine/lock.js';
import { requireRoot } from '../engine/root.js';
import { commit } from '../engine/transaction.js';
import type { Printer } from '../router/executor.js';
import { readPending } from '../router/records.js';

export async function confirm(print: Printer): Promise<void> {
  requireRoot();
  await lockRouter('confirm', print, async () => {
    const p = readPending();
    if (!p) {
      throw new OspfbondError('nothing to confirm: no `apply --confirm` is waiting for its confirm', EXIT.precondition, `a window that ran out was reverted; its log is in ${STATE.revertLog}, or under systemd \`journalctl -u 'ospfbond-revert-*'\``);
    }
    commit(p.config);
    print(`ospfbond: confirmed; the revert due at ${p.deadline} is cancelled and ${p.file} as applied is what a failed apply goes back to`);
  });
}

/** `ospfbond revert`: by hand (now), or the window's timer (`--token`, and `--after` without systemd). */
export async function revert(opts: { token?: string; after?: string }, print: Printer): Promise<void> {
  requireRoot();
  if (opts.after !== undefined) await sleep(confirmSeconds(opts.after) * 1000);
  if (opts.token) print(`ospfbond revert: ${new Date().toISOString()} window ${opts.token} ran out`);
  await lockRouter('revert', print, async () => {
    const p = readPending();
    if (opts.token && p?.token !== opts.token) {
      print(`ospfbond: window ${opts.token} was settled before it ran out (confirmed, renewed, reverted or replaced by an apply); nothing to do`);
      return;
    }
    if (!p) throw new OspfbondError('nothing to revert: no `apply --confirm` is waiting for its confirm', EXIT.precondition, 'to go back to an older config, put it in the config file and run `ospfbond apply`');
    await revertPending(p, opts.token ? `not confirmed within ${p.seconds} s` : 'revert asked for', print);
    print(`ospfbond: reverted the change applied with \`apply --confirm ${p.seconds}\``);
  }, REVERT_LOCK_WAIT_MS);
}

