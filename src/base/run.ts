import { execa } from 'execa';
import { OspfbondError, EXIT } from './errors.js';

export interface RunResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}

const PROBE_TIMEOUT_MS = 60_000;

/** Runs a read-only command; never throws for a non-zero exit (callers decide what absence means). */
export async function probe(argv: string[], input?: string, timeoutMs = PROBE_TIMEOUT_MS): Promise<RunResult> {
  const [cmd, ...args] = argv as [string, ...string[]];
  // A read that hangs (vtysh toward a daemon that is stopping, say) must not hold up the daemon's jobs.
  const r = await execa(cmd, args, { reject: false, input, stripFinalNewline: true, env: { LC_ALL: 'C' }, timeout: timeoutMs });
  if (r.timedOut) throw new OspfbondError(`${argv.join(' ')}: no answer after ${timeoutMs / 1000} s`, EXIT.failure);
  if (r.failed && r.exitCode === undefined) {
    throw new OspfbondError(`${cmd}: cannot run it (${r.shortMessage})`, EXIT.precondition, `install the package that provides ${cmd}`);
  }
  return { stdout: String(r.stdout ?? ''), stderr: String(r.stderr ?? ''), exitCode: r.exitCode ?? 1 };
}

/** A read-only command's output; throws when it fails. */
export async function probeText(argv: string[]): Promise<string> {
  const r = await probe(argv);
  if (r.exitCode !== 0) throw new OspfbondError(`${argv.join(' ')} failed: ${r.stderr.trim()}`, EXIT.failure);
  return r.stdout;
}

export async function probeJson<T>(argv: string[]): Promise<T> {
  return JSON.parse((await probeText(argv)) || '[]') as T;
}
