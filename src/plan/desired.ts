import { AGGREGATE } from '../base/paths.js';
import type { HubConfig, SpokeConfig, Config, Endpoint } from '../config/types.js';
import { HUB_PROXY_PORT, MPTCP_MAX_SUBFLOWS, SPOKE_REDIR_PORT, SUBFLOW_CONGCTL } from '../model/aggregate.js';
import { isStandby } from '../model/policy.js';
import {
  hubProxyAddr,
  tunnelAddresses,
  hubRouterId,
  hubTapName,
  spokeTapName,
  spokeWgName,
  wanPolicy,
  wgMtu,
  tapMtu,
  HUB_WG,
  HUB_SUBFLOW_PREF,
  HUB_SUBFLOW_TABLE,
  VXLAN_PORT,
  LINK_ALIAS_PREFIX,
  type Addr,
} from '../model/addressing.js';
import { wrapBlock } from '../frr/block.js';
import { OSPFBOND_DAEMONS } from '../frr/daemons.js';
import { renderHubFrr, renderSpokeFrr } from '../render/frr.js';
import { renderHubNft, renderSpokeNft } from '../render/nft.js';
import { renderProxyConfig, type ProxySettings } from '../render/proxy.js';
import { shaperFor, type Shaper } from '../render/tc.js';

/** What the router must look like for a config: pure data, computed in one place, shown by --dry-run. */
interface LinkBase {
  name: string;
  mtu: number;
  alias: string;
  addrs: Addr[];
}
export interface VxlanSpec {
  id: number;
  local: string;
  remote: string;
  port: number;
}
export type LinkSpec = (LinkBase & { kind: 'wireguard' }) | (LinkBase & { kind: 'vxlan'; vxlan: VxlanSpec });
export interface PeerSpec {
  publicKey: string;
  endpoint?: Endpoint;
  allowedIps: string[];
  keepalive?: number;
}
export interface WgSpec {
  name: string;
  privateKeyFile: string;
  publicKey: string;
  listenPort?: number;
  fwmark?: number;
  peers: PeerSpec[];
}
export interface RuleSpec {
  pref: number;
  /** What the rule selects: packets with this mark, or from this address or CIDR. */
  fwmark?: number;
  from?: string;
  table?: number; // absent: `unreachable`
}
export interface WanRouteSpec {
  wan: string;
  dev: string;
  gw: string; // IPv4 or 'dhcp'
  table: number;
  /** Connections routed by this table use this congestion control (`congctl lock`); unset: the system's. */
  congctl?: string;
}
/** A route to one address through one device (`ip route replace ADDR/32 dev DEV table T`). */
export interface HostRouteSpec {
  dst: string;
  dev: string;
  table: number;
  congctl: string;
}
/** Every tap, with its shaper when the line's rate in that direction is known (else none at all). */
export interface ShapeSpec {
  dev: string;
  shaper?: Shaper;
}
/** An aggregation proxy: shadowsocks-libev's ss-redir (spoke) or ss-server (hub, one per site). */
export interface ProxySpec {
  name: string;
  program: '/usr/bin/ss-redir' | '/usr/bin/ss-server';
  settings: ProxySettings;
  configPath: string;
  /** The JSON config, key included: written with mode 0600, never printed. */
  config: string;
}
/** A spoke tap's MPTCP endpoint: present while its tunnel carries traffic (engine/aggregate.ts). */
export interface EndpointSpec {
  id: number;
  addr: string;
  dev: string;
  wan: string;
  /** A standby or degraded WAN's subflows carry data only once every other is gone (MPTCP's backup flag). */
  standby: boolean;
}
export interface AggregateSpec {
  proxies: ProxySpec[];
  /** `ip mptcp limits`: subflows a connection may add (spoke) or accept (hub). */
  subflows: number;
  /** Spoke only: one endpoint per tap (hub: none; the spoke opens every subflow). */
  endpoints: EndpointSpec[];
}
/** The secret of each site's proxy pair, by site name (config/key-files.ts aggregateSecrets). */
export type AggregateSecrets = Record<string, string>;

