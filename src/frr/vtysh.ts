import { OspfbondError, EXIT } from '../base/errors.js';
import { probe } from '../base/run.js';

const VTYSH_TIMEOUT_MS = 10_000;

/** A `show ... json` command's output (json.ts reads it); an error when FRR does not answer with JSON. */
export async function vtyshJson(command: string): Promise<string> {
  // vtysh answers in milliseconds; a daemon that is stopping or starting can hold it much longer.
  const r = await probe(['vtysh', '-c', command], undefined, VTYSH_TIMEOUT_MS);
  if (r.exitCode !== 0 || (!r.stdout.trim().startsWith('{') && !r.stdout.trim().startsWith('['))) {
    throw new OspfbondError(`vtysh -c '${command}': ${(r.stderr || r.stdout).trim() || `exit ${r.exitCode}`}`, EXIT.precondition, 'is FRR running? `ospfbond doctor` checks it');
  }
  return r.stdout;
}
