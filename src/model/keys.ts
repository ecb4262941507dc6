import { generateKeyPairSync, createPrivateKey, createPublicKey } from 'node:crypto';

/** WireGuard keys are raw X25519 keys in base64; Node's crypto makes them without the `wg` binary. */
export interface KeyPair {
  privateKey: string;
  publicKey: string;
}

export function generateKeyPair(): KeyPair {
  const { privateKey, publicKey } = generateKeyPairSync('x25519');
  const priv = privateKey.export({ format: 'jwk' }).d!;
  const pub = publicKey.export({ format: 'jwk' }).x!;
  return { privateKey: Buffer.from(priv, 'base64url').toString('base64'), publicKey: Buffer.from(pub, 'base64url').toString('base64') };
}

/** The PKCS#8 wrapping of a raw X25519 private key, so Node can derive its public key. */
const PKCS8_X25519 = Buffer.from('302e020100300506032b656e04220420', 'hex');

export function publicKeyOf(privateKeyB64: string): string {
  const raw = Buffer.from(privateKeyB64.trim(), 'base64');
  if (raw.length !== 32) throw new Error('not a WireGuard private key (32 bytes of base64)');
  const key = createPrivateKey({ key: Buffer.concat([PKCS8_X25519, raw]), format: 'der', type: 'pkcs8' });
  return Buffer.from(createPublicKey(key).export({ format: 'jwk' }).x!, 'base64url').toString('base64');
}
