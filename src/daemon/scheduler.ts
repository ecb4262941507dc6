import cron from 'node-cron';
import { pino, type Logger } from 'pino';
import { usage } from '../base/errors.js';
import { STATE } from '../base/paths.js';
import { configReader, loadConfig } from '../config/load.js';
import { intervalCron, intervalSeconds } from '../config/schema.js';
import type { Config } from '../config/types.js';
import { LOCK_WAIT_MS, withRouterLock } from '../engine/lock.js';
import { requireRoot } from '../engine/root.js';
import { hasApplied, rejection } from '../router/records.js';
import { collectStatus } from '../status/collect.js';
import { AGGREGATE_WATCH_SECONDS, aggregateJob } from './jobs/aggregate.js';
import { CARRIER_WATCH_SECONDS, carrierJob } from './jobs/carrier.js';
import { FRR_WATCH_SECONDS, frrWatchJob } from './jobs/frr-watch.js';
import type { Job } from './jobs/job.js';
import { mirrorJob } from './jobs/mirror.js';
import { QUALITY_SECONDS, qualityJob } from './jobs/quality.js';
import { reconcile } from './jobs/reconcile.js';
import { resolve } from './jobs/resolve.js';
import { statsJob } from './jobs/stats.js';
import { WG_WATCH_SECONDS, wgWatchJob } from './jobs/wg-watch.js';

/**
 * JSON lines on stdout for journald; readable lines when a person runs it on a terminal. pino-pretty
 * is loaded only then: under systemd it would be code in memory that never runs.
 */
export async function makeLogger(level: string): Promise<Logger> {
  const opts = { level, base: { service: 'ospfbond' } };
  // Synchronous writes: the last lines before a stop or a crash are the ones an operator needs.
  if (!process.stdout.isTTY) return pino(opts, pino.destination({ dest: 1, sync: true }));
  const { default: pretty } = await import('pino-pretty');
  return pino(opts, pretty({ colorize: true, sync: true }));
}

/** Time between a failed job and its one retry: long enough for a link or FRR in mid-change to settle. */
export const RETRY_DELAY_MS = 2_000;

/**
 * Runs a job; if it fails, once more after RETRY_DELAY_MS with everything read afresh. A job reads the
 * router, then changes it: a tap deleted or FRR stopped in between makes it fail on a state that
 * the next reading already shows. Only a failure that survives a fresh reading is an error.
 */
export async function retryOnce(name: string, attempt: () => Promise<unknown>, log: Pick<Logger, 'warn' | 'error'>, stopping: () => boolean = () => false, delayMs = RETRY_DELAY_MS): Promise<boolean> {
  const message = (err: unknown) => (err instanceof Error ? err.message : String(err));
  try {
    await attempt();
    return true;
  } catch (err) {
    if (stopping()) {
      log.error({ err: message(err) }, `${name} failed`);
      return false;
    }
    log.warn({ err: message(err) }, `${name} failed; reading the router again and retrying in ${delayMs / 1000} s`);
  }
  await new Promise((r) => setTimeout(r, delayMs));
  try {
    await attempt();
    return true;
  } catch (err) {
    log.error({ err: message(err) }, `${name} failed twice`);
    return false;
  }
}

const LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'];

/**
 * `ospfbond daemon`: keeps the router right between applies. Jobs that change the router run one at
 * a time (they share one queue); stats and metrics only read it. Each job reads the config afresh,
 * so an edited config is applied by the next reconcile; the intervals are read once, at start.
 */
