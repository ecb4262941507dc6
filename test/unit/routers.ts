import { demotedMetric, LINK_ALIAS_PREFIX, RULE_PROTO } from '../../src/model/addressing.js';
import { describe, type Step } from '../../src/model/step.js';
import { spliceFrrConf } from '../../src/frr/block.js';
import { daemonsChanges, parseDaemons, setDaemons } from '../../src/frr/daemons.js';
import type { Config } from '../../src/config/types.js';
import type { AggregateSecrets, Desired } from '../../src/plan/desired.js';
import { dhcpGateway } from '../../src/plan/routing.js';
import { renderProxyUnit } from '../../src/render/proxy.js';
import { shapeSignature } from '../../src/render/tc.js';
import type { Observed } from '../../src/router/observe.js';

/** Routers for the planner's tests, as ospfbond reads them (router/observe.ts), built by hand. */

export const DEBIAN_DAEMONS = 'bgpd=no\nospfd=no\nbfdd=no\nvtysh_enable=yes\n';
/** frr-reload.py --test on a FRR that runs exactly frr.conf. */
export const IN_SYNC = 'Lines To Delete\n===============\n\nLines To Add\n============\n';
export const FRR_RELOAD_CONF = 'python3 /usr/lib/frr/frr-reload.py --reload /etc/frr/frr.conf';

/** A router as a fresh Debian install leaves it: its devices, a DHCP default on the LTE modem. */
export function freshRouter(devs: string[]): Observed {
  return {
    links: devs.map((name) => ({ name, mtu: 1500, up: true, addrs: [] })),
    wg: {},
    shapes: {},
    rules: [
      { pref: 0, table: 'local' },
      { pref: 32766, table: 'main' },
      { pref: 32767, table: 'default' },
    ],
    routes: [{ table: 'main', dst: 'default', gateway: '100.64.7.1', dev: 'wwan0', metric: 0, protocol: 'dhcp' }],
    sysctls: {},
    nftRuleset: undefined,
    frr: { conf: 'log syslog informational\n', daemons: DEBIAN_DAEMONS, running: false, reloadTest: '', systemd: false, ipv6Forwarding: '1' },
    resolved: { 'hub.example.net': '198.51.100.2' },
    saved: undefined,
    proxies: [],
    mptcp: { subflows: 2, endpoints: [] },
    policyRecord: false,
    runtimeRecords: false,
  };
}

/** A config with single-connection aggregation on for every site, whatever its file says. */
export function aggregating<C extends Config>(cfg: C): C {
  return cfg.role === 'hub' ? { ...cfg, spokes: cfg.spokes.map((s) => ({ ...s, aggregate: 'tcp' as const })) } : { ...cfg, aggregate: 'tcp' as const };
}

/** Each aggregating site's proxy key, made up: the planner only copies it into a 0600 file. */
export function testSecrets(cfg: Config): AggregateSecrets {
  const sites = cfg.role === 'hub' ? cfg.spokes.map((s) => s.name) : [cfg.name];
  return Object.fromEntries(sites.map((s) => [s, Buffer.from(`test key of ${s}`.padEnd(32, '.')).toString('base64url')]));
}

/**
 * `before` once an apply of `want` finished, as the kernel, wg, tc, nft and FRR report it, written
 * from what each part of the router keeps (not from the plan): what the planner reads back after
 * its own apply.
 */
export function appliedRouter(want: Desired, before: Observed): Observed {
  const routes = before.routes.map((r) => {
    const wanDefault = r.table === 'main' && r.dst === 'default' && want.wanRoutes.some((w) => w.dev === r.dev);
    return wanDefault ? { ...r, metric: demotedMetric(r.metric) } : r;
  });
  for (const w of [...want.wanRoutes, ...want.tapRoutes]) {
    const gateway = w.gw === 'dhcp' ? dhcpGateway(before, w.dev, w.table) : w.gw;
    routes.push({ table: String(w.table), dst: 'default', gateway, dev: w.dev, metric: 0, protocol: String(RULE_PROTO), congctl: w.congctl });
  }
  for (const w of want.subflowRoutes) routes.push({ table: String(w.table), dst: w.dst, dev: w.dev, metric: 0, protocol: String(RULE_PROTO), congctl: w.congctl });
  const daemons = parseDaemons(before.frr.daemons);
  return {
    links: [
      ...before.links,
      ...want.links.map((l) => ({ name: l.name, kind: l.kind, mtu: l.mtu, up: true, alias: l.alias, vxlan: l.kind === 'vxlan' ? l.vxlan : undefined, addrs: l.addrs })),
    ],
    wg: Object.fromEntries(
      want.wg.map((w) => [
        w.name,
        {
          publicKey: w.publicKey,
          listenPort: w.listenPort ?? 40000,
          fwmark: w.fwmark ?? 0,
          peers: w.peers.map((p) => ({
            publicKey: p.publicKey,
            // wg resolves a name once; it shows the address.
            endpoint: p.endpoint ? `${before.resolved[p.endpoint.host] ?? p.endpoint.host}:${p.endpoint.port}` : undefined,
            allowedIps: p.allowedIps,
            keepalive: p.keepalive,
            latestHandshake: 0,
            rxBytes: 0,
            txBytes: 0,
          })),
        },
      ]),
    ),
    shapes: Object.fromEntries(want.shapes.flatMap((s) => (s.shaper ? [[s.dev, shapeSignature(s.shaper)]] : []))),
    rules: [
      ...before.rules,
      ...want.rules.map((r) => (r.table === undefined ? { pref: r.pref, fwmark: r.fwmark, from: r.from, action: 'unreachable', protocol: String(RULE_PROTO) } : { pref: r.pref, fwmark: r.fwmark, from: r.from, table: String(r.table), protocol: String(RULE_PROTO) })),
    ],
    routes,
    sysctls: { ...before.sysctls, ...want.sysctls },
    nftRuleset: want.nft,
    frr: {
      ...before.frr,
      conf: spliceFrrConf(before.frr.conf, want.frrBlock),
      daemons: setDaemons(before.frr.daemons, daemonsChanges(want.daemons, before.frr.daemons)),
      running: true,
      reloadTest: IN_SYNC,
    },
    resolved: before.resolved,
    saved: {
      sysctls: Object.fromEntries(Object.entries(want.sysctls).flatMap(([k, v]) => (before.sysctls[k] === v ? [] : [[k, before.sysctls[k] ?? '']]))),
      daemons: Object.fromEntries(Object.entries(want.daemons).flatMap(([d, v]) => (daemons[d] === undefined || daemons[d] === v ? [] : [[d, daemons[d]]]))),
    },
    proxies: (want.aggregate?.proxies ?? []).map((p, i) =>
      before.frr.systemd
        ? { name: p.name, pid: 1000 + i, detached: [], pidFile: false, config: p.config, unit: renderProxyUnit(p) }
        : { name: p.name, pid: 1000 + i, detached: [{ pid: 1000 + i, program: p.program }], pidFile: true, config: p.config },
    ),
    mptcp: { subflows: Math.max(before.mptcp.subflows ?? 0, want.aggregate?.subflows ?? 0), endpoints: [] },
    policyRecord: false,
    runtimeRecords: false,
  };
}

/** A plan as command lines, one per line (goldens). */
export const lines = (steps: Step[]) => `${steps.map(describe).join('\n')}\n`;

export const ospfbondLink = (name: string, alias: string) => ({ name, mtu: 1450, up: true, addrs: [], alias: `${LINK_ALIAS_PREFIX}${alias}` });
