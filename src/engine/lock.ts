import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import lockfile from 'proper-lockfile';
import { writeFileAtomic } from '../base/files.js';
import { OspfbondError, EXIT } from '../base/errors.js';
import { LOCK, RUN_DIR } from '../base/paths.js';
import type { Printer } from '../router/executor.js';

/** How long a lock whose holder stopped refreshing it (killed, frozen) is honoured. */
const STALE_MS = 10_000;
const POLL_MS = 250;

interface Holder {
  pid: number;
  what: string;
  since: string;
}

/**
 * Runs `fn` holding the router lock, so a user's apply and the daemon's repairs never interleave
 * their reads and changes. Waits up to `waitMs` for a holder to finish, then says who holds it.
 */
export async function withRouterLock<T>(what: string, fn: () => Promise<T>, opts: { waitMs: number; onWait?: (holder: string) => void }): Promise<T> {
  mkdirSync(RUN_DIR, { recursive: true, mode: 0o755 });
  const target = LOCK.target;
  const owner = LOCK.holder;
  const options = {
    realpath: false,
    lockfilePath: LOCK.file,
    stale: STALE_MS,
    // An apply must not die halfway because the lock's refresh was late; it finishes and says so.
    onCompromised: (err: Error) => process.emitWarning(`ospfbond: the router lock was compromised (${err.message}); another run may have started`),
  };
  let release: () => Promise<void>;
  try {
    release = await lockfile.lock(target, { ...options, retries: 0 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ELOCKED') throw err;
    opts.onWait?.(describeHolder(owner));
    try {
      const retries = Math.max(0, Math.ceil(opts.waitMs / POLL_MS));
      release = await lockfile.lock(target, { ...options, retries: { retries, factor: 1, minTimeout: POLL_MS, maxTimeout: POLL_MS } });
    } catch (err2) {
      if ((err2 as NodeJS.ErrnoException).code !== 'ELOCKED') throw err2;
      throw new OspfbondError(
        `the router is busy: ${describeHolder(owner)} (waited ${opts.waitMs / 1000} s)`,
        EXIT.precondition,
        'try again when it has finished; nothing was changed',
      );
    }
  }
  const holder: Holder = { pid: process.pid, what, since: new Date().toISOString() };
  writeFileAtomic(owner, `${JSON.stringify(holder)}\n`);
  try {
    return await fn();
  } finally {
    rmSync(owner, { force: true });
    await release().catch(() => undefined);
  }
}

function describeHolder(owner: string): string {
  try {
    const h = JSON.parse(readFileSync(owner, 'utf8')) as Holder;
    return `ospfbond ${h.what} (pid ${h.pid}) holds ${LOCK.file} since ${h.since}`;
  } catch {
    return `another ospfbond run holds ${LOCK.file}`;
  }
}

/** How long a user's command waits for the daemon (or another apply) to finish with the router. */
export const LOCK_WAIT_MS = 120_000;

/** A user's command holding the router lock, saying so when it has to wait. */
export function lockRouter<T>(what: string, print: Printer, fn: () => Promise<T>, waitMs = LOCK_WAIT_MS): Promise<T> {
  return withRouterLock(what, fn, { waitMs, onWait: (holder) => print(`ospfbond: waiting for the router: ${holder}`) });
}
