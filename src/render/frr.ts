import Handlebars from 'handlebars';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { BFD_PROFILES, type BfdProfileName } from '../model/limits.js';
import type { HubConfig, SpokeConfig } from '../config/types.js';
import { tunnelAddresses, hubRouterId, hubTapName, spokeTapName, tapMtu, areaId, HUB_WG, FALLBACK_DISTANCE } from '../model/addressing.js';
import { tunnelCost } from '../model/policy.js';

/** The templates travel in the package beside dist/: <pkg>/frr-templates. */
const TEMPLATE_DIR = fileURLToPath(new URL('../../../frr-templates/', import.meta.url));

/**
 * OSPF timers: BFD detects a dead tunnel; hello/dead only back it up (and bring an adjacency up
 * again quickly). SPF runs at once on the first change, so the new path follows BFD immediately.
 * LSAs are originated and accepted without delay. FRR holds a router LSA changed within its
 * minimum interval for its refresher (a 10 s tick), and a neighbour drops an instance that arrives
 * within min-arrival of the last (the sender repeats it 5 s later): with 200/100 ms, a policy change
 * made of two cost changes reached the other end 8-9 s late in the lab. A site's area holds two
 * routers and changes when a tunnel flaps or a policy changes, so there is no storm to damp.
 * maxage-delay 1 (FRR's default 60 s): a stopping hub flushes its default summary LSA, and a spoke
 * that still held that MaxAge copy (higher sequence number) when the hub came back made the new hub
 * flush and re-originate its default: the site's default returned 18 s after FRR did, not 6 s
 * (about one hub restart in three in the lab; 8 of 8 at 6.1 s with 1 s).
 */
const OSPF = { helloSeconds: 1, deadSeconds: 4, spfDelayMs: 0, spfHoldMs: 50, spfMaxMs: 1000, lsaIntervalMs: 0, lsaMinArrivalMs: 0, maxageDelaySeconds: 1 };
export const HUB_PRIORITY = 255;
export const SPOKE_PRIORITY = 0;

let engine: typeof Handlebars | undefined;
function templates(): typeof Handlebars {
  if (engine) return engine;
  engine = Handlebars.create();
  for (const name of ['bfd', 'tap']) engine.registerPartial(name, readFileSync(`${TEMPLATE_DIR}${name}.hbs`, 'utf8'));
  return engine;
}
function render(name: string, data: object): string {
  const t = templates().compile(readFileSync(`${TEMPLATE_DIR}${name}`, 'utf8'), { noEscape: true, strict: true });
  return t(data).replace(/\n{3,}/g, '\n\n');
}

/** FRR leaves its defaults out of the running config; rendering them would look like drift forever. */
const BFD_DEFAULT_MULTIPLIER = 3;
function bfd(profile: BfdProfileName) {
  const p = BFD_PROFILES[profile];
  return { name: `ospfbond-${profile}`, intervalMs: p.intervalMs, multiplier: p.multiplier === BFD_DEFAULT_MULTIPLIER ? null : p.multiplier };
}

/**
 * The FRR config of a hub or a spoke: the body of the block ospfbond keeps in frr.conf (frr/block.ts
 * wraps it in its markers).
 *
 * Route design: each spoke is its own totally stubby area and the hub, as ABR, gives it an
 * inter-area (type-3) default. A type-5 default (`default-information originate`) would work too,
 * but FRR 8.4 recomputes external routes on a fixed 1 s timer after SPF, so every failover would
 * cost a second more (measured in the lab: 1.27 s against 0.24-0.27 s; docs/design.md). Inter-area routes are installed as soon as
 * SPF runs, and SPF runs at once (`timers throttle spf 0 ...`) after BFD takes a neighbour down.
 * A per-spoke area also keeps one site's flapping WAN from running SPF on every other spoke.
 */
export function renderHubFrr(cfg: HubConfig, degraded: ReadonlySet<number> = new Set()): string {
  const taps = cfg.spokes.flatMap((s) =>
    s.wans.map((t) => ({
      name: hubTapName(t.tunnel),
      description: `ospfbond ${s.name} ${t.wan}`,
      area: areaId(s.id),
      priority: HUB_PRIORITY,
      cost: tunnelCost(s.policy, t.wan, t.cost, degraded.has(t.tunnel)),
      mtuIgnore: false,
    })),
  );
  return render('hub.conf.hbs', {
    bfd: bfd(cfg.bfdProfile),
    ospf: OSPF,
    taps,
    wgInterface: HUB_WG,
    routerId: hubRouterId(cfg.tunnelPool),
    areas: cfg.spokes.map((s) => areaId(s.id)),
  });
}

export function spokeRouterId(cfg: SpokeConfig): string {
  return tunnelAddresses(cfg.tunnelPool, Math.min(...cfg.wans.map((w) => w.tunnel))).spokeTap;
}

export function renderSpokeFrr(cfg: SpokeConfig, degraded: ReadonlySet<number> = new Set()): string {
  const area = areaId(cfg.id);
  const taps = cfg.wans.map((w) => ({
    name: spokeTapName(w.name),
    description: `ospfbond ${w.name} via ${w.dev}`,
    area,
    priority: SPOKE_PRIORITY,
    cost: tunnelCost(cfg.policy, w.name, w.cost, degraded.has(w.tunnel)),
    // OSPF refuses a neighbour whose MTU differs; the hub's side is sized from hub_mtu.
    mtuIgnore: tapMtu(w.mtu) !== tapMtu(w.hubMtu),
  }));
  return render('spoke.conf.hbs', {
    bfd: bfd(cfg.bfdProfile),
    ospf: OSPF,
    taps,
    lanDevs: cfg.lanDevs,
    area,
    routerId: spokeRouterId(cfg),
    fallbackDistance: FALLBACK_DISTANCE,
  });
}

