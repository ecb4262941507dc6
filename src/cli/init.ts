import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Address4 } from 'ip-address';
import { probeJson } from '../base/run.js';
import { OspfbondError, EXIT, usage } from '../base/errors.js';
import { writeSecretAtomic } from '../base/files.js';
import { keysDir } from '../base/paths.js';
import { loadConfig } from '../config/load.js';
import { saveConfig } from '../config/write.js';
import type { Config, HubConfig, SpokeConfig, SpokeWan } from '../config/types.js';
import { parseEndpoint, parseUplinkAllow, checkPool, parseMbit, DEFAULT_DAEMON } from '../config/schema.js';
import { readBundle, type Bundle } from '../config/bundle.js';
import { HUB_WG } from '../model/addressing.js';
import { DEFAULT_AGGREGATE, DEFAULT_AGGREGATE_CONNECTIONS } from '../model/aggregate.js';
import { DEFAULT_QUALITY } from '../model/quality.js';
import { DEFAULT_REALTIME } from '../model/realtime.js';
import { parseAggregate } from './hub.js';
import { generateKeyPair, publicKeyOf } from '../model/keys.js';
import { DEFAULT_POOL, DEFAULT_UPLINK_ALLOW, DEFAULT_WAN_MTU, MBIT, WAN_MTU, WAN_NAME, WG_KEY } from '../model/limits.js';
import type { Printer } from '../router/executor.js';

function refuseOverwrite(file: string, force: boolean | undefined): void {
  if (existsSync(file) && !force) {
    throw usage(`${file} already exists`, 'pass --force to replace it (its keys are replaced too), or --config FILE for another file');
  }
}

async function defaultRouteDev(): Promise<string> {
  const routes = await probeJson<{ dev?: string }[]>(['ip', '-j', 'route', 'show', 'default']);
  const dev = routes.find((r) => r.dev)?.dev;
  if (!dev) throw new OspfbondError('no default route to take the uplink from', EXIT.precondition, 'pass --uplink DEV');
  return dev;
}

export async function initHub(
  file: string,
  opts: { endpoint: string; uplink?: string; nat: boolean; uplinkAllow?: string; tunnelPool?: string; force?: boolean },
  print: Printer,
): Promise<void> {
  const endpoint = parseEndpoint(opts.endpoint);
  if (typeof endpoint === 'string') throw usage(`--endpoint ${opts.endpoint}: ${endpoint}`, 'for example --endpoint hub.example.net:51820');
  const uplinkAllow = parseUplinkAllow(opts.uplinkAllow ?? DEFAULT_UPLINK_ALLOW);
  if (typeof uplinkAllow === 'object' && 'error' in uplinkAllow) throw usage(`--uplink-allow ${opts.uplinkAllow}: ${uplinkAllow.error}`, 'for example --uplink-allow tcp/22,tcp/443');
  const pool = opts.tunnelPool ?? DEFAULT_POOL;
  const poolErr = checkPool(pool);
  if (poolErr) throw usage(`--tunnel-pool ${pool}: ${poolErr}`);
  refuseOverwrite(file, opts.force);
  const uplink = opts.uplink ?? (await defaultRouteDev());
  const keys = generateKeyPair();
  const keyFile = join(keysDir(file), 'hub.key');
  const cfg: HubConfig = {
    role: 'hub',
    file,
    endpoint,
    listenPort: endpoint.port,
    uplink,
    nat: opts.nat,
    uplinkAllow,
    tunnelPool: new Address4(pool).startAddress().address + '/' + new Address4(pool).subnetMask,
    privateKeyFile: keyFile,
    publicKey: keys.publicKey,
    bfdProfile: 'fast',
    spokes: [],
    daemon: DEFAULT_DAEMON,
    realtime: DEFAULT_REALTIME,
  };
  writeSecretAtomic(keyFile, `${keys.privateKey}\n`);
  saveConfig(cfg);
  print(`ospfbond: hub config written to ${file} (private key in ${keyFile}, mode 0600)`);
  print(`next: \`ospfbond hub add-spoke NAME --wans wan1,wan2\` for each site, then \`ospfbond apply\``);
}

export interface WanSpec {
  name: string;
  dev: string;
  gw: string;
  mtu?: number;
  downMbit?: number;
  upMbit?: number;
}

