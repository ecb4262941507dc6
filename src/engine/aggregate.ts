import { underSystemd } from '../base/host.js';
import { SPOKE_REDIR_PORT } from '../model/aggregate.js';
import { run, type Step } from '../model/step.js';
import type { Desired } from '../plan/desired.js';
import { planEndpoints } from '../plan/aggregate.js';
import { NFT_FAMILY, NFT_TABLE } from '../render/nft.js';
import { listening, observeRouteAndMptcp, redirectArmed, runningPid } from '../router/aggregate.js';
import { execute, type Printer } from '../router/executor.js';
import { probe } from '../base/run.js';
import { parseSockets } from '../status/build.js';

export interface AggregationState {
  /** The spoke's proxy runs and listens: LAN TCP is redirected to it (when the hub's answers). */
  proxyUp: boolean;
  /** The redirect is armed now. */
  armed: boolean;
  /** The taps whose endpoints carry subflows now. */
  taps: string[];
  /** What this round changed, in words for the log. */
  changes: string[];
}

/**
 * Keeps a spoke's aggregation in step with its tunnels and its proxy: one MPTCP endpoint per tap
 * that carries traffic (plan/aggregate.ts wantedEndpoints), and the nft redirect armed only while
 * the proxy listens, so a dead proxy's port never swallows the site's TCP: without the redirect it
 * takes the plain ECMP path. Cheap enough to run on every route change: one `ip` (three reads), one `nft`.
 */
export async function syncAggregation(want: Desired, print: Printer, opts: { hubProxyUp?: boolean; assumeUp?: boolean; rejoin?: boolean } = {}): Promise<AggregationState | undefined> {
  const agg = want.aggregate;
  if (want.role !== 'spoke' || !agg) return undefined;
  const now = await observeRouteAndMptcp();
  let inRoute = now.inRoute;
  // An apply runs before its tunnels are up, when no tap is in the route yet: every tap gets its
  // endpoint then, or connections would have one subflow until the daemon's first round (and
  // forever where no daemon runs). Once a tunnel is in the route, the route decides.
  const noTap = !agg.endpoints.some((e) => inRoute.has(e.dev));
  if (opts.assumeUp && noTap) inRoute = new Set(agg.endpoints.filter((e) => !e.standby).map((e) => e.dev));
  const have = now.mptcp;
  // With no tunnel in the route (all down, or the route read while zebra replaced it) there is
  // nowhere to move subflows to: deleting them would only reset every proxied connection, which
  // MPTCP keeps alive through a short outage by itself.
  const steps: Step[] = noTap && !opts.assumeUp ? [] : planEndpoints(agg.endpoints, inRoute, have.endpoints);
  if (opts.rejoin && steps.length === 0) steps.push(...(await rejoinSteps(want, inRoute)));
  const changes: string[] = [];
  const ep = (s: Step) => (s.kind === 'run' ? s.argv.slice(3).join(' ') : '');
  for (const s of steps) changes.push(`mptcp endpoint ${ep(s)}`);
  const proxyUp = agg.proxies.every((p) => runningPid(p.name, underSystemd()) !== undefined) && listening(SPOKE_REDIR_PORT);
  const hubUp = opts.hubProxyUp ?? true;
  const arm = proxyUp && hubUp;
  const armed = await redirectArmed(NFT_FAMILY, NFT_TABLE);
  if (armed !== undefined && armed !== arm) {
    steps.push(run('aggregate', ['nft', arm ? 'add' : 'delete', 'element', NFT_FAMILY, NFT_TABLE, 'aggregate_proto', '{ tcp }']));
    changes.push(arm ? 'both proxies up: LAN TCP goes through them again' : `${proxyUp ? "the hub's proxy does not answer" : 'proxy down'}: LAN TCP takes the plain ECMP path`);
  }
  await execute(steps, print);
  return { proxyUp, armed: armed === undefined ? false : arm, taps: agg.endpoints.filter((e) => inRoute.has(e.dev)).map((e) => e.dev), changes };
}

/**
 * The kernel's path manager opens a subflow from a new endpoint once per connection: when that one
 * SYN is lost (a tunnel back in the route before it carries everything again), the connection
 * stays without a subflow there. Added for a CI benchmark's WAN that carried nothing for 8 s after
 * an upstream drop; the one such miss diagnosed later was the benchmark's own (its connection had
 * ended), so no lost join is shown yet. A tap in the route with fewer subflows to the hub's proxy
 * than there are connections gets its endpoint deleted and added again, which makes the path
 * manager try again for every connection.
 */
async function rejoinSteps(want: Desired, inRoute: Set<string>): Promise<Step[]> {
  const agg = want.aggregate!;
  const { server, serverPort } = agg.proxies[0]!.settings;
  const toProxy = (x: { peer: string; peerPort: number }) => x.peer === server && x.peerPort === serverPort;
  const connections = parseSockets((await probe(['ss', '-HnM', 'state', 'established'])).stdout).filter(toProxy).length;
  if (connections === 0) return [];
  const subflows = parseSockets((await probe(['ss', '-Htn', 'state', 'established'])).stdout).filter(toProxy);
  return agg.endpoints
    .filter((e) => inRoute.has(e.dev) && subflows.filter((x) => x.local === e.addr).length < connections)
    .flatMap((e) => [
      run('aggregate', ['ip', 'mptcp', 'endpoint', 'delete', 'id', String(e.id)]),
      run('aggregate', ['ip', 'mptcp', 'endpoint', 'add', e.addr, 'dev', e.dev, 'id', String(e.id), 'subflow']),
    ]);
}

/**
 * The endpoints and the redirect follow the tunnels and the proxy (syncAggregation). A proxy
 * just started takes some milliseconds to listen; the redirect is armed once it does.
 * `assumeUp`: a user's apply, which comes before the tunnels are up (the daemon's aggregate job
 * follows the route as it is; its repairs leave this to that job).
 */
export async function followAggregation(want: Desired, print: Printer, opts: { assumeUp: boolean }): Promise<void> {
  if (want.role !== 'spoke' || !want.aggregate) return;
  for (let i = 0; i < 30 && !listening(SPOKE_REDIR_PORT); i++) await new Promise((r) => setTimeout(r, 100));
  try {
    await syncAggregation(want, print, opts);
  } catch (err) {
    // The config is applied; the daemon's next round (every second) finishes this.
    print(`[!] aggregation: ${err instanceof Error ? err.message : String(err)}; the daemon retries`);
  }
}
