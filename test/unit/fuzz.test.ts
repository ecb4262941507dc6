import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isIP } from 'node:net';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import fc from 'fast-check';
import { parseConfig } from '../../src/config/load.js';
import type { Config } from '../../src/config/types.js';
import { MAX_WANS } from '../../src/model/limits.js';
import { readBundle, bundleText, canonicalBundleText, BUNDLE_VERSION, type Bundle, type BundleContent } from '../../src/config/bundle.js';
import { publicKeyOf } from '../../src/model/keys.js';
import { checkPool } from '../../src/config/schema.js';
import { maxTunnels } from '../../src/model/addressing.js';
import { policyCheck, MAX_WAN_COST } from '../../src/model/policy.js';
import { OspfbondError, ConfigError, EXIT } from '../../src/base/errors.js';
import { fixture } from './files.js';

/**
 * Random and mutated configs and bundles against the parsers. Any exception other than an
 * OspfbondError reaches the CLI's top-level catch as an internal error with a stack trace, so that
 * is what these properties forbid. Parsing runs before anything touches the router, so a refused
 * input cannot be half applied: apply is not exercised here.
 */

const FILE = '/etc/ospfbond/ospfbond.ini';

// Restated from schema.ts and the cross checks in config.ts: what an accepted config promises.
const WAN_NAME = /^[a-z][a-z0-9]{0,9}$/;
const IFNAME = /^[A-Za-z0-9_.@-]{1,15}$/;
const WG_KEY = /^[A-Za-z0-9+/]{43}=$/;

function distinct<T>(what: string, values: T[]): void {
  assert.equal(new Set(values).size, values.length, `${what} used twice: ${values.join(', ')}`);
}
function within(what: string, v: number, min: number, max: number): void {
  assert.ok(Number.isInteger(v) && v >= min && v <= max, `${what} ${v} outside ${min}-${max}`);
}

/** What follows from the schema and the cross checks for every config parseConfig accepts. */
function assertSane(cfg: Config): void {
  assert.equal(checkPool(cfg.tunnelPool), undefined);
  const limit = maxTunnels(cfg.tunnelPool);
  if (cfg.role === 'spoke') {
    assert.ok(cfg.wans.length >= 1 && cfg.wans.length <= MAX_WANS, `${cfg.wans.length} WANs`);
    within('spoke id', cfg.id, 1, 65535);
    within('hub port', cfg.hub.port, 1, 65535);
    assert.match(cfg.hub.publicKey, WG_KEY);
    for (const w of cfg.wans) {
      assert.match(w.name, WAN_NAME);
      assert.match(w.dev, IFNAME);
      assert.ok(w.gw === 'dhcp' || isIP(w.gw) === 4, `gw ${w.gw}`);
      within(`wan ${w.name} tunnel`, w.tunnel, 1, limit);
      within(`wan ${w.name} mtu`, w.mtu, 1280, 9000);
      within(`wan ${w.name} hub_mtu`, w.hubMtu, 1280, 9000);
      within(`wan ${w.name} cost`, w.cost, 1, MAX_WAN_COST);
      assert.ok(w.privateKeyFile.startsWith('/'));
      assert.match(w.publicKey, WG_KEY);
      assert.ok(!cfg.lanDevs.includes(w.dev), `${w.dev} is a WAN and a LAN device`);
    }
    distinct('WAN device', cfg.wans.map((w) => w.dev));
    distinct('tunnel', cfg.wans.map((w) => w.tunnel));
    distinct('WAN key file', cfg.wans.map((w) => w.privateKeyFile));
    distinct('WAN public key', [cfg.hub.publicKey, ...cfg.wans.map((w) => w.publicKey)]);
    assert.equal(policyCheck(cfg.policy, cfg.wans.map((w) => w.name)), undefined);
    return;
  }
  within('listen_port', cfg.listenPort, 1, 65535);
  assert.match(cfg.uplink, IFNAME);
  assert.ok(cfg.privateKeyFile.startsWith('/'));
  const tunnels = cfg.spokes.flatMap((s) => s.wans);
  for (const s of cfg.spokes) {
    within(`spoke ${s.name} id`, s.id, 1, 65535);
    assert.ok(s.wans.length >= 1, `spoke ${s.name} has no WAN`);
    assert.equal(policyCheck(s.policy, s.wans.map((t) => t.wan)), undefined);
  }
  for (const t of tunnels) {
    assert.match(t.wan, WAN_NAME);
    within(`tunnel of ${t.wan}`, t.tunnel, 1, limit);
    within(`mtu of ${t.wan}`, t.mtu, 1280, 9000);
    within(`cost of ${t.wan}`, t.cost, 1, MAX_WAN_COST);
  }
  distinct('spoke id', cfg.spokes.map((s) => s.id));
  distinct('tunnel', tunnels.map((t) => t.tunnel));
  distinct('WAN public key', [cfg.publicKey, ...tunnels.map((t) => t.publicKey)]);
}

