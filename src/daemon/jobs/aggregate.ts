import { spawn, type ChildProcess } from 'node:child_process';
import { connect } from 'node:net';
import type { Logger } from 'pino';
import { underSystemd } from '../../base/host.js';
import { aggregateSecrets } from '../../config/key-files.js';
import type { Config } from '../../config/types.js';
import { syncAggregation } from '../../engine/aggregate.js';
import { desiredState, type Desired } from '../../plan/desired.js';
import { readSteering } from '../../router/records.js';
import { startProxy } from '../../plan/aggregate.js';
import { runningPid } from '../../router/aggregate.js';
import { execute } from '../../router/executor.js';
import type { Job } from './job.js';

/** Every second: a dead proxy is noticed, the redirect disarmed and the proxy restarted within 2 s. */
export const AGGREGATE_WATCH_SECONDS = 1;
/** A burst of route changes (BFD taking a tunnel out rewrites the ECMP route once per nexthop) is one sync. */
const DEBOUNCE_MS = 20;
/** A sync that no route change asked for, in case an event was missed (a monitor restarting). */
const RESYNC_MS = 10_000;
/** The hub's proxy is probed this often from a spoke, and counts as down after this many failures in a row. */
const HUB_PROBE_MS = 2_000;
const HUB_PROBE_FAILURES = 2;
/** After an endpoint is added: long enough for every connection's MP_JOIN, over a tunnel just back. */
const REJOIN_CHECK_MS = 2_000;
const REJOIN_TRIES = 3;

/**
 * Whether the hub's proxy for this site accepts a TCP connection. The probe sends nothing: the
 * proxy sees a connection that closes before its first byte. A plain TCP socket in Node, not a
 * process; it only opens and closes a connection, it carries no data.
 */
export function probeHubProxy(host: string, port: number, timeoutMs = 1_000): Promise<boolean> {
  return new Promise((done) => {
    const s = connect({ host, port, timeout: timeoutMs });
    const end = (ok: boolean) => {
      s.destroy();
      done(ok);
    };
    s.once('connect', () => end(true));
    s.once('timeout', () => end(false));
    s.once('error', () => end(false));
  });
}

/**
 * Keeps aggregation in step between applies. On a spoke, one long-lived `ip monitor route` says
 * when the default route changed (BFD or OSPF took a tunnel out or put it back), and the MPTCP
 * endpoints follow at once (engine/aggregate.ts). On both ends, a proxy that died is restarted;
 * on a spoke its redirect is disarmed first, so the site's TCP takes the plain path meanwhile.
 */
