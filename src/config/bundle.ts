import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { OspfbondError, EXIT } from '../base/errors.js';
import { publicKeyOf } from '../model/keys.js';
import { AGGREGATE_MODES } from '../model/aggregate.js';
import { MAX_WAN_COST } from '../model/policy.js';
import { BFD_PROFILE_NAMES, MAX_WANS, SPOKE_ID, SPOKE_NAME, TUNNEL, WAN_MTU, WAN_NAME, WG_KEY } from '../model/limits.js';
import { parseEndpoint, checkPool, mbitNumber } from './schema.js';

/**
 * A bundle is everything one spoke needs from the hub, in one file of mode 0600: the spoke's own
 * private keys (one per WAN) and the hub's public key, endpoint and addressing. Never the hub's key.
 */
export const BUNDLE_FORMAT = 'ospfbond-bundle';
/** 2: the `sha256` member. 1 had none. */
export const BUNDLE_VERSION = 2;

const key = z.string().regex(WG_KEY, 'not a WireGuard key');
export const bundleSchema = z.strictObject({
  format: z.literal(BUNDLE_FORMAT),
  version: z.literal(BUNDLE_VERSION),
  hub: z.strictObject({
    endpoint: z.string().refine((s) => typeof parseEndpoint(s) !== 'string', 'not HOST:PORT'),
    public_key: key,
    tunnel_pool: z.string().refine((s) => checkPool(s) === undefined, 'not a tunnel pool'),
    bfd_profile: z.enum(BFD_PROFILE_NAMES),
  }),
  // `aggregate` is optional so that bundles written before it existed still read (as the default, DEFAULT_AGGREGATE).
  spoke: z.strictObject({ name: z.string().regex(SPOKE_NAME), id: z.number().int().min(SPOKE_ID.min).max(SPOKE_ID.max), aggregate: z.enum(AGGREGATE_MODES).optional() }),
  wans: z
    .array(
      z.strictObject({
        name: z.string().regex(WAN_NAME),
        tunnel: z.number().int().min(TUNNEL.min).max(TUNNEL.max),
        private_key: key,
        public_key: key,
        cost: z.number().int().min(1).max(MAX_WAN_COST),
        mtu: z.number().int().min(WAN_MTU.min).max(WAN_MTU.max),
        down_mbit: mbitNumber.optional(),
        up_mbit: mbitNumber.optional(),
      }),
    )
    .min(1)
    .max(MAX_WANS),
  sha256: z.string().regex(/^[0-9a-f]{64}$/, 'not a SHA-256 in hex'),
});
export type Bundle = z.infer<typeof bundleSchema>;
export type BundleContent = Omit<Bundle, 'sha256'>;

/**
 * The text the checksum is taken over: the bundle without its top-level `sha256` member, as
 * JSON.stringify writes it with no whitespace and every object's members sorted by name (UTF-16
 * order). It is rebuilt from the parsed JSON, so reindenting, reordering members or escaping
 * characters differently keeps the checksum, and any changed, added or removed value breaks it.
 */
export function canonicalBundleText(data: unknown): string {
  const { sha256: _, ...content } = data as Record<string, unknown>;
  // fromEntries defines `__proto__` as a plain member, as JSON.parse did, instead of setting the prototype.
  const sorted = (_key: string, v: unknown): unknown =>
    v && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) : v;
  return JSON.stringify(content, sorted);
}

const digest = (data: unknown): string => createHash('sha256').update(canonicalBundleText(data)).digest('hex');

/**
 * The bundle file's text, checksum included. The checksum catches a bundle damaged in the copy or
 * edited by hand; it is not authentication: there is no secret in it, so whoever edits a bundle can
 * recompute it (and whoever holds a bundle holds that spoke's private keys anyway).
 */
export function bundleText(content: BundleContent): string {
  return `${JSON.stringify({ ...content, sha256: digest(content) }, null, 2)}\n`;
}

