import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { OspfbondError, EXIT } from '../errors.js';
import { parseEndpoint, checkPool, mbitNumber, BFD_PROFILES, type BfdProfileName } from './schema.js';

/**
 * A bundle is everything one spoke needs from the hub, in one file of mode 0600: the spoke's own
 * private keys (one per WAN) and the hub's public key, endpoint and addressing. Never the hub's key.
 */
export const BUNDLE_FORMAT = 'ospfbond-bundle';
export const BUNDLE_VERSION = 1;

const key = z.string().regex(/^[A-Za-z0-9+/]{43}=$/, 'not a WireGuard key');
export const bundleSchema = z.strictObject({
  format: z.literal(BUNDLE_FORMAT),
  version: z.literal(BUNDLE_VERSION),
  hub: z.strictObject({
    endpoint: z.string().refine((s) => typeof parseEndpoint(s) !== 'string', 'not HOST:PORT'),
    public_key: key,
    tunnel_pool: z.string().refine((s) => checkPool(s) === undefined, 'not a tunnel pool'),
    bfd_profile: z.enum(Object.keys(BFD_PROFILES) as [BfdProfileName, ...BfdProfileName[]]),
  }),
  spoke: z.strictObject({ name: z.string().min(1), id: z.number().int().min(1).max(65535) }),
  wans: z
    .array(
      z.strictObject({
        name: z.string().regex(/^[a-z][a-z0-9]{0,9}$/),
        tunnel: z.number().int().min(1),
        private_key: key,
        public_key: key,
        cost: z.number().int().min(1).max(65535),
        mtu: z.number().int().min(1280).max(9000),
        down_mbit: mbitNumber.optional(),
        up_mbit: mbitNumber.optional(),
      }),
    )
    .min(1),
});
export type Bundle = z.infer<typeof bundleSchema>;

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
  const r = bundleSchema.safeParse(data);
  if (!r.success) {
    const what = r.error.issues.map((i) => `${i.path.join('.') || '(top)'}: ${i.message}`).join('; ');
    throw new OspfbondError(`bundle ${file}: ${what}`, EXIT.usage, 'make a new one with `ospfbond hub add-spoke` on the hub');
  }
  return r.data;
}
