import { createHash } from 'node:crypto';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { OspfbondError, EXIT } from '../base/errors.js';
import { readText, writeFileAtomic, writeSecretAtomic } from '../base/files.js';
import { RUNTIME, STATE } from '../base/paths.js';
import type { FrrObserved } from '../frr/observe.js';
import type { QualityRecord } from '../model/quality.js';

/** ospfbond's records on the router (base/paths.ts STATE): each read and written here only. */

/** What ospfbond changed that was not its own object, to put back on `down`. */
export interface SavedState {
  sysctls: Record<string, string>;
  daemons: Record<string, string>;
}

export function readSaved(): SavedState | undefined {
  const text = readText(STATE.saved);
  if (!text) return undefined;
  try {
    return JSON.parse(text) as SavedState;
  } catch {
    throw new OspfbondError(`${STATE.saved}: not valid JSON`, EXIT.failure, 'it holds the settings `down` restores; repair or remove it');
  }
}

export function savedStateText(saved: SavedState): string {
  return `${JSON.stringify(saved, null, 2)}\n`;
}

// The last policy both ends of each site ran: model/policy.ts decides with it which end changed.

/** A JSON record ospfbond wrote, or undefined when it is missing or unreadable. */
function readRecord<T>(path: string): T | undefined {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as T;
  } catch {
    return undefined;
  }
}

export function readAgreed(): Record<string, string> {
  // Missing or unreadable: no record, so a disagreement is settled by the tie rule (the spoke wins).
  return readRecord<{ agreed?: Record<string, string> }>(STATE.policy)?.agreed ?? {};
}

export function writeAgreed(agreed: Record<string, string>): void {
  writeFileAtomic(STATE.policy, `${JSON.stringify({ agreed }, null, 2)}\n`, 0o644);
}

export function hasAgreed(): boolean {
  return existsSync(STATE.policy);
}

// Tunnels degraded by the link quality steering: on a site, its daemon's verdicts; on a hub, what
// it follows from the sites' costs. Keyed by tunnel number, the value says why.

export type Steering = Record<number, string>;

export function readSteering(): Steering {
  // None written (no daemon yet, or after a reboot): nothing is degraded.
  const degraded = readRecord<{ degraded?: Record<string, string> }>(RUNTIME.steering)?.degraded ?? {};
  return Object.fromEntries(Object.entries(degraded).map(([t, why]) => [Number(t), why]));
}

/** The same tunnels degraded (the reasons may differ: they are not applied to the router). */
export function sameTunnels(a: Steering, b: Steering): boolean {
  const [x, y] = [Object.keys(a).sort(), Object.keys(b).sort()];
  return x.length === y.length && x.every((k, i) => k === y[i]);
}

export function writeSteering(degraded: Steering): void {
  writeFileAtomic(RUNTIME.steering, `${JSON.stringify({ degraded }, null, 2)}\n`, 0o644);
}

/** The site daemon's last measurement (daemon/jobs/quality.ts), undefined when there is none. */
export function readQuality(): QualityRecord | undefined {
  return readRecord<QualityRecord>(RUNTIME.quality);
}

export function hasRuntimeRecords(): boolean {
  return existsSync(RUNTIME.steering) || existsSync(RUNTIME.quality);
}

// The config of the last apply that finished, and one that failed.

export const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

export function hasApplied(): boolean {
  return existsSync(STATE.applied);
}

export function recordApplied(text: string): void {
  writeSecretAtomic(STATE.applied, text);
  rmSync(STATE.rejected, { force: true });
}

export function forgetApplied(): void {
  rmSync(STATE.applied, { force: true });
  rmSync(STATE.rejected, { force: true });
}

/** Marks the config in `file` (as it reads now) as not to be applied again unchanged. */
export function recordRejected(file: string, reason: string): void {
  writeFileAtomic(STATE.rejected, `${JSON.stringify({ file, sha256: sha256(readFileSync(file, 'utf8')), reason, at: new Date().toISOString() }, null, 2)}\n`, 0o600);
}

/** Why the config in `file` is not to be applied again unchanged, if an apply rolled it back. */
export function rejection(file: string): string | undefined {
  try {
    const r = JSON.parse(readFileSync(STATE.rejected, 'utf8')) as { sha256: string; reason: string; at: string };
    return r.sha256 === sha256(readFileSync(file, 'utf8')) ? `${r.reason} (${r.at})` : undefined;
  } catch {
    return undefined;
  }
}

// An `apply --confirm` whose confirm has not come yet: what its revert needs to know.

export type RevertTimer = { kind: 'systemd'; unit: string } | { kind: 'waiter'; pid: number } | { kind: 'none' };

export interface Pending {
  /** Names this window: a timer of an earlier window finds another token and does nothing. */
  token: string;
  file: string;
  /** The config text applied, which `confirm` records as applied (the file may be edited meanwhile). */
  config: string;
  seconds: number;
  deadline: string;
  /** The kernel's boot id at apply: the timer does not survive a reboot, so a new boot reverts. */
  boot: string;
  /** FRR before the first unconfirmed apply, and the sysctls the unconfirmed configs set: what the revert puts back. */
  frr: Pick<FrrObserved, 'running' | 'unsettled' | 'ipv6Forwarding'>;
  sysctls: string[];
  timer: RevertTimer;
}

export function readPending(): Pending | undefined {
  let text: string;
  try {
    text = readFileSync(STATE.pending, 'utf8');
  } catch {
    return undefined;
  }
  try {
    return JSON.parse(text) as Pending;
  } catch {
    throw new OspfbondError(`${STATE.pending}: not valid JSON`, EXIT.partial, 'an `apply --confirm` was interrupted while recording its window: run `ospfbond revert` to go back to the last applied config, or `ospfbond confirm` to keep what runs now');
  }
}

export function writePending(p: Pending): void {
  writeSecretAtomic(STATE.pending, `${JSON.stringify(p, null, 2)}\n`);
}

export function removePending(): void {
  rmSync(STATE.pending, { force: true });
}
