import { posix } from 'node:path';
import type { ConfigProblem } from '../base/errors.js';
import { maxTunnels } from '../model/addressing.js';
import { MAX_WANS, DEFAULT_POOL, TUNNEL } from '../model/limits.js';
import { MODES, policyCheck } from '../model/policy.js';
import type { IniDocument } from './ini-file.js';
import { checkPool, splitList, wholeNumber } from './schema.js';

/**
 * Problems that no single value shows: a value used twice, a policy naming a WAN the site lacks, a
 * tunnel the pool cannot hold. They run on the file as read, beside the schema, so one run of
 * `apply` lists every problem of the file and a user fixes it in one go; a value the schema
 * refuses is left to the schema's message.
 */

type Section = [string, Record<string, unknown>];
const sections = (v: unknown): Section[] =>
  v && typeof v === 'object' ? (Object.entries(v).filter(([, x]) => x && typeof x === 'object') as Section[]) : [];
const record = (v: unknown): Record<string, unknown> => (v && typeof v === 'object' ? (v as Record<string, unknown>) : {});

interface Item {
  section: string;
  key: string;
  value: unknown;
  owner: string;
}

/** Values used twice across sections. */
function duplicates(file: string, doc: IniDocument, items: Item[], what: (owner: string, v: string) => string): ConfigProblem[] {
  const seen = new Map<string, string>();
  const out: ConfigProblem[] = [];
  for (const it of items) {
    if (typeof it.value !== 'string' && typeof it.value !== 'number') continue;
    const v = String(it.value).trim();
    const prev = seen.get(v);
    if (prev !== undefined) out.push({ file, line: doc.lineOf(it.section, it.key), key: `${it.section}.${it.key}`, message: what(prev, v) });
    else seen.set(v, it.owner);
  }
  return out;
}

/** `/etc/ospfbond/keys//dsl.key` and `/etc/ospfbond/keys/./dsl.key` are one file. */
const keyPath = (v: unknown): unknown => (typeof v === 'string' ? posix.normalize(v.trim()) : v);

/** A WAN's key that is the hub's: the WAN's tunnel would be the hub talking to itself. */
function sameAsHubKey(file: string, doc: IniDocument, hubKey: unknown, hubKeyName: string, wans: { section: string; value: unknown }[]): ConfigProblem[] {
  if (typeof hubKey !== 'string') return [];
  return wans
    .filter((w) => typeof w.value === 'string' && w.value.trim() === hubKey.trim())
    .map((w) => ({ file, line: doc.lineOf(w.section, 'public_key'), key: `${w.section}.public_key`, message: `the hub's key (${hubKeyName}): every WAN needs its own key` }));
}

/** A site's mode and primaries (`raw`, the INI section `section`) against its WANs. */
function policyProblems(file: string, doc: IniDocument, section: string, raw: Record<string, unknown>, wans: string[]): ConfigProblem[] {
  const mode = raw.mode ?? 'active-active';
  const primary = splitList(raw.primary ?? []);
  if (!(MODES as readonly unknown[]).includes(mode) || !Array.isArray(primary) || primary.some((p) => typeof p !== 'string')) return [];
  const at = (key: string, message: string) => [{ file, line: doc.lineOf(section, key), key: `${section}.${key}`, message }];
  if (mode === 'active-active') return primary.length ? at('primary', 'primary only applies to mode = active-standby') : [];
  const err = policyCheck({ mode: 'active-standby', primary: primary as string[] }, wans);
  return err ? at(primary.length ? 'primary' : 'mode', err) : [];
}

/** Tunnels past the end of the pool (a tunnel number the schema refuses is its problem alone). */
function poolProblems(file: string, doc: IniDocument, poolValue: unknown, tunnels: { section: string; value: unknown }[]): ConfigProblem[] {
  const pool = poolValue ?? DEFAULT_POOL;
  if (typeof pool !== 'string' || checkPool(pool) !== undefined) return [];
  const limit = maxTunnels(pool);
  return tunnels.flatMap(({ section, value }) => {
    const t = wholeNumber(value);
    if (typeof t !== 'number' || !Number.isInteger(t) || t < TUNNEL.min || t > TUNNEL.max || t <= limit) return [];
    return [{ file, line: doc.lineOf(section, 'tunnel'), key: `${section}.tunnel`, message: `tunnel ${t} does not fit tunnel_pool ${pool} (at most ${limit})` }];
  });
}

