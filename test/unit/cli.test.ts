import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, statSync, writeFileSync, rmSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { parseConfig } from '../../src/config/load.js';
import { verifyUnits } from './files.js';

/** The CLI's own config and bundle handling, in a temporary directory: none of this touches the router. */
const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'ospfbond-cli-'));
const hubIni = join(dir, 'hub', 'ospfbond.ini');
const spokeIni = join(dir, 'spoke', 'ospfbond.ini');
const bundle = join(dir, 'branch1.ospfbond');
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));

const run = (...args: string[]) => execa('node', [CLI, ...args], { reject: false, cwd: dir });
const mode = (path: string) => statSync(path).mode & 0o777;

test('init hub, add-spoke, init spoke: configs, keys and bundle with the right modes and contents', async () => {
  let r = await run('--config', hubIni, 'init', 'hub', '--endpoint', 'hub.example.net:51821', '--uplink', 'eth0', '--tunnel-pool', '10.77.0.0/16');
  assert.equal(r.exitCode, 0, r.stderr);
  assert.equal(mode(join(dir, 'hub', 'keys', 'hub.key')), 0o600);
  r = await run('--config', hubIni, 'hub', 'add-spoke', 'branch1', '--wans', 'dsl,lte', '--rate', 'dsl=50/10', '--out', bundle);
  assert.equal(r.exitCode, 0, r.stderr);
  assert.match(r.stdout, /no --rate for lte: those tunnels are not shaped/);
  assert.equal(mode(bundle), 0o600);
  const hubKey = readFileSync(join(dir, 'hub', 'keys', 'hub.key'), 'utf8').trim();
  const b = readFileSync(bundle, 'utf8');
  assert.ok(!b.includes(hubKey), 'the bundle does not carry the hub\'s private key');
  assert.match(b, /"endpoint": "hub.example.net:51821"/, 'the bundle keeps the hub\'s name');
  r = await run('--config', spokeIni, 'init', 'spoke', '--bundle', bundle, '--wan', 'dsl:dev=eth0,gw=192.0.2.1', '--wan', 'lte:dev=wwan0,gw=dhcp', '--lan-dev', 'eth1');
  assert.equal(r.exitCode, 0, r.stderr);
  for (const w of ['dsl', 'lte']) assert.equal(mode(join(dir, 'spoke', 'keys', `${w}.key`)), 0o600);
  const spoke = parseConfig(spokeIni, readFileSync(spokeIni, 'utf8'));
  assert.equal(spoke.role, 'spoke');
  assert.deepEqual(
    spoke.role === 'spoke' && spoke.wans.map((w) => [w.name, w.downMbit, w.upMbit]),
    [['dsl', 50, 10], ['lte', undefined, undefined]],
    'the line rates given on the hub reach the spoke through the bundle',
  );
  assert.match(r.stdout, /wan lte: no upload rate \(up=\)/);
  for (const out of [r.stdout, r.stderr]) assert.ok(!out.includes(readFileSync(join(dir, 'spoke', 'keys', 'dsl.key'), 'utf8').trim()), 'no key printed');
});

test('init refuses to overwrite a config without --force', async () => {
  const before = readFileSync(hubIni, 'utf8');
  const r = await run('--config', hubIni, 'init', 'hub', '--endpoint', 'other.example.net', '--uplink', 'eth0');
  assert.equal(r.exitCode, 2);
  assert.match(r.stderr, /already exists \(pass --force to replace it/);
  assert.equal(readFileSync(hubIni, 'utf8'), before);
});

test('add-spoke refuses a name that exists and bad WAN lists', async () => {
  let r = await run('--config', hubIni, 'hub', 'add-spoke', 'branch1', '--wans', 'dsl');
  assert.equal(r.exitCode, 2);
  assert.match(r.stderr, /spoke branch1 already exists/);
  r = await run('--config', hubIni, 'hub', 'add-spoke', 'branch2', '--wans', 'dsl,dsl');
  assert.match(r.stderr, /a WAN name is given twice/);
  r = await run('--config', hubIni, 'hub', 'add-spoke', 'branch2', '--wans', 'Very-Long-Name');
  assert.match(r.stderr, /is not a WAN name/);
  r = await run('--config', hubIni, 'hub', 'add-spoke', 'branch2', '--wans', 'dsl', '--rate', 'dsl=50');
  assert.equal(r.exitCode, 2);
  assert.match(r.stderr, /--rate dsl=50: expected WAN=DOWN\/UP in Mbit\/s/);
  r = await run('--config', hubIni, 'hub', 'add-spoke', 'branch2', '--wans', 'dsl', '--rate', 'lte=50/10');
  assert.match(r.stderr, /lte is not one of --wans dsl/);
  assert.doesNotMatch(readFileSync(hubIni, 'utf8'), /branch2/, 'a refused add-spoke records nothing');
});

test('init spoke needs one --wan per bundle WAN, and rejects a truncated or foreign bundle', async () => {
  const other = join(dir, 'other.ini');
  let r = await run('--config', other, 'init', 'spoke', '--bundle', bundle, '--wan', 'dsl:dev=eth0,gw=dhcp');
  assert.equal(r.exitCode, 2);
  assert.match(r.stderr, /the bundle is for WANs dsl, lte; --wan missing for lte/);
  const cut = join(dir, 'cut.ospfbond');
  writeFileSync(cut, readFileSync(bundle, 'utf8').slice(0, 100));
  r = await run('--config', other, 'init', 'spoke', '--bundle', cut, '--wan', 'dsl:dev=eth0,gw=dhcp');
  assert.equal(r.exitCode, 2);
  assert.match(r.stderr, /not a bundle \(not JSON; truncated\?\)/);
  const foreign = join(dir, 'foreign.ospfbond');
  writeFileSync(foreign, JSON.stringify({ ...JSON.parse(readFileSync(bundle, 'utf8')), version: 9 }));
  r = await run('--config', other, 'init', 'spoke', '--bundle', foreign, '--wan', 'dsl:dev=eth0,gw=dhcp', '--wan', 'lte:dev=eth1,gw=dhcp');
  assert.equal(r.exitCode, 2);
  assert.match(r.stderr, /bundle .*version/);
});

const hubPublicKey = (ini: string) => /^public_key = "?([^"\s]+)"?$/m.exec(readFileSync(ini, 'utf8'))![1]!;

