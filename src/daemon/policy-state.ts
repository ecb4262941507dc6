import { readFileSync } from 'node:fs';
import { writeFileAtomic } from '../config/fs-safe.js';
import { POLICY_STATE_FILE } from '../system/observe.js';

// The record of the last policy both ends ran: policy.ts decides with it which end changed.

export function readAgreed(): Record<string, string> {
  try {
    const j = JSON.parse(readFileSync(POLICY_STATE_FILE, 'utf8')) as { agreed?: Record<string, string> };
    return j.agreed ?? {};
  } catch {
    // Missing or unreadable: no record, so a disagreement is settled by the tie rule (the spoke wins).
    return {};
  }
}

export function writeAgreed(agreed: Record<string, string>): void {
  writeFileAtomic(POLICY_STATE_FILE, `${JSON.stringify({ agreed }, null, 2)}\n`, 0o644);
}
