import { FRR, STATE } from '../base/paths.js';
import { OspfbondError, EXIT } from '../base/errors.js';
import { run, type Step } from '../model/step.js';
import { conflictsInUserConf } from '../frr/block.js';
import { parseDaemons } from '../frr/daemons.js';
import { nftHash, nftScript } from '../render/nft.js';
import type { Observed } from '../router/observe.js';
import { savedStateText, type SavedState } from '../router/records.js';
import type { Desired } from './desired.js';
import { planFrr } from './frr.js';
import { Leniency } from './leniency.js';
import { planLinks, planShapes } from './links.js';
import { planDemote, planRules, planSysctls, planTapRoutes, planWanRoutes } from './routing.js';
import { planMptcpLimits, planProxies } from './aggregate.js';

/** The steps between what a config wants and what the router has, and what was left out. */
export interface Plan {
  steps: Step[];
  /** `repair` only: the parts left as they are, and why. */
  warnings: string[];
}

/**
 * The planner is pure: (what the config wants, what the router has) => the steps between them.
 * An up-to-date router plans no step at all. `apply` (a user's) stops at a part it cannot plan
 * for yet; `repair` (the daemon's) leaves that part with a warning (see Leniency).
 */
export function planApply(want: Desired, have: Observed, mode: 'apply' | 'repair' = 'apply'): Plan {
  const lenient = new Leniency(mode === 'repair');
  want = checkPreconditions(want, have, lenient);
  const steps = [
    ...planSaved(want, have),
    ...planSysctls(want, have),
    ...planWanRoutes(want, have, lenient),
    ...planRules(want, have),
    ...planLinks(want, have),
    ...planTapRoutes(want, have, lenient),
    ...planShapes(want, have),
    ...planNft(want, have),
    ...planMptcpLimits(want, have),
    ...planProxies(want, have),
    ...planDemote(want, have),
    ...planFrr(want, have, lenient),
  ];
  return { steps, warnings: lenient.warnings };
}

/** `want` without the WAN routes of missing devices, when that is tolerated. */
function checkPreconditions(want: Desired, have: Observed, lenient: Leniency): Desired {
  const names = new Set(have.links.map((l) => l.name));
  const missing = want.requiredDevs.filter((d) => !names.has(d.dev));
  if (missing.length) {
    lenient.tolerate(
      missing.map((d) => `device ${d.dev} (${d.what}) does not exist (yet): left as it is`),
      missing.map((d) => `device ${d.dev} (${d.what}) does not exist`).join('; '),
      'check the names with `ip link` and fix the config; nothing was changed',
    );
    const gone = new Set(missing.map((d) => d.dev));
    want = { ...want, wanRoutes: want.wanRoutes.filter((w) => !gone.has(w.dev)) };
  }
  const conflicts = conflictsInUserConf(have.frr.conf, want.role);
  if (conflicts.length) {
    throw new OspfbondError(`${FRR.conf} has ${conflicts.join('; and ')}`, EXIT.precondition, 'nothing was changed');
  }
  return want;
}

/** What apply changes that is not its own (sysctls, FRR's daemons), recorded before the change, for `down`. */
function planSaved(want: Desired, have: Observed): Step[] {
  const saved: SavedState = { sysctls: { ...have.saved?.sysctls }, daemons: { ...have.saved?.daemons } };
  let changed = !have.saved;
  for (const [k, v] of Object.entries(want.sysctls)) {
    if (!(k in saved.sysctls) && have.sysctls[k] !== v) {
      saved.sysctls[k] = have.sysctls[k] ?? '';
      changed = true;
    }
  }
  const daemons = parseDaemons(have.frr.daemons);
  for (const [d, v] of Object.entries(want.daemons)) {
    if (!(d in saved.daemons) && daemons[d] !== undefined && daemons[d] !== v) {
      saved.daemons[d] = daemons[d];
      changed = true;
    }
  }
  if (!changed) return [];
  return [{ kind: 'write', area: 'record', path: STATE.saved, content: savedStateText(saved), mode: 0o600, label: 'settings to restore on down' }];
}

/** The nft table's comment carries its body's hash, so an unchanged table needs no reading of nft's reformatting. */
function planNft(want: Desired, have: Observed): Step[] {
  if (have.nftRuleset !== undefined && nftHash(have.nftRuleset) === nftHash(want.nft)) return [];
  return [run('nft', ['nft', '-f', '-'], have.nftRuleset === undefined ? want.nft : nftScript(want.nft))];
}