export interface Desired {
  role: 'hub' | 'spoke';
  links: LinkSpec[];
  shapes: ShapeSpec[];
  wg: WgSpec[];
  rules: RuleSpec[];
  wanRoutes: WanRouteSpec[];
  /** Spoke: a table per tap whose default leads into it, for the MPTCP subflows bound to its address. */
  tapRoutes: WanRouteSpec[];
  /** Hub: a route to each aggregating site's tap addresses, for the subflows the proxy accepts from them. */
  subflowRoutes: HostRouteSpec[];
  /** Undefined: no site aggregates here. */
  aggregate?: AggregateSpec;
  sysctls: Record<string, string>;
  nft: string;
  frrBlock: string;
  daemons: Record<string, string>;
  /** Devices that must exist before anything is changed, with what names them in the config. */
  requiredDevs: { dev: string; what: string }[];
}

/** NATs and carrier NAT drop idle UDP mappings after 30 s or more; 25 s keeps them, as wg-quick users do. */
export const KEEPALIVE_SECONDS = 25;

/** DNS names the router must resolve to apply `cfg`: a spoke's hub. */
export function endpointHosts(cfg: Config): string[] {
  return cfg.role === 'spoke' ? [cfg.hub.host] : [];
}

/**
 * What the router must look like for `cfg`. `degraded`: the tunnels the link quality steering
 * keeps out of service now (router/records.ts readSteering), by tunnel number; they get the
 * degraded cost, and a site's subflows on them become backups.
 */
export function desiredState(cfg: Config, secrets: AggregateSecrets, degraded: ReadonlySet<number> = new Set()): Desired {
  return cfg.role === 'hub' ? hubDesired(cfg, secrets, degraded) : spokeDesired(cfg, secrets, degraded);
}

/** The kernel settings alone, which need no secret (doctor compares them). */
export function desiredSysctls(cfg: Config): Record<string, string> {
  return cfg.role === 'hub' ? hubSysctls(cfg.spokes.reduce((n, s) => n + s.wans.length, 0)) : spokeSysctls();
}

function secretOf(secrets: AggregateSecrets, site: string): string {
  const s = secrets[site];
  // A caller's bug, not a user's: the engine derives every aggregating site's secret first.
  if (s === undefined) throw new Error(`no aggregation secret for site ${site}`);
  return s;
}

function proxy(name: string, settings: ProxySettings, key: string): ProxySpec {
  return {
    name,
    program: settings.role === 'redir' ? '/usr/bin/ss-redir' : '/usr/bin/ss-server',
    settings,
    configPath: AGGREGATE.config(name),
    config: renderProxyConfig(settings, key),
  };
}

function hubSysctls(taps: number): Record<string, string> {
  return {
    'net.ipv4.ip_forward': '1',
    'net.ipv4.fib_multipath_hash_policy': '1',
    'net.ipv4.conf.all.rp_filter': '2',
    'net.ipv4.igmp_max_memberships': String(igmpMemberships(taps)),
  };
}

function spokeSysctls(): Record<string, string> {
  return {
    'net.ipv4.ip_forward': '1',
    'net.ipv4.fib_multipath_hash_policy': '1',
    'net.ipv4.conf.all.rp_filter': '2',
    'net.ipv4.conf.all.src_valid_mark': '1',
  };
}

/**
 * ospfd joins AllSPFRouters (224.0.0.5) and, as DR, AllDRouters (224.0.0.6) on every tap, all on
 * one socket, and the kernel allows a socket 20 groups by default: on a hub with more than 20 taps
 * the joins after the 20th fail, its hellos still go out but the spokes' never come in, and those
 * spokes stay in Init (the scale benchmark: 20 of 60 tunnels Full, the rest never). Two per tap,
 * plus the default's 20.
 */
export function igmpMemberships(taps: number): number {
  return 2 * taps + 20;
}

