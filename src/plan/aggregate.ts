import { AGGREGATE } from '../base/paths.js';
import { run, type Step } from '../model/step.js';
import { renderProxyUnit } from '../render/proxy.js';
import type { ObservedEndpoint, ObservedProxy } from '../router/aggregate.js';
import type { Observed } from '../router/observe.js';
import type { Desired, EndpointSpec, ProxySpec } from './desired.js';

/** Aggregation: the proxies' configs and processes, MPTCP's limits, and (for the follower) the endpoints. */

/**
 * Under systemd a proxy is its own unit (render/proxy.ts), and `systemctl start` is a no-op where
 * it runs. Without systemd (containers, the namespace lab) start-stop-daemon, which every Debian
 * has (dpkg), starts it detached with a pid file, and stops only the process that file names and
 * that runs the proxy's program. The proxies drop root (`-a nobody`) once they have read their
 * config, which only root may read.
 */
export function startProxy(p: Pick<ProxySpec, 'name' | 'program' | 'configPath'>, systemd: boolean): Step {
  if (systemd) return run('aggregate', ['systemctl', 'start', AGGREGATE.unitName(p.name)]);
  return run('aggregate', [
    'start-stop-daemon', '--start', '--quiet', '--oknodo', '--background', '--make-pidfile', '--pidfile', AGGREGATE.pid(p.name),
    '--exec', p.program, '--', '-c', p.configPath, '-a', 'nobody',
  ]);
}

/** Stops a proxy process outside a unit by its pid and program: start-stop-daemon checks both, so a pid reused meanwhile is left alone. */
function stopProcess(p: { pid: number; program: string }): Step {
  return run('aggregate', ['start-stop-daemon', '--stop', '--quiet', '--oknodo', '--pid', String(p.pid), '--exec', p.program, '--retry', 'TERM/5/KILL/2']);
}

/** Every process of the proxy outside a unit, and its pid file. */
function stopDetached(cur: ObservedProxy): Step[] {
  const steps = cur.detached.map(stopProcess);
  if (cur.pidFile) steps.push({ kind: 'remove', area: 'aggregate', path: AGGREGATE.pid(cur.name), label: `proxy ${cur.name}'s pid file` });
  return steps;
}

const daemonReload = (): Step => run('aggregate', ['systemctl', 'daemon-reload']);

function writeConfig(p: ProxySpec): Step {
  return { kind: 'write', area: 'aggregate', path: p.configPath, content: p.config, mode: 0o600, label: `proxy ${p.name}'s config (holds the site's key)` };
}

function writeUnit(p: ProxySpec): Step {
  return { kind: 'write', area: 'aggregate', path: AGGREGATE.unit(p.name), content: renderProxyUnit(p), mode: 0o644, label: `proxy ${p.name}'s systemd unit` };
}

/** Proxies: a changed config restarts its proxy (shadowsocks-libev reads it only at start). */
export function planProxies(want: Desired, have: Observed): Step[] {
  const systemd = have.frr.systemd;
  const steps: Step[] = [];
  const wanted = want.aggregate?.proxies ?? [];
  const gone = have.proxies.filter((cur) => !wanted.some((p) => p.name === cur.name));
  steps.push(...removeProxies(gone, systemd));
  let reload = false;
  const starts: Step[] = [];
  for (const p of wanted) {
    const cur = have.proxies.find((c) => c.name === p.name);
    const changed = cur?.config !== p.config;
    if (changed) steps.push(writeConfig(p));
    if (!systemd) {
      if (cur && changed) steps.push(...stopDetached(cur));
      // A second copy (two starts at once, or one by hand) goes; the first runs on.
      else if (cur) steps.push(...cur.detached.slice(1).map(stopProcess));
      if (changed || cur?.pid === undefined) steps.push(startProxy(p, false));
      continue;
    }
    // A router that ran its proxies detached before systemd ran them (or before this version).
    if (cur && cur.detached.length) steps.push(...stopDetached(cur));
    const unitChanged = cur?.unit !== renderProxyUnit(p);
    if (unitChanged) {
      steps.push(writeUnit(p));
      reload = true;
    }
    const unit = AGGREGATE.unitName(p.name);
    if ((changed || unitChanged) && cur?.pid !== undefined) starts.push(run('aggregate', ['systemctl', 'restart', unit]));
    else if (changed || unitChanged || cur?.pid === undefined) starts.push(startProxy(p, true));
  }
  if (reload) steps.push(daemonReload());
  return [...steps, ...starts];
}

