import { Address4 } from 'ip-address';

/**
 * Readers of FRR 8.4's vtysh JSON, pure, unit-tested against output captured from the lab
 * (test/fixtures/frr84). They keep only what status, mode mirroring and metrics need.
 */

export interface NeighborState {
  state: string; // "Full/DR", "Init/DROther", ...
  upMs?: number;
}

/** `show ip ospf neighbor json`, by interface. FRR names it "obt-wan1:100.127.0.14" (interface:address). */
export function neighborsByIface(json: string): Record<string, NeighborState> {
  const j = JSON.parse(json) as { neighbors?: Record<string, { nbrState: string; ifaceName: string; upTimeInMsec?: number }[]> };
  const out: Record<string, NeighborState> = {};
  for (const n of Object.values(j.neighbors ?? {}).flat()) out[n.ifaceName.split(':')[0]!] = { state: n.nbrState, upMs: n.upTimeInMsec };
  return out;
}

/** `show ip ospf interface json`: the cost and OSPF state of each interface ospfd runs on. */
export function ospfInterfaces(json: string): Record<string, { cost: number; state: string }> {
  const j = JSON.parse(json) as { interfaces?: Record<string, { cost?: number; state?: string }> };
  const out: Record<string, { cost: number; state: string }> = {};
  for (const [name, i] of Object.entries(j.interfaces ?? {})) if (i.cost !== undefined) out[name] = { cost: i.cost, state: i.state ?? '' };
  return out;
}

/**
 * `show bfd peers json`, by interface. bfdd deletes a session together with its OSPF neighbour, so
 * a tunnel whose neighbour is gone has no entry at all (callers show that as "none").
 */
export function bfdByIface(json: string): Record<string, { status: string; uptime?: number }> {
  const j = JSON.parse(json) as { interface?: string; status: string; uptime?: number }[];
  const out: Record<string, { status: string; uptime?: number }> = {};
  for (const p of j) if (p.interface) out[p.interface] = { status: p.status, uptime: p.uptime };
  return out;
}

interface FrrRoute {
  protocol: string;
  selected?: boolean;
  nexthops?: { interfaceName?: string; active?: boolean }[];
}

/** `show ip route json`: for each prefix zebra selected from OSPF, the interfaces of its active nexthops. */
export function ospfNexthops(json: string): Record<string, string[]> {
  const j = JSON.parse(json) as Record<string, FrrRoute[]>;
  const out: Record<string, string[]> = {};
  for (const [prefix, routes] of Object.entries(j)) {
    const best = routes.find((r) => r.selected && r.protocol === 'ospf');
    if (best) out[prefix] = (best.nexthops ?? []).filter((n) => n.active && n.interfaceName).map((n) => n.interfaceName!);
  }
  return out;
}

export interface RouterLink {
  area: string;
  router: string; // the advertising router's id
  /** Transit links: the router's own interface address; stub links: the network address. */
  address: string;
  cost: number;
}

/** `show ip ospf database router json`: every link of every router LSA, with its cost. */
export function routerLinks(json: string): RouterLink[] {
  const j = JSON.parse(json) as {
    routerLinkStates?: { areas?: Record<string, { advertisingRouter: string; routerLinks?: Record<string, { routerInterfaceAddress?: string; networkAddress?: string; tos0Metric?: number }> }[]> };
  };
  const out: RouterLink[] = [];
  for (const [area, lsas] of Object.entries(j.routerLinkStates?.areas ?? {})) {
    for (const lsa of lsas) {
      for (const l of Object.values(lsa.routerLinks ?? {})) {
        const address = l.routerInterfaceAddress ?? l.networkAddress;
        if (address && l.tos0Metric !== undefined) out.push({ area, router: lsa.advertisingRouter, address, cost: l.tos0Metric });
      }
    }
  }
  return out;
}

/**
 * The cost another router gives a tunnel, from its router LSA: a transit link (adjacency up) names
 * its address on the tap, a stub link (adjacency down) the tap's network; both lie in the tap's /30.
 * So a down tunnel's cost stays visible as long as any other tunnel of the site carries the LSA.
 */
export function costOnPrefix(links: RouterLink[], area: string, router: (id: string) => boolean, prefix: string): number | undefined {
  const net = new Address4(prefix);
  return links.find((l) => l.area === area && router(l.router) && Address4.isValid(l.address) && new Address4(l.address).isInSubnet(net))?.cost;
}
