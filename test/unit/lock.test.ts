import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const LOCK_MODULE = fileURLToPath(new URL('../../src/engine/lock.js', import.meta.url));

/**
 * A separate process that takes the router lock as `what`, prints "held" once it has it, holds it
 * `holdMs`, and prints "done" or the error. Separate processes: the lock is between an apply and the daemon.
 */
function holder(dir: string, what: string, holdMs: number, waitMs: number): { child: ChildProcess; output: Promise<string>; held: Promise<void> } {
  const script = `
    const { withRouterLock } = await import(${JSON.stringify(LOCK_MODULE)});
    try {
      await withRouterLock(${JSON.stringify(what)}, async () => { console.log('held'); await new Promise((r) => setTimeout(r, ${holdMs})); },
        { waitMs: ${waitMs}, onWait: (h) => console.log('waiting: ' + h) });
      console.log('done');
    } catch (err) { console.log('error: ' + err.message); }`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { env: { ...process.env, OSPFBOND_ROOT: dir } });
  let out = '';
  let onHeld: () => void;
  let neverHeld: (err: Error) => void;
  const held = new Promise<void>((resolve, reject) => ((onHeld = resolve), (neverHeld = reject)));
  held.catch(() => undefined); // only awaited for the first holder
  child.stdout!.on('data', (d: Buffer) => {
    out += String(d);
    if (out.includes('held')) onHeld();
  });
  const output = new Promise<string>((r) =>
    child.on('exit', () => {
      neverHeld(new Error(`${what} exited without the lock: ${out}`));
      r(out);
    }),
  );
  return { child, output, held };
}

test('the router lock: the second run waits for the first, or says who holds it; a killed holder does not block for ever', { timeout: 60_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ospfbond-lock-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));

  await t.test('waits, then runs', async () => {
    const a = holder(dir, 'apply', 1500, 0);
    await a.held;
    const b = holder(dir, 'daemon reconcile', 0, 10_000);
    const [outA, outB] = await Promise.all([a.output, b.output]);
    assert.match(outA, /held\ndone/);
    // OSPFBOND_ROOT moves the lock under the test's own directory.
    assert.ok(outB.includes(`waiting: ospfbond apply (pid ${a.child.pid}) holds ${dir}/run/ospfbond/router.lock since `), outB);
    assert.match(outB, /held\ndone/);
  });

  await t.test('gives up after its wait, naming the holder', async () => {
    const a = holder(dir, 'apply', 3000, 0);
    await a.held;
    const outB = await holder(dir, 'mode', 0, 500).output;
    assert.match(outB, new RegExp(`error: the router is busy: ospfbond apply \\(pid ${a.child.pid}\\) holds .* \\(waited 0\\.5 s\\)`));
    assert.doesNotMatch(outB, /held/);
    assert.match(await a.output, /done/);
  });

  await t.test('a holder killed with SIGKILL: the lock goes stale and the next run gets it', async () => {
    const a = holder(dir, 'apply', 60_000, 0);
    await a.held;
    a.child.kill('SIGKILL');
    await a.output;
    const outB = await holder(dir, 'apply', 0, 20_000).output;
    assert.match(outB, /held\ndone/);
  });
});
