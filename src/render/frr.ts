import Handlebars from 'handlebars';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { BFD_PROFILES, type BfdProfileName } from '../config/schema.js';
import type { HubConfig, SpokeConfig } from '../config/config.js';
import {
  tunnelAddresses,
  hubRouterId,
  hubTapName,
  spokeTapName,
  tapMtu,
  HUB_WG,
  FALLBACK_DISTANCE,
} from '../model/addressing.js';
import { tunnelCost } from '../model/policy.js';

/** The templates travel in the package beside dist/: <pkg>/frr-templates. */
const TEMPLATE_DIR = fileURLToPath(new URL('../../../frr-templates/', import.meta.url));

export const BLOCK_BEGIN = '! ospfbond:begin - managed by ospfbond, replaced on every apply; put your own config outside this block';
export const BLOCK_END = '! ospfbond:end';

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

export function areaId(spokeId: number): string {
  return [spokeId >>> 24, (spokeId >>> 16) & 255, (spokeId >>> 8) & 255, spokeId & 255].join('.');
}
/** FRR leaves its defaults out of the running config; rendering them would look like drift forever. */
const BFD_DEFAULT_MULTIPLIER = 3;
function bfd(profile: BfdProfileName) {
  const p = BFD_PROFILES[profile];
  return { name: `ospfbond-${profile}`, intervalMs: p.intervalMs, multiplier: p.multiplier === BFD_DEFAULT_MULTIPLIER ? null : p.multiplier };
}

/**
 * Route design: each spoke is its own totally stubby area and the hub, as ABR, gives it an
 * inter-area (type-3) default. A type-5 default (`default-information originate`) would work too,
 * but FRR 8.4 recomputes external routes on a fixed 1 s timer after SPF, so every failover would
 * cost a second more (LAB-NOTES: 1.27 s vs 0.24-0.27 s). Inter-area routes are installed as soon as
 * SPF runs, and SPF runs at once (`timers throttle spf 0 ...`) after BFD takes a neighbour down.
 * A per-spoke area also keeps one site's flapping WAN from running SPF on every other spoke.
 */
export function renderHubFrr(cfg: HubConfig): string {
  const taps = cfg.spokes.flatMap((s) =>
    s.wans.map((t) => ({
      name: hubTapName(t.tunnel),
      description: `ospfbond ${s.name} ${t.wan}`,
      area: areaId(s.id),
      priority: HUB_PRIORITY,
      cost: tunnelCost(s.policy, t.wan, t.cost),
      mtuIgnore: false,
    })),
  );
  return wrap(
    render('hub.conf.hbs', {
      bfd: bfd(cfg.bfdProfile),
      ospf: OSPF,
      taps,
      wgInterface: HUB_WG,
      routerId: hubRouterId(cfg.tunnelPool),
      areas: cfg.spokes.map((s) => areaId(s.id)),
    }),
  );
}

export function spokeRouterId(cfg: SpokeConfig): string {
  return tunnelAddresses(cfg.tunnelPool, Math.min(...cfg.wans.map((w) => w.tunnel))).spokeTap;
}

export function renderSpokeFrr(cfg: SpokeConfig): string {
  const area = areaId(cfg.id);
  const taps = cfg.wans.map((w) => ({
    name: spokeTapName(w.name),
    description: `ospfbond ${w.name} via ${w.dev}`,
    area,
    priority: SPOKE_PRIORITY,
    cost: tunnelCost(cfg.policy, w.name, w.cost),
    // OSPF refuses a neighbour whose MTU differs; the hub's side is sized from hub_mtu.
    mtuIgnore: tapMtu(w.mtu) !== tapMtu(w.hubMtu),
  }));
  return wrap(
    render('spoke.conf.hbs', {
      bfd: bfd(cfg.bfdProfile),
      ospf: OSPF,
      taps,
      lanDevs: cfg.lanDevs,
      area,
      routerId: spokeRouterId(cfg),
      fallbackDistance: FALLBACK_DISTANCE,
    }),
  );
}

function wrap(body: string): string {
  return `${BLOCK_BEGIN}\n${body.trimEnd()}\n${BLOCK_END}\n`;
}