/** `NAME:dev=IFACE,gw=IPV4|dhcp[,mtu=N][,down=MBIT,up=MBIT]` */
export function parseWanSpec(spec: string): WanSpec {
  const example = 'expected NAME:dev=IFACE,gw=IPV4|dhcp[,mtu=N][,down=MBIT,up=MBIT], for example wan1:dev=eth0,gw=192.0.2.1';
  const m = /^([^:]*):(.+)$/.exec(spec);
  if (!m || !WAN_NAME.test(m[1]!)) throw usage(`--wan ${spec}: ${example}`);
  const fields: Record<string, string> = {};
  for (const part of m[2]!.split(',')) {
    const [k, v, ...rest] = part.split('=');
    if (!k || v === undefined || rest.length) throw usage(`--wan ${spec}: '${part}' is not key=value; ${example}`);
    if (!['dev', 'gw', 'mtu', 'down', 'up'].includes(k)) throw usage(`--wan ${spec}: unknown key '${k}'; ${example}`);
    fields[k] = v;
  }
  if (!fields.dev) throw usage(`--wan ${spec}: dev= is missing; ${example}`);
  if (!fields.gw) throw usage(`--wan ${spec}: gw= is missing; ${example}`);
  if (fields.gw !== 'dhcp' && !Address4.isValid(fields.gw)) throw usage(`--wan ${spec}: gw=${fields.gw} is neither an IPv4 address nor dhcp`);
  let mtu: number | undefined;
  if (fields.mtu !== undefined) {
    mtu = Number(fields.mtu);
    if (!Number.isInteger(mtu) || mtu < WAN_MTU.min || mtu > WAN_MTU.max) throw usage(`--wan ${spec}: mtu=${fields.mtu} is not a whole number from ${WAN_MTU.min} to ${WAN_MTU.max}`);
  }
  const rate = (k: 'down' | 'up'): number | undefined => {
    if (fields[k] === undefined) return undefined;
    const r = parseMbit(fields[k]);
    if (r === undefined) throw usage(`--wan ${spec}: ${k}=${fields[k]} is not a rate in Mbit/s from ${MBIT.min} to ${MBIT.max}`);
    return r;
  };
  return { name: m[1]!, dev: fields.dev, gw: fields.gw, mtu, downMbit: rate('down'), upMbit: rate('up') };
}

const HUB_KEY_HINT = `on the hub, \`wg show ${HUB_WG} public-key\` prints its key once applied, as \`ospfbond hub add-spoke\` did`;

/**
 * `--hub-key`: the operator's own copy of the hub's key, so a bundle from another hub is refused.
 * What was given is never echoed: a private key looks just like a public one.
 */
function checkHubKey(bundle: Bundle, given: string | undefined): void {
  if (given === undefined) return;
  const key = given.trim();
  if (!WG_KEY.test(key)) throw usage('--hub-key: not a WireGuard public key (44 characters of base64)', HUB_KEY_HINT);
  if (key === bundle.hub.public_key) return;
  if (publicKeyOf(key) === bundle.hub.public_key) throw usage('--hub-key: that is the hub\'s private key, not its public key', `keep it secret; ${HUB_KEY_HINT}`);
  throw usage(`the bundle is for hub ${bundle.hub.endpoint} (key ${bundle.hub.public_key}) and not the hub whose key you gave`, `copy the bundle that hub wrote; ${HUB_KEY_HINT}`);
}

/** What `--force` is about to replace, said plainly when it is another hub's spoke or the hub itself. */
function describeReplaced(file: string, bundle: Bundle): string | undefined {
  if (!existsSync(file)) return undefined;
  let old: Config;
  try {
    old = loadConfig(file);
  } catch {
    return `[!] replacing ${file}, which does not read as an ospfbond config`;
  }
  if (old.role === 'hub') return `[!] replacing ${file}: it is the config of hub ${old.endpoint.host}:${old.endpoint.port}, not a spoke's`;
  const oldEndpoint = `${old.hub.host}:${old.hub.port}`;
  const differs = [
    ...(oldEndpoint !== bundle.hub.endpoint ? [`endpoint ${oldEndpoint} -> ${bundle.hub.endpoint}`] : []),
    ...(old.hub.publicKey !== bundle.hub.public_key ? [`key ${old.hub.publicKey} -> ${bundle.hub.public_key}`] : []),
  ];
  if (differs.length) return `[!] replacing ${file}, spoke ${old.name} of another hub: hub ${differs.join(', hub ')}`;
  return `ospfbond: replacing ${file} (spoke ${old.name} of the same hub; its WAN keys are replaced too)`;
}

