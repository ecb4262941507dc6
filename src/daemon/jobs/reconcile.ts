import { converge } from '../../engine/converge.js';
import { settleStale } from '../../engine/confirm.js';
import type { Job } from './job.js';

/**
 * apply's planner against the router, leniently: rebuilds what drifted (a tap deleted by hand, a
 * WAN's table flushed by a modem's reboot, a new DHCP gateway, FRR stopped). First the safety net of
 * `apply --confirm`: a window whose timer is gone (reboot) or failed is reverted.
 */
export const reconcile: Job = async (cfg, log) => {
  const ran: string[] = [];
  if (await settleStale((line) => ran.push(line))) {
    log.warn({ commands: ran }, 'reverted an unconfirmed `apply --confirm`');
    return;
  }
  const { steps, warnings } = await converge(cfg, (line) => ran.push(line), { repair: true });
  for (const w of warnings) log.warn(w);
  if (steps) log.info({ steps, commands: ran }, `repaired drift (${steps} steps)`);
};
