import { RULE_PROTO, demotedMetric, isDemoted } from '../model/addressing.js';
import { run, type Step } from '../model/step.js';
import { hex } from '../render/nft.js';
import type { ObservedRoute } from '../router/kernel.js';
import type { Observed } from '../router/observe.js';
import type { Desired, HostRouteSpec, WanRouteSpec } from './desired.js';
import type { Leniency } from './leniency.js';

/** Policy routing: sysctls, each WAN's table and rules, and the WANs' own default routes demoted. */

export function planSysctls(want: Desired, have: Observed): Step[] {
  return Object.entries(want.sysctls)
    .filter(([k, v]) => have.sysctls[k] !== v)
    .map(([k, v]) => run('sysctl', ['sysctl', '-q', '-w', `${k}=${v}`]));
}

/** The gateway of a `gw=dhcp` WAN: the DHCP client's default route (even once demoted), else what we installed. */
export function dhcpGateway(have: Observed, dev: string, table: number): string | undefined {
  const viaDev = (r: ObservedRoute) => r.dst === 'default' && r.dev === dev && r.gateway;
  return (
    have.routes.find((r) => r.table === 'main' && viaDev(r) && r.protocol !== String(RULE_PROTO))?.gateway ??
    have.routes.find((r) => r.table === String(table) && viaDev(r))?.gateway
  );
}

export function planWanRoutes(want: Desired, have: Observed, lenient: Leniency): Step[] {
  const steps = tableRoutes(want.wanRoutes, have, lenient);
  const tables = new Set([...want.wanRoutes, ...want.tapRoutes, ...want.subflowRoutes].map((w) => String(w.table)));
  for (const r of have.routes) {
    if (r.protocol === String(RULE_PROTO) && r.table !== 'main' && !tables.has(r.table)) steps.push(delRoute(r));
  }
  return steps;
}

/**
 * The routes of MPTCP subflows, planned after the links as each needs its tap: a spoke's table per
 * tap, a hub's table of routes to its sites' tap addresses. `onlink`: the gateway is the hub's end of
 * the tap's /30, which the spoke's table has no route to.
 */
export function planTapRoutes(want: Desired, have: Observed, lenient: Leniency): Step[] {
  return [...tableRoutes(want.tapRoutes, have, lenient, ['onlink']), ...subflowRoutes(want.subflowRoutes, want, have)];
}

/**
 * `lock`: MPTCP sets a joined subflow to its connection's congestion control (sync_socket_options
 * in net/mptcp/sockopt.c), the system default unless the proxy chose one, and only a locked route
 * metric refuses that. `ip -j route` does not show the lock, so it is not checked.
 */
function congctlArgs(congctl: string | undefined): string[] {
  return congctl ? ['congctl', 'lock', congctl] : [];
}

/**
 * Tables that none of `specs` names are planWanRoutes' to clear. A route through a tap this run
 * deletes goes with the tap (planned before this): `ip route del` would fail on the missing device.
 */
function subflowRoutes(specs: HostRouteSpec[], want: Desired, have: Observed): Step[] {
  const tables = new Set(specs.map((w) => String(w.table)));
  const staying = new Set(want.links.map((l) => l.name));
  const ours = have.routes.filter((r) => tables.has(r.table) && r.protocol === String(RULE_PROTO) && r.dev !== undefined && staying.has(r.dev));
  const same = (w: HostRouteSpec, r: ObservedRoute) => r.table === String(w.table) && r.dst === w.dst && r.dev === w.dev && r.congctl === w.congctl && !r.gateway;
  const steps = ours.filter((r) => !specs.some((w) => same(w, r))).map(delRoute);
  for (const w of specs) {
    if (ours.some((r) => same(w, r))) continue;
    steps.push(run('aggregate', ['ip', 'route', 'replace', `${w.dst}/32`, 'dev', w.dev, ...congctlArgs(w.congctl), 'table', String(w.table), 'proto', String(RULE_PROTO)]));
  }
  return steps;
}

