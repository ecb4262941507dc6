import { randomBytes, createPrivateKey, createPublicKey } from 'node:crypto';

/** WireGuard keys are raw X25519 keys in base64; Node's crypto makes them without the `wg` binary. */
export interface KeyPair {
  privateKey: string;
  publicKey: string;
}

/**
 * A new key pair, made as `wg genkey` makes it: 32 random bytes, clamped for X25519 (RFC 7748 5).
 * Not with crypto.generateKeyPairSync: on Node.js 20.20 a garbage collection inside the export of
 * its keys ran a key-generation job's destructor, which waited for a lock the export held, and
 * `hub add-spoke` hung for good (seen once in the scale benchmark's 200 add-spokes; gdb showed the
 * main thread in ~KeyGenJob under ExportJWKEdKey).
 */
export function generateKeyPair(): KeyPair {
  const raw = randomBytes(32);
  raw[0]! &= 248;
  raw[31] = (raw[31]! & 127) | 64;
  const privateKey = raw.toString('base64');
  return { privateKey, publicKey: publicKeyOf(privateKey) };
}

/** The PKCS#8 wrapping of a raw X25519 private key, so Node can derive its public key. */
const PKCS8_X25519 = Buffer.from('302e020100300506032b656e04220420', 'hex');

export function publicKeyOf(privateKeyB64: string): string {
  const raw = Buffer.from(privateKeyB64.trim(), 'base64');
  if (raw.length !== 32) throw new Error('not a WireGuard private key (32 bytes of base64)');
  const key = createPrivateKey({ key: Buffer.concat([PKCS8_X25519, raw]), format: 'der', type: 'pkcs8' });
  return Buffer.from(createPublicKey(key).export({ format: 'jwk' }).x!, 'base64url').toString('base64');
}
