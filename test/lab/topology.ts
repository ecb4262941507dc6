/**
 * The lab's topology as data: the namespace lab builds it, and the Vagrant lab reads the same
 * description (vagrant/lab.json, exported from demoSites() by provision.ts). Every address is a
 * documentation or carrier-NAT address that exists only on the lab's own links.
 */
export interface LinkEnd {
  node: string;
  dev: string;
  addr?: string; // a.b.c.d/len
}
export interface Link {
  a: LinkEnd;
  b: LinkEnd;
  /** tbf rate in Mbit/s on both ends (an ISP access line), absent for an unshaped link. */
  rateMbit?: number;
}
export interface SpokeSpec {
  name: string;
  wans: { name: string; isp: string; gw: string; dhcp?: boolean; rateMbit: number }[];
  lanDev: string;
  lanPrefix: string;
  host: string; // the LAN host's node name
  hostAddr: string;
  /** `hub add-spoke --aggregate`. */
  aggregate: 'tcp' | 'off';
}
export interface Topology {
  nodes: { name: string; router?: 'hub' | 'spoke'; routes?: string[] }[];
  links: Link[];
  isps: { name: string; uplink: string; subscriberDevs: string[] }[];
  /** `endpoint` is the hub's public address; spokes know it by `name` (their /etc/hosts), as by DNS. */
  hub: { node: string; uplink: string; endpoint: string; name: string };
  server: { node: string; addr: string };
  spokes: SpokeSpec[];
  tunnelPool: string;
}

/** The routers, hub first: the nodes ospfbond runs on. */
export function routerNodes(topo: Topology): string[] {
  return [topo.hub.node, ...topo.spokes.map((s) => s.name)];
}

/** All the sites' WANs: as many tunnels, taps at the hub and adjacencies there. */
export function wanCount(topo: Topology): number {
  return topo.spokes.reduce((n, s) => n + s.wans.length, 0);
}

export interface SiteSpec {
  name: string;
  /** One entry per WAN: its access line's rate in Mbit/s. WAN k rides ISP k. */
  wanRates: number[];
  /** The last WAN takes its gateway from a DHCP-style default route (gw=dhcp). */
  dhcpLast?: boolean;
  /**
   * Absent: off, not ospfbond's default (tcp). The tests and the benchmark's first phases measure
   * the tunnels' own per-flow spreading; aggregation's tests and phases turn it on.
   */
  aggregate?: 'tcp' | 'off';
}

/** The core tests' lab: a two-WAN site with a DHCP-like default on wan1, and a three-WAN site whose wan3 is gw=dhcp. */
export function coreSites(rateMbit = 20): SiteSpec[] {
  return [
    { name: 'sitea', wanRates: [rateMbit, rateMbit] },
    { name: 'siteb', wanRates: [rateMbit, rateMbit, rateMbit], dhcpLast: true },
  ];
}

/** The demo's and the Vagrant lab's site: two WANs behind two ISPs. */
export function demoSites(rateMbit = 20): SiteSpec[] {
  return [{ name: 'sitea', wanRates: [rateMbit, rateMbit] }];
}

/**
 * The Vagrant lab's: the demo's site with single-connection aggregation on, so that VMs under
 * systemd run the proxies as their units (which the namespace lab, without systemd, cannot).
 */
export function vagrantSites(): SiteSpec[] {
  return demoSites().map((s) => ({ ...s, aggregate: 'tcp' as const }));
}

/**
 * Site i's LAN: the first four sites share 198.51.100.128/25 (what the tests, the demo and the
 * Vagrant lab have always used); more sites (the scale benchmark's 30) take a /27 each from
 * 100.96.0.0/16, carrier-NAT space that, like every lab address, exists only on the lab's links.
 */
function lanOf(si: number): { prefix: string; host: string } {
  if (si < 4) return { prefix: `198.51.100.${128 + 32 * si}/27`, host: `198.51.100.${128 + 32 * si + 2}` };
  const n = si - 4;
  if (n >= 2048) throw new Error(`site ${si + 1}: the lab has LAN prefixes for 2052 sites`);
  const [c, d] = [Math.floor(n / 8), 32 * (n % 8)];
  return { prefix: `100.96.${c}.${d}/27`, host: `100.96.${c}.${d + 2}` };
}

