import { test } from 'node:test';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createPrivateKey, createPublicKey, diffieHellman } from 'node:crypto';
import assert from 'node:assert/strict';
import { configReader, loadConfig, parseConfig } from '../../src/config/load.js';
import type { SpokeConfig } from '../../src/config/types.js';
import { ConfigError } from '../../src/base/errors.js';
import { parseWanSpec } from '../../src/cli/init.js';
import { tunnelAddresses, maxTunnels, hubRouterId, tapMtu, wgMtu, demotedMetric, isDemoted } from '../../src/model/addressing.js';
import { generateKeyPair, publicKeyOf } from '../../src/model/keys.js';
import { fixture, golden } from './files.js';

test('a spoke config parses with its defaults filled in', () => {
  const s = parseConfig('/x.ini', fixture('spoke.ini')) as SpokeConfig;
  assert.equal(s.role, 'spoke');
  assert.deepEqual(s.lanDevs, ['eth2', 'eth3']);
  assert.deepEqual(
    s.wans.map((w) => [w.name, w.dev, w.gw, w.mtu, w.cost]),
    [
      ['dsl', 'eth0', '192.0.2.1', 1492, 10],
      ['lte', 'wwan0', 'dhcp', 1500, 20],
    ],
  );
  assert.deepEqual(s.hub, { host: 'hub.example.net', port: 51820, publicKey: s.hub.publicKey });
});

test('every problem of a bad config is reported at once as file:line key: message', () => {
  try {
    parseConfig('/etc/ospfbond/ospfbond.ini', fixture('bad-spoke.ini'));
    assert.fail('the bad config was accepted');
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    golden('bad-spoke.errors.txt', `${err.message}\n`);
  }
});

test('duplicate WAN devices and tunnels are caught after the schema passes', () => {
  const text = fixture('spoke.ini').replace('dev = wwan0', 'dev = eth0').replace('tunnel = 2', 'tunnel = 1');
  assert.throws(
    () => parseConfig('/s.ini', text),
    (err: ConfigError) =>
      err.problems.some((p) => p.key === 'wan.lte.dev' && /already WAN dsl/.test(p.message) && p.line === 26) &&
      err.problems.some((p) => p.key === 'wan.lte.tunnel' && /already WAN dsl/.test(p.message)),
  );
});

test('schema problems, policy problems and tunnels past the pool come in one pass (spoke and hub)', () => {
  const problems = (text: string) => {
    try {
      parseConfig('/c.ini', text);
    } catch (err) {
      if (err instanceof ConfigError) return err.problems.map((p) => `${p.key}: ${p.message}`);
      throw err;
    }
    assert.fail('accepted');
  };
  const spoke = fixture('spoke.ini')
    .replace('bfd_profile = aggressive', 'bfd_profile = aggressive\ncolour = blue\nmode = active-standby\nprimary = wifi')
    .replace('tunnel_pool = 10.255.0.0/16', 'tunnel_pool = 10.255.0.0/24')
    .replace('tunnel = 2', 'tunnel = 40');
  assert.deepEqual(problems(spoke), [
    'spoke.colour: unknown key',
    'spoke.primary: primary wifi: no such WAN (the WANs are dsl, lte)',
    'wan.lte.tunnel: tunnel 40 does not fit tunnel_pool 10.255.0.0/24 (at most 31)',
  ]);
  const hub = fixture('hub.ini')
    .replace('nat = true', 'nat = true\ncolour = blue\ntunnel_pool = 10.255.0.0/24')
    .replace('tunnel_pool = 10.255.0.0/16\n', '')
    .replace('[spoke.branch1]\nid = 1', '[spoke.branch1]\nid = 1\nprimary = dsl')
    .replace('tunnel = 3', 'tunnel = 32');
  assert.deepEqual(problems(hub), [
    'hub.colour: unknown key',
    'spoke.branch1.primary: primary only applies to mode = active-standby',
    'spoke.farm.wan.lte1.tunnel: tunnel 32 does not fit tunnel_pool 10.255.0.0/24 (at most 31)',
  ]);
});

test('a file with no role says what it expects', () => {
  assert.throws(() => parseConfig('/a.ini', '[hub]\nendpoint = x\n'), /\/a\.ini:1 ospfbond\.role: expected role = hub or role = spoke/);
});

