import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execute } from '../../src/system/executor.js';

const lines: string[] = [];
const print = (l: string) => lines.push(l);

test('a step that leaves a daemon holding its stdout and stderr still finishes (FRR 10\'s frrinit.sh start)', { timeout: 10_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ospfbond-exec-'));
  try {
    // The background sleep keeps both outputs open for 30 s; with pipes, the step would wait for it.
    await execute([{ kind: 'run', argv: ['sh', '-c', `sleep 30 & echo $! > ${dir}/pid`] }], print);
  } finally {
    try {
      process.kill(Number(readFileSync(join(dir, 'pid'), 'utf8')));
    } catch {
      // not started
    }
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a failing step reports its output; a missing command says so', async () => {
  await assert.rejects(execute([{ kind: 'run', argv: ['sh', '-c', 'echo to-stdout; echo to-stderr >&2; exit 3'] }], print), /failed: to-stdout\nto-stderr/);
  await assert.rejects(execute([{ kind: 'run', argv: ['/nonexistent/ospfbond-test'] }], print), /failed: .*ENOENT/);
});

test('a step reads its input', async () => {
  await execute([{ kind: 'run', argv: ['sh', '-c', 'read x; [ "$x" = hello ]'], input: 'hello\n' }], print);
  await assert.rejects(execute([{ kind: 'run', argv: ['sh', '-c', 'read x; [ "$x" = hello ]'], input: 'bye\n' }], print), /failed: exit 1/);
});
