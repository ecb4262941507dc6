import { runChecks, renderChecks } from '../system/doctor.js';
import { OspfbondError, EXIT } from '../errors.js';
import type { Printer } from '../system/executor.js';
import { requireRoot } from './apply.js';

export async function doctor(file: string, opts: { json?: boolean }, print: Printer): Promise<void> {
  // Creating the test links and asking vtysh need root; as another user every check would fail.
  requireRoot();
  const checks = await runChecks(file);
  print(opts.json ? JSON.stringify(checks, null, 2) : renderChecks(checks));
  // Exit 3 (the router lacks something) when a check failed; warnings alone do not fail.
  if (checks.some((c) => c.status === 'fail')) throw new OspfbondError('doctor found problems (see above)', EXIT.precondition);
}
