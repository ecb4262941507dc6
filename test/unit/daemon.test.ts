import { test } from 'node:test';
import assert from 'node:assert/strict';
import { retryOnce } from '../../src/daemon/daemon.js';

function recorder() {
  const lines: string[] = [];
  return { lines, log: { warn: (_o: object, m: string) => void lines.push(`warn ${m}`), error: (_o: object, m: string) => void lines.push(`error ${m}`) } };
}

/** An attempt that fails `failures` times (the router changed under it), then succeeds. */
function flaky(failures: number) {
  let calls = 0;
  return { calls: () => calls, attempt: async () => { calls += 1; if (calls <= failures) throw new Error(`Cannot find device obt-wan1 (${calls})`); } };
}

test('a job that fails once on a changing router is retried with a fresh reading: a warning, no error', async () => {
  const { lines, log } = recorder();
  const f = flaky(1);
  assert.equal(await retryOnce('reconcile', f.attempt, log as never, () => false, 0), true);
  assert.equal(f.calls(), 2);
  assert.deepEqual(lines, ['warn reconcile failed; reading the router again and retrying in 0 s']);
});

test('a job that fails again after the fresh reading is an error, and is not tried a third time', async () => {
  const { lines, log } = recorder();
  const f = flaky(5);
  assert.equal(await retryOnce('reconcile', f.attempt, log as never, () => false, 0), false);
  assert.equal(f.calls(), 2);
  assert.deepEqual(lines, ['warn reconcile failed; reading the router again and retrying in 0 s', 'error reconcile failed twice']);
});

test('a job failing while the daemon stops is not retried', async () => {
  const { lines, log } = recorder();
  const f = flaky(1);
  assert.equal(await retryOnce('mirror', f.attempt, log as never, () => true, 0), false);
  assert.equal(f.calls(), 1);
  assert.deepEqual(lines, ['error mirror failed']);
});

test('a job that succeeds runs once and logs nothing', async () => {
  const { lines, log } = recorder();
  const f = flaky(0);
  assert.equal(await retryOnce('stats', f.attempt, log as never), true);
  assert.equal(f.calls(), 1);
  assert.deepEqual(lines, []);
});
