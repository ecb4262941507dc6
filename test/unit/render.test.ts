import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig } from '../../src/config/load.js';
import { renderHubIni, renderSpokeIni } from '../../src/config/write.js';
import type { HubConfig, SpokeConfig } from '../../src/config/types.js';
import { renderHubFrr, renderSpokeFrr } from '../../src/render/frr.js';
import { spliceFrrConf, extractBlock, conflictsInUserConf, wrapBlock } from '../../src/frr/block.js';
import { renderHubNft, renderSpokeNft, nftHash } from '../../src/render/nft.js';
import { renderShaper, shaperFor, shapeSignature, observedShape, wireBytes } from '../../src/render/tc.js';
import { splitByTap } from '../../src/router/kernel.js';
import { parseLimits } from '../../src/router/aggregate.js';
import { aggregating } from './routers.js';
import { fixture, golden } from './files.js';

// Aggregation on (the default; the fixtures do not say): the goldens show its steps, rules and nft chains.
const hub = aggregating(parseConfig('/etc/ospfbond/ospfbond.ini', fixture('hub.ini')) as HubConfig);
const spoke = aggregating(parseConfig('/etc/ospfbond/ospfbond.ini', fixture('spoke.ini')) as SpokeConfig);

test('hub FRR block', () => golden('hub.frr.conf', wrapBlock(renderHubFrr(hub))));
test('spoke FRR block', () => golden('spoke.frr.conf', wrapBlock(renderSpokeFrr(spoke))));
test('hub nft ruleset', () => golden('hub.nft', renderHubNft(hub)));
test('spoke nft ruleset', () => golden('spoke.nft', renderSpokeNft(spoke)));

test('hub without NAT has no masquerade', () => {
  assert.doesNotMatch(renderHubNft({ ...hub, nat: false }), /masquerade/);
  assert.match(renderHubNft(hub), /iifname "obt\*" oifname "eth0" masquerade/);
});

test('hub uplink filter: uplink_allow lists what is let in; any keeps only the drops of OSPF, BFD and VXLAN', () => {
  const rules = (allow: string) => renderHubNft(parseConfig(hub.file, fixture('hub.ini').replace('nat = true', `nat = true\nuplink_allow = ${allow}`)) as HubConfig);
  const web = rules('tcp/22, tcp/443,udp/53');
  for (const r of ['tcp dport 22 accept', 'tcp dport 443 accept', 'udp dport 53 accept', 'iifname "eth0" counter drop']) assert.ok(web.includes(`iifname "eth0" ${r.replace('iifname "eth0" ', '')}`), r);
  const none = rules('none');
  assert.doesNotMatch(none, /iifname "eth0" tcp dport/);
  assert.match(none, /iifname "eth0" udp dport 51820 counter accept\n(.*\n)*\t\tiifname "eth0" counter drop/);
  const any = rules('any');
  assert.doesNotMatch(any, /iifname "eth0" counter drop|ct state/);
  assert.match(any, /iifname "eth0" ip protocol 89 counter drop/);
  assert.match(any, /iifname "eth0" udp dport \{ 3784, 3785, 4784, 4789 \} counter drop/);
  assert.throws(() => rules('ssh'), /uplink_allow: ssh: expected PROTO\/PORT such as tcp\/22/);
  assert.throws(() => rules('tcp/70000'), /uplink_allow: tcp\/70000: expected PROTO\/PORT/);
});

test('the nft hash changes with the ruleset and only then', () => {
  assert.equal(nftHash(renderHubNft(hub)), nftHash(renderHubNft(hub)));
  assert.notEqual(nftHash(renderHubNft(hub)), nftHash(renderHubNft({ ...hub, uplink: 'eth1' })));
});

test('config files round-trip through their writer', () => {
  assert.deepEqual(parseConfig(hub.file, renderHubIni(hub)), hub);
  assert.deepEqual(parseConfig(spoke.file, renderSpokeIni(spoke)), spoke);
});

test('the ospfbond block is spliced into frr.conf without touching the user\'s config', () => {
  const user = 'frr defaults traditional\nhostname r1\n!\nrouter bgp 64512\n neighbor 192.0.2.9 remote-as 64513\nexit\n!\n';
  const block = wrapBlock(renderSpokeFrr(spoke));
  const once = spliceFrrConf(user, block);
  assert.ok(once.startsWith(user));
  assert.equal(extractBlock(once), block);
  assert.equal(spliceFrrConf(once, block), once, 'splicing again changes nothing');
  assert.equal(spliceFrrConf(once, ''), user, 'removing the block leaves exactly the user\'s config');
});

