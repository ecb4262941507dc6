import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readBundle, bundleText, canonicalBundleText, BUNDLE_FORMAT, BUNDLE_VERSION, type BundleContent } from '../../src/config/bundle.js';
import { generateKeyPair } from '../../src/model/keys.js';
import { OspfbondError, EXIT } from '../../src/base/errors.js';

const dir = mkdtempSync(join(tmpdir(), 'ospfbond-bundle-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const FILE = join(dir, 'branch1.ospfbond');

const hub = generateKeyPair();
const dsl = generateKeyPair();
const lte = generateKeyPair();
const CONTENT: BundleContent = {
  format: BUNDLE_FORMAT,
  version: BUNDLE_VERSION,
  hub: { endpoint: 'hub.example.net:51820', public_key: hub.publicKey, tunnel_pool: '10.255.0.0/16', bfd_profile: 'fast' },
  spoke: { name: 'branch1', id: 1 },
  wans: [
    { name: 'dsl', tunnel: 1, private_key: dsl.privateKey, public_key: dsl.publicKey, cost: 10, mtu: 1500, down_mbit: 50, up_mbit: 10 },
    { name: 'lte', tunnel: 2, private_key: lte.privateKey, public_key: lte.publicKey, cost: 10, mtu: 1500 },
  ],
};
const REMAKE = 'make a new one on the hub: `ospfbond hub remove-spoke branch1 && ospfbond hub add-spoke branch1 --wans dsl,lte [--rate ...]`, then `ospfbond apply` there';

const read = (text: string) => {
  writeFileSync(FILE, text);
  return readBundle(FILE);
};
/** The bundle is refused with exit 2 and exactly this message; no private key shows, even in the hint. */
function refused(text: string, message: string, hint?: string): void {
  assert.throws(
    () => read(text),
    (err: unknown) => {
      assert.ok(err instanceof OspfbondError);
      assert.equal(err.exitCode, EXIT.usage);
      assert.equal(err.message, `bundle ${FILE}: ${message}`);
      if (hint !== undefined) assert.equal(err.hint, hint);
      for (const k of [dsl.privateKey, lte.privateKey]) assert.ok(!`${err.message} ${err.hint}`.includes(k), 'a private key is printed');
      return true;
    },
  );
}
/** A copy of CONTENT changed by `edit`, sealed by bundleText as if the writer had made it so. */
const edited = (edit: (b: Record<string, any>) => void): BundleContent => {
  const b = structuredClone(CONTENT) as unknown as Record<string, any>;
  edit(b);
  return b as unknown as BundleContent;
};

test('the checksum is over the members but sha256, sorted by name at every level, without whitespace', () => {
  assert.equal(canonicalBundleText({ sha256: 'x', b: [{ z: 1, a: 'é' }], a: { d: 2, c: 3.5 } }), '{"a":{"c":3.5,"d":2},"b":[{"a":"é","z":1}]}');
  const text = bundleText(CONTENT);
  const written = JSON.parse(text) as { sha256: string };
  assert.match(written.sha256, /^[0-9a-f]{64}$/);
  assert.deepEqual(read(text), { ...CONTENT, sha256: written.sha256 });
});

test('a bundle reformatted but unchanged is read: other indentation, member order, escapes', () => {
  const written = JSON.parse(bundleText(CONTENT)) as Record<string, unknown>;
  const reversed = (v: unknown): unknown =>
    Array.isArray(v) ? v.map(reversed) : v && typeof v === 'object' ? Object.fromEntries(Object.entries(v).reverse().map(([k, x]) => [k, reversed(x)])) : v;
  const escaped = JSON.stringify(reversed(written), null, '\t').replace('branch1', '\\u0062ranch1').replace('"cost": 10', '"cost": 1e1');
  assert.equal(read(escaped).spoke.name, 'branch1');
  assert.equal(read(JSON.stringify(written)).wans.length, 2);
});

test('a bundle with a value changed after it was written is refused: its checksum does not match', () => {
  const tamper = 'its checksum does not match its content: it was changed or damaged after `ospfbond hub add-spoke` wrote it';
  const hint = `copy it again from the hub, unchanged (scp, not a paste into an editor), or ${REMAKE}`;
  const written = JSON.parse(bundleText(CONTENT)) as Record<string, any>;
  const other = generateKeyPair();
  for (const edit of [
    (b: Record<string, any>) => (b.wans[0].public_key = other.publicKey),
    (b: Record<string, any>) => (b.wans[1].private_key = other.privateKey),
    (b: Record<string, any>) => (b.hub.endpoint = 'evil.example.net:51820'),
    (b: Record<string, any>) => (b.wans[0].cost = 11),
    (b: Record<string, any>) => delete b.wans[0].down_mbit,
    (b: Record<string, any>) => (b.wans[1].down_mbit = 50),
    (b: Record<string, any>) => (b.sha256 = b.sha256.replace(/^./, (c: string) => (c === '0' ? '1' : '0'))),
  ]) {
    const b = structuredClone(written);
    edit(b);
    refused(JSON.stringify(b, null, 2), tamper, hint);
  }
  const reordered = structuredClone(written);
  reordered.wans.reverse();
  refused(JSON.stringify(reordered), tamper);
  const { sha256: _, ...unsealed } = written;
  refused(JSON.stringify(unsealed), 'it has no checksum ("sha256")', 'copy it again from the hub, unchanged (scp, not a paste into an editor)');
});

test('a version-1 bundle (no checksum) is refused with how to make a new one; other versions too', () => {
  const { version: _, ...v1 } = CONTENT;
  refused(JSON.stringify({ ...v1, version: 1 }), 'made by an older ospfbond (bundle version 1, without a checksum); this one reads version 2', REMAKE);
  refused(bundleText({ ...CONTENT, version: 3 as 2 }), 'bundle version 3: this ospfbond reads bundle version 2');
  refused(JSON.stringify({ ...CONTENT, version: dsl.privateKey }), 'its version is not a number: this ospfbond reads bundle version 2');
  refused('[]', 'not a bundle (no "format": "ospfbond-bundle")');
});

test('a WAN whose public key is not its private key\'s is refused, naming the WAN and no key', () => {
  refused(
    bundleText(edited((b) => (b.wans[1].public_key = generateKeyPair().publicKey))),
    'wans.1 (lte): public_key is not the public key of its private_key',
    REMAKE,
  );
});

test('WAN names, tunnels and keys used twice, and the hub\'s key on a WAN, are refused', () => {
  refused(bundleText(edited((b) => (b.wans[1].name = 'dsl'))), 'wans.1 (dsl): WAN name dsl is given twice');
  refused(bundleText(edited((b) => (b.wans[1].tunnel = 1))), "wans.1 (lte): tunnel 1 is already wans.0's");
  refused(
    bundleText(edited((b) => Object.assign(b.wans[1], { private_key: dsl.privateKey, public_key: dsl.publicKey }))),
    "wans.1 (lte): public_key is already wans.0's: every WAN needs its own key",
  );
  refused(
    bundleText(edited((b) => Object.assign(b.hub, { public_key: lte.publicKey }))),
    "wans.1 (lte): public_key is the hub's public key",
  );
  // All of them at once, as the config's problems are.
  refused(
    bundleText(edited((b) => Object.assign(b.wans[1], { name: 'dsl', tunnel: 1, public_key: dsl.publicKey }))),
    "wans.1 (dsl): WAN name dsl is given twice; wans.1 (dsl): tunnel 1 is already wans.0's; wans.1 (dsl): public_key is not the public key of its private_key; wans.1 (dsl): public_key is already wans.0's: every WAN needs its own key",
  );
});
