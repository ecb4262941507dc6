import { chmodSync, cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { execa } from 'execa';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';

/** Captured inputs (configs, and output of vtysh, ip, tc and wg captured from the lab). */
export const FIXTURE_DIR = fileURLToPath(new URL('../../../test/fixtures/', import.meta.url));
/** Expected outputs. */
export const GOLDEN_DIR = fileURLToPath(new URL('../../../test/golden/', import.meta.url));

export function fixture(name: string): string {
  return readFileSync(`${FIXTURE_DIR}${name}`, 'utf8');
}

/** Compares with test/golden/NAME; `npm run golden:update` rewrites the files instead. */
export function golden(name: string, actual: string): void {
  const path = `${GOLDEN_DIR}${name}`;
  if (process.env.OSPFBOND_UPDATE_GOLDEN === '1') {
    writeFileSync(path, actual);
    return;
  }
  let expected: string;
  try {
    expected = readFileSync(path, 'utf8');
  } catch {
    assert.fail(`golden file ${name} is missing: run \`npm run golden:update\` and review it`);
  }
  assert.equal(actual, expected, `differs from test/golden/${name}`);
}

/**
 * systemd's own checker on units as ospfbond writes or ships them: `systemd-analyze verify` in a
 * scratch root that holds the system's units (for the targets and frr.service they name) and an
 * executable at each ExecStart path, so that the check does not depend on where ospfbond was
 * installed. Fails on a non-zero exit and on any warning (an unknown key is only a warning).
 */
export async function verifyUnits(units: Record<string, string>): Promise<void> {
  const root = mkdtempSync(join(tmpdir(), 'ospfbond-units-'));
  try {
    cpSync('/usr/lib/systemd/system', join(root, 'usr/lib/systemd/system'), { recursive: true, verbatimSymlinks: true });
    const unitDir = join(root, 'etc/systemd/system');
    mkdirSync(unitDir, { recursive: true });
    for (const [name, text] of Object.entries(units)) {
      writeFileSync(join(unitDir, name), text);
      for (const [, program] of text.matchAll(/^ExecStart=-?(\/\S+)/gm)) {
        const stub = join(root, program!);
        mkdirSync(dirname(stub), { recursive: true });
        writeFileSync(stub, '#!/bin/sh\n');
        chmodSync(stub, 0o755);
      }
    }
    const r = await execa('systemd-analyze', ['verify', '--man=no', `--root=${root}`, ...Object.keys(units)], { reject: false, all: true });
    assert.equal(r.exitCode, 0, `systemd-analyze verify failed:\n${r.all}`);
    assert.equal(r.all?.trim(), '', `systemd-analyze verify complained:\n${r.all}`);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}
