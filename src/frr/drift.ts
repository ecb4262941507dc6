import { probe } from '../base/run.js';
import { FRR } from '../base/paths.js';

/** Whether the running FRR holds exactly ospfbond's block, as frr-reload.py compares them. */

/**
 * frr-reload.py --test lists what a reload would change. Only differences in ospfbond's own lines
 * count: FRR reports machine defaults (hostname, ipv6 forwarding) that are none of ospfbond's business.
 */
export async function frrDrift(): Promise<string> {
  const r = await probe(['python3', FRR.reload, '--test', FRR.conf]);
  return r.exitCode === 0 ? r.stdout : 'Lines To Add\n(frr-reload.py --test failed)\n';
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