export function aggregateJob(): Job & { stop: () => void } {
  let cfg: Config | undefined;
  let log: Logger | undefined;
  let monitor: ChildProcess | undefined;
  let timer: NodeJS.Timeout | undefined;
  let chain: Promise<void> = Promise.resolve();
  let lastSync = 0;
  let lastProxyUp: boolean | undefined;
  let stopped = false;
  let hubFailures = 0;
  let hubProxyUp = true;
  let lastProbe = 0;
  let rejoinLeft = 0;

  // Worked out again only when the config changes: on a hub of 200 sites, the desired state (its
  // FRR block and nft table) and 200 key derivations every second would be most of the daemon's work.
  let cached: { key: string; want: Desired | undefined } | undefined;
  const want = (c: Config): Desired | undefined => {
    const steering = readSteering();
    const key = JSON.stringify([c, steering]);
    if (cached?.key !== key) {
      const d = desiredState(c, aggregateSecrets(c), new Set(Object.keys(steering).map(Number)));
      cached = { key, want: d.aggregate ? d : undefined };
    }
    return cached.want;
  };

  const sync = (why: string, rejoin = false): Promise<void> => {
    chain = chain.then(async () => {
      if (!cfg || stopped) return;
      const d = want(cfg);
      if (!d || d.role !== 'spoke') return;
      lastSync = Date.now();
      // Without the router lock: the mirror job holds it for a few hundred ms every 2 s, and a
      // tunnel's subflows must go the moment BFD takes it out. Only this sync and an apply's own
      // (engine/aggregate.ts) touch the endpoints and the redirect's set, each to the state it
      // reads; should they cross, the step that finds its work done fails and the next round,
      // reading afresh, has nothing left to do.
      try {
        const r = await syncAggregation(d, () => undefined, { hubProxyUp, rejoin });
        if (!r) return;
        // A tunnel back in the route: check a little later that the connections opened subflows
        // over it, a few times at most, so that a connection that never can does not make the
        // tap's subflows churn for good.
        if (!rejoin && r.changes.some((c) => / add /.test(c))) rejoinLeft = REJOIN_TRIES;
        if (r.changes.some((c) => / add /.test(c)) && rejoinLeft > 0) {
          rejoinLeft--;
          setTimeout(() => void sync('rejoin check', true), REJOIN_CHECK_MS);
        }
        if (r.changes.length) log?.info({ why, taps: r.taps, proxyUp: r.proxyUp, changes: r.changes }, `aggregation: ${r.changes.join('; ')}`);
        if (lastProxyUp !== undefined && r.proxyUp !== lastProxyUp && !r.proxyUp) log?.warn('aggregation proxy down: LAN TCP takes the plain ECMP path until it is back');
        lastProxyUp = r.proxyUp;
      } catch (err) {
        log?.warn({ err: err instanceof Error ? err.message : String(err) }, 'aggregation sync failed; the next round reads the router again');
      }
    });
    return chain;
  };

  const startMonitor = () => {
    if (monitor || stopped) return;
    const child = spawn('ip', ['monitor', 'route'], { stdio: ['ignore', 'pipe', 'ignore'] });
    monitor = child;
    child.stdout?.on('data', () => {
      clearTimeout(timer);
      timer = setTimeout(() => void sync('route change'), DEBOUNCE_MS);
    });
    child.on('exit', () => {
      if (monitor === child) monitor = undefined;
    });
  };

  const job = async (c: Config, l: Logger) => {
    cfg = c;
    log = l;
    const d = want(c);
    if (!d) {
      monitor?.kill();
      return;
    }
    if (d.role === 'spoke') startMonitor();
    const systemd = underSystemd();
    const dead = d.aggregate!.proxies.filter((p) => runningPid(p.name, systemd) === undefined);
    if (dead.length) {
      // Disarm first: a redirect to a port no one listens on would refuse the site's connections.
      if (d.role === 'spoke') await sync('proxy down');
      // Without the router lock, as the sync. An apply or repair may start the same proxy at the
      // same moment: `systemctl start` starts nothing where the unit's process runs (systemd itself
      // restarts it a second later). Two start-stop-daemons at once can both start one; the copy
      // that loses the port exits, the other is found by its command line (router/aggregate.ts),
      // and a repair stops any copy left.
      for (const p of dead) {
        if (runningPid(p.name, systemd) !== undefined) continue;
        l.warn({ proxy: p.name }, `aggregation proxy ${p.name} is not running; starting it`);
        await execute([startProxy(p, systemd)], () => undefined).catch((err: unknown) => l.warn({ proxy: p.name, err: err instanceof Error ? err.message : String(err) }, `could not start aggregation proxy ${p.name}; trying again in a second`));
      }
      if (d.role === 'spoke') setTimeout(() => void sync('proxy restarted'), 300);
      return;
    }
    if (d.role !== 'spoke') return;
    // A site whose hub proxy is gone (a hub without the package, a proxy that cannot start) would
    // have every new connection accepted here and closed at once: its TCP goes the plain way.
    if (Date.now() - lastProbe >= HUB_PROBE_MS) {
      lastProbe = Date.now();
      const p = d.aggregate!.proxies[0]!.settings;
      const ok = await probeHubProxy(p.server, p.serverPort);
      hubFailures = ok ? 0 : hubFailures + 1;
      const up = hubFailures < HUB_PROBE_FAILURES;
      if (up !== hubProxyUp) {
        hubProxyUp = up;
        if (up) l.info({ hubProxy: `${p.server}:${p.serverPort}` }, "the hub's aggregation proxy answers again");
        else l.warn({ hubProxy: `${p.server}:${p.serverPort}`, failures: hubFailures }, "the hub's aggregation proxy does not answer; LAN TCP takes the plain ECMP path");
        await sync('hub proxy');
        return;
      }
    }
    if (Date.now() - lastSync > RESYNC_MS || lastProxyUp === false) await sync('periodic');
  };
  return Object.assign(job, {
    stop: () => {
      stopped = true;
      clearTimeout(timer);
      monitor?.kill();
    },
  });
}
