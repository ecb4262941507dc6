/**
 * How a site uses its WANs. active-active: every tunnel carries traffic (OSPF ECMP). active-standby:
 * only the primaries do; the others stay adjacent, BFD watching them, at a cost no path through a
 * primary can reach, so they carry traffic only once every primary has failed.
 *
 * Each end sets only its own costs, and each direction of traffic follows the sending end's cost
 * (the spoke's for uploads, the hub's for downloads). Each end sees the other's costs in its router
 * LSA, in the spoke's own area; that is how the two ends converge without logging in to the other.
 */
export type Policy = { mode: 'active-active' } | { mode: 'active-standby'; primary: string[] };
export const MODES = ['active-active', 'active-standby'] as const;

/** Far above any cost a user gives a WAN (at most 999), so a standby never ties with a primary. */
export const STANDBY_COST = 1000;
export const MAX_WAN_COST = STANDBY_COST - 1;

/** The primaries must be WANs of the site; active-standby needs at least one primary and one standby. */
export function policyCheck(policy: Policy, wans: string[]): string | undefined {
  if (policy.mode === 'active-active') return undefined;
  const unknown = policy.primary.filter((p) => !wans.includes(p));
  if (unknown.length) return `primary ${unknown.join(', ')}: no such WAN (the WANs are ${wans.join(', ')})`;
  if (policy.primary.length === 0) return 'active-standby needs primary = WAN[,WAN...]';
  if (policy.primary.length === wans.length) return 'every WAN is primary: that is active-active (leave one WAN out as standby)';
  return undefined;
}

export function isStandby(policy: Policy, wan: string): boolean {
  return policy.mode === 'active-standby' && !policy.primary.includes(wan);
}

/**
 * Added to a tunnel's cost while its link is degraded (model/quality.ts): above every standby cost,
 * so a degraded primary hands over to a healthy standby, and ranked among degraded tunnels by their
 * policy cost, so a site whose tunnels are all degraded keeps its policy. A cost only ranks: the last
 * tunnel that works carries traffic whatever its cost.
 */
export const DEGRADED_COST = 10000;

export function tunnelCost(policy: Policy, wan: string, cost: number, degraded = false): number {
  return (isStandby(policy, wan) ? STANDBY_COST + cost : cost) + (degraded ? DEGRADED_COST : 0);
}

/** A cost the other end gives a tunnel, split into its policy part and the degraded mark. */
export function splitCost(cost: number): { policyCost: number; degraded: boolean } {
  return cost >= DEGRADED_COST ? { policyCost: cost - DEGRADED_COST, degraded: true } : { policyCost: cost, degraded: false };
}

/** One string per policy, equal for equal policies whatever the order of the primaries. */
export function policyKey(policy: Policy): string {
  return policy.mode === 'active-active' ? 'active-active' : `active-standby ${[...policy.primary].sort().join(',')}`;
}

export function describePolicy(policy: Policy): string {
  return policy.mode === 'active-active' ? 'active-active' : `active-standby, primary ${policy.primary.join(', ')}`;
}

/**
 * The policy the other end runs, read from its costs per WAN. Undefined when a WAN's cost is not
 * known (its tap is missing from the other end's router LSA), so no one acts on half a picture.
 */
export function policyFromCosts(wans: string[], costs: Record<string, number | undefined>): Policy | undefined {
  if (wans.some((w) => costs[w] === undefined)) return undefined;
  const primary = wans.filter((w) => splitCost(costs[w]!).policyCost < STANDBY_COST);
  if (primary.length === wans.length) return { mode: 'active-active' };
  if (primary.length === 0) return undefined;
  return { mode: 'active-standby', primary };
}

export type MirrorAction =
  | 'in-sync' // both ends run the same policy: remember it as agreed
  | 'adopt' // take the other end's policy
  | 'wait' // ours is the newer one: the other end will take it
  | 'unknown'; // the other end's costs are not all visible: do nothing this round

/**
 * Which end's policy wins. The latest change wins: an end whose policy still is the last one both
 * agreed on takes the other's. When both changed since they last agreed (or an end has no record,
 * as after a reinstall), the spoke wins: it is the site whose links the policy is about.
 */
export function mirrorAction(role: 'hub' | 'spoke', local: Policy, peer: Policy | undefined, agreed: string | undefined): MirrorAction {
  if (!peer) return 'unknown';
  const [l, p] = [policyKey(local), policyKey(peer)];
  if (l === p) return 'in-sync';
  if (l === agreed) return 'adopt';
  if (p === agreed) return 'wait';
  return role === 'hub' ? 'adopt' : 'wait';
}
