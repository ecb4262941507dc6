import { probe } from '../system/run.js';
import { observeRoutes, observeWg } from '../system/observe.js';
import { OspfbondError, EXIT } from '../errors.js';
import type { Config } from '../config/config.js';
import { buildReport, parseLinkCounters, type LinkSample, type StatusReport } from './report.js';

const VTYSH_TIMEOUT_MS = 10_000;

async function vtysh(command: string): Promise<string> {
  // vtysh answers in milliseconds; a daemon that is stopping or starting can hold it much longer.
  const r = await probe(['vtysh', '-c', command], undefined, VTYSH_TIMEOUT_MS);
  if (r.exitCode !== 0 || !r.stdout.trim().startsWith('{') && !r.stdout.trim().startsWith('[')) {
    throw new OspfbondError(`vtysh -c '${command}': ${(r.stderr || r.stdout).trim() || `exit ${r.exitCode}`}`, EXIT.precondition, 'is FRR running? `ospfbond doctor` checks it');
  }
  return r.stdout;
}

export async function sampleLinks(): Promise<LinkSample> {
  const r = await probe(['ip', '-j', '-s', 'link', 'show']);
  return { at: Date.now(), links: parseLinkCounters(r.stdout || '[]') };
}

/**
 * One status report. Rates come from the link counters of `previous` (a caller that samples
 * repeatedly passes its last sample) or, with `sampleMs`, from a sample taken that long before.
 */
export async function collectStatus(cfg: Config, opts: { previous?: LinkSample; sampleMs?: number } = {}): Promise<{ report: StatusReport; sample: LinkSample }> {
  const first = opts.previous ?? (opts.sampleMs ? await sampleLinks() : undefined);
  const vt = {
    neighbors: await vtysh('show ip ospf neighbor json'),
    interfaces: await vtysh('show ip ospf interface json'),
    bfd: await vtysh('show bfd peers json'),
    routes: await vtysh('show ip route json'),
    routerLsas: await vtysh('show ip ospf database router json'),
  };
  const wg = await observeWg(['any']);
  const kernelRoutes = cfg.role === 'spoke' ? await observeRoutes() : [];
  if (first && !opts.previous && opts.sampleMs) {
    const wait = first.at + opts.sampleMs - Date.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  }
  const sample = await sampleLinks();
  return { report: buildReport(cfg, { sample, previous: first, wg, kernelRoutes, vtysh: vt }), sample };
}
