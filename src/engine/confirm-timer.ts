import { randomBytes } from 'node:crypto';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { spawn, spawnSync } from 'node:child_process';
import { execa } from 'execa';
import { OspfbondError, EXIT } from '../base/errors.js';
import { underSystemd } from '../base/host.js';
import { ROOT_ENV, STATE } from '../base/paths.js';
import { readPending, removePending, type Pending, type RevertTimer } from '../router/records.js';

/** The timer of a confirm window: what runs `ospfbond revert` when nobody confirms. */

/**
 * A pending change whose deadline passed this long ago was not reverted by its timer (the timer
 * was lost, or its revert failed): the daemon or the boot-time apply reverts it.
 */
export const REVERT_GRACE_MS = 60_000;

export const newToken = () => randomBytes(6).toString('hex');

/** Why the timer of `p` will not revert it any more, so someone else must; undefined while it still can. */
export function whyStale(p: Pick<Pending, 'boot' | 'deadline'>, now: number, boot: string): string | undefined {
  if (p.boot !== boot) return 'the router rebooted during the confirm window';
  const late = now - Date.parse(p.deadline);
  if (Number.isNaN(late)) return `its deadline (${p.deadline}) is unreadable`;
  if (late > REVERT_GRACE_MS) return `its deadline (${p.deadline}) passed ${Math.round(late / 1000)} s ago and it was not reverted`;
  return undefined;
}

/**
 * Starts the timer that runs `ospfbond revert --token T` after `seconds`, independent of the
 * shell that ran apply: a dropped ssh session must not take the revert with it. Under systemd a
 * transient timer (`systemd-run --on-active`, its output in the journal); without systemd a
 * detached waiter process of its own session, writing to the revert log.
 */
export async function armRevert(file: string, seconds: number, token: string): Promise<RevertTimer> {
  const cli = process.argv[1]!;
  const revert = ['-c', file, 'revert', '--token', token];
  if (underSystemd()) {
    const unit = `ospfbond-revert-${token}`;
    // The transient unit's environment is systemd's, not ours: carry over where the records are.
    const env = process.env[ROOT_ENV] ? [`--setenv=${ROOT_ENV}=${process.env[ROOT_ENV]}`] : [];
    await execa('systemd-run', ['--quiet', `--unit=${unit}`, `--description=ospfbond: revert an unconfirmed apply of ${file}`, `--on-active=${seconds}s`, '--timer-property=AccuracySec=1s', ...env, '--', process.execPath, cli, ...revert]);
    return { kind: 'systemd', unit };
  }
  const log = openSync(STATE.revertLog, 'a', 0o600);
  try {
    const child = spawn(process.execPath, [cli, ...revert, '--after', String(seconds)], { detached: true, stdio: ['ignore', log, log] });
    child.unref();
    if (child.pid === undefined) throw new OspfbondError(`could not start the revert's waiter (${process.execPath} ${cli})`, EXIT.failure);
    return { kind: 'waiter', pid: child.pid };
  } finally {
    closeSync(log);
  }
}

/** Stops a window's timer (not the process running this, when the waiter itself reverts). */
export function disarm(p: Pending): void {
  const t = p.timer;
  if (t.kind === 'systemd') {
    // Stopping the timer unloads the transient timer and its service; a unit already gone is fine.
    spawnSync('systemctl', ['stop', `${t.unit}.timer`], { stdio: 'ignore' });
  } else if (t.kind === 'waiter' && t.pid !== process.pid) {
    let cmdline = '';
    try {
      cmdline = readFileSync(`/proc/${t.pid}/cmdline`, 'utf8');
    } catch {
      return;
    }
    // The pid may have been reused since: only a waiter of this window is ours to stop.
    if (cmdline.includes(p.token)) process.kill(t.pid, 'SIGTERM');
  }
}

/** Ends a confirm window (confirmed, reverted, or superseded by a plain apply or `down`). */
export function dropPending(): void {
  const p = readPendingQuiet();
  if (p) disarm(p);
  removePending();
}

function readPendingQuiet(): Pending | undefined {
  try {
    return readPending();
  } catch {
    return undefined;
  }
}
