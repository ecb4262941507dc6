import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig } from '../../src/config/load.js';
import type { SpokeConfig, HubConfig } from '../../src/config/types.js';
import { keyFileProblems } from '../../src/config/key-files.js';
import { generateKeyPair } from '../../src/model/keys.js';
import { fixture } from './files.js';

const dir = mkdtempSync(join(tmpdir(), 'ospfbond-keys-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const dsl = generateKeyPair();
const lte = generateKeyPair();
const spoke = (): SpokeConfig => {
  const cfg = parseConfig(join(dir, 'ospfbond.ini'), fixture('spoke.ini')) as SpokeConfig;
  const [d, l] = cfg.wans;
  Object.assign(d!, { privateKeyFile: join(dir, 'dsl.key'), publicKey: dsl.publicKey });
  Object.assign(l!, { privateKeyFile: join(dir, 'lte.key'), publicKey: lte.publicKey });
  return cfg;
};
const keyFiles = (dslText: string, lteText?: string) => {
  writeFileSync(join(dir, 'dsl.key'), dslText);
  if (lteText === undefined) rmSync(join(dir, 'lte.key'), { force: true });
  else writeFileSync(join(dir, 'lte.key'), lteText);
};

test('key files that hold the config\'s keys pass', () => {
  keyFiles(`${dsl.privateKey}\n`, `${lte.privateKey}\n`);
  assert.deepEqual(keyFileProblems(spoke()), []);
});

test('a key file with another key, the same key as another WAN, none, or no key at all: named, never quoted', () => {
  keyFiles(`${lte.privateKey}\n`, `${lte.privateKey}\n`);
  const both = keyFileProblems(spoke());
  assert.deepEqual(both, [
    `wan dsl: ${dir}/dsl.key is not the private key of public_key in [wan.dsl] (\`wg pubkey < ${dir}/dsl.key\` prints its public key)`,
    `wan lte: ${dir}/lte.key holds the same key as wan dsl's ${dir}/dsl.key: every WAN needs its own key`,
  ]);
  keyFiles('not a key\n');
  assert.deepEqual(keyFileProblems(spoke()), [`wan dsl: ${dir}/dsl.key: does not hold a WireGuard private key`, `wan lte: ${dir}/lte.key: cannot read it (ENOENT)`]);
  for (const p of both) for (const k of [dsl.privateKey, lte.privateKey]) assert.ok(!p.includes(k));
});

test('the hub\'s key file is checked against [hub] public_key', () => {
  const hub = parseConfig(join(dir, 'hub.ini'), fixture('hub.ini')) as HubConfig;
  const kp = generateKeyPair();
  writeFileSync(join(dir, 'hub.key'), kp.privateKey);
  hub.privateKeyFile = join(dir, 'hub.key');
  assert.deepEqual(keyFileProblems(hub), [`hub: ${dir}/hub.key is not the private key of public_key in [hub] (\`wg pubkey < ${dir}/hub.key\` prints its public key)`]);
  hub.publicKey = kp.publicKey;
  assert.deepEqual(keyFileProblems(hub), []);
});
