import * as ini from 'ini';

export interface IniDocument {
  data: Record<string, unknown>;
  /** Where each `section\0key` and each `section` header stands (1-based lines), for error messages. */
  lineOf(section: string, key?: string): number;
}

export function parseIni(text: string): IniDocument {
  const data = ini.parse(text) as Record<string, unknown>;
  const lines = new Map<string, number>();
  let section = '';
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith(';') || line.startsWith('#')) return;
    const header = /^\[(.+)\]$/.exec(line);
    if (header) {
      section = header[1]!.trim();
      if (!lines.has(section)) lines.set(section, i + 1);
      return;
    }
    const eq = line.indexOf('=');
    const key = (eq < 0 ? line : line.slice(0, eq)).trim();
    const id = `${section}\0${key}`;
    if (!lines.has(id)) lines.set(id, i + 1);
  });
  return {
    data,
    lineOf(sec, key) {
      if (key !== undefined) {
        const at = lines.get(`${sec}\0${key}`);
        if (at !== undefined) return at;
      }
      return lines.get(sec) ?? 1;
    },
  };
}

/** Sections in the order given; nested objects become dotted sections, as `ini` reads them back. */
export function encodeIni(header: string, data: Record<string, unknown>): string {
  const comment = header
    .split('\n')
    .map((l) => `; ${l}`.trimEnd())
    .join('\n');
  return `${comment}\n\n${ini.encode(dropUndefined(data), { whitespace: true })}`;
}

/** ini writes an absent optional setting as the string `undefined`; leave it out instead. */
function dropUndefined(data: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(data)) {
    if (v === undefined) continue;
    out[k] = v !== null && typeof v === 'object' && !Array.isArray(v) ? dropUndefined(v as Record<string, unknown>) : v;
  }
  return out;
}
