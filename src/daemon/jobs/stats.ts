import { collectStatus, type LinkSample } from '../../status/collect.js';
import type { Job } from './job.js';

/** One JSON log line per tunnel with the status fields, rates over the interval since the last round. */
export function statsJob(): Job {
  let lastSample: LinkSample | undefined;
  return async (cfg, log) => {
    const { report, sample } = await collectStatus(cfg, { previous: lastSample });
    lastSample = sample;
    for (const t of report.tunnels) log.info({ ...t, intervalSeconds: report.intervalSeconds }, 'stats');
  };
}
