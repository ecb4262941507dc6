import { loadConfig, type Config } from '../config/config.js';
import { desiredState } from '../model/desired.js';
import { observe } from '../system/observe.js';
import { planApply, planDown } from '../plan/planner.js';
import { execute, printPlan, type Printer } from '../system/executor.js';
import { OspfbondError, EXIT } from '../errors.js';

export function requireRoot(): void {
  if (process.getuid?.() !== 0) throw new OspfbondError('this changes the router and needs root', EXIT.precondition, 'run it with sudo, or add --dry-run to see the plan');
}

function endpointHosts(cfg: Config): string[] {
  return cfg.role === 'spoke' ? [cfg.hub.host] : [];
}

/**
 * Makes the router match `cfg` and returns how many steps that took. `warn` (the daemon's) turns
 * a WAN that is not there yet (device gone, no DHCP lease) into a warning instead of an error, so
 * one dead modem does not stop the repair of everything else.
 */
export async function converge(cfg: Config, print: Printer, opts: { dryRun?: boolean; warn?: (message: string) => void } = {}): Promise<number> {
  const want = desiredState(cfg);
  const have = await observe({ sysctls: Object.keys(want.sysctls), hosts: endpointHosts(cfg) });
  const steps = planApply(want, have, { warn: opts.warn });
  if (steps.length === 0) return 0;
  if (opts.dryRun) printPlan(steps, print);
  else await execute(steps, print);
  return steps.length;
}

export async function apply(file: string, opts: { dryRun?: boolean }, print: Printer): Promise<void> {
  const cfg = loadConfig(file);
  if (!opts.dryRun) requireRoot();
  const n = await converge(cfg, print, opts);
  if (n === 0) print(`ospfbond: ${cfg.role} is up to date, nothing to do`);
  else if (opts.dryRun) print(`ospfbond: dry run, ${n} steps planned, nothing changed`);
  else print(`ospfbond: ${cfg.role} applied (${n} steps)`);
}

export async function down(print: Printer): Promise<void> {
  requireRoot();
  const first = await observe({ sysctls: [], hosts: [] });
  const have = first.saved ? await observe({ sysctls: Object.keys(first.saved.sysctls), hosts: [] }) : first;
  const steps = planDown(have);
  if (steps.length === 0) {
    print('ospfbond: nothing of ospfbond on this router');
    return;
  }
  await execute(steps, print);
  print(`ospfbond: down (${steps.length} steps)`);
}
