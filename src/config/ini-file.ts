import * as ini from 'ini';
import { ConfigError } from '../base/errors.js';

export interface IniDocument {
  data: Record<string, unknown>;
  /** Where each `section\0key` and each `section` header stands (1-based lines), for error messages. */
  lineOf(section: string, key?: string): number;
}

export function parseIni(file: string, text: string): IniDocument {
  const data = readIni(file, text);
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

/**
 * The ini package throws a TypeError on two kinds of input: a name in single quotes, which it reads
 * as JSON, that is not a string ('null'), and a key set to null that a section is also inside
 * (`wan = null` with [wan.dsl]). The first line it fails on becomes a config problem, not a stack trace.
 */
function readIni(file: string, text: string): Record<string, unknown> {
  try {
    return ini.parse(text) as Record<string, unknown>;
  } catch {
    const lines = text.split(/\r?\n/);
    let n = 1;
    while (n < lines.length && readable(lines.slice(0, n).join('\n'))) n++;
    throw new ConfigError([{ file, line: n, ...unreadable(lines[n - 1]!.trim()) }]);
  }
}

function readable(text: string): boolean {
  try {
    ini.parse(text);
    return true;
  } catch {
    return false;
  }
}

function unreadable(line: string): { key: string; message: string } {
  const header = /^\[(.*)\]$/.exec(line);
  const name = (header ? header[1]! : line.split('=')[0]!).trim();
  if (/^'.*'$/.test(name)) return { key: name, message: `a ${header ? 'section name' : 'key'} in single quotes is read as JSON, and this one is not a string (write it without quotes)` };
  if (header) return { key: name, message: 'this section is inside a key set to null (remove that key, or rename the section)' };
  return { key: name, message: `set to null, and a section above is inside ${name} (remove this line, or that section)` };
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
