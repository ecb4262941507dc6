import { resolve } from 'node:path';
import { OspfbondError, EXIT, usage } from '../base/errors.js';
import { writeSecretAtomic } from '../base/files.js';
import { loadConfig } from '../config/load.js';
import { saveConfig } from '../config/write.js';
import type { HubConfig, HubTunnel } from '../config/types.js';
import { BUNDLE_FORMAT, BUNDLE_VERSION, bundleText, type BundleContent } from '../config/bundle.js';
import { parseMbit } from '../config/schema.js';
import { maxTunnels } from '../model/addressing.js';
import { AGGREGATE_MODES, DEFAULT_AGGREGATE, type AggregateMode } from '../model/aggregate.js';
import { generateKeyPair } from '../model/keys.js';
import { DEFAULT_COST, DEFAULT_WAN_MTU, MAX_WANS, MBIT, SPOKE_ID, SPOKE_NAME, SPOKE_NAME_RULE, WAN_NAME, WAN_NAME_RULE } from '../model/limits.js';
import type { Printer } from '../router/executor.js';

function loadHub(file: string): HubConfig {
  const cfg = loadConfig(file);
  if (cfg.role !== 'hub') throw usage(`${file} is a spoke's config`, '`ospfbond hub ...` runs on the hub');
  return cfg;
}

function smallestFree(used: Set<number>, from = 1): number {
  let n = from;
  while (used.has(n)) n++;
  return n;
}

export interface LineRate {
  downMbit: number;
  upMbit: number;
}

/** `WAN=DOWN/UP` in Mbit/s, as ISPs quote a line ("50/10"). */
export function parseRate(spec: string, wanNames: string[]): [string, LineRate] {
  const example = 'expected WAN=DOWN/UP in Mbit/s, for example --rate dsl=50/10';
  const m = /^([^=]*)=(\d+(?:\.\d+)?)\/(\d+(?:\.\d+)?)$/.exec(spec.trim());
  if (!m || !WAN_NAME.test(m[1]!)) throw usage(`--rate ${spec}: ${example}`);
  if (!wanNames.includes(m[1]!)) throw usage(`--rate ${spec}: ${m[1]} is not one of --wans ${wanNames.join(',')}`);
  const [down, up] = [parseMbit(m[2]!), parseMbit(m[3]!)];
  for (const [text, r] of [[m[2], down], [m[3], up]] as const) if (r === undefined) throw usage(`--rate ${spec}: ${text} Mbit/s is outside ${MBIT.min}-${MBIT.max}`);
  return [m[1]!, { downMbit: down!, upMbit: up! }];
}

