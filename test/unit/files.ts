import { readFileSync, writeFileSync } from 'node:fs';
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
