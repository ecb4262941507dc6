import type { Logger } from 'pino';
import { saveConfig, type Config } from '../config/config.js';
import { mirrorAction, policyKey, describePolicy, type Policy } from '../model/policy.js';
import { peerPolicies, type StatusReport } from '../status/report.js';
import { readAgreed, writeAgreed } from './policy-state.js';

/**
 * One round of keeping each site's policy the same at both ends: read the other end's policy from
 * its costs (in `report`), decide with mirrorAction, and adopt it into this end's config when the
 * other end's is the newer one. Returns true when the config changed (the caller applies it).
 */
export function mirrorPolicies(cfg: Config, report: StatusReport, log: Logger): boolean {
  const peers = peerPolicies(report);
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
