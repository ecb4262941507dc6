import { readFileSync } from 'node:fs';
import { OspfbondError, EXIT } from '../base/errors.js';
import { aggregateSecret } from '../model/aggregate.js';
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

/**
 * Each aggregating site's proxy key, by site name (model/aggregate.ts aggregateSecret): the hub's
 * from its own key and each site's lowest tunnel's public key, a spoke's from that tunnel's key and
 * the hub's public key. Reading the key files needs root.
 */
export function aggregateSecrets(cfg: Config): Record<string, string> {
  const read = (file: string, what: string) => {
    try {
      return readFileSync(file, 'utf8');
    } catch (err) {
      throw new OspfbondError(`${what}: ${file}: cannot read it (${(err as NodeJS.ErrnoException).code ?? 'error'})`, EXIT.precondition, 'run as root, and check the key file named in the config');
    }
  };
  if (cfg.role === 'spoke') {
    if (cfg.aggregate !== 'tcp' || cfg.wans.length === 0) return {};
    const lowest = [...cfg.wans].sort((a, b) => a.tunnel - b.tunnel)[0]!;
    return { [cfg.name]: aggregateSecret(read(lowest.privateKeyFile, `wan ${lowest.name}`), cfg.hub.publicKey) };
  }
  const sites = cfg.spokes.filter((s) => s.aggregate === 'tcp' && s.wans.length > 0);
  if (sites.length === 0) return {};
  const hubKey = read(cfg.privateKeyFile, 'hub');
  return Object.fromEntries(sites.map((s) => [s.name, aggregateSecret(hubKey, [...s.wans].sort((a, b) => a.tunnel - b.tunnel)[0]!.publicKey)]));
}
