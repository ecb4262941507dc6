import { createHash } from 'node:crypto';
import { readText } from '../base/files.js';
import { probe } from '../base/run.js';
import { FRR } from '../base/paths.js';
import { frrPids } from './service.js';
import { vtyQuery } from './vtysh.js';

/** Whether the running FRR holds exactly ospfbond's block, as frr-reload.py compares them. */

/**
 * frr-reload.py --test lists what a reload would change. Only differences in ospfbond's own lines
 * count: FRR reports machine defaults (hostname, ipv6 forwarding) that are none of ospfbond's business.
 */
export async function frrDrift(): Promise<string> {
  const key = await driftInputs();
  if (key !== undefined && lastDrift?.key === key) return lastDrift.out;
  const r = await probe(['python3', FRR.reload, '--test', FRR.conf]);
  if (r.exitCode !== 0) return 'Lines To Add\n(frr-reload.py --test failed)\n';
  if (key !== undefined) lastDrift = { key, out: r.stdout };
  return r.stdout;
}

/**
 * frr-reload.py's answer depends only on frr.conf and the running config. Starting Python costs
 * some 0.3 s of CPU, which the daemon's reconcile (every 30 s) spent for the same answer over and
 * over; the inputs, read over the daemons' vty sockets, cost next to nothing. So the last answer is
 * kept with a hash of its inputs, and Python runs only when they changed.
 */
let lastDrift: { key: string; out: string } | undefined;

/** A hash of frr.conf and each running FRR daemon's own running config; undefined if one cannot be read. */
async function driftInputs(): Promise<string | undefined> {
  const hash = createHash('sha256').update(readText(FRR.conf));
  for (const d of Object.keys(frrPids()).filter((d) => d !== 'watchfrr').sort()) {
    const r = await vtyQuery(d, 'show running-config').catch(() => undefined);
    if (!r || r.status !== 0) return undefined;
    hash.update(`\0${d}\0${r.output}`);
  }
  return hash.digest('hex');
}

/**
 * Lines FRR takes but does not show in its running config (FRR 8.4: `ospf maxage-delay`), so
 * frr-reload.py lists them as to add every time; loaded from frr.conf at start and by every reload.
 */
const NOT_SHOWN = /^ospf maxage-delay /;

/** `reloadTest` (frr-reload.py --test output) shows nothing of `block` missing and nothing of ospfbond's to delete. */
export function blockInSync(reloadTest: string, block: string): boolean {
  const ours = new Set(block.split('\n').map((l) => l.trim()).filter((l) => l && l !== '!' && l !== 'exit' && !l.startsWith('!')));
  let section = '';
  const lines = reloadTest.split('\n');
  for (const [i, raw] of lines.entries()) {
    const line = raw.trim();
    if (line === 'Lines To Delete' || line === 'Lines To Add') {
      section = line;
      continue;
    }
    if (!line || /^=+$/.test(line) || NOT_SHOWN.test(line)) continue;
    if (line.startsWith('(')) return false;
    if (section === 'Lines To Add' && ours.has(line) && !onlyNotShownBelow(lines, i)) return false;
    if (section === 'Lines To Delete' && /\b(ospf|bfd)\b|^interface obt|^interface obw/.test(line)) return false;
  }
  return true;
}

/** A section header (`router ospf`) that frr-reload.py lists only for the lines FRR does not show. */
function onlyNotShownBelow(lines: string[], i: number): boolean {
  if (lines[i]!.startsWith(' ')) return false;
  const below: string[] = [];
  for (let j = i + 1; j < lines.length && lines[j]!.startsWith(' '); j++) below.push(lines[j]!.trim());
  return below.length > 0 && below.every((l) => NOT_SHOWN.test(l));
}