function tableRoutes(specs: WanRouteSpec[], have: Observed, lenient: Leniency, extra: string[] = []): Step[] {
  const steps: Step[] = [];
  for (const w of specs) {
    const gw = w.gw === 'dhcp' ? dhcpGateway(have, w.dev, w.table) : w.gw;
    if (!gw) {
      lenient.tolerate(
        `wan ${w.wan}: no DHCP gateway on ${w.dev} yet: its table is left as it is`,
        `wan ${w.wan}: no DHCP gateway on ${w.dev} yet (no default route via ${w.dev})`,
        'wait for the DHCP lease, or set gw= to the gateway address; nothing was changed',
      );
      continue;
    }
    const inTable = have.routes.filter((r) => r.table === String(w.table));
    const [only] = inTable;
    const ok = inTable.length === 1 && only!.dst === 'default' && only!.gateway === gw && only!.dev === w.dev && only!.congctl === w.congctl;
    if (!ok) {
      for (const r of inTable.filter((r) => r.dst !== 'default')) steps.push(delRoute(r));
      steps.push(run('wan-route', ['ip', 'route', 'replace', 'default', 'via', gw, 'dev', w.dev, ...extra, ...congctlArgs(w.congctl), 'table', String(w.table), 'proto', String(RULE_PROTO)]));
    }
  }
  return steps;
}

export function delRoute(r: ObservedRoute): Step {
  const argv = ['ip', 'route', 'del', r.dst];
  if (r.type && r.type !== 'unicast') argv.splice(3, 0, r.type);
  if (r.gateway) argv.push('via', r.gateway);
  if (r.dev) argv.push('dev', r.dev);
  argv.push('table', r.table);
  if (r.metric) argv.push('metric', String(r.metric));
  return run('wan-route', argv);
}

export function planRules(want: Desired, have: Observed): Step[] {
  const steps: Step[] = [];
  const ours = have.rules.filter((r) => r.protocol === String(RULE_PROTO));
  const same = (w: Desired['rules'][number], r: (typeof ours)[number]) =>
    r.pref === w.pref && r.fwmark === w.fwmark && r.from === w.from && (w.table === undefined ? r.action === 'unreachable' : r.table === String(w.table));
  for (const r of ours) {
    if (!want.rules.some((w) => same(w, r))) steps.push(run('rule', ['ip', 'rule', 'del', 'pref', String(r.pref)]));
  }
  for (const w of want.rules) {
    if (ours.some((r) => same(w, r))) continue;
    const action = w.table === undefined ? ['unreachable'] : ['lookup', String(w.table)];
    const select = [...(w.fwmark === undefined ? [] : ['fwmark', hex(w.fwmark)]), ...(w.from === undefined ? [] : ['from', w.from])];
    steps.push(run('rule', ['ip', 'rule', 'add', 'pref', String(w.pref), ...select, ...action, 'protocol', String(RULE_PROTO)]));
  }
  return steps;
}

/** WAN defaults from DHCP/PPP would beat OSPF's default in zebra (distance = metric's top byte). */
export function planDemote(want: Desired, have: Observed): Step[] {
  const devs = new Set(want.wanRoutes.map((w) => w.dev));
  const steps: Step[] = [];
  for (const r of have.routes) {
    if (r.table !== 'main' || r.dst !== 'default' || !r.dev || !devs.has(r.dev) || isDemoted(r.metric)) continue;
    steps.push(...moveRoute(r, demotedMetric(r.metric)));
  }
  return steps;
}

/**
 * A default route to another metric: the new one first, so the WAN is never without it. `replace`,
 * not `add`: a run stopped between the two steps leaves both, and the next run's (or a rollback's)
 * move must not fail on the one already there.
 */
export function moveRoute(r: ObservedRoute, metric: number): Step[] {
  const add = ['ip', 'route', 'replace', 'default', ...(r.gateway ? ['via', r.gateway] : []), 'dev', r.dev!, 'metric', String(metric)];
  if (r.protocol) add.push('proto', r.protocol);
  return [run('wan-route', add), delRoute(r)];
}
