import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execa } from 'execa';
import { REPO } from './lab.js';

/**
 * ospfbond's systemd paths under a real systemd: test/systemd/units.sh boots two systemd-nspawn
 * containers (systemd as their PID 1, each in a network namespace of its own with nothing but lo),
 * a hub and a spoke, and checks the proxy units, frr.service, the shipped units, a confirm
 * window's timer, a reboot and `down` (docs/testing.md, "The systemd test"). The script cleans up
 * after itself (trap); on a timeout it is sent SIGTERM, which runs that trap too.
 */
test('under a real systemd (systemd-nspawn): proxy units restarted by systemd, frr.service, the shipped units, a reboot, down', { timeout: 900_000 }, async () => {
  const r = await execa('bash', [`${REPO}test/systemd/units.sh`], { reject: false, all: true, timeout: 600_000, cwd: REPO });
  const out = r.all ?? '';
  for (const line of out.split('\n')) if (/^(PASS|FAIL|SKIP) /.test(line)) console.log(line);
  assert.equal(r.exitCode, 0, `test/systemd/units.sh exited ${r.exitCode}${r.timedOut ? ' (timed out)' : ''}:\n${out.slice(-6000)}`);
  assert.match(out, /^0 check\(s\) failed$/m);
});
