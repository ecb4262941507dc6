import { test } from 'node:test';
import assert from 'node:assert/strict';
import { retryOnce } from '../../src/daemon/scheduler.js';

const cases: { what: string; job: string; failures: number; stopping: boolean; ok: boolean; calls: number; logged: string[] }[] = [
  { what: 'a job that fails once on a changing router is retried with a fresh reading: a warning, no error', job: 'reconcile', failures: 1, stopping: false, ok: true, calls: 2, logged: ['warn reconcile failed; reading the router again and retrying in 0 s'] },
  { what: 'a job that fails again after the fresh reading is an error, and is not tried a third time', job: 'reconcile', failures: 5, stopping: false, ok: false, calls: 2, logged: ['warn reconcile failed; reading the router again and retrying in 0 s', 'error reconcile failed twice'] },
  { what: 'a job failing while the daemon stops is not retried', job: 'mirror', failures: 1, stopping: true, ok: false, calls: 1, logged: ['error mirror failed'] },
  { what: 'a job that succeeds runs once and logs nothing', job: 'stats', failures: 0, stopping: false, ok: true, calls: 1, logged: [] },
];

for (const c of cases) {
  test(c.what, async () => {
    const logged: string[] = [];
    const log = { warn: (_o: object, m: string) => void logged.push(`warn ${m}`), error: (_o: object, m: string) => void logged.push(`error ${m}`) };
    // The attempt fails `failures` times (the router changed under it), then succeeds.
    let calls = 0;
    const attempt = async () => {
      calls += 1;
      if (calls <= c.failures) throw new Error(`Cannot find device obt-wan1 (${calls})`);
    };
    assert.equal(await retryOnce(c.job, attempt, log as never, () => c.stopping, 0), c.ok);
    assert.equal(calls, c.calls);
    assert.deepEqual(logged, c.logged);
  });
}
