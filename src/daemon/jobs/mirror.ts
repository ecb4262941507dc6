import type { Logger } from 'pino';
import { saveConfig } from '../../config/write.js';
import type { Config } from '../../config/types.js';
import { mirrorAction, policyKey, describePolicy, type Policy } from '../../model/policy.js';
import { readAgreed, writeAgreed } from '../../router/records.js';
import { vtyshJson } from '../../frr/vtysh.js';
import { peerPolicies } from '../../status/build.js';
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

/**
 * Takes the other end's policy when it is the newer one, then applies it at once (`reconcile`
 * with the config as it now reads). `config()` is the config in force, undefined when none is;
 * `rejected()`: the config file is one apply rejected, into which an adoption must not be saved.
 */
export function mirrorJob(ctx: { rejected: () => boolean; config: () => Config | undefined }, reconcile: Job): Job {
  return async (cfg, log) => {
    if (ctx.rejected()) return;
    // One query, over ospfd's vty socket: this runs every 2 s, on routers with little CPU to spare.
    const peers = peerPolicies(cfg, await vtyshJson('show ip ospf database router json'));
    const again = mirrorPolicies(cfg, peers, log) && ctx.config();
    if (again) await reconcile(again, log);
  };
}