export function labTopology(sites: SiteSpec[] = coreSites()): Topology {
  const isps = Array.from({ length: Math.max(...sites.map((s) => s.wanRates.length)) }, (_, i) => `isp${i + 1}`);
  const spokes: SpokeSpec[] = sites.map((site, si) => {
    const lan = lanOf(si);
    return {
      name: site.name,
      wans: site.wanRates.map((rateMbit, wi) => ({ name: `wan${wi + 1}`, isp: isps[wi]!, gw: '', dhcp: Boolean(site.dhcpLast) && wi === site.wanRates.length - 1 && wi > 0, rateMbit })),
      lanDev: 'lan0',
      lanPrefix: lan.prefix,
      host: si < 26 ? `host${String.fromCharCode(97 + si)}` : `host${si + 1}`,
      hostAddr: lan.host,
      aggregate: site.aggregate ?? 'off',
    };
  });
  const links: Link[] = [
    { a: { node: 'core', dev: 'srv', addr: '203.0.113.1/30' }, b: { node: 'server', dev: 'up0', addr: '203.0.113.2/30' } },
    { a: { node: 'core', dev: 'hub', addr: '198.51.100.1/30' }, b: { node: 'hub', dev: 'up0', addr: '198.51.100.2/30' } },
  ];
  const nodes: Topology['nodes'] = [
    { name: 'core' },
    { name: 'server', routes: ['default via 203.0.113.1'] },
    { name: 'hub', router: 'hub', routes: ['default via 198.51.100.1'] },
  ];
  isps.forEach((isp, i) => {
    links.push({ a: { node: 'core', dev: isp, addr: `192.0.2.${4 * i + 1}/30` }, b: { node: isp, dev: 'up0', addr: `192.0.2.${4 * i + 2}/30` } });
    nodes.push({ name: isp, routes: [`default via 192.0.2.${4 * i + 1}`] });
  });
  const subscriberDevs: Record<string, string[]> = {};
  let sub = 0;
  spokes.forEach((s, si) => {
    const routes: string[] = [];
    if (s.name.length > 5) throw new Error(`site name ${s.name}: at most 5 characters (ISP-side interface names)`);
    s.wans.forEach((w) => {
      const ispIndex = isps.indexOf(w.isp) + 1;
      const base = 4 * ++sub;
      // .252/30 stays free: operate.test moves a WAN there (a new DHCP gateway).
      if (base >= 252) throw new Error(`${s.name} ${w.name}: the lab has ISP subscriber links (a /30 each in 100.64.N.0/24) for 62 WANs`);
      const ispDev = `${s.name}-${w.name}`.slice(0, 15);
      w.gw = `100.64.${ispIndex}.${base + 1}`;
      links.push({
        a: { node: w.isp, dev: ispDev, addr: `100.64.${ispIndex}.${base + 1}/30` },
        b: { node: s.name, dev: w.name, addr: `100.64.${ispIndex}.${base + 2}/30` },
        rateMbit: w.rateMbit,
      });
      (subscriberDevs[w.isp] ??= []).push(ispDev);
      if (w.dhcp) routes.push(`default via ${w.gw} dev ${w.name}`);
    });
    // sitea: a pre-existing default through its first WAN, as its DHCP client would have left it.
    if (si === 0) routes.push(`default via ${s.wans[0]!.gw} dev ${s.wans[0]!.name}`);
    const [net, len] = s.lanPrefix.split('/') as [string, string];
    const o = net.split('.').map(Number);
    const gwAddr = `${o[0]}.${o[1]}.${o[2]}.${o[3]! + 1}`;
    // lan0, not eth0: on a VM of the Vagrant lab, eth0 is often Vagrant's own management NIC.
    links.push({ a: { node: s.name, dev: s.lanDev, addr: `${gwAddr}/${len}` }, b: { node: s.host, dev: 'lan0', addr: `${s.hostAddr}/${len}` } });
    nodes.push({ name: s.name, router: 'spoke', routes });
    nodes.push({ name: s.host, routes: [`default via ${gwAddr}`] });
  });
  return {
    nodes,
    links,
    isps: isps.map((name) => ({ name, uplink: 'up0', subscriberDevs: subscriberDevs[name] ?? [] })),
    hub: { node: 'hub', uplink: 'up0', endpoint: '198.51.100.2', name: 'hub.lab.example' },
    server: { node: 'server', addr: '203.0.113.2' },
    spokes,
    tunnelPool: '100.127.0.0/16',
  };
}
