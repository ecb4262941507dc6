import { loadConfig, type Config } from '../config/config.js';
import { desiredState } from '../model/desired.js';
import { observe } from '../system/observe.js';
import { planApply, planDown } from '../plan/planner.js';
import { execute, printPlan, type Printer } from '../system/executor.js';
import { OspfbondError, EXIT } from '../errors.js';

function requireRoot(): void {
  if (process.getuid?.() !== 0) throw new OspfbondError('this changes the router and needs root', EXIT.precondition, 'run it with sudo, or add --dry-run to see the plan');
}

function endpointHosts(cfg: Config): string[] {
  return cfg.role === 'spoke' ? [cfg.hub.host] : [];
}

export async function apply(file: string, opts: { dryRun?: boolean }, print: Printer): Promise<void> {
  const cfg = loadConfig(file);
  const want = desiredState(cfg);
  if (!opts.dryRun) requireRoot();
  const have = await observe({ sysctls: Object.keys(want.sysctls), hosts: endpointHosts(cfg) });
  const steps = planApply(want, have);
  if (steps.length === 0) {
    print(`ospfbond: ${cfg.role} is up to date, nothing to do`);
    return;
  }
  if (opts.dryRun) {
    printPlan(steps, print);
    print(`ospfbond: dry run, ${steps.length} steps planned, nothing changed`);
    return;
  }
  await execute(steps, print);
  print(`ospfbond: ${cfg.role} applied (${steps.length} steps)`);
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