export function hubChecks(file: string, doc: IniDocument): ConfigProblem[] {
  const hub = record(doc.data.hub);
  const spokes = sections(doc.data.spoke);
  const tunnels = spokes.flatMap(([name, s]) => sections(s.wan).map(([wan, t]) => ({ name, wan, t, section: `spoke.${name}.wan.${wan}` })));
  return [
    ...duplicates(file, doc, spokes.map(([name, s]) => ({ section: `spoke.${name}`, key: 'id', value: wholeNumber(s.id), owner: name })), (o, v) => `id ${v} is already spoke ${o}'s`),
    ...duplicates(file, doc, tunnels.map(({ name, wan, t, section }) => ({ section, key: 'tunnel', value: wholeNumber(t.tunnel), owner: `${name}/${wan}` })), (o, v) => `tunnel ${v} is already ${o}'s`),
    ...duplicates(file, doc, tunnels.map(({ name, wan, t, section }) => ({ section, key: 'public_key', value: t.public_key, owner: `${name}/${wan}` })), (o) => `same key as ${o}: every WAN needs its own key`),
    ...sameAsHubKey(file, doc, hub.public_key, 'hub.public_key', tunnels.map(({ t, section }) => ({ section, value: t.public_key }))),
    ...spokes.filter(([, s]) => sections(s.wan).length === 0).map(([name]) => ({ file, line: doc.lineOf(`spoke.${name}`), key: `spoke.${name}`, message: 'has no [spoke.NAME.wan.WAN] section' })),
    ...spokes.flatMap(([name, s]) => policyProblems(file, doc, `spoke.${name}`, s, sections(s.wan).map(([wan]) => wan))),
    ...poolProblems(file, doc, hub.tunnel_pool, tunnels.map(({ t, section }) => ({ section, value: t.tunnel }))),
  ];
}

export function spokeChecks(file: string, doc: IniDocument): ConfigProblem[] {
  const spoke = record(doc.data.spoke);
  const wans = sections(doc.data.wan);
  const listed = splitList(spoke.lan_devs);
  const lanDevs = Array.isArray(listed) ? listed : [];
  const problems = [
    ...duplicates(file, doc, wans.map(([name, w]) => ({ section: `wan.${name}`, key: 'dev', value: w.dev, owner: name })), (o, v) => `device ${v} is already WAN ${o}'s: one device per WAN`),
    ...duplicates(file, doc, wans.map(([name, w]) => ({ section: `wan.${name}`, key: 'tunnel', value: wholeNumber(w.tunnel), owner: name })), (o, v) => `tunnel ${v} is already WAN ${o}'s`),
    ...duplicates(file, doc, wans.map(([name, w]) => ({ section: `wan.${name}`, key: 'private_key_file', value: keyPath(w.private_key_file), owner: name })), (o, v) => `${v} is already WAN ${o}'s key file: every WAN needs its own key`),
    ...duplicates(file, doc, wans.map(([name, w]) => ({ section: `wan.${name}`, key: 'public_key', value: w.public_key, owner: name })), (o) => `same key as WAN ${o}: every WAN needs its own key`),
    ...sameAsHubKey(file, doc, spoke.hub_public_key, 'spoke.hub_public_key', wans.map(([name, w]) => ({ section: `wan.${name}`, value: w.public_key }))),
    ...wans
      .filter(([, w]) => typeof w.dev === 'string' && lanDevs.includes(w.dev))
      .map(([name, w]) => ({ file, line: doc.lineOf('spoke', 'lan_devs'), key: 'spoke.lan_devs', message: `${String(w.dev)} is WAN ${name}'s device and cannot be a LAN device too` })),
    ...policyProblems(file, doc, 'spoke', spoke, wans.map(([name]) => name)),
    ...poolProblems(file, doc, spoke.tunnel_pool, wans.map(([name, w]) => ({ section: `wan.${name}`, value: w.tunnel }))),
  ];
  if (wans.length === 0) problems.push({ file, line: doc.lineOf('spoke'), key: 'wan', message: 'no [wan.NAME] section: a spoke needs at least one WAN' });
  if (wans.length > MAX_WANS) problems.push({ file, line: doc.lineOf('spoke'), key: 'wan', message: `${wans.length} WANs: at most ${MAX_WANS}` });
  return problems;
}