function hubDesired(cfg: HubConfig, secrets: AggregateSecrets, degraded: ReadonlySet<number>): Desired {
  const tunnels = cfg.spokes.flatMap((s) => s.wans.map((t) => ({ spoke: s.name, ...t, a: tunnelAddresses(cfg.tunnelPool, t.tunnel) })));
  const aggregating = cfg.spokes.filter((s) => s.aggregate === 'tcp' && s.wans.length > 0);
  const wg: LinkSpec = {
    name: HUB_WG,
    kind: 'wireguard',
    mtu: wgMtu(Math.max(1500, ...tunnels.map((t) => t.mtu))),
    alias: `${LINK_ALIAS_PREFIX}hub`,
    // One hub inner address per tunnel, each with a /32 peer route to that spoke WAN's inner address.
    addrs: [
      { local: hubRouterId(cfg.tunnelPool), prefixlen: 32 },
      ...tunnels.map((t) => ({ local: t.a.hubInner, prefixlen: 32, peer: t.a.spokeInner })),
      ...aggregating.map((s) => ({ local: hubProxyAddr(cfg.tunnelPool, s.wans.map((t) => t.tunnel)), prefixlen: 32 })),
    ],
  };
  const proxies = aggregating.map((s) =>
    proxy(`site-${s.name}`, { role: 'server', server: hubProxyAddr(cfg.tunnelPool, s.wans.map((t) => t.tunnel)), serverPort: HUB_PROXY_PORT }, secretOf(secrets, s.name)),
  );
  const taps: LinkSpec[] = tunnels.map((t) => ({
    name: hubTapName(t.tunnel),
    kind: 'vxlan',
    mtu: tapMtu(t.mtu),
    alias: `${LINK_ALIAS_PREFIX}${t.spoke}/${t.wan}`,
    addrs: [{ local: t.a.hubTap, prefixlen: 30 }],
    vxlan: { id: t.a.vni, local: t.a.hubInner, remote: t.a.spokeInner, port: VXLAN_PORT },
  }));
  return {
    role: 'hub',
    links: [wg, ...taps],
    shapes: tunnels.map((t, i) => ({ dev: taps[i]!.name, shaper: t.downMbit === undefined ? undefined : shaperFor(taps[i]!.name, t.downMbit, taps[i]!.mtu) })),
    wg: [
      {
        name: HUB_WG,
        privateKeyFile: cfg.privateKeyFile,
        publicKey: cfg.publicKey,
        listenPort: cfg.listenPort,
        peers: tunnels.map((t) => ({ publicKey: t.publicKey, allowedIps: [`${t.a.spokeInner}/32`] })),
      },
    ],
    rules: aggregating.length ? [{ pref: HUB_SUBFLOW_PREF, from: cfg.tunnelPool, table: HUB_SUBFLOW_TABLE }] : [],
    wanRoutes: [],
    tapRoutes: [],
    subflowRoutes: tunnels
      .filter((t) => aggregating.some((s) => s.name === t.spoke))
      .map((t) => ({ dst: t.a.spokeTap, dev: hubTapName(t.tunnel), table: HUB_SUBFLOW_TABLE, congctl: SUBFLOW_CONGCTL })),
    // The hub opens no subflow; it accepts each site's, up to the kernel's limit per connection.
    aggregate: proxies.length ? { proxies, subflows: MPTCP_MAX_SUBFLOWS, endpoints: [] } : undefined,
    sysctls: hubSysctls(taps.length),
    nft: renderHubNft(cfg),
    frrBlock: wrapBlock(renderHubFrr(cfg, degraded)),
    daemons: { ...OSPFBOND_DAEMONS },
    requiredDevs: [{ dev: cfg.uplink, what: 'hub.uplink' }],
  };
}

