import { underSystemd } from '../base/host.js';
import type { Config } from '../config/types.js';
import { vtyshJson } from '../frr/vtysh.js';
import { probe } from '../base/run.js';
import { listening, observeProxies } from '../router/aggregate.js';
import { readQuality, readSteering } from '../router/records.js';
import { observeRoutes, observeWg, sampleLinks, type LinkSample } from '../router/kernel.js';
import { SPOKE_REDIR_PORT } from '../model/aggregate.js';
import { NFT_FAMILY, NFT_TABLE } from '../render/nft.js';
import { buildReport } from './build.js';
import type { StatusReport } from './schema.js';

export type { LinkSample };

/**
 * One status report. Rates come from the link counters of `previous` (a caller that samples
 * repeatedly passes its last sample) or, with `sampleMs`, from a sample taken that long before.
 */
export async function collectStatus(cfg: Config, opts: { previous?: LinkSample; sampleMs?: number } = {}): Promise<{ report: StatusReport; sample: LinkSample }> {
  const first = opts.previous ?? (opts.sampleMs ? await sampleLinks() : undefined);
  const vt = {
    neighbors: await vtyshJson('show ip ospf neighbor json'),
    interfaces: await vtyshJson('show ip ospf interface json'),
    bfd: await vtyshJson('show bfd peers json'),
    routes: await vtyshJson('show ip route json'),
    routerLsas: await vtyshJson('show ip ospf database router json'),
  };
  const wg = await observeWg();
  const kernelRoutes = cfg.role === 'spoke' ? await observeRoutes() : [];
  if (first && !opts.previous && opts.sampleMs) {
    const wait = first.at + opts.sampleMs - Date.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  }
  const sample = await sampleLinks();
  const aggregation = {
    subflows: (await probe(['ss', '-Htn', 'state', 'established'])).stdout,
    connections: (await probe(['ss', '-HnM', 'state', 'established'])).stdout,
    counters: (await probe(['nft', '-j', 'list', 'counters', 'table', NFT_FAMILY, NFT_TABLE])).stdout,
    // A spoke's proxy counts as up only while it listens: what arms the redirect (engine/aggregate.ts).
    proxyUp: Object.fromEntries(observeProxies(underSystemd()).map((p) => [p.name, p.pid !== undefined && (p.name !== 'redir' || listening(SPOKE_REDIR_PORT))])),
  };
  return { report: buildReport(cfg, { sample, previous: first, wg, kernelRoutes, vtysh: vt, aggregation, steering: readSteering(), quality: cfg.role === 'spoke' ? readQuality() : undefined }), sample };
}
