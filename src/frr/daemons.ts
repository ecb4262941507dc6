/** FRR's daemons file (/etc/frr/daemons): which daemons watchfrr starts. */

/** What ospfbond needs running. */
export const OSPFBOND_DAEMONS: Readonly<Record<string, string>> = { ospfd: 'yes', bfdd: 'yes', staticd: 'yes' };

export function parseDaemons(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of text.matchAll(/^([a-z0-9]+d)=(\S+)\s*$/gm)) out[m[1]!] = m[2]!;
  return out;
}

export function setDaemons(text: string, want: Record<string, string>): string {
  let out = text;
  for (const [d, v] of Object.entries(want)) {
    const re = new RegExp(`^${d}=\\S*\\s*$`, 'm');
    out = re.test(out) ? out.replace(re, `${d}=${v}`) : `${out}${out.endsWith('\n') || out === '' ? '' : '\n'}${d}=${v}\n`;
  }
  return out;
}

/** The lines of `text` that must change for `want`. */
export function daemonsChanges(want: Record<string, string>, text: string): Record<string, string> {
  const cur = parseDaemons(text);
  // staticd is always started by frrinit.sh; its line does not exist in Debian's daemons file.
  return Object.fromEntries(Object.entries(want).filter(([d, v]) => d !== 'staticd' && cur[d] !== v));
}