export function addSpoke(file: string, name: string, opts: { wans: string; rate?: string[]; out?: string; aggregate?: string }, print: Printer): void {
  if (!SPOKE_NAME.test(name)) throw usage(`spoke name '${name}': ${SPOKE_NAME_RULE}`);
  const aggregate = parseAggregate(opts.aggregate);
  const wanNames = opts.wans.split(',').map((s) => s.trim()).filter(Boolean);
  if (wanNames.length === 0) throw usage('--wans: give at least one WAN name, e.g. --wans wan1,wan2');
  for (const w of wanNames) if (!WAN_NAME.test(w)) throw usage(`--wans: '${w}' is not a WAN name (${WAN_NAME_RULE})`);
  if (wanNames.length > MAX_WANS) throw usage(`--wans: ${wanNames.length} WANs: a spoke has at most ${MAX_WANS}`);
  if (new Set(wanNames).size !== wanNames.length) throw usage(`--wans: a WAN name is given twice in ${opts.wans}`);
  const rates = new Map<string, LineRate>();
  for (const spec of opts.rate ?? []) {
    const [wan, r] = parseRate(spec, wanNames);
    if (rates.has(wan)) throw usage(`--rate: WAN ${wan} is given twice`);
    rates.set(wan, r);
  }
  const cfg = loadHub(file);
  if (cfg.spokes.some((s) => s.name === name)) throw usage(`spoke ${name} already exists in ${file}`, `remove it first with \`ospfbond hub remove-spoke ${name}\``);
  const id = smallestFree(new Set(cfg.spokes.map((s) => s.id)), SPOKE_ID.min);
  if (id > SPOKE_ID.max) throw new OspfbondError(`the hub has ${cfg.spokes.length} spokes: every spoke id (${SPOKE_ID.min}-${SPOKE_ID.max}) is taken`, EXIT.usage, 'remove a spoke it no longer serves');
  const used = new Set(cfg.spokes.flatMap((s) => s.wans.map((t) => t.tunnel)));
  const limit = maxTunnels(cfg.tunnelPool);
  const keys = new Map<string, { privateKey: string; publicKey: string }>();
  const wans: HubTunnel[] = wanNames.map((wan) => {
    const tunnel = smallestFree(used);
    if (tunnel > limit) throw new OspfbondError(`tunnel pool ${cfg.tunnelPool} is full (${limit} tunnels)`, EXIT.usage, 'use a larger tunnel_pool');
    used.add(tunnel);
    const kp = generateKeyPair();
    keys.set(wan, kp);
    return { wan, tunnel, publicKey: kp.publicKey, cost: DEFAULT_COST, mtu: DEFAULT_WAN_MTU, ...rates.get(wan) };
  });
  const out = resolve(opts.out ?? `./${name}.ospfbond`);
  const bundle: BundleContent = {
    format: BUNDLE_FORMAT,
    version: BUNDLE_VERSION,
    hub: {
      endpoint: `${cfg.endpoint.host}:${cfg.endpoint.port}`,
      public_key: cfg.publicKey,
      tunnel_pool: cfg.tunnelPool,
      bfd_profile: cfg.bfdProfile,
    },
    spoke: { name, id, aggregate },
    wans: wans.map((t) => ({ name: t.wan, tunnel: t.tunnel, private_key: keys.get(t.wan)!.privateKey, public_key: t.publicKey, cost: t.cost, mtu: t.mtu, down_mbit: t.downMbit, up_mbit: t.upMbit })),
  };
  // The bundle first: a config that names a spoke whose keys were never written would be useless.
  writeSecretAtomic(out, bundleText(bundle));
  cfg.spokes.push({ name, id, policy: { mode: 'active-active' }, aggregate, wans });
  saveConfig(cfg);
  print(`ospfbond: spoke ${name} added (area ${id}, tunnels ${wans.map((t) => `${t.wan}=${t.tunnel}`).join(' ')})`);
  const unshaped = wans.filter((t) => t.downMbit === undefined).map((t) => t.wan);
  if (unshaped.length) print(`[!] no --rate for ${unshaped.join(', ')}: those tunnels are not shaped, and a saturated line can drop BFD and flap its tunnel (docs/operating.md, Shaping)`);
  print(`bundle for the spoke: ${out} (mode 0600, holds the spoke's private keys: copy it over a secure channel)`);
  print(`this hub: ${bundle.hub.endpoint}, public key ${cfg.publicKey} (give it to \`init spoke --hub-key\` to check the bundle is this hub's)`);
  print('next: `ospfbond apply` here; on the spoke: `ospfbond init spoke --bundle FILE --wan ...` then `ospfbond apply`');
}

/** `--aggregate tcp|off`, for `hub add-spoke` and `init spoke`. */
export function parseAggregate(text: string | undefined): AggregateMode {
  if (text === undefined) return DEFAULT_AGGREGATE;
  if ((AGGREGATE_MODES as readonly string[]).includes(text)) return text as AggregateMode;
  throw usage(`--aggregate ${text}: expected ${AGGREGATE_MODES.join(' or ')}`, 'tcp: one connection gets the sum of the links (docs/aggregation.md); off: each connection rides one tunnel');
}

export function removeSpoke(file: string, name: string, print: Printer): void {
  const cfg = loadHub(file);
  const i = cfg.spokes.findIndex((s) => s.name === name);
  if (i < 0) throw usage(`no spoke ${name} in ${file}`, `spokes: ${cfg.spokes.map((s) => s.name).join(', ') || '(none)'}`);
  cfg.spokes.splice(i, 1);
  saveConfig(cfg);
  print(`ospfbond: spoke ${name} removed from ${file}; \`ospfbond apply\` removes its tunnels and keys from the router`);
}