export async function initSpoke(
  file: string,
  opts: { bundle: string; wan: string[]; lanDev: string[]; hubKey?: string; force?: boolean; aggregate?: string },
  print: Printer,
): Promise<void> {
  const bundle = readBundle(opts.bundle);
  checkHubKey(bundle, opts.hubKey);
  const specs = opts.wan.map(parseWanSpec);
  const given = new Set(specs.map((s) => s.name));
  const expected = bundle.wans.map((w) => w.name);
  const missing = expected.filter((n) => !given.has(n));
  const extra = specs.filter((s) => !expected.includes(s.name)).map((s) => s.name);
  if (missing.length || extra.length) {
    throw usage(
      `the bundle is for WANs ${expected.join(', ')}` + (missing.length ? `; --wan missing for ${missing.join(', ')}` : '') + (extra.length ? `; not in the bundle: ${extra.join(', ')}` : ''),
      `give one --wan per WAN, e.g. --wan ${expected[0]}:dev=eth0,gw=dhcp`,
    );
  }
  const dup = specs.find((s, i) => specs.findIndex((o) => o.name === s.name) !== i);
  if (dup) throw usage(`--wan ${dup.name} given twice`);
  refuseOverwrite(file, opts.force);
  const replaced = describeReplaced(file, bundle);
  const endpoint = parseEndpoint(bundle.hub.endpoint);
  if (typeof endpoint === 'string') throw usage(`bundle ${opts.bundle}: hub endpoint: ${endpoint}`);
  const wans: SpokeWan[] = bundle.wans.map((bw) => {
    const s = specs.find((x) => x.name === bw.name)!;
    return {
      name: bw.name,
      dev: s.dev,
      gw: s.gw,
      mtu: s.mtu ?? bw.mtu ?? DEFAULT_WAN_MTU,
      tunnel: bw.tunnel,
      hubMtu: bw.mtu,
      privateKeyFile: join(keysDir(file), `${bw.name}.key`),
      publicKey: bw.public_key,
      cost: bw.cost,
      downMbit: s.downMbit ?? bw.down_mbit,
      upMbit: s.upMbit ?? bw.up_mbit,
    };
  });
  const cfg: SpokeConfig = {
    role: 'spoke',
    file,
    name: bundle.spoke.name,
    id: bundle.spoke.id,
    hub: { ...endpoint, publicKey: bundle.hub.public_key },
    tunnelPool: bundle.hub.tunnel_pool,
    lanDevs: opts.lanDev,
    bfdProfile: bundle.hub.bfd_profile,
    policy: { mode: 'active-active' },
    // The hub's choice for this site, unless the site's operator says otherwise.
    aggregate: opts.aggregate === undefined ? (bundle.spoke.aggregate ?? DEFAULT_AGGREGATE) : parseAggregate(opts.aggregate),
    aggregateExclude: [],
    aggregateConnections: DEFAULT_AGGREGATE_CONNECTIONS,
    quality: DEFAULT_QUALITY,
    daemon: DEFAULT_DAEMON,
    realtime: DEFAULT_REALTIME,
    wans,
  };
  for (const w of wans) {
    if (w.mtu !== w.hubMtu) print(`[!] wan ${w.name}: mtu ${w.mtu} differs from the hub's ${w.hubMtu} for this tunnel; set mtu = ${w.mtu} under [spoke.${cfg.name}.wan.${w.name}] on the hub to match`);
    const bw = bundle.wans.find((b) => b.name === w.name)!;
    if (w.downMbit !== bw.down_mbit) print(`[!] wan ${w.name}: down ${w.downMbit} Mbit/s differs from the hub's ${bw.down_mbit ?? '(none)'}; the hub shapes this WAN's download: set down_mbit = ${w.downMbit} under [spoke.${cfg.name}.wan.${w.name}] on the hub`);
    if (w.upMbit === undefined) print(`[!] wan ${w.name}: no upload rate (up=): its tunnel is not shaped, and a saturated upload can drop BFD and flap it (docs/operating.md, Shaping)`);
  }
  if (replaced) print(replaced);
  for (const bw of bundle.wans) writeSecretAtomic(join(keysDir(file), `${bw.name}.key`), `${bw.private_key}\n`);
  saveConfig(cfg);
  print(`ospfbond: spoke ${cfg.name} config written to ${file} (${wans.length} WANs; keys in ${keysDir(file)}, mode 0600)`);
  print(`hub: ${bundle.hub.endpoint}, public key ${bundle.hub.public_key} (the same as \`wg show ${HUB_WG} public-key\` prints on the hub?)`);
  print('next: `ospfbond apply`');
}
