import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { readText } from '../base/files.js';
import { probe } from '../base/run.js';
import { FRR } from '../base/paths.js';

/** FRR as a service: start, reload and stop through its service manager, and whether it runs. */

const FRR_PROCESSES = ['watchfrr', 'zebra', 'ospfd', 'bfdd', 'staticd', 'bgpd', 'mgmtd'];

/** FRR's daemons alive now, by their pid files, with their pids (a daemon whose pid file is gone is not seen). */
export function frrPids(): Record<string, number> {
  const out: Record<string, number> = {};
  for (const d of FRR_PROCESSES) {
    try {
      const pid = readFileSync(`${FRR.runDir}/${d}.pid`, 'utf8').trim();
      if (/^\d+$/.test(pid) && readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === d) out[d] = Number(pid);
    } catch {
      // not running
    }
  }
  return out;
}

/**
 * The command that starts, reloads (new daemons file) or stops FRR through its service manager.
 * Under systemd FRR belongs to frr.service: `frrinit.sh reload` run from a shell restarts watchfrr
 * outside the unit, systemd then marks frr.service inactive and the daemons live on in the
 * caller's session (on the first Vagrant VM a later `systemctl start frr` timed out and started a
 * second watchfrr). Without systemd FRR's init script is the service manager.
 */
export function frrControl(action: 'start' | 'reload' | 'restart' | 'stop', systemd: boolean): string[] {
  return systemd ? ['systemctl', action, 'frr.service'] : [FRR.init, action];
}

/**
 * running: FRR's init script says so (watchfrr up) and, under systemd, frr.service is active.
 * stopped: no FRR daemon left. unsettled: starting or reloading FRR now would do harm. Daemons alive
 * without watchfrr (as while `frrinit.sh stop` is still at work): a start then runs new daemons beside
 * the old ones (two ospfd kept a spoke's adjacencies in ExStart for minutes in the lab). Running
 * outside frr.service: `systemctl start` would do the same, and `systemctl reload` refuses.
 */
export type FrrState = { state: 'running' | 'stopped' } | { state: 'unsettled'; what: string; fix: string };

/**
 * What `frrinit.sh status` answers from: the daemons file, FRR's pid files, and whether each pid
 * lives (the script's `kill -0`).
 */
function statusInputs(): string {
  const lines = [readText(FRR.daemons)];
  let pidFiles: string[] = [];
  try {
    pidFiles = readdirSync(FRR.runDir).filter((f) => f.endsWith('.pid')).sort();
  } catch {
    // no run dir: no pid file
  }
  for (const f of pidFiles) {
    const pid = readText(`${FRR.runDir}/${f}`).trim();
    lines.push(`${f} ${pid} ${/^\d+$/.test(pid) && existsSync(`/proc/${pid}`) ? 'alive' : 'gone'}`);
  }
  return lines.join('\n');
}

/**
 * `frrinit.sh status` starts about a dozen processes (a shell, run-parts, a cat per pid file: 17 ms
 * of CPU on the lab machine) and the daemon's reconcile asks every 30 s. A "running" stands while
 * none of its inputs changed; any other answer is asked for again each time.
 */
let runningWith: string | undefined;
async function initScriptSaysRunning(): Promise<boolean> {
  const inputs = statusInputs();
  if (inputs === runningWith) return true;
  const up = (await probe([FRR.init, 'status'])).exitCode === 0;
  runningWith = up ? inputs : undefined;
  return up;
}

export async function frrState(systemd: boolean): Promise<FrrState> {
  if (!existsSync(FRR.init)) return { state: 'stopped' };
  const up = await initScriptSaysRunning();
  const unit = systemd ? (await probe(['systemctl', 'is-active', 'frr.service'])).stdout.trim() : 'active';
  if (up && (unit === 'active' || unit === 'reloading')) return { state: 'running' };
  if (['activating', 'deactivating', 'reloading'].includes(unit)) {
    return { state: 'unsettled', what: `frr.service is ${unit}`, fix: 'wait for it to finish (systemctl status frr)' };
  }
  if (up) {
    return {
      state: 'unsettled',
      what: 'FRR runs, but not as frr.service (started by frrinit.sh from a shell?): it lives in that session, and systemd would start a second FRR beside it',
      // Routing stops for a few seconds; systemd-run keeps a dropped ssh session from stopping it halfway.
      fix: `systemd-run --wait --collect sh -c '${FRR.init} stop; systemctl start frr.service'`,
    };
  }
  const alive = Object.keys(frrPids());
  if (!alive.length) return { state: 'stopped' };
  // The init script's status also fails while watchfrr is up and one of its daemons is dead (it is
  // restarting it): say which case this is, the fix is the same.
  const watched = alive.includes('watchfrr');
  return {
    state: 'unsettled',
    what: watched
      ? `FRR is partly running (${alive.filter((d) => d !== 'watchfrr').join(', ')} under watchfrr, another daemon down): a daemon died and watchfrr is restarting it, or FRR is stopping`
      : `FRR is partly running (${alive.join(', ')} without watchfrr): stopping, or a daemon died`,
    fix: `wait for FRR's stop to finish, or run \`${frrControl('restart', systemd).join(' ')}\``,
  };
}