/** frr.conf with ospfbond's block replaced (or appended, or removed when `block` is empty). */
export function spliceFrrConf(current: string, block: string): string {
  const without = stripBlock(current);
  if (!block) return without;
  const sep = without === '' || without.endsWith('\n') ? '' : '\n';
  return `${without}${sep}${block}`;
}

export function extractBlock(conf: string): string | undefined {
  const start = conf.indexOf(BLOCK_BEGIN);
  if (start < 0) return undefined;
  const end = conf.indexOf(BLOCK_END, start);
  if (end < 0) return undefined;
  return conf.slice(start, end + BLOCK_END.length) + '\n';
}

function stripBlock(conf: string): string {
  const block = extractBlock(conf);
  if (block === undefined) return conf;
  const start = conf.indexOf(BLOCK_BEGIN);
  return conf.slice(0, start) + conf.slice(start + block.length);
}

/** Parts of a user's own frr.conf that would fight ospfbond's block on a router of this role. */
export function conflictsInUserConf(conf: string, role: 'hub' | 'spoke'): string[] {
  const user = stripBlock(conf);
  const problems: string[] = [];
  if (/^router ospf(\s|$)/m.test(user)) problems.push('a `router ospf` block outside ospfbond\'s (ospfbond owns ospfd: remove it or move it into a different VRF)');
  // A hub's own static default toward its uplink is fine; a spoke's would bypass the tunnels.
  if (role === 'spoke' && /^ip route 0\.0\.0\.0\/0 /m.test(user)) problems.push('a static default route (`ip route 0.0.0.0/0 ...`) that would compete with the OSPF default through the tunnels');
  return problems;
}

/**
 * The interface costs that differ between two blocks, when nothing else does (else undefined).
 * frr-reload.py applies a changed cost as `no ip ospf cost OLD` then `ip ospf cost NEW`, and in
 * between ospfd originates a router LSA with the auto-cost (1 on a tap); the LSA throttle (5 s) then
 * holds the real cost back: measured in the lab, the other end saw cost 1 for 7 s. One vtysh
 * transaction per cost change has no such in-between state.
 */
export function costOnlyChanges(before: string | undefined, after: string): { iface: string; cost: number }[] | undefined {
  if (before === undefined) return undefined;
  const a = before.split('\n');
  const b = after.split('\n');
  if (a.length !== b.length) return undefined;
  const out: { iface: string; cost: number }[] = [];
  let iface = '';
  for (let i = 0; i < b.length; i++) {
    const m = /^interface (\S+)$/.exec(b[i]!);
    if (m) iface = m[1]!;
    if (a[i] === b[i]) continue;
    const cost = /^ ip ospf cost (\d+)$/.exec(b[i]!);
    if (!cost || !/^ ip ospf cost \d+$/.test(a[i]!) || !iface) return undefined;
    out.push({ iface, cost: Number(cost[1]) });
  }
  return out;
}

/** A block's `interface NAME` contexts and their settings, in order. */
function interfaceContexts(block: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  let current: string[] | undefined;
  for (const line of block.split('\n')) {
    const m = /^interface (\S+)$/.exec(line);
    if (m) out.set(m[1]!, (current = []));
    else if (line === 'exit') current = undefined;
    else if (current && line.startsWith(' ')) current.push(line.trim());
  }
  return out;
}

/**
 * vtysh arguments that take the settings of interfaces that leave the block off them, for those
 * interfaces that stay on the router (a spoke's LAN device). frr-reload.py removes a whole
 * `interface X` context with `no interface X`, which FRR 10 refuses while X exists ("only inactive
 * interfaces can be deleted"): X kept its `ip ospf` settings, in FRR 8.4 it did not. Undefined
 * when there is nothing to take off.
 */
export function unsetLeavingInterfaces(before: string | undefined, after: string, staying: (iface: string) => boolean): string[] | undefined {
  if (before === undefined) return undefined;
  const kept = interfaceContexts(after);
  const args: string[] = [];
  for (const [iface, settings] of interfaceContexts(before)) {
    if (kept.has(iface) || !staying(iface) || !settings.length) continue;
    // FRR's `no description` takes no text.
    args.push('-c', `interface ${iface}`, ...settings.flatMap((s) => ['-c', s.startsWith('description ') ? 'no description' : `no ${s}`]), '-c', 'exit');
  }
  return args.length ? ['vtysh', '-c', 'configure terminal', ...args] : undefined;
}
