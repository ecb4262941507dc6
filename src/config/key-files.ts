import { readFileSync } from 'node:fs';
import { publicKeyOf } from '../model/keys.js';
import type { Config } from './types.js';

/**
 * The config names its private keys by file and states their public keys; `wg` reads the files.
 * A file that does not hold the key the config states makes a tunnel whose peer refuses every
 * handshake, and a plan that sets the key again on every run (it compares public keys), so apply
 * checks the files first. Reading them needs root. No message quotes a file's content.
 */
export function keyFileProblems(cfg: Config): string[] {
  const keys =
    cfg.role === 'hub'
      ? [{ what: 'hub', file: cfg.privateKeyFile, publicKey: cfg.publicKey, field: 'public_key in [hub]' }]
      : cfg.wans.map((w) => ({ what: `wan ${w.name}`, file: w.privateKeyFile, publicKey: w.publicKey, field: `public_key in [wan.${w.name}]` }));
  const problems: string[] = [];
  const seen = new Map<string, string>();
  for (const k of keys) {
    let derived: string;
    try {
      derived = publicKeyOf(readFileSync(k.file, 'utf8'));
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      problems.push(`${k.what}: ${k.file}: ${code ? `cannot read it (${code})` : 'does not hold a WireGuard private key'}`);
      continue;
    }
    const other = seen.get(derived);
    if (other !== undefined) problems.push(`${k.what}: ${k.file} holds the same key as ${other}: every WAN needs its own key`);
    else seen.set(derived, `${k.what}'s ${k.file}`);
    if (derived !== k.publicKey) problems.push(`${k.what}: ${k.file} is not the private key of ${k.field} (\`wg pubkey < ${k.file}\` prints its public key)`);
  }
  return problems;
}