/** Proxies no config wants any more, as `down` removes them too. */
export function removeProxies(gone: ObservedProxy[], systemd: boolean): Step[] {
  const steps: Step[] = [];
  let reload = false;
  for (const cur of gone) {
    if (systemd && cur.unit !== undefined) steps.push(run('aggregate', ['systemctl', 'stop', AGGREGATE.unitName(cur.name)]));
    steps.push(...stopDetached(cur));
    if (cur.unit !== undefined) {
      steps.push({ kind: 'remove', area: 'aggregate', path: AGGREGATE.unit(cur.name), label: `proxy ${cur.name}'s systemd unit` });
      reload = systemd;
    }
    if (cur.config !== undefined) steps.push({ kind: 'remove', area: 'aggregate', path: AGGREGATE.config(cur.name), label: `proxy ${cur.name}'s config` });
  }
  if (reload) steps.push(daemonReload());
  return steps;
}

/** Raised, never lowered: another MPTCP user on the router may want more. */
export function planMptcpLimits(want: Desired, have: Observed): Step[] {
  const n = want.aggregate?.subflows;
  if (n === undefined || have.mptcp.subflows === undefined || have.mptcp.subflows >= n) return [];
  return [run('aggregate', ['ip', 'mptcp', 'limits', 'set', 'subflows', String(n)])];
}

/**
 * The endpoints a spoke should have now. A tap in the default route carries subflows; a standby's
 * tap outside it keeps a backup subflow ready (data moves to it only when no primary subflow is
 * left); any other tap outside the route has lost its tunnel, and its subflows go at once rather
 * than after MPTCP's own retransmission timeouts.
 */
export function wantedEndpoints(specs: EndpointSpec[], inRoute: Set<string>): { spec: EndpointSpec; backup: boolean }[] {
  return specs.flatMap((spec): { spec: EndpointSpec; backup: boolean }[] => {
    if (inRoute.has(spec.dev)) return [{ spec, backup: false }];
    if (spec.standby) return [{ spec, backup: true }];
    return [];
  });
}

/**
 * Steps from the endpoints there are to those wanted. Only endpoints on ospfbond's taps are
 * touched. A deleted endpoint takes its subflows with it; `id 0` with the address also closes a
 * connection's first subflow when it was opened from that address (it has no endpoint id of its own).
 */
export function planEndpoints(specs: EndpointSpec[], inRoute: Set<string>, have: ObservedEndpoint[]): Step[] {
  const want = wantedEndpoints(specs, inRoute);
  const ours = new Set(specs.map((s) => s.addr));
  const steps: Step[] = [];
  for (const e of have) {
    if (!ours.has(e.addr)) continue;
    const w = want.find((x) => x.spec.addr === e.addr);
    if (!w || w.spec.id !== e.id || w.spec.dev !== e.dev || !e.subflow) {
      steps.push(run('aggregate', ['ip', 'mptcp', 'endpoint', 'delete', 'id', String(e.id)]));
      steps.push(run('aggregate', ['ip', 'mptcp', 'endpoint', 'delete', 'id', '0', e.addr]));
    } else if (w.backup !== e.backup) {
      steps.push(run('aggregate', ['ip', 'mptcp', 'endpoint', 'change', 'id', String(e.id), w.backup ? 'backup' : 'nobackup']));
    }
  }
  for (const w of want) {
    const e = have.find((x) => x.addr === w.spec.addr);
    if (e && e.id === w.spec.id && e.dev === w.spec.dev && e.subflow) continue;
    steps.push(run('aggregate', ['ip', 'mptcp', 'endpoint', 'add', w.spec.addr, 'dev', w.spec.dev, 'id', String(w.spec.id), 'subflow', ...(w.backup ? ['backup'] : [])]));
  }
  return steps;
}