/** How a bundle is made again; it has new keys, so the hub applies them too. */
function remakeHint(data: Record<string, unknown>): string {
  const spoke = (data.spoke as { name?: unknown } | null | undefined)?.name;
  const name = typeof spoke === 'string' && SPOKE_NAME.test(spoke) ? spoke : 'NAME';
  const wans = Array.isArray(data.wans) ? data.wans.map((w) => (w as { name?: unknown } | null)?.name) : [];
  const list = wans.length && wans.every((w) => typeof w === 'string' && WAN_NAME.test(w)) ? wans.join(',') : 'WAN1,WAN2';
  return `make a new one on the hub: \`ospfbond hub remove-spoke ${name} && ospfbond hub add-spoke ${name} --wans ${list} [--rate ...]\`, then \`ospfbond apply\` there`;
}

const COPY_AGAIN = 'copy it again from the hub, unchanged (scp, not a paste into an editor)';

/** Checks the parts of a bundle cannot be checked alone; zod has checked each part. */
function consistencyProblems(b: Bundle): string[] {
  const problems: string[] = [];
  b.wans.forEach((w, i) => {
    const at = `wans.${i} (${w.name})`;
    const earlier = b.wans.slice(0, i);
    const twice = <T>(pick: (x: Bundle['wans'][number]) => T) => earlier.findIndex((x) => pick(x) === pick(w));
    if (twice((x) => x.name) >= 0) problems.push(`${at}: WAN name ${w.name} is given twice`);
    const tunnel = twice((x) => x.tunnel);
    if (tunnel >= 0) problems.push(`${at}: tunnel ${w.tunnel} is already wans.${tunnel}'s`);
    // Names the WAN, never the private key: an error message ends up in logs and tickets.
    if (publicKeyOf(w.private_key) !== w.public_key) problems.push(`${at}: public_key is not the public key of its private_key`);
    const same = twice((x) => x.public_key);
    if (same >= 0) problems.push(`${at}: public_key is already wans.${same}'s: every WAN needs its own key`);
    if (w.public_key === b.hub.public_key) problems.push(`${at}: public_key is the hub's public key`);
  });
  return problems;
}

export function readBundle(file: string): Bundle {
  let data: unknown;
  try {
    data = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new OspfbondError(
      `bundle ${file}: ${code ? `cannot read it (${code})` : 'not a bundle (not JSON; truncated?)'}`,
      EXIT.usage,
      'copy the file `ospfbond hub add-spoke` wrote on the hub, unchanged',
    );
  }
  const fail = (what: string, hint: string) => new OspfbondError(`bundle ${file}: ${what}`, EXIT.usage, hint);
  if (!data || typeof data !== 'object' || Array.isArray(data) || (data as { format?: unknown }).format !== BUNDLE_FORMAT) {
    throw fail(`not a bundle (no "format": "${BUNDLE_FORMAT}")`, 'copy the file `ospfbond hub add-spoke` wrote on the hub, unchanged');
  }
  const obj = data as Record<string, unknown>;
  if (obj.version === 1) throw fail(`made by an older ospfbond (bundle version 1, without a checksum); this one reads version ${BUNDLE_VERSION}`, remakeHint(obj));
  if (obj.version !== BUNDLE_VERSION) {
    // Only a number is quoted: a field mixed up by hand could hold a private key.
    const v = typeof obj.version === 'number' ? `bundle version ${obj.version}` : 'its version is not a number';
    throw fail(`${v}: this ospfbond reads bundle version ${BUNDLE_VERSION}`, 'make the bundle with an ospfbond of the same version as the spoke\'s');
  }
  if (typeof obj.sha256 !== 'string') throw fail('it has no checksum ("sha256")', COPY_AGAIN);
  if (obj.sha256 !== digest(obj)) {
    throw fail('its checksum does not match its content: it was changed or damaged after `ospfbond hub add-spoke` wrote it', `${COPY_AGAIN}, or ${remakeHint(obj)}`);
  }
  const r = bundleSchema.safeParse(data);
  if (!r.success) throw fail(r.error.issues.map((i) => `${i.path.join('.') || '(top)'}: ${i.message}`).join('; '), remakeHint(obj));
  const problems = consistencyProblems(r.data);
  if (problems.length) throw fail(problems.join('; '), remakeHint(obj));
  return r.data;
}
