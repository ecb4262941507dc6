import { OspfbondError, EXIT } from '../base/errors.js';

/**
 * What the planner does with a part of the router it cannot plan for yet (a WAN device that is
 * not there, a DHCP lease not taken, FRR stopping). A user's apply stops before any change, with
 * the reason; the daemon's repair (`lenient`) leaves that part as it is, says why in a warning,
 * and plans everything else, so one dead modem does not stop the repair of the rest.
 */
export class Leniency {
  readonly warnings: string[] = [];
  constructor(readonly lenient: boolean) {}

  /** Records the warnings when lenient; else throws `error` (exit 3: the router lacks something). */
  tolerate(warnings: string | string[], error: string, hint: string): void {
    if (!this.lenient) throw new OspfbondError(error, EXIT.precondition, hint);
    this.warnings.push(...[warnings].flat());
  }
}
