import { frrPids } from '../../frr/service.js';
import type { Job } from './job.js';

/** Reading FRR's pid files is cheap; a restart shows as a new pid however quickly watchfrr acted. */
export const FRR_WATCH_SECONDS = 2;

/**
 * watchfrr restarts an FRR daemon that died, often within a second; a pid that changed is the
 * trace it leaves, and an operator wants to know that ospfd crashed even if routing came back.
 * The pids are taken when the job is made, not at its first round: a daemon that dies in the
 * daemon's first seconds is reported too.
 */
export function frrWatchJob(): Job {
  let lastPids: Record<string, number> = frrPids();
  return async (_cfg, log) => {
    const now = frrPids();
    for (const d of new Set([...Object.keys(lastPids), ...Object.keys(now)])) {
      const [was, pid] = [lastPids[d], now[d]];
      if (was === pid) continue;
      // watchfrr itself is replaced by every reload of the FRR service (a changed daemons file).
      if (was && pid) log[d === 'watchfrr' ? 'info' : 'warn']({ daemon: d, pid, was }, `FRR ${d} restarted (pid ${was} -> ${pid})`);
      else if (was) log.error({ daemon: d, was }, `FRR ${d} is not running (pid ${was} gone)`);
      else log.info({ daemon: d, pid }, `FRR ${d} is running (pid ${pid})`);
    }
    lastPids = now;
  };
}
