import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { existsSync } from 'node:fs';
import cron from 'node-cron';
import { pino, type Logger } from 'pino';
import pretty from 'pino-pretty';
import { loadConfig, type Config } from '../config/config.js';
import { intervalCron } from '../config/schema.js';
import { spokeWgName } from '../model/addressing.js';
import { observeWg, frrPids } from '../system/observe.js';
import { execute } from '../system/executor.js';
import { collectStatus } from '../status/collect.js';
import type { LinkSample } from '../status/report.js';
import { converge, requireRoot, LOCK_WAIT_MS } from '../commands/apply.js';
import { withRouterLock } from '../system/lock.js';
import { rejection, COMMITTED_FILE } from '../system/transaction.js';
import { settleStale } from '../commands/confirm.js';
import { usage } from '../errors.js';
import { mirrorPolicies } from './mirror.js';
import { WgWatch, WG_WATCH_CRON, STALL_MS, restartPeerArgv } from './wg-watch.js';
import { serveMetrics } from './metrics.js';

/** JSON lines on stdout for journald; readable lines when a person runs it on a terminal. */
export function makeLogger(level: string): Logger {
  const opts = { level, base: { service: 'ospfbond' } };
  // Synchronous writes: the last lines before a stop or a crash are the ones an operator needs.
  return process.stdout.isTTY ? pino(opts, pretty({ colorize: true, sync: true })) : pino(opts, pino.destination({ dest: 1, sync: true }));
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

/** Reading FRR's pid files is cheap; a restart shows as a new pid however quickly watchfrr acted. */
const FRR_WATCH_CRON = '*/2 * * * * *';

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
  const log = makeLogger(opts.logLevel);
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
  // The config is read when the job's turn comes, not when it was queued: a mirror job ahead of it
  // may just have changed the policy, and a reconcile with the older config would undo that.
  let stopping = false;
  const job = (name: string, fn: (cfg: Config, jobLog: Logger) => Promise<void>, changesRouter = true) => async () => {
    const jobLog = log.child({ job: name });
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
  // A config that `apply` failed on and rolled back, or that an unconfirmed `apply --confirm`
  // reverted, is not tried again by the daemon: it keeps the router at the last applied config
  // (none: leaves it alone) until the file is edited or applied by hand.
  let rejectedSaid: string | undefined;
  const effectiveConfig = (): Config | undefined => {
    const why = rejection(file);
    const keeping = existsSync(COMMITTED_FILE);
    if (why !== rejectedSaid) {
      if (why) log.warn({ config: file, keeping: keeping ? COMMITTED_FILE : null }, `not applying ${file}: ${why}; ${keeping ? 'keeping the last applied config' : 'nothing was applied before it, leaving the router alone'}`);
      else if (rejectedSaid) log.info({ config: file }, `${file} changed or was applied; following it again`);
      rejectedSaid = why;
    }
    if (!why) return loadConfig(file);
    return keeping ? loadConfig(COMMITTED_FILE) : undefined;
  };

  const reconcile = async (cfg: Config, jobLog: Logger) => {
    const ran: string[] = [];
    // The safety net of `apply --confirm`: a window whose timer is gone (reboot) or failed.
    if (await settleStale((line) => ran.push(line))) {
      jobLog.warn({ commands: ran }, 'reverted an unconfirmed `apply --confirm`');
      return;
    }
    const n = await converge(cfg, (line) => ran.push(line), { warn: (m) => jobLog.warn(m) });
    if (n) jobLog.info({ steps: n, commands: ran }, `repaired drift (${n} steps)`);
  };
  const mirror = async (cfg: Config, jobLog: Logger) => {
    if (rejectedSaid) return; // it would save its adoption into the config apply rejected
    const { report } = await collectStatus(cfg);
    const again = mirrorPolicies(cfg, report, jobLog) && effectiveConfig();
    if (again) await reconcile(again, jobLog);
  };
  const resolve = async (cfg: Config, jobLog: Logger) => {
    if (cfg.role !== 'spoke' || isIP(cfg.hub.host)) return;
    const address = (await lookup(cfg.hub.host, { family: 4 })).address;
    const endpoint = `${address}:${cfg.hub.port}`;
    const wg = await observeWg(['any']);
    for (const w of cfg.wans) {
      const peer = wg[spokeWgName(w.name)]?.peers.find((p) => p.publicKey === cfg.hub.publicKey);
      if (!peer || peer.endpoint === endpoint) continue;
      jobLog.info({ wan: w.name, host: cfg.hub.host, from: peer.endpoint ?? null, to: endpoint }, 'hub endpoint re-resolved');
      await execute([{ kind: 'run', argv: ['wg', 'set', spokeWgName(w.name), 'peer', cfg.hub.publicKey, 'endpoint', endpoint] }], () => undefined);
    }
  };
  let lastSample: LinkSample | undefined;
  const stats = async (cfg: Config, jobLog: Logger) => {
    const { report, sample } = await collectStatus(cfg, { previous: lastSample });
    lastSample = sample;
    for (const t of report.tunnels) jobLog.info({ ...t, intervalSeconds: report.intervalSeconds }, 'stats');
  };

  // watchfrr restarts an FRR daemon that died, often within a second; a pid that changed is the
  // trace it leaves, and an operator wants to know that ospfd crashed even if routing came back.
  // Taken now, not at the job's first tick: a daemon that dies in the first seconds is reported too.
  let lastPids: Record<string, number> | undefined = frrPids();
  const frrWatch = async (_cfg: Config, jobLog: Logger) => {
    const now = frrPids();
    for (const d of new Set([...Object.keys(lastPids ?? {}), ...Object.keys(now)])) {
      const [was, pid] = [lastPids?.[d], now[d]];
      if (!lastPids || was === pid) continue;
      // watchfrr itself is replaced by every reload of the FRR service (a changed daemons file).
      if (was && pid) jobLog[d === 'watchfrr' ? 'info' : 'warn']({ daemon: d, pid, was }, `FRR ${d} restarted (pid ${was} -> ${pid})`);
      else if (was) jobLog.error({ daemon: d, was }, `FRR ${d} is not running (pid ${was} gone)`);
      else jobLog.info({ daemon: d, pid }, `FRR ${d} is running (pid ${pid})`);
    }
    lastPids = now;
  };

  // A spoke's tunnel whose hub fell silent gets a fresh WireGuard handshake (see wg-watch.ts).
  const wgWatch = new WgWatch();
  const STALL_S = STALL_MS / 1000;
  const wgWatchJob = async (cfg: Config, jobLog: Logger) => {
    if (cfg.role !== 'spoke') return;
    const wg = await observeWg(['any']);
    const peers = new Map(cfg.wans.flatMap((w) => {
      const peer = wg[spokeWgName(w.name)]?.peers.find((p) => p.publicKey === cfg.hub.publicKey);
      return peer ? [[w.name, peer] as const] : [];
    }));
    const restart = wgWatch.sample(Date.now(), Object.fromEntries([...peers].map(([w, p]) => [w, p.rxBytes])));
    if (restart.length === 0) return;
    // Under the router lock, as every change the daemon makes; not waiting long: an apply that
    // holds it sets the peers itself, and WireGuard's own retry comes within 15 s anyway.
    await withRouterLock('daemon wg-watch', async () => {
      for (const w of restart) {
        const peer = peers.get(w)!;
        jobLog.warn({ wan: w, silentSeconds: STALL_S, lastHandshake: peer.latestHandshake || null }, `${w}: nothing from the hub for ${STALL_S} s; starting a new WireGuard session (the hub may have restarted)`);
        await execute([{ kind: 'run', argv: restartPeerArgv(spokeWgName(w), peer) }], () => undefined);
      }
    }, { waitMs: 5_000 });
  };

  const s = first.daemon;
  const tasks = [
    cron.schedule(intervalCron(s.reconcileEvery)!, job('reconcile', reconcile), { name: 'reconcile', noOverlap: true }),
    cron.schedule(intervalCron(s.mirrorEvery)!, job('mirror', mirror), { name: 'mirror', noOverlap: true }),
    cron.schedule(intervalCron(s.resolveEvery)!, job('resolve', resolve), { name: 'resolve', noOverlap: true }),
    cron.schedule(intervalCron(s.statsEvery)!, job('stats', stats, false), { name: 'stats', noOverlap: true }),
    cron.schedule(FRR_WATCH_CRON, job('frr-watch', frrWatch, false), { name: 'frr-watch', noOverlap: true }),
  ];
  if (first.role === 'spoke') tasks.push(cron.schedule(WG_WATCH_CRON, job('wg-watch', wgWatchJob, false), { name: 'wg-watch', noOverlap: true }));
  const server = s.metricsListen ? serveMetrics(s.metricsListen, async () => (await collectStatus(loadConfig(file))).report, log) : undefined;
  log.info({ config: file, role: first.role, reconcile: s.reconcileEvery, mirror: s.mirrorEvery, resolve: s.resolveEvery, stats: s.statsEvery, metrics: s.metricsListen ?? null }, 'started');
  // Signals are taken from here on, so a stop during a long first reconcile is orderly too.
  const stopped = new Promise<void>((done) => {
    const stop = (signal: string) => {
      stopping = true;
      log.info({ signal }, 'stopping');
      for (const t of tasks) void t.stop();
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
