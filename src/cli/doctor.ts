import { OspfbondError, EXIT } from '../base/errors.js';
import { runChecks, renderChecks } from '../doctor/checks.js';
import { requireRoot } from '../engine/root.js';
import type { Printer } from '../router/executor.js';

export async function doctor(file: string, opts: { json?: boolean }, print: Printer): Promise<void> {
  // Creating the test links and asking vtysh need root; as another user every check would fail.
  requireRoot();
  const checks = await runChecks(file);
  print(opts.json ? JSON.stringify(checks, null, 2) : renderChecks(checks));
  // Exit 3 (the router lacks something) when a check failed; warnings alone do not fail.
  if (checks.some((c) => c.status === 'fail')) throw new OspfbondError('doctor found problems (see above)', EXIT.precondition);
}
