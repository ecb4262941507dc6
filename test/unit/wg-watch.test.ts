import { test } from 'node:test';
import assert from 'node:assert/strict';
import { WgWatch, STALL_MS, FLOWING_SAMPLES, restartPeerArgv } from '../../src/daemon/jobs/wg-watch.js';
import { parseNetDev } from '../../src/router/kernel.js';
import { fixture } from './files.js';

/** Feeds one sample a second; `rx(t)` gives each WAN's received bytes at second t. Returns the restarts by second. */
function run(seconds: number, rx: (t: number) => Record<string, number>): Map<number, string[]> {
  const w = new WgWatch();
  const out = new Map<number, string[]>();
  for (let t = 0; t < seconds; t++) {
    const r = w.sample(t * 1000, rx(t));
    if (r.length) out.set(t, r);
  }
  return out;
}

test('a hub that falls silent on every WAN gets one new session on each, STALL_MS after their last packet', () => {
  // Both hear the hub every second until second 10 (wan2 until 11: the sessions need not stop together).
  const restarts = run(40, (t) => ({ wan1: 100 * Math.min(t, 10), wan2: 100 * Math.min(t, 11) }));
  assert.deepEqual([...restarts], [[11 + STALL_MS / 1000, ['wan1', 'wan2']]]);
  // A site with one WAN: its only tunnel is all the hub it has.
  assert.deepEqual([...run(40, (t) => ({ wan1: 100 * Math.min(t, 10) }))], [[10 + STALL_MS / 1000, ['wan1']]]);
});

test('one WAN silent while another hears the hub is that WAN\'s path: its session is left alone', () => {
  // wan1 silent from second 10 to 25 (a silent drop upstream); wan2 hears the hub all along.
  assert.equal(run(40, (t) => ({ wan1: 100 * (t < 10 ? t : t < 25 ? 10 : t - 15), wan2: 100 * t })).size, 0);
  // ...and the hub falling silent later on both still restarts both.
  const later = run(60, (t) => ({ wan1: 100 * (t < 10 ? t : t < 25 ? 10 : Math.min(t, 40) - 15), wan2: 100 * Math.min(t, 40) }));
  assert.deepEqual([...later], [[40 + STALL_MS / 1000, ['wan1', 'wan2']]]);
});

test('no restart before traffic has flowed: a tunnel that never came up is WireGuard\'s own business', () => {
  assert.equal(run(30, () => ({ wan1: 148 })).size, 0);
  // Flowing for fewer than FLOWING_SAMPLES samples does not arm it either.
  assert.equal(run(30, (t) => ({ wan1: 100 * Math.min(t, FLOWING_SAMPLES - 1) })).size, 0);
});

test('after a restart, one packet alone does not arm the next one; traffic flowing again does', () => {
  // Second 0-9 flowing; silent until 20, with the device re-created by an apply at 14 (counters
  // from zero); one packet at 20; silent again; from 30 flowing; silent from 40.
  const rx = (t: number) => {
    if (t < 10) return { wan1: 100 * t };
    if (t <= 13) return { wan1: 900 };
    if (t < 20) return { wan1: 0 }; // the device re-created: its counters start again
    if (t < 30) return { wan1: 92 };
    if (t < 40) return { wan1: 92 + 100 * (t - 29) };
    return { wan1: 92 + 100 * 10 };
  };
  assert.deepEqual([...run(60, rx).keys()], [9 + STALL_MS / 1000, 39 + STALL_MS / 1000]);
});

test('a WAN that leaves the sample is forgotten, and starts unarmed when it returns', () => {
  const rx = (t: number): Record<string, number> => (t >= 10 && t < 15 ? {} : { wan1: t < 15 ? 100 * t : 5000 });
  assert.equal(run(30, rx).size, 0);
});

test('the restart is one wg call that removes and re-adds the peer as it was, with no private key', () => {
  const argv = restartPeerArgv('obw-wan1', { publicKey: 'K'.repeat(43) + '=', endpoint: '198.51.100.2:51820', allowedIps: ['100.127.0.8/32'], keepalive: 25, latestHandshake: 1, rxBytes: 2, txBytes: 3 });
  assert.deepEqual(argv, ['wg', 'set', 'obw-wan1', 'peer', 'K'.repeat(43) + '=', 'remove', 'peer', 'K'.repeat(43) + '=', 'endpoint', '198.51.100.2:51820', 'allowed-ips', '100.127.0.8/32', 'persistent-keepalive', '25']);
});

test('the per-second sample comes from /proc/net/dev (captured on a lab spoke), with no process started', () => {
  const dev = parseNetDev(fixture('frr84/spoke-proc-net-dev.txt'));
  assert.deepEqual(dev['obw-wan1'], { rxBytes: 23226341, txBytes: 578494695 });
  assert.deepEqual(dev['lan0'], { rxBytes: 2606670741, txBytes: 54324374 });
  assert.deepEqual(Object.keys(dev).filter((d) => d.startsWith('obw-')), ['obw-wan1', 'obw-wan2', 'obw-wan3', 'obw-wan4']);
  // a counter too wide for its column leaves no space after the colon
  assert.deepEqual(parseNetDev('h1\nh2\nobw-wan1:123456789012 5 0 0 0 0 0 0 987 6 0 0 0 0 0 0\n')['obw-wan1'], { rxBytes: 123456789012, txBytes: 987 });
});