export async function runDaemon(file: string, opts: { logLevel: string }): Promise<void> {
  if (!LEVELS.includes(opts.logLevel)) throw usage(`--log-level ${opts.logLevel}: expected one of ${LEVELS.join(', ')}`);
  const first = loadConfig(file);
  requireRoot();
  const log = await makeLogger(opts.logLevel);
  // node-cron's own messages (an execution skipped because the last one still runs) go to the
  // same JSON log, at debug: a job outlasting its interval is expected while FRR reloads.
  const cronLog = log.child({ component: 'node-cron' });
  cron.setLogger({ info: (m) => cronLog.debug(m), warn: (m) => cronLog.debug(m), error: (m) => cronLog.error(String(m)), debug: (m) => cronLog.debug(String(m)) });
  let queue: Promise<unknown> = Promise.resolve();
  const serial = <T>(fn: () => Promise<T>): Promise<T> => {
    const next = queue.then(fn, fn);
    queue = next.catch(() => undefined);
    return next;
  };

  // A config that `apply` failed on and rolled back, or that an unconfirmed `apply --confirm`
  // reverted, is not tried again by the daemon: it keeps the router at the last applied config
  // (none: leaves it alone) until the file is edited or applied by hand.
  let rejectedSaid: string | undefined;
  const readConfig = configReader();
  const effectiveConfig = (): Config | undefined => {
    const why = rejection(file);
    const keeping = hasApplied();
    if (why !== rejectedSaid) {
      if (why) log.warn({ config: file, keeping: keeping ? STATE.applied : null }, `not applying ${file}: ${why}; ${keeping ? 'keeping the last applied config' : 'nothing was applied before it, leaving the router alone'}`);
      else if (rejectedSaid) log.info({ config: file }, `${file} changed or was applied; following it again`);
      rejectedSaid = why;
    }
    if (!why) return readConfig(file);
    return keeping ? readConfig(STATE.applied) : undefined;
  };

  // The config is read when the job's turn comes, not when it was queued: a mirror job ahead of it
  // may just have changed the policy, and a reconcile with the older config would undo that.
  let stopping = false;
  const job = (name: string, fn: Job, changesRouter = true) => {
    const jobLog = log.child({ job: name });
    return () => runJob(name, fn, changesRouter, jobLog);
  };
  const runJob = async (name: string, fn: Job, changesRouter: boolean, jobLog: Logger) => {
    const attempt = () => {
      const run = async () => {
        const cfg = effectiveConfig();
        if (cfg) await fn(cfg, jobLog);
      };
      // The lock keeps a user's apply (and its rollback) from interleaving with this job's changes.
      return changesRouter ? serial(() => withRouterLock(`daemon ${name}`, run, { waitMs: LOCK_WAIT_MS })) : run();
    };
    await retryOnce(name, attempt, jobLog, () => stopping);
  };

  const s = first.daemon;
  const mirror = mirrorJob({ rejected: () => rejectedSaid !== undefined, config: effectiveConfig }, reconcile);
  const tasks = [
    cron.schedule(intervalCron(s.reconcileEvery)!, job('reconcile', reconcile), { name: 'reconcile', noOverlap: true }),
    cron.schedule(intervalCron(s.resolveEvery)!, job('resolve', resolve), { name: 'resolve', noOverlap: true }),
    cron.schedule(intervalCron(s.statsEvery)!, job('stats', statsJob(), false), { name: 'stats', noOverlap: true }),
  ];
  // The watchers run every second or few (intervals that divide a minute): one node-cron task
  // drives them all. node-cron works out each task's next run with calendar arithmetic at every
  // beat; five tasks a second were the largest single share of a site daemon's CPU at rest (14 %
  // in a profile). Each watcher still skips a beat while its last run is going, as noOverlap did.
  const watchers: { every: number; run: () => Promise<void>; busy: boolean }[] = [];
  const watch = (every: number, run: () => Promise<void>) => watchers.push({ every, run, busy: false });
  // The mirror job too, when its interval is in seconds (1 s by default).
  const mirrorSeconds = intervalSeconds(s.mirrorEvery);
  if (mirrorSeconds !== undefined) watch(mirrorSeconds, job('mirror', mirror));
  else tasks.push(cron.schedule(intervalCron(s.mirrorEvery)!, job('mirror', mirror), { name: 'mirror', noOverlap: true }));
  watch(FRR_WATCH_SECONDS, job('frr-watch', frrWatchJob(), false));
  // wg-watch changes the router under the lock itself, briefly: it must not queue behind a reconcile.
  if (first.role === 'spoke') watch(WG_WATCH_SECONDS, job('wg-watch', wgWatchJob(), false));
  // The site measures its tunnels and steers; a change of the degraded set is applied as a repair
  // is, in the queue (the hub follows the site's costs in its mirror job).
  // Made on a site only: the quality job judges on a timer of its own, which a hub need not run.
  const quality = first.role === 'spoke' ? qualityJob(() => job('steer', reconcile)()) : undefined;
  const carrier = first.role === 'spoke' ? carrierJob() : undefined;
  if (quality) watch(QUALITY_SECONDS, job('quality', quality, false));
  if (carrier) watch(CARRIER_WATCH_SECONDS, job('carrier', carrier, false));
  // Like wg-watch, it takes the lock itself, briefly; its route monitor acts between its rounds.
  const aggregate = aggregateJob();
  watch(AGGREGATE_WATCH_SECONDS, job('aggregate', aggregate, false));
  tasks.push(
    cron.schedule(
      '* * * * * *',
      () => {
        // On the clock's seconds, as `*/N` would run them.
        const second = new Date().getSeconds();
        for (const w of watchers) {
          if (w.busy || second % w.every !== 0) continue;
          w.busy = true;
          void w.run().finally(() => (w.busy = false));
        }
      },
      { name: 'watchers' },
    ),
  );
  // prom-client is loaded only where metrics are served.
  const server = s.metricsListen ? (await import('./metrics.js')).serveMetrics(s.metricsListen, async () => (await collectStatus(loadConfig(file))).report, log) : undefined;
  log.info({ config: file, role: first.role, reconcile: s.reconcileEvery, mirror: s.mirrorEvery, resolve: s.resolveEvery, stats: s.statsEvery, metrics: s.metricsListen ?? null }, 'started');
  // Signals are taken from here on, so a stop during a long first reconcile is orderly too.
  const stopped = new Promise<void>((done) => {
    const stop = (signal: string) => {
      stopping = true;
      log.info({ signal }, 'stopping');
      for (const t of tasks) void t.stop();
      aggregate.stop();
      quality?.stop();
      carrier?.stop();
      server?.close();
      done();
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
  await job('reconcile', reconcile)();
  await stopped;
  // A job that is changing the router finishes first (systemd waits 90 s before it kills). The
  // timer is not unref'd: a job waiting on nothing but a promise must not let the process slip out.
  let grace: NodeJS.Timeout | undefined;
  const finished = await Promise.race([queue.then(() => true), new Promise<boolean>((r) => (grace = setTimeout(() => r(false), 60_000)))]);
  clearTimeout(grace);
  if (!finished) log.warn('a job changing the router did not finish within 60 s of the stop; leaving it');
  log.info('stopped');
}