/** parseConfig's contract on any text: a sane Config, or an OspfbondError (exit 2) whose every line is `FILE:LINE key: message`. */
function parsesOrRefuses(text: string): void {
  let cfg: Config;
  try {
    cfg = parseConfig(FILE, text);
  } catch (err) {
    // Rethrown as is, so fast-check prints the escaped error (and its stack) beside the input.
    if (!(err instanceof OspfbondError)) throw err;
    assert.equal(err.exitCode, EXIT.usage, err.message);
    const lines = text.split(/\r?\n/).length;
    for (const problem of err.message.split('\n')) {
      assert.ok(problem.startsWith(`${FILE}:`), `does not name the file: ${problem}`);
      const m = /^(\d+) .*: ./s.exec(problem.slice(FILE.length + 1));
      assert.ok(m, `not FILE:LINE key: message: ${problem}`);
      assert.ok(Number(m[1]) >= 1 && Number(m[1]) <= lines, `line ${m[1]} of ${lines}: ${problem}`);
    }
    return;
  }
  assertSane(cfg);
}

// The `ini` package JSON-parses quoted values and keys (so a value can be null, a number, an array
// or an object), makes arrays of `key[]`, and drops `__proto__`: these are the inputs most likely to
// surprise the code behind it.
const KEYS = [
  'role', 'name', 'id', 'hub_endpoint', 'hub_public_key', 'tunnel_pool', 'lan_devs', 'bfd_profile', 'mode', 'primary',
  'dev', 'gw', 'mtu', 'tunnel', 'hub_mtu', 'private_key_file', 'public_key', 'cost', 'down_mbit', 'up_mbit',
  'endpoint', 'listen_port', 'uplink', 'nat', 'uplink_allow', 'reconcile_every', 'resolve_every', 'mirror_every', 'stats_every', 'metrics_listen',
];
const ODD_KEYS = ["'null'", "'[]'", "'1'", "'{}'", "'true'", '"quoted"', 'x[]', 'tunnel[]', 'dev[]', '__proto__', 'constructor', 'toString', 'wan', 'spoke', '[', ' '];
const SECTIONS = ['ospfbond', 'spoke', 'hub', 'daemon', 'wan', 'wan.dsl', 'wan.lte', 'wan.x.y', 'spoke.b1', 'spoke.b1.wan', 'spoke.b1.wan.dsl', 'spoke.b2.wan.dsl', '__proto__', 'wan.__proto__', "'null'", 'a\\.b'];
const CIDRS = ['10.255.0.0/16', '10.255.0.0/24', '10.255.0.0/25', '10.255.0.0/8', '10.255.0.1/16', '10.255.128.0/17', '0.0.0.0/0', '10.255.0.0/33', '10.255.0.0/-1', '10.255.0.0', '10.255.0.0/', '/16', '300.1.1.1/16', '10.255.0.0/16/16', '10.255.0.0/016', '::/0', '10.255.0.0/16 '];
const ODD_VALUES = [
  '', 'null', "'null'", 'true', 'false', "'[1,2]'", "'{\"a\":1}'", '"x"', "'1'", '""', "'", '"', '0', '-1', '01', '007', ' 1 ', '1.5', '1e9', '-0',
  '9'.repeat(30), String(2 ** 53 + 1), String((1 << 20) + 1), '65536', 'NaN', 'Infinity', '0x10', 'dhcp', 'hub.example.net:51820', 'hub.example.net:0',
  ':51820', '1.2.3.4:65536', '1.2.3.999', 'tcp/22', 'udp/0', 'any', 'none', '/etc/ospfbond/keys/x.key', 'keys/x.key', 'eth0', 'wwan0', 'a'.repeat(16),
  'active-standby', 'active-active', 'dsl', 'dsl,lte', 'dsl,,', ',', 'fast', 'slow', '30s', '7s', '0s', '127.0.0.1:9474', ';comment', 'x ; y', '\\;', '\\',
  'PuUxZ+NFV/w6h1whPIGM/xTzpek0VFfHGJ7OUuaQ4ww=', 'PuUxZ+NFV/w6h1whPIGM/xTzpek0VFfHGJ7OUuaQ4ww', ...CIDRS,
];

