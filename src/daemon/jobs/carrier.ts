import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { Logger } from 'pino';
import type { Config } from '../../config/types.js';
import { spokeTapName } from '../../model/addressing.js';
import { resetOspfInterface } from '../../frr/vtysh.js';
import type { Job } from './job.js';

/** Often enough that a config's new WAN is watched within seconds; the events themselves come at once. */
export const CARRIER_WATCH_SECONDS = 5;

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
 * A site's WAN that loses carrier (modem gone, cable pulled) takes its tunnel out at once: ospfd
 * drops the tap's adjacency (frr/vtysh.ts resetOspfInterface) and floods a router LSA with the tap
 * as a stub link over the other tunnels; the site's own SPF drops the tap from its default, and the
 * hub drops it as soon as that LSA arrives, well before BFD's 200-300 ms. Nothing crosses the
 * tunnel while the carrier is gone, so no hello brings the adjacency back; with the carrier, the
 * hellos do, and the tunnel rejoins once OSPF and BFD are up over it.
 *
 * One long-lived `ip -o monitor link` gives the kernel's events. It changes no configuration, so
 * it needs neither the router lock nor the planner's agreement, and waits for no reconcile.
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
    if (e.carrier) {
      log?.info({ wan: t.wan, dev: e.dev }, `${t.wan}: ${e.dev} has carrier again; its tunnel rejoins once OSPF and BFD are up`);
      return;
    }
    log?.warn({ wan: t.wan, dev: e.dev }, `${t.wan}: ${e.dev} lost carrier; its tunnel leaves at once`);
    resetOspfInterface(t.tap).catch((err: unknown) =>
      log?.warn({ wan: t.wan, err: err instanceof Error ? err.message : String(err) }, `could not drop ${t.tap}'s adjacency; BFD takes the tunnel out within 300 ms`),
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