test('--wan specs parse, and bad ones name the fix', () => {
  const none = { mtu: undefined, downMbit: undefined, upMbit: undefined };
  assert.deepEqual(parseWanSpec('lte:dev=wwan0,gw=dhcp,mtu=1430'), { ...none, name: 'lte', dev: 'wwan0', gw: 'dhcp', mtu: 1430 });
  assert.deepEqual(parseWanSpec('dsl:dev=eth0,gw=192.0.2.1'), { ...none, name: 'dsl', dev: 'eth0', gw: '192.0.2.1' });
  assert.deepEqual(parseWanSpec('dsl:dev=eth0,gw=dhcp,down=50,up=7.5'), { ...none, name: 'dsl', dev: 'eth0', gw: 'dhcp', downMbit: 50, upMbit: 7.5 });
  assert.throws(() => parseWanSpec('dsl:dev=eth0,gw=dhcp,up=10M'), /up=10M is not a rate in Mbit\/s from 0.1 to 100000/);
  assert.throws(() => parseWanSpec('dsl:dev=eth0'), /gw= is missing; expected NAME:dev=IFACE,gw=IPV4\|dhcp/);
  assert.throws(() => parseWanSpec('dsl:dev=eth0,gw=300.1.1.1'), /neither an IPv4 address nor dhcp/);
  assert.throws(() => parseWanSpec('Dsl:dev=eth0,gw=dhcp'), /expected NAME:dev=/);
  assert.throws(() => parseWanSpec('dsl:dev=eth0,gw=dhcp,speed=1'), /unknown key 'speed'/);
  assert.throws(() => parseWanSpec('dsl:dev=eth0,gw=dhcp,mtu=99'), /mtu=99 is not a whole number from 1280 to 9000/);
});

test('tunnel addressing: a /29 per tunnel, hub and spoke ends, distinct hub inner addresses', () => {
  assert.deepEqual(tunnelAddresses('10.255.0.0/16', 1), {
    hubInner: '10.255.0.8',
    spokeInner: '10.255.0.9',
    tapPrefix: '10.255.0.12/30',
    hubTap: '10.255.0.13',
    spokeTap: '10.255.0.14',
    vni: 1,
  });
  assert.equal(tunnelAddresses('10.255.0.0/16', 40).hubInner, '10.255.1.64');
  assert.equal(hubRouterId('10.255.0.0/16'), '10.255.0.1');
  assert.equal(maxTunnels('10.255.0.0/16'), 8191);
  assert.equal(maxTunnels('10.255.0.0/24'), 31);
});

test('MTU: WireGuard (60) and VXLAN (50) overheads', () => {
  assert.equal(wgMtu(1500), 1440);
  assert.equal(tapMtu(1500), 1390);
  assert.equal(tapMtu(1492), 1382);
});

test('demoted DHCP routes keep their metric in the low bits', () => {
  assert.equal(demotedMetric(0), 251 * 2 ** 24);
  assert.equal(demotedMetric(100) & 0xffffff, 100);
  assert.ok(isDemoted(demotedMetric(1024)));
  assert.ok(!isDemoted(1024));
});

test('keys: generated pairs are clamped X25519 keys whose public halves agree on a shared secret', () => {
  const [a, b] = [generateKeyPair(), generateKeyPair()];
  assert.notEqual(a.privateKey, b.privateKey);
  for (const kp of [a, b]) {
    assert.match(kp.privateKey, /^[A-Za-z0-9+/]{43}=$/);
    const raw = Buffer.from(kp.privateKey, 'base64');
    // As `wg genkey` writes them (RFC 7748 5): low 3 bits clear, top bit clear, bit 254 set.
    assert.deepEqual([raw[0]! & 7, raw[31]! & 128, raw[31]! & 64], [0, 0, 64]);
  }
  // Each side's private key with the other's public key gives one secret only when each public
  // key really is its private key's (Node's own X25519, not publicKeyOf).
  const url = (b64: string) => Buffer.from(b64, 'base64').toString('base64url');
  const x25519 = (kp: { privateKey: string; publicKey: string }, peer: string) =>
    diffieHellman({
      privateKey: createPrivateKey({ key: { kty: 'OKP', crv: 'X25519', d: url(kp.privateKey), x: url(kp.publicKey) }, format: 'jwk' }),
      publicKey: createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x: url(peer) }, format: 'jwk' }),
    }).toString('hex');
  assert.equal(x25519(a, b.publicKey), x25519(b, a.publicKey));
  // RFC 7748 section 6.1 test vector (Alice).
  const alice = Buffer.from('77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a', 'hex').toString('base64');
  assert.equal(Buffer.from(publicKeyOf(alice), 'base64').toString('hex'), '8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a');
});