function spokeDesired(cfg: SpokeConfig, secrets: AggregateSecrets, degraded: ReadonlySet<number>): Desired {
  const links: LinkSpec[] = [];
  const wg: WgSpec[] = [];
  const rules: RuleSpec[] = [];
  const wanRoutes: WanRouteSpec[] = [];
  const shapes: ShapeSpec[] = [];
  const tapRoutes: WanRouteSpec[] = [];
  const endpoints: EndpointSpec[] = [];
  const aggregating = cfg.aggregate === 'tcp';
  cfg.wans.forEach((w, i) => {
    const a = tunnelAddresses(cfg.tunnelPool, w.tunnel);
    const p = wanPolicy(i + 1);
    links.push({
      name: spokeWgName(w.name),
      kind: 'wireguard',
      mtu: wgMtu(w.mtu),
      alias: `${LINK_ALIAS_PREFIX}${w.name}`,
      addrs: [{ local: a.spokeInner, prefixlen: 32, peer: a.hubInner }],
    });
    wg.push({
      name: spokeWgName(w.name),
      privateKeyFile: w.privateKeyFile,
      publicKey: w.publicKey,
      fwmark: p.fwmark,
      peers: [
        {
          publicKey: cfg.hub.publicKey,
          endpoint: { host: cfg.hub.host, port: cfg.hub.port },
          allowedIps: [`${a.hubInner}/32`],
          keepalive: KEEPALIVE_SECONDS,
        },
      ],
    });
    // The tap MTU must equal the hub's side of the tunnel where it can; mtu-ignore covers the rest.
    const mtu = Math.min(tapMtu(w.mtu), tapMtu(w.hubMtu));
    shapes.push({ dev: spokeTapName(w.name), shaper: w.upMbit === undefined ? undefined : shaperFor(spokeTapName(w.name), w.upMbit, mtu) });
    links.push({
      name: spokeTapName(w.name),
      kind: 'vxlan',
      mtu,
      alias: `${LINK_ALIAS_PREFIX}${w.name}`,
      addrs: [{ local: a.spokeTap, prefixlen: 30 }],
      vxlan: { id: a.vni, local: a.spokeInner, remote: a.hubInner, port: VXLAN_PORT },
    });
    rules.push({ pref: p.lookupPref, fwmark: p.fwmark, table: p.table });
    // Without this, a WAN whose table lost its route would send its tunnel's packets through the
    // main table's default, i.e. into a sibling tunnel (tunnel-in-tunnel: docs/design.md, Policy routing on a spoke).
    rules.push({ pref: p.stopPref, fwmark: p.fwmark });
    wanRoutes.push({ wan: w.name, dev: w.dev, gw: w.gw, table: p.table });
    if (aggregating) {
      // A subflow from this tap's address leaves by this tap, whatever ECMP would pick, and never
      // by a WAN: with the tunnel down it has nowhere else to go.
      rules.push({ pref: p.tapPref, from: a.spokeTap, table: p.tapTable });
      tapRoutes.push({ wan: w.name, dev: spokeTapName(w.name), gw: a.hubTap, table: p.tapTable, congctl: SUBFLOW_CONGCTL });
      endpoints.push({ id: i + 1, addr: a.spokeTap, dev: spokeTapName(w.name), wan: w.name, standby: isStandby(cfg.policy, w.name) || degraded.has(w.tunnel) });
    }
  });
  const redir = aggregating
    ? proxy(
        'redir',
        { role: 'redir', server: hubProxyAddr(cfg.tunnelPool, cfg.wans.map((w) => w.tunnel)), serverPort: HUB_PROXY_PORT, localPort: SPOKE_REDIR_PORT },
        secretOf(secrets, cfg.name),
      )
    : undefined;
  return {
    role: 'spoke',
    // All WireGuard links first: the VXLAN links ride on their addresses.
    links: [...links.filter((l) => l.kind === 'wireguard'), ...links.filter((l) => l.kind === 'vxlan')],
    shapes,
    wg,
    rules,
    wanRoutes,
    tapRoutes,
    subflowRoutes: [],
    // The kernel's limit, not the number of taps: a tunnel that leaves and comes back removes a
    // subflow and adds one, and a counter left behind must not stop the new one.
    aggregate: redir ? { proxies: [redir], subflows: MPTCP_MAX_SUBFLOWS, endpoints } : undefined,
    sysctls: spokeSysctls(),
    nft: renderSpokeNft(cfg),
    frrBlock: wrapBlock(renderSpokeFrr(cfg, degraded)),
    daemons: { ...OSPFBOND_DAEMONS },
    requiredDevs: [
      ...cfg.wans.map((w) => ({ dev: w.dev, what: `wan.${w.name}.dev` })),
      ...cfg.lanDevs.map((d) => ({ dev: d, what: 'spoke.lan_devs' })),
    ],
  };
}
