import { OspfbondError, EXIT } from '../base/errors.js';
import { readSysctl, underSystemd } from '../base/host.js';
import { observeFrr, type FrrObserved } from '../frr/observe.js';
import { LINK_ALIAS_PREFIX } from '../model/addressing.js';
import { observeLinks, observeNft, observeRoutes, observeRules, observeShapes, observeWg, parseRoutes, parseRules, readBatch, resolveHosts, type ObservedLink, type ObservedRoute, type ObservedRule, type ObservedWg } from './kernel.js';
import { MPTCP_READS, observeMptcp, observeProxies, parseMptcp, type ObservedMptcp, type ObservedProxy } from './aggregate.js';
import { hasAgreed, hasRuntimeRecords, readSaved, type SavedState } from './records.js';
import { missingPackages } from './tools.js';

/** Everything the planner compares a config with: one reading of the router. */
export interface Observed {
  links: ObservedLink[];
  wg: Record<string, ObservedWg>;
  rules: ObservedRule[];
  routes: ObservedRoute[];
  sysctls: Record<string, string>;
  nftRuleset?: string;
  frr: FrrObserved;
  /** The shaper signature of each of ospfbond's VXLAN taps that has a root qdisc. */
  shapes: Record<string, string>;
  /** DNS names of WireGuard endpoints, resolved now. */
  resolved: Record<string, string>;
  saved?: SavedState;
  /** Aggregation: the proxies' configs and processes, MPTCP's limits and endpoints. */
  proxies: ObservedProxy[];
  mptcp: ObservedMptcp;
  /** The record of the policy both ends ran exists (`down` removes it). */
  policyRecord: boolean;
  /** The daemon's steering and quality records exist (`down` removes them). */
  runtimeRecords: boolean;
}

/** Reads the router: `sysctls` to read, and `hosts` (DNS names) to resolve. */
export async function observe(opts: { sysctls: string[]; hosts: string[] }): Promise<Observed> {
  const missing = missingPackages();
  if (missing.length) {
    // Reading the router needs these too; say what to install before anything else fails obscurely.
    throw new OspfbondError(`this router lacks ${missing.join(', ')}`, EXIT.precondition, `apt-get install ${missing.join(' ')}; nothing was changed`);
  }
  const systemd = underSystemd();
  const links = await observeLinks();
  const ours = links.filter((l) => l.alias?.startsWith(LINK_ALIAS_PREFIX));
  // Rules, routes and MPTCP in one `ip` process where it can (readBatch): the daemon reads all
  // this every 30 s. Not the links: their -d would apply to every command of the batch.
  const ip = await readBatch(['ip', '-j'], ['rule show', 'route show table all', ...MPTCP_READS]);
  return {
    links,
    wg: ours.length ? await observeWg() : {},
    shapes: await observeShapes(ours.filter((l) => l.kind === 'vxlan').map((l) => l.name)),
    rules: ip ? parseRules(ip[0]!) : await observeRules(),
    routes: ip ? parseRoutes(ip[1]!) : await observeRoutes(),
    sysctls: Object.fromEntries(opts.sysctls.map((s) => [s, readSysctl(s)])),
    nftRuleset: await observeNft(),
    frr: await observeFrr(systemd),
    resolved: await resolveHosts(opts.hosts),
    saved: readSaved(),
    proxies: observeProxies(systemd),
    mptcp: ip ? parseMptcp(ip[2]!, ip[3]!) : await observeMptcp(),
    policyRecord: hasAgreed(),
    runtimeRecords: hasRuntimeRecords(),
  };
}
