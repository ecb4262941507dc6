import type { Logger } from 'pino';
import { saveConfig } from '../../config/write.js';
import type { Config, HubConfig } from '../../config/types.js';
import { mirrorAction, policyKey, describePolicy, type Policy } from '../../model/policy.js';
import { readAgreed, readSteering, sameTunnels, writeAgreed, writeSteering, type Steering } from '../../router/records.js';
import { vtyshJson } from '../../frr/vtysh.js';
import { peerDegraded, peerPolicies } from '../../status/build.js';
import type { Job } from './job.js';

/**
 * One round of keeping each site's policy the same at both ends: the other end's policy (`peers`,
 * read from its costs), decided on with mirrorAction, is adopted into this end's config when it is
 * the newer one. Returns true when the config changed (the caller applies it).
 */
export function mirrorPolicies(cfg: Config, peers: Record<string, Policy | undefined>, log: Logger): boolean {
  const agreed = readAgreed();
  const sites: { name: string; policy: Policy; set(p: Policy): void }[] =
    cfg.role === 'spoke'
      ? [{ name: cfg.name, policy: cfg.policy, set: (p) => (cfg.policy = p) }]
      : cfg.spokes.map((s) => ({ name: s.name, policy: s.policy, set: (p: Policy) => (s.policy = p) }));
  let recordChanged = false;
  let configChanged = false;
  for (const site of sites) {
    const peer = peers[site.name];
    const action = mirrorAction(cfg.role, site.policy, peer, agreed[site.name]);
    if (action === 'in-sync' && agreed[site.name] !== policyKey(site.policy)) {
      agreed[site.name] = policyKey(site.policy);
      recordChanged = true;
      log.info({ site: site.name, policy: policyKey(site.policy) }, 'both ends run the same policy');
    } else if (action === 'adopt') {
      log.info({ site: site.name, from: policyKey(site.policy), to: policyKey(peer!) }, `taking the other end's policy: ${describePolicy(peer!)}`);
      site.set(peer!);
      agreed[site.name] = policyKey(peer!);
      recordChanged = configChanged = true;
    } else if (action === 'wait') {
      log.debug({ site: site.name, here: policyKey(site.policy), there: policyKey(peer!) }, 'waiting for the other end to take this end\'s policy');
    }
  }
  if (configChanged) saveConfig(cfg);
  if (recordChanged) writeAgreed(agreed);
  return configChanged;
}

/** What a hub follows of its sites' steering: the site decides (model/quality.ts), the hub copies. */
export const FOLLOWED = 'degraded by the site (its cost)';

/**
 * The hub's steering after reading its sites' costs: a tunnel the site marks degraded is degraded
 * here too, one it marks good is not; a tunnel whose cost is not visible keeps its state, and a
 * tunnel no longer in the config is dropped. Undefined when nothing changed.
 */
export function followSteering(cfg: HubConfig, marked: Record<number, boolean>, was: Steering): Steering | undefined {
  const next: Steering = {};
  for (const t of cfg.spokes.flatMap((s) => s.wans.map((w) => w.tunnel))) {
    const degraded = marked[t] ?? t in was;
    if (degraded) next[t] = was[t] ?? FOLLOWED;
  }
  return sameTunnels(next, was) ? undefined : next;
}

/**
 * Takes the other end's policy when it is the newer one, then applies it at once (`reconcile`
 * with the config as it now reads). `config()` is the config in force, undefined when none is;
 * `rejected()`: the config file is one apply rejected, into which an adoption must not be saved.
 */
export function mirrorJob(ctx: { rejected: () => boolean; config: () => Config | undefined }, reconcile: Job): Job {
  return async (cfg, log) => {
    if (ctx.rejected()) return;
    // One query, over ospfd's vty socket: this runs every 2 s, on routers with little CPU to spare.
    const lsas = await vtyshJson('show ip ospf database router json');
    const peers = peerPolicies(cfg, lsas);
    let changed = mirrorPolicies(cfg, peers, log);
    if (cfg.role === 'hub') {
      const was = readSteering();
      const next = followSteering(cfg, peerDegraded(cfg, lsas), was);
      if (next) {
        const names = (ts: string[]) => ts.map((t) => tunnelName(cfg, Number(t)));
        const [on, off] = [Object.keys(next).filter((t) => !(t in was)), Object.keys(was).filter((t) => !(t in next))];
        if (on.length) log.warn({ tunnels: on.map(Number) }, `following the sites: ${names(on).join(', ')} degraded`);
        if (off.length) log.info({ tunnels: off.map(Number) }, `following the sites: ${names(off).join(', ')} back in service`);
        writeSteering(next);
        changed = true;
      }
    }
    const again = changed && ctx.config();
    if (again) await reconcile(again, log);
  };
}

function tunnelName(cfg: HubConfig, tunnel: number): string {
  for (const s of cfg.spokes) for (const w of s.wans) if (w.tunnel === tunnel) return `${s.name}/${w.wan}`;
  return `tunnel ${tunnel}`;
}