const numberText = fc.oneof(
  fc.integer().map(String),
  fc.nat({ max: 70000 }).map(String),
  fc.nat({ max: 100 }).map((n) => `0${n}`),
  fc.bigInt({ min: -(10n ** 40n), max: 10n ** 40n }).map(String),
  fc.double().map(String),
);
const valueText = fc.oneof(fc.constantFrom(...ODD_VALUES), numberText, fc.string({ maxLength: 20 }), fc.string({ unit: 'binary', maxLength: 12 }));
const keyText = fc.oneof(fc.constantFrom(...KEYS), fc.constantFrom(...ODD_KEYS), fc.string({ maxLength: 12 }));
const sectionText = fc.oneof(
  fc.constantFrom(...SECTIONS),
  fc.string({ maxLength: 12 }),
  fc.tuple(fc.constantFrom(...SECTIONS), fc.oneof(fc.constantFrom(...KEYS, ...ODD_KEYS), fc.string({ maxLength: 6 }))).map(([a, b]) => `${a}.${b}`),
);
const iniLine = fc.oneof(
  { weight: 2, arbitrary: sectionText.map((s) => `[${s}]`) },
  { weight: 6, arbitrary: fc.tuple(keyText, fc.constantFrom('=', ' = ', ' =', '= ', ''), valueText).map(([k, eq, v]) => (eq ? `${k}${eq}${v}` : k)) },
  { weight: 1, arbitrary: fc.constantFrom('', '; comment', '# comment', '[]', '[[x]]', '=', '= 1', '\r', ' [spoke] ') },
  { weight: 1, arbitrary: fc.string({ maxLength: 30 }) },
);
// Half the texts claim a role, so most of them get past the role check and into the schema.
const iniText = fc
  .tuple(fc.constantFrom('', '[ospfbond]\nrole = spoke\n', '[ospfbond]\nrole = hub\n', 'role = spoke\n'), fc.array(iniLine, { maxLength: 40 }), fc.constantFrom('\n', '\r\n'))
  .map(([head, lines, eol]) => head + lines.join(eol));

test('random text: parseConfig returns a config or a ConfigError naming the file, nothing else', () => {
  fc.assert(
    fc.property(fc.oneof(fc.string({ maxLength: 400 }), fc.string({ unit: 'binary', maxLength: 400 }), fc.string({ unit: 'grapheme', maxLength: 200 })), parsesOrRefuses),
    { numRuns: 300, includeErrorInReport: true },
  );
});

test('random INI (sections, keys and values ospfbond and the ini package know): never anything but a ConfigError', () => {
  fc.assert(fc.property(iniText, parsesOrRefuses), { numRuns: 500, includeErrorInReport: true });
});

const FIXTURE_CONFIGS = ['spoke.ini', 'frr84/spoke.ini', 'hub.ini', 'frr84/hub.ini'];

/** How a value already in the file can be written again so that it means the same to the schema. */
const SPELLINGS = ['same', 'zero', 'spaces', 'squote', 'dquote', 'comment'] as const;
function respell(v: string, how: (typeof SPELLINGS)[number]): string {
  if (how === 'zero') return /^\d+$/.test(v) ? `0${v}` : v;
  if (how === 'spaces') return `  ${v}  `;
  if (how === 'squote') return `'${v}'`;
  if (how === 'dquote') return `"${v}"`;
  if (how === 'comment') return `${v} ; again`;
  return v;
}