test('add-spoke and init spoke print the hub\'s endpoint and key; --hub-key refuses another hub\'s bundle', async () => {
  const key = hubPublicKey(hubIni);
  const other = join(dir, 'hubkey.ini');
  const wans = ['--wan', 'dsl:dev=eth0,gw=dhcp', '--wan', 'lte:dev=eth1,gw=dhcp'];
  const wrong = 'PuUxZ+NFV/w6h1whPIGM/xTzpek0VFfHGJ7OUuaQ4ww=';
  let r = await run('--config', other, 'init', 'spoke', '--bundle', bundle, '--hub-key', wrong, ...wans);
  assert.equal(r.exitCode, 2);
  assert.equal(
    r.stderr,
    `ospfbond: the bundle is for hub hub.example.net:51821 (key ${key}) and not the hub whose key you gave (copy the bundle that hub wrote; on the hub, \`wg show obwg0 public-key\` prints its key once applied, as \`ospfbond hub add-spoke\` did)`,
  );
  const hubPrivate = readFileSync(join(dir, 'hub', 'keys', 'hub.key'), 'utf8').trim();
  r = await run('--config', other, 'init', 'spoke', '--bundle', bundle, '--hub-key', hubPrivate, ...wans);
  assert.equal(r.exitCode, 2);
  assert.match(r.stderr, /^ospfbond: --hub-key: that is the hub's private key, not its public key \(keep it secret;/);
  assert.ok(!r.stderr.includes(hubPrivate), 'the private key given by mistake is not echoed');
  r = await run('--config', other, 'init', 'spoke', '--bundle', bundle, '--hub-key', 'not-a-key', ...wans);
  assert.equal(r.exitCode, 2);
  assert.match(r.stderr, /^ospfbond: --hub-key: not a WireGuard public key \(44 characters of base64\)/);
  assert.ok(!existsSync(other), 'a refused init spoke writes nothing');
  r = await run('--config', other, 'init', 'spoke', '--bundle', bundle, '--hub-key', key, ...wans);
  assert.equal(r.exitCode, 0, r.stderr);
  assert.match(r.stdout, new RegExp(`^hub: hub\\.example\\.net:51821, public key ${key.replace(/[+/]/g, '\\$&')} \\(the same as \`wg show obwg0 public-key\` prints on the hub\\?\\)$`, 'm'));
});

test('init spoke --force over a spoke of another hub says what it replaces', async () => {
  const hub2 = join(dir, 'hub2', 'ospfbond.ini');
  const bundle2 = join(dir, 'hub2.ospfbond');
  let r = await run('--config', hub2, 'init', 'hub', '--endpoint', 'hub2.example.net', '--uplink', 'eth0');
  assert.equal(r.exitCode, 0, r.stderr);
  r = await run('--config', hub2, 'hub', 'add-spoke', 'branch1', '--wans', 'dsl,lte', '--out', bundle2);
  assert.equal(r.exitCode, 0, r.stderr);
  const [key1, key2] = [hubPublicKey(hubIni), hubPublicKey(hub2)];
  assert.match(r.stdout, new RegExp(`^this hub: hub2\\.example\\.net:51820, public key ${key2.replace(/[+/]/g, '\\$&')} \\(give it to \`init spoke --hub-key\` to check the bundle is this hub's\\)$`, 'm'));
  const copy = join(dir, 'replaced.ini');
  writeFileSync(copy, readFileSync(spokeIni, 'utf8'));
  r = await run('--config', copy, 'init', 'spoke', '--bundle', bundle2, '--wan', 'dsl:dev=eth0,gw=dhcp', '--wan', 'lte:dev=eth1,gw=dhcp', '--force');
  assert.equal(r.exitCode, 0, r.stderr);
  assert.ok(r.stdout.includes(`[!] replacing ${copy}, spoke branch1 of another hub: hub endpoint hub.example.net:51821 -> hub2.example.net:51820, hub key ${key1} -> ${key2}\n`), r.stdout);
  r = await run('--config', copy, 'init', 'spoke', '--bundle', bundle2, '--wan', 'dsl:dev=eth0,gw=dhcp', '--wan', 'lte:dev=eth1,gw=dhcp', '--force');
  assert.ok(r.stdout.includes(`ospfbond: replacing ${copy} (spoke branch1 of the same hub; its WAN keys are replaced too)\n`), r.stdout);
  const wasHub = join(dir, 'was-hub.ini');
  copyFileSync(hubIni, wasHub);
  r = await run('--config', wasHub, 'init', 'spoke', '--bundle', bundle2, '--wan', 'dsl:dev=eth0,gw=dhcp', '--wan', 'lte:dev=eth1,gw=dhcp', '--force');
  assert.equal(r.exitCode, 0, r.stderr);
  assert.ok(r.stdout.includes(`[!] replacing ${wasHub}: it is the config of hub hub.example.net:51821, not a spoke's\n`), r.stdout);
});

test('init spoke refuses an edited bundle: its checksum does not match', async () => {
  const edited = join(dir, 'edited.ospfbond');
  writeFileSync(edited, readFileSync(bundle, 'utf8').replace(/"cost": 10/, '"cost": 1'));
  const r = await run('--config', join(dir, 'edited.ini'), 'init', 'spoke', '--bundle', edited, '--wan', 'dsl:dev=eth0,gw=dhcp', '--wan', 'lte:dev=eth1,gw=dhcp');
  assert.equal(r.exitCode, 2);
  assert.match(r.stderr, /^ospfbond: bundle \S+edited\.ospfbond: its checksum does not match its content: it was changed or damaged after `ospfbond hub add-spoke` wrote it \(copy it again from the hub, unchanged/);
});

test('a broken config is reported with file:line for every problem and exit 2', async () => {
  const broken = join(dir, 'broken.ini');
  writeFileSync(broken, readFileSync(hubIni, 'utf8').replace(/^nat = true$/m, 'nat = maybe').replace(/^uplink = eth0$/m, 'uplink = this-name-is-too-long'));
  const r = await run('--config', broken, 'hub', 'add-spoke', 'x', '--wans', 'a');
  assert.equal(r.exitCode, 2);
  assert.match(r.stderr, new RegExp(`${broken}:\\d+ hub.uplink: not a Linux interface name`));
  assert.match(r.stderr, new RegExp(`${broken}:\\d+ hub.nat: expected true or false`));
});

test('remove-spoke forgets the spoke', async () => {
  const r = await run('--config', hubIni, 'hub', 'remove-spoke', 'branch1');
  assert.equal(r.exitCode, 0, r.stderr);
  assert.doesNotMatch(readFileSync(hubIni, 'utf8'), /branch1/);
  assert.equal((await run('--config', hubIni, 'hub', 'remove-spoke', 'branch1')).exitCode, 2);
});

test('--help carries an example', async () => {
  const commands = [['init', 'hub'], ['init', 'spoke'], ['hub', 'add-spoke'], ['hub', 'remove-spoke'], ['apply'], ['status'], ['mode'], ['daemon'], ['doctor'], ['down']];
  for (const args of [['--help'], ...commands.map((c) => [...c, '--help'])]) {
    const r = await run(...args);
    assert.match(r.stdout, /Example/, args.join(' '));
  }
});

test('--version prints the package version', async () => {
  const pkg = JSON.parse(readFileSync(fileURLToPath(new URL('../../../package.json', import.meta.url)), 'utf8')) as { version: string };
  const r = await run('--version');
  assert.equal(r.exitCode, 0);
  assert.equal(r.stdout.trim(), pkg.version);
});

test('the units in systemd/ pass systemd-analyze verify', async () => {
  const units = Object.fromEntries(['ospfbond.service', 'ospfbond-apply.service'].map((n) => [n, readFileSync(fileURLToPath(new URL(`../../../systemd/${n}`, import.meta.url)), 'utf8')]));
  await verifyUnits(units);
});