test('a user\'s own router ospf is reported as a conflict', () => {
  assert.equal(conflictsInUserConf('router bgp 1\nexit\n', 'spoke').length, 0);
  assert.equal(conflictsInUserConf(spliceFrrConf('', wrapBlock(renderSpokeFrr(spoke))), 'spoke').length, 0, 'ospfbond\'s own block is no conflict');
  assert.match(conflictsInUserConf('router ospf\n network 10.0.0.0/8 area 0\n', 'hub').join(), /router ospf/);
  const staticDefault = 'ip route 0.0.0.0/0 192.0.2.1\n';
  assert.match(conflictsInUserConf(staticDefault, 'spoke').join(), /static default route/);
  assert.equal(conflictsInUserConf(staticDefault, 'hub').length, 0, 'a hub may route its own default statically');
});

test('shaper: a full tap frame costs 1514 bytes on the line at tap MTU 1390', () => assert.equal(wireBytes(1390 + 14), 1514));
test('shaper tc script', () => golden('shaper.tc', renderShaper(shaperFor('obt1', 50, 1390))));
test('shaper: what tc shows of the script reads back as the same signature (no change on the next apply)', () => {
  // Captured from `tc` (iproute2 6.1) (`tc -d class show`) after running the shaper.tc script on a VXLAN device.
  const seen = observedShape(fixture('iproute2-6.1/tc-qdisc.json'), fixture('iproute2-6.1/tc-class.txt'), fixture('iproute2-6.1/tc-filter.json'));
  assert.equal(seen, shapeSignature(shaperFor('obt1', 50, 1390)));
  assert.notEqual(seen, shapeSignature(shaperFor('obt1', 40, 1390)), 'another rate is a change');
  assert.equal(observedShape('[{"kind":"noqueue","handle":"0:","root":true,"refcnt":2,"options":{}}]', '', '[]'), undefined);
});
test('shaper: iproute2 6.15 (Debian 13) prints "burst 2296b/1mpu 173b"; it reads back as the same signature too', () => {
  // Captured on Debian 13 after running the lab hub's obt1 script (20 Mbit/s line) on a veth. Read
  // as mpu 0 before, every apply and every reconcile rebuilt every shaper there.
  const seen = observedShape(fixture('iproute2-6.15/tc-qdisc.json'), fixture('iproute2-6.15/tc-class.txt'), fixture('iproute2-6.15/tc-filter.json'));
  assert.equal(seen, shapeSignature(shaperFor('obt1', 20, 1390)));
});

test("the daemon's one `tc -batch` read of every tap's classes gives each tap's shaper as a read of its own does", () => {
  for (const v of ['iproute2-6.1', 'iproute2-6.15']) {
    const [qdisc, classes, filter] = [fixture(`${v}/tc-qdisc.json`), fixture(`${v}/tc-class.txt`), fixture(`${v}/tc-filter.json`)];
    const qdiscText = 'qdisc htb 1: root refcnt 2 r2q 10 default 0x20 direct_packets_stat 0 direct_qlen 1000\nqdisc bfifo 20: parent 1:20 limit 114756b\n';
    const batch = `${qdiscText}${classes}qdisc noqueue 0: root refcnt 2 \n${qdiscText}${classes}`;
    const parts = splitByTap(batch, 3)!;
    assert.equal(parts.length, 3);
    assert.equal(observedShape(qdisc, parts[0]!, filter), observedShape(qdisc, classes, filter));
    assert.equal(observedShape('[{"kind":"noqueue","handle":"0:","root":true,"refcnt":2,"options":{}}]', parts[1]!, '[]'), undefined);
    assert.equal(observedShape(qdisc, parts[2]!, filter), observedShape(qdisc, classes, filter));
    // A device gone between the two reads, or output not cut as expected: read tap by tap instead.
    assert.equal(splitByTap(batch, 2), undefined);
    assert.equal(splitByTap(`class htb 1:10 parent 1:1\n${batch}`, 4), undefined);
  }
});

test('MPTCP limits are read from the text of iproute2 6.1 (also under -j) and the JSON of later ones', () => {
  assert.equal(parseLimits('add_addr_accepted 0 subflows 8 '), 8);
  assert.equal(parseLimits('{"add_addr_accepted":0,"subflows":8}'), 8);
  assert.equal(parseLimits(''), undefined);
});