const OPS = ['delete', 'duplicate', 'value', 'number', 'unknown-key', 'copy-value', 'section-name', 'swap-headers', 'pool', 'truncate', 'line'] as const;
const mutation = fc.record({
  op: fc.constantFrom(...OPS),
  i: fc.nat(),
  j: fc.nat(),
  value: valueText,
  number: numberText,
  key: keyText,
  cidr: fc.oneof(fc.constantFrom(...CIDRS), fc.tuple(fc.ipV4(), fc.integer({ min: -1, max: 40 })).map(([a, n]) => `${a}/${n}`)),
  spelling: fc.constantFrom(...SPELLINGS),
});
type Mutation = typeof mutation extends fc.Arbitrary<infer M> ? M : never;

const KV = /^(\s*[^=[;#][^=]*?)\s*=\s*(.*)$/;
const HEADER = /^\s*\[(.*)\]\s*$/;

function mutate(text: string, m: Mutation): string {
  if (m.op === 'truncate') return text.slice(0, m.i % (text.length + 1));
  const lines = text.split('\n');
  const kv = lines.flatMap((l, n) => (KV.test(l) ? [n] : []));
  const headers = lines.flatMap((l, n) => (HEADER.test(l) ? [n] : []));
  const pick = (of: number[], k: number) => of[k % of.length]!;
  const setValue = (n: number, v: string) => {
    lines[n] = lines[n]!.replace(KV, (_all, k: string) => `${k} = ${v}`);
  };
  switch (m.op) {
    case 'delete':
      lines.splice(m.i % lines.length, 1);
      break;
    case 'duplicate':
      lines.splice(m.j % (lines.length + 1), 0, lines[m.i % lines.length]!);
      break;
    case 'value':
      if (kv.length) setValue(pick(kv, m.i), m.value);
      break;
    case 'number':
      if (kv.length) setValue(pick(kv, m.i), m.number);
      break;
    case 'unknown-key':
      lines.splice(m.i % (lines.length + 1), 0, `${m.key} = ${m.value}`);
      break;
    case 'copy-value': {
      // Another WAN's device, tunnel or key, possibly spelled differently: what the cross checks are for.
      if (!kv.length) break;
      const to = pick(kv, m.i);
      const key = KV.exec(lines[to]!)![1]!.trim();
      const same = kv.filter((n) => KV.exec(lines[n]!)![1]!.trim() === key && n !== to);
      if (same.length) setValue(to, respell(KV.exec(lines[pick(same, m.j)]!)![2]!.trim(), m.spelling));
      break;
    }
    case 'section-name':
      if (headers.length) lines[pick(headers, m.i)] = lines[pick(headers, m.j)]!;
      break;
    case 'swap-headers':
      if (headers.length) {
        const [a, b] = [pick(headers, m.i), pick(headers, m.j)];
        [lines[a], lines[b]] = [lines[b]!, lines[a]!];
      }
      break;
    case 'pool': {
      const at = lines.findIndex((l) => /^\s*tunnel_pool\s*=/.test(l));
      if (at >= 0) setValue(at, m.cidr);
      else lines.splice(m.i % (lines.length + 1), 0, `tunnel_pool = ${m.cidr}`);
      break;
    }
    case 'line':
      lines[m.i % lines.length] = m.value;
      break;
  }
  return lines.join('\n');
}

test('the golden configs parse, so their mutations start from valid input', () => {
  for (const name of FIXTURE_CONFIGS) assert.doesNotThrow(() => parseConfig(FILE, fixture(name)), name);
});

test('mutated golden configs: a sane config or a ConfigError naming the file, nothing else', () => {
  fc.assert(
    fc.property(fc.constantFrom(...FIXTURE_CONFIGS), fc.array(mutation, { minLength: 1, maxLength: 4 }), (name, mutations) => {
      parsesOrRefuses(mutations.reduce(mutate, fixture(name)));
    }),
    { numRuns: 500, includeErrorInReport: true },
  );
});

// What the properties above found, kept as plain cases.
test('regression: the ini package\'s TypeErrors become config problems at their line', () => {
  const refused = (text: string, expected: string) =>
    assert.throws(() => parseConfig(FILE, text), (err: unknown) => err instanceof ConfigError && err.message === expected);
  refused("'null'=0", `${FILE}:1 'null': a key in single quotes is read as JSON, and this one is not a string (write it without quotes)`);
  refused('wan = null\n[wan.dsl]\ndev = eth0', `${FILE}:2 wan.dsl: this section is inside a key set to null (remove that key, or rename the section)`);
});

test('regression: a number spelled with a leading zero is still a duplicate id or tunnel', () => {
  assert.throws(() => parseConfig(FILE, fixture('hub.ini').replace('id = 1', 'id = 02')), /spoke\.farm\.id: id 2 is already spoke branch1's/);
  assert.throws(() => parseConfig(FILE, fixture('spoke.ini').replace('tunnel = 2', 'tunnel = 01')), /wan\.lte\.tunnel: tunnel 1 is already WAN dsl's/);
});

// Bundles: made by the CLI itself, as on a hub, then broken in every way a copy or an editor can.
const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'ospfbond-fuzz-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const BUNDLE_FILE = join(dir, 'fuzzed.ospfbond');
let validText = '';
let valid: Record<string, unknown> = {};
let privateKeys: string[] = [];

before(async () => {
  const hubIni = join(dir, 'hub', 'ospfbond.ini');
  const out = join(dir, 'branch1.ospfbond');
  for (const args of [
    ['init', 'hub', '--endpoint', 'hub.example.net:51820', '--uplink', 'eth0'],
    ['hub', 'add-spoke', 'branch1', '--wans', 'dsl,lte', '--rate', 'dsl=50/10', '--out', out],
  ]) {
    const r = await execa('node', [CLI, '--config', hubIni, ...args], { reject: false, cwd: dir });
    assert.equal(r.exitCode, 0, r.stderr);
  }
  validText = readFileSync(out, 'utf8');
  valid = JSON.parse(validText) as Record<string, unknown>;
  privateKeys = (valid.wans as { private_key: string }[]).map((w) => w.private_key);
});

/** What readBundle promises of a bundle it returns, beyond the schema. */
function assertSaneBundle(b: Bundle): void {
  for (const w of b.wans) assert.equal(publicKeyOf(w.private_key), w.public_key, `wan ${w.name}: public_key is not its private_key's`);
  distinct('WAN name', b.wans.map((w) => w.name));
  distinct('tunnel', b.wans.map((w) => w.tunnel));
  distinct('public key', [b.hub.public_key, ...b.wans.map((w) => w.public_key)]);
}

/** readBundle's contract: a sane bundle, or an OspfbondError (exit 2) naming the file that prints no private key, not even in part. */
function readsOrRefuses(text: string): boolean {
  writeFileSync(BUNDLE_FILE, text);
  try {
    assertSaneBundle(readBundle(BUNDLE_FILE));
    return true;
  } catch (err) {
    if (!(err instanceof OspfbondError)) throw err;
    assert.equal(err.exitCode, EXIT.usage, err.message);
    assert.ok(err.message.startsWith(`bundle ${BUNDLE_FILE}: `), err.message);
    for (const k of privateKeys) {
      for (const shown of [err.message, err.hint ?? '']) assert.ok(!shown.includes(k.slice(0, 43)), `a private key is printed: ${shown}`);
    }
    return false;
  }
}

/** Every place in a JSON value, as a path of keys and indexes. */
function paths(v: unknown, at: (string | number)[] = []): (string | number)[][] {
  if (v === null || typeof v !== 'object') return [at];
  const children = Array.isArray(v) ? v.map((x, i) => [i, x] as const) : Object.entries(v);
  return [at, ...children.flatMap(([k, x]) => paths(x, [...at, k]))];
}
/** A copy of root with the value at path replaced, or deleted when value is undefined. */
function replaced(root: unknown, path: (string | number)[], value: unknown): unknown {
  if (path.length === 0) return value;
  const copy = structuredClone(root) as Record<string | number, unknown>;
  let parent = copy;
  for (const k of path.slice(0, -1)) parent = parent[k] as Record<string | number, unknown>;
  const last = path.at(-1)!;
  if (value === undefined) {
    if (Array.isArray(parent)) parent.splice(Number(last), 1);
    else delete parent[last];
  } else parent[last] = value;
  return copy;
}

/** Whether a parsed JSON value is the CLI's bundle to the letter of its values (whitespace, member order and escapes aside). */
function sameAsValid(v: unknown): boolean {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return false;
  return canonicalBundleText(v) === canonicalBundleText(valid) && (v as { sha256?: unknown }).sha256 === valid.sha256;
}
/** The value with its checksum made again, as a writer with a bug (or a hand that knows the format) would. */
const resealed = (v: unknown): string =>
  v !== null && typeof v === 'object' && !Array.isArray(v) ? bundleText(v as BundleContent) : (JSON.stringify(v) ?? 'null');

test('the CLI\'s bundle is read back whole', () => {
  assert.ok(readsOrRefuses(validText));
  assert.equal(privateKeys.length, 2);
});

test('random JSON and random text as a bundle: a bundle or an OspfbondError, nothing else', () => {
  fc.assert(fc.property(fc.oneof(fc.jsonValue().map((v) => JSON.stringify(v) ?? 'null'), fc.string({ unit: 'binary', maxLength: 200 })), (text) => {
    readsOrRefuses(text);
  }), { numRuns: 300, includeErrorInReport: true });
});

test('a bundle cut at every offset is refused, and the refusal prints no key', () => {
  for (let n = 0; n < validText.trimEnd().length; n++) assert.equal(readsOrRefuses(validText.slice(0, n)), false, `cut at ${n} accepted`);
});

// A user who mixes up the fields is the likely way a private key ends up where an error message quotes.
const fieldValue = fc.oneof(
  fc.jsonValue(),
  fc.constantFrom(0, 1, -1, 1.5, 2 ** 53, 1e308, '', 'x', null, [], {}),
  fc.nat({ max: 1 }).map((i) => `__PRIVATE_KEY_${i}__`),
);
const withKeys = (v: unknown): unknown =>
  typeof v === 'string' ? v.replace(/__PRIVATE_KEY_(\d)__/, (_m, i: string) => privateKeys[Number(i)]!) : v;

test('a bundle with one field replaced, deleted or added: refused unless nothing changed; with its checksum made again, a sane bundle or an OspfbondError that prints no key', () => {
  fc.assert(
    fc.property(fc.nat(), fc.constantFrom('replace', 'delete', 'add'), fieldValue, fc.string({ maxLength: 10 }), fc.boolean(), (i, how, value, name, reseal) => {
      const all = paths(valid);
      const objects = all.filter((p) => {
        const v = p.reduce<unknown>((o, k) => (o as Record<string | number, unknown>)[k], valid);
        return v !== null && typeof v === 'object' && !Array.isArray(v);
      });
      const changed =
        how === 'add'
          ? replaced(valid, [...objects[i % objects.length]!, name], withKeys(value))
          : replaced(valid, all[i % all.length]!, how === 'delete' ? undefined : withKeys(value));
      if (reseal) readsOrRefuses(resealed(changed));
      else assert.equal(readsOrRefuses(JSON.stringify(changed, null, 2) ?? ''), sameAsValid(changed));
    }),
    { numRuns: 400, includeErrorInReport: true },
  );
});

test('a bundle of another version is refused with a message about the version', () => {
  fc.assert(
    fc.property(fc.oneof(fc.jsonValue(), fc.constantFrom(0, 1, 3, -1, 1.5, '2', 'v2', null, true, [2])).filter((v) => v !== BUNDLE_VERSION), (version) => {
      writeFileSync(BUNDLE_FILE, JSON.stringify({ ...valid, version }));
      assert.throws(() => readBundle(BUNDLE_FILE), (err: unknown) => err instanceof OspfbondError && err.exitCode === EXIT.usage && /version/.test(err.message));
    }),
    { numRuns: 200, includeErrorInReport: true },
  );
});

test('a bundle with characters changed here and there: refused unless only whitespace or spelling changed, and the refusal prints no key', () => {
  fc.assert(
    fc.property(fc.array(fc.tuple(fc.nat(), fc.string({ unit: 'binary', maxLength: 3 })), { minLength: 1, maxLength: 4 }), (edits) => {
      let text = validText;
      for (const [at, s] of edits) {
        const n = at % (text.length + 1);
        text = text.slice(0, n) + s + text.slice(n + 1);
      }
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch {
        parsed = undefined;
      }
      assert.equal(readsOrRefuses(text), sameAsValid(parsed), 'a bundle is read only when its values are the ones written');
    }),
    { numRuns: 300, includeErrorInReport: true },
  );
});

/** JSON text of v with members in an order picked by `order`, whitespace between tokens from `gaps`, and some characters of strings escaped. */
function respelled(v: unknown, order: number[], gaps: string[], escape: boolean[]): string {
  let n = 0;
  const next = <T>(of: T[], dflt: T): T => (of.length ? of[n++ % of.length]! : dflt);
  const gap = () => next(gaps, '');
  const str = (s: string) => `"${s.split('').map((c) => (next(escape, false) ? `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}` : JSON.stringify(c).slice(1, -1))).join('')}"`;
  const out = (x: unknown): string => {
    if (typeof x === 'string') return str(x);
    if (x === null || typeof x !== 'object') return JSON.stringify(x);
    if (Array.isArray(x)) return `[${x.map((e) => `${gap()}${out(e)}${gap()}`).join(',')}]`;
    const entries = Object.entries(x);
    const shuffled: [string, unknown][] = [];
    while (entries.length) shuffled.push(entries.splice(next(order, 0) % entries.length, 1)[0]!);
    return `{${shuffled.map(([k, e]) => `${gap()}${str(k)}${gap()}:${gap()}${out(e)}${gap()}`).join(',')}}`;
  };
  return `${gap()}${out(v)}${gap()}`;
}

test('the CLI\'s bundle re-serialized (member order, whitespace, escapes) is read, and the same', () => {
  const expected = readBundle(join(dir, 'branch1.ospfbond'));
  fc.assert(
    fc.property(fc.array(fc.nat()), fc.array(fc.constantFrom('', ' ', '\n', '\t', '\r\n', '  ')), fc.array(fc.boolean()), (order, gaps, escape) => {
      writeFileSync(BUNDLE_FILE, respelled(valid, order, gaps, escape));
      assert.deepEqual(readBundle(BUNDLE_FILE), expected);
    }),
    { numRuns: 200, includeErrorInReport: true },
  );
});

const SPELLINGS_JSON = ['indented', 'compact', 'shuffled'] as const;

test('a changed value with the checksum left as written is refused with exit 2: the checksum does not match', () => {
  const leaves = paths(valid).filter((p) => {
    const v = p.reduce<unknown>((o, k) => (o as Record<string | number, unknown>)[k], valid);
    return p.length > 0 && (v === null || typeof v !== 'object') && !['format', 'version', 'sha256'].includes(String(p[0]));
  });
  fc.assert(
    fc.property(fc.nat(), fieldValue, fc.string({ maxLength: 3 }), fc.constantFrom(...SPELLINGS_JSON), (i, value, gap, spelling) => {
      const at = leaves[i % leaves.length]!;
      const changed = replaced(valid, at, withKeys(value));
      fc.pre(!sameAsValid(changed));
      const text = spelling === 'indented' ? JSON.stringify(changed, null, 2) : spelling === 'compact' ? JSON.stringify(changed) : respelled(changed, [i], [gap.replace(/\S/g, ' ')], []);
      assert.equal(readsOrRefuses(text), false, `${at.join('.')} changed and accepted`);
      assert.throws(() => readBundle(BUNDLE_FILE), /its checksum does not match its content/);
    }),
    { numRuns: 300, includeErrorInReport: true },
  );
});
