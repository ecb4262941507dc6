import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { whyStale, REVERT_GRACE_MS } from '../../src/engine/confirm-timer.js';

const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

test('a confirm window is left to its timer until the machine reboots or the deadline is a grace period past', () => {
  const deadline = '2026-11-21T10:00:00.000Z';
  const at = Date.parse(deadline);
  assert.equal(whyStale({ boot: 'b1', deadline }, at - 5_000, 'b1'), undefined, 'before the deadline');
  assert.equal(whyStale({ boot: 'b1', deadline }, at + REVERT_GRACE_MS, 'b1'), undefined, 'the timer may still be waiting for the lock');
  assert.match(whyStale({ boot: 'b1', deadline }, at + REVERT_GRACE_MS + 1_000, 'b1') ?? '', /deadline \(2026-11-21T10:00:00.000Z\) passed 61 s ago and it was not reverted/);
  assert.match(whyStale({ boot: 'b0', deadline }, at - 5_000, 'b1') ?? '', /rebooted during the confirm window/, 'a reboot took the timer with it');
  assert.match(whyStale({ boot: 'b1', deadline: 'garbage' }, at, 'b1') ?? '', /deadline \(garbage\) is unreadable/, 'an unreadable deadline does not keep a change forever');
});

test('apply --confirm takes whole seconds in range; --boot goes alone: usage errors before anything is read', async () => {
  for (const [args, message] of [
    [['apply', '--confirm', '3'], /--confirm 3: expected whole seconds from 5 to 86400 \(for example --confirm 120\)/],
    [['apply', '--confirm', '2m'], /--confirm 2m: expected whole seconds/],
    [['apply', '--confirm', '90000'], /--confirm 90000: expected whole seconds/],
    [['apply', '--boot', '--dry-run'], /--boot goes with neither --confirm nor --dry-run/],
  ] as const) {
    const r = await execa('node', [CLI, '--config', '/nonexistent/ospfbond.ini', ...args], { reject: false });
    assert.equal(r.exitCode, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, message);
  }
});
