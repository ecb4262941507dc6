import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from '../../src/model/step.js';
import { execute } from '../../src/router/executor.js';

const lines: string[] = [];
const print = (l: string) => lines.push(l);
const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

test('a step that leaves a daemon holding its stdout and stderr still finishes (FRR 10\'s frrinit.sh start)', { timeout: 10_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ospfbond-exec-'));
  let pid: number | undefined;
  try {
    // The background sleep keeps both outputs open for 30 s; with pipes, the step would wait for it
    // (and the test time out).
    await execute([run('frr', ['sh', '-c', `sleep 30 & echo $! > ${dir}/pid`])], print);
    pid = Number(readFileSync(join(dir, 'pid'), 'utf8'));
    assert.ok(alive(pid), 'the step returned while its daemon still holds the outputs');
  } finally {
    if (pid !== undefined && alive(pid)) process.kill(pid);
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a failing step reports its output; a missing command says so', async () => {
  await assert.rejects(execute([run('frr', ['sh', '-c', 'echo to-stdout; echo to-stderr >&2; exit 3'])], print), /failed: to-stdout\nto-stderr/);
  await assert.rejects(execute([run('frr', ['/nonexistent/ospfbond-test'])], print), /failed: .*ENOENT/);
});

test('a step reads its input', async () => {
  await execute([run('frr', ['sh', '-c', 'read x; [ "$x" = hello ]'], 'hello\n')], print);
  await assert.rejects(execute([run('frr', ['sh', '-c', 'read x; [ "$x" = hello ]'], 'bye\n')], print), /failed: exit 1/);
});

test('each step is printed before it runs, as wg-quick does', async () => {
  lines.length = 0;
  await execute([run('sysctl', ['true']), run('sysctl', ['sh', '-c', 'exit 0'], 'x\n')], print);
  assert.deepEqual(lines, ['[#] true', "[#] sh -c 'exit 0'", '    x']);
});