test('a hub config with a tunnel or key used twice names both owners', () => {
  const hub = fixture('hub.ini');
  const dslKey = /\[spoke\.branch1\.wan\.dsl\]\ntunnel = 1\npublic_key = (\S+)/.exec(hub)![1]!;
  const text = hub.replace(/(\[spoke\.farm\.wan\.lte1\]\n)tunnel = 3\npublic_key = \S+/, `$1tunnel = 2\npublic_key = ${dslKey}`);
  assert.throws(
    () => parseConfig('/h.ini', text),
    (err: ConfigError) =>
      err.problems.some((p) => p.key === 'spoke.farm.wan.lte1.tunnel' && p.message === "tunnel 2 is already branch1/lte's") &&
      err.problems.some((p) => p.key === 'spoke.farm.wan.lte1.public_key' && /same key as branch1\/dsl/.test(p.message)),
  );
});

test('a spoke config whose WANs share a key file or a key, or use the hub\'s key, is refused at those lines', () => {
  const spoke = fixture('spoke.ini');
  const hubKey = /^hub_public_key = (\S+)$/m.exec(spoke)![1]!;
  const dslKey = /\[wan\.dsl\][^[]*?public_key = (\S+)/.exec(spoke)![1]!;
  const shared = spoke.replace('private_key_file = /etc/ospfbond/keys/lte.key', 'private_key_file = /etc/ospfbond/keys/./dsl.key').replace(/(\[wan\.lte\][^[]*?public_key = )\S+/, `$1${dslKey}`);
  assert.throws(
    () => parseConfig('/s.ini', shared),
    (err: ConfigError) => {
      assert.deepEqual(
        err.problems.map((p) => `${p.line} ${p.key}: ${p.message}`),
        [
          "29 wan.lte.private_key_file: /etc/ospfbond/keys/dsl.key is already WAN dsl's key file: every WAN needs its own key",
          '30 wan.lte.public_key: same key as WAN dsl: every WAN needs its own key',
        ],
      );
      return true;
    },
  );
  const hubs = spoke.replace(`public_key = ${dslKey}`, `public_key = ${hubKey}`);
  assert.throws(() => parseConfig('/s.ini', hubs), (err: ConfigError) => err.message === "/s.ini:21 wan.dsl.public_key: the hub's key (spoke.hub_public_key): every WAN needs its own key");
});

test('a hub config with a spoke WAN holding the hub\'s own key is refused', () => {
  const hub = fixture('hub.ini');
  const hubKey = /^public_key = (\S+)$/m.exec(hub)![1]!;
  const text = hub.replace(/(\[spoke\.branch1\.wan\.lte\]\ntunnel = 2\npublic_key = )\S+/, `$1${hubKey}`);
  assert.throws(() => parseConfig('/h.ini', text), (err: ConfigError) => err.message === "/h.ini:25 spoke.branch1.wan.lte.public_key: the hub's key (hub.public_key): every WAN needs its own key");
});

test("the daemon's config reader parses again only a changed file, and hands out copies", () => {
  const dir = mkdtempSync(join(tmpdir(), 'ospfbond-reader-'));
  try {
    const file = join(dir, 'spoke.ini');
    writeFileSync(file, fixture('spoke.ini'));
    const read = configReader();
    const a = read(file) as SpokeConfig;
    assert.deepEqual(a, loadConfig(file));
    a.policy = { mode: 'active-standby', primary: ['dsl'] };
    assert.deepEqual(read(file), loadConfig(file), "a job's change to its copy is not the next job's config");
    writeFileSync(file, fixture('spoke.ini').replace('[spoke]\n', '[spoke]\naggregate = off\n'));
    assert.equal((read(file) as SpokeConfig).aggregate, 'off');
    writeFileSync(file, 'role = nonsense\n');
    assert.throws(() => read(file), ConfigError);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
