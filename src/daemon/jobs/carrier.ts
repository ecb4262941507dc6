import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { Logger } from 'pino';
import type { Config } from '../../config/types.js';
import { spokeTapName } from '../../model/addressing.js';
import { run } from '../../model/step.js';
import { execute } from '../../router/executor.js';
import type { Job } from './job.js';

/** Often enough that a config's new WAN is watched within seconds; the events themselves come at once. */
export const CARRIER_WATCH_CRON = '*/5 * * * * *';

/**
 * One line of `ip -o monitor link`: the device and whether it has carrier (LOWER_UP). A deleted
 * device has none. Undefined for a line that is not a link's state.
 */
export function parseLinkEvent(line: string): { dev: string; carrier: boolean } | undefined {
  const m = /^(Deleted )?\d+: ([^:@\s]+)(?:@\S+)?: <([^>]*)>/.exec(line.trim());
  if (!m) return undefined;
  return { dev: m[2]!, carrier: !m[1] && m[3]!.split(',').includes('LOWER_UP') };
}

/**
 * A site's WAN that loses carrier (modem gone, cable pulled) takes its tunnel out at once: its tap
 * goes down, so ospfd drops the adjacency and floods a router LSA without that link over the other
 * tunnels, and the hub stops using it as soon as that LSA arrives, well before BFD's 300 ms. The
 * tap comes up again with the carrier; the tunnel rejoins once OSPF and BFD are up over it.
 *
 * One long-lived `ip -o monitor link` gives the kernel's events; the reconcile's planner keeps a
 * tap down while its WAN has no carrier (plan/links.ts heldDown), so the two agree. The command
 * runs without the router lock: it is one idempotent step that every plan would make too, and
 * waiting for a reconcile to finish would cost the very milliseconds this is for.
 */
export function carrierJob(): Job & { stop(): void } {
  let monitor: ChildProcess | undefined;
  let stopped = false;
  let taps = new Map<string, { tap: string; wan: string }>();
  const last = new Map<string, boolean>();
  let log: Logger | undefined;

  const onEvent = (line: string) => {
    const e = parseLinkEvent(line);
    const t = e && taps.get(e.dev);
    if (!e || !t || last.get(e.dev) === e.carrier) return;
    last.set(e.dev, e.carrier);
    if (e.carrier) log?.info({ wan: t.wan, dev: e.dev }, `${t.wan}: ${e.dev} has carrier again; its tunnel rejoins once OSPF and BFD are up`);
    else log?.warn({ wan: t.wan, dev: e.dev }, `${t.wan}: ${e.dev} lost carrier; its tunnel leaves at once`);
    execute([run('link', ['ip', 'link', 'set', t.tap, e.carrier ? 'up' : 'down'])], () => undefined).catch((err: unknown) =>
      log?.warn({ wan: t.wan, err: err instanceof Error ? err.message : String(err) }, `could not set ${t.tap} ${e.carrier ? 'up' : 'down'}; the next reconcile does`),
    );
  };

  const job: Job = async (cfg: Config, l: Logger) => {
    log = l;
    if (cfg.role !== 'spoke' || stopped) return;
    taps = new Map(cfg.wans.map((w) => [w.dev, { tap: spokeTapName(w.name), wan: w.name }]));
    if (monitor) return;
    const child = spawn('ip', ['-o', 'monitor', 'link'], { stdio: ['ignore', 'pipe', 'ignore'] });
    monitor = child;
    createInterface({ input: child.stdout! }).on('line', onEvent);
    child.on('exit', () => {
      if (monitor === child) monitor = undefined;
    });
  };
  return Object.assign(job, {
    stop: () => {
      stopped = true;
      monitor?.kill();
    },
  });
}
