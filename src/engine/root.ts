import { OspfbondError, EXIT } from '../base/errors.js';

export function requireRoot(): void {
  if (process.getuid?.() !== 0) throw new OspfbondError('this changes the router and needs root', EXIT.precondition, 'run it with sudo, or add --dry-run to see the plan');
}
