import { spawn } from 'node:child_process';
import { execa } from 'execa';
import { statSync, chownSync, rmSync, mkdtempSync, openSync, closeSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeFileAtomic } from '../base/files.js';
import { OspfbondError, EXIT } from '../base/errors.js';
import { wireguardSocket } from '../base/paths.js';
import { underSystemd } from '../base/host.js';
import { describe, type Step } from '../model/step.js';

export type Printer = (line: string) => void;

/**
 * Prints each step as wg-quick does (`[#] command`), then runs it. The first failure stops the run.
 * `before(i)` is called before step i (0-based) is printed; what it throws stops the run there.
 */
export async function execute(steps: Step[], print: Printer, hooks: { before?: (i: number) => void } = {}): Promise<void> {
  for (const [i, step] of steps.entries()) {
    hooks.before?.(i);
    print(`[#] ${describe(step)}`);
    if (step.kind === 'run' && step.input) print(indent(step.input));
    await runStep(step, print);
  }
}

export function printPlan(steps: Step[], print: Printer): void {
  for (const step of steps) {
    print(`[#] ${describe(step)}`);
    if (step.kind === 'run' && step.input) print(indent(step.input));
    if (step.kind === 'write' && step.preview) print(indent(step.preview));
  }
}

function indent(text: string): string {
  return text
    .trimEnd()
    .split('\n')
    .map((l) => `    ${l}`)
    .join('\n');
}

async function runStep(step: Step, print: Printer): Promise<void> {
  switch (step.kind) {
    case 'run':
      return run(step.argv, step.input);
    case 'wg-link': {
      const r = await execa('ip', ['link', 'add', step.name, 'type', 'wireguard'], { reject: false });
      if (r.exitCode === 0) return;
      print('[!] Missing WireGuard kernel module. Falling back to slow userspace implementation.');
      // wireguard-go refuses to run where the kernel claims WireGuard support unless told otherwise;
      // here it only runs when creating the kernel link just failed.
      const prefer = 'WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD';
      if (underSystemd()) {
        // A unit of its own: started from `ospfbond apply` it stayed in the cgroup of the unit that
        // ran the apply, and `systemctl stop|restart ospfbond` (or ospfbond-apply) killed it with
        // that unit, taking the WireGuard device and every session with it. Type=forking: the start
        // returns once wireguard-go's parent has made the device and left; --collect frees the
        // name when the device is deleted (wireguard-go then exits).
        // A wireguard-go whose device was deleted an instant ago may still be on its way out,
        // holding the unit's name: `systemd-run` would refuse ("Unit ... already exists").
        await execa('systemctl', ['stop', wireguardGoUnit(step.name)], { reject: false });
        const argv = ['systemd-run', '--quiet', '--collect', `--unit=${wireguardGoUnit(step.name)}`, '--property=Type=forking', `--setenv=${prefer}=1`, '--', 'wireguard-go', step.name];
        print(`[#] ${argv.join(' ')}`);
        await run(argv);
      } else {
        print(`[#] wireguard-go ${step.name}`);
        await run(['wireguard-go', step.name], undefined, { [prefer]: '1' });
      }
      await userspaceReady(step.name);
      return;
    }
    case 'write': {
      let owner: { uid: number; gid: number; mode: number } | undefined;
      try {
        const st = statSync(step.path);
        owner = { uid: st.uid, gid: st.gid, mode: st.mode & 0o777 };
      } catch {
        owner = undefined;
      }
      writeFileAtomic(step.path, step.content, owner?.mode ?? step.mode);
      if (owner) chownSync(step.path, owner.uid, owner.gid);
      return;
    }
    case 'remove':
      rmSync(step.path, { force: true });
      return;
  }
}

/** Under systemd, the transient unit wireguard-go runs in for a WireGuard interface. */
const wireguardGoUnit = (name: string): string => `ospfbond-wireguard-go-${name}.service`;

/**
 * wireguard-go returns while its daemonized child is still starting, and that child sets the TUN's
 * MTU to its default (1420) as it starts: an `ip link set mtu` run before then is silently undone
 * (seen in the lab). The child answers on its control socket only once that is done.
 */
async function userspaceReady(name: string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const r = await execa('wg', ['show', name, 'listen-port'], { reject: false });
    if (r.exitCode === 0) return;
    await new Promise((res) => setTimeout(res, 50));
  }
  throw new OspfbondError(`wireguard-go ${name} started but does not answer on ${wireguardSocket(name)}`, EXIT.failure);
}

/** FRR's init script can take tens of seconds to start its daemons; nothing takes minutes. */
const STEP_TIMEOUT_MS = 300_000;

/**
 * A step's output goes to a private temporary file, not a pipe: a daemon it starts inherits the
 * step's stdout and stderr, and a pipe would then never reach end-of-file. Seen with FRR 10.3
 * (Debian 13): its daemons, started by `frrinit.sh start`, kept the pipes open and apply waited
 * forever; FRR 8.4's did not.
 */
async function run(argv: string[], input?: string, env?: Record<string, string>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'ospfbond-step-'));
  const fd = openSync(join(dir, 'output'), 'w+', 0o600);
  try {
    // node's spawn, not execa: execa 9 takes no file descriptor for stdout/stderr.
    const r = await spawnWithOutput(argv, fd, input, env);
    if (r.timedOut) throw new OspfbondError(`\`${argv.join(' ')}\` did not finish in ${STEP_TIMEOUT_MS / 1000} s`, EXIT.failure);
    if (r.code !== 0) {
      const why = readFileSync(join(dir, 'output'), 'utf8').trim() || r.error || `exit ${r.code ?? r.signal}`;
      throw new OspfbondError(`\`${argv.join(' ')}\` failed: ${why}`, EXIT.failure);
    }
  } finally {
    closeSync(fd);
    rmSync(dir, { recursive: true, force: true });
  }
}

function spawnWithOutput(argv: string[], fd: number, input: string | undefined, env: Record<string, string> | undefined): Promise<{ code: number | null; signal: string | null; timedOut: boolean; error?: string }> {
  return new Promise((resolvePromise) => {
    const [cmd, ...args] = argv as [string, ...string[]];
    const child = spawn(cmd, args, { stdio: [input === undefined ? 'ignore' : 'pipe', fd, fd], env: { ...process.env, ...env } });
    let timedOut = false;
    let kill: NodeJS.Timeout | undefined;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGTERM');
      // As execa does: a command that ignores SIGTERM gets SIGKILL 5 s later.
      kill = setTimeout(() => child.kill('SIGKILL'), 5000);
    }, STEP_TIMEOUT_MS);
    const done = (r: { code: number | null; signal: string | null; error?: string }) => {
      clearTimeout(timer);
      clearTimeout(kill);
      resolvePromise({ ...r, timedOut });
    };
    // A command that cannot start (ENOENT) reports 'error' and no 'exit'.
    child.on('error', (err) => done({ code: null, signal: null, error: err.message }));
    // 'exit', not 'close': the point is not to wait for anything else holding the output open.
    child.on('exit', (code, signal) => done({ code, signal }));
    if (input !== undefined) {
      child.stdin?.on('error', () => undefined); // a command that exits without reading: its exit code tells
      child.stdin?.end(input);
    }
  });
}
