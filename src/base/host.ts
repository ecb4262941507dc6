import { existsSync, readFileSync } from 'node:fs';
import { BOOT_ID } from './paths.js';

/**
 * systemd's own test (sd_booted). On such a router services belong to their units: FRR to
 * frr.service, a confirm window's timer to a transient timer unit. Without systemd (containers,
 * the namespace lab) FRR's init script and a detached process take their place.
 */
export function underSystemd(): boolean {
  return existsSync('/run/systemd/system');
}

/** A sysctl's value, '' when the kernel has no such setting. */
export function readSysctl(name: string): string {
  try {
    return readFileSync(`/proc/sys/${name.replaceAll('.', '/')}`, 'utf8').trim();
  } catch {
    return '';
  }
}

export function bootId(): string {
  return readFileSync(BOOT_ID, 'utf8').trim();
}

/** A command found on PATH (or an absolute path that exists). */
export function onPath(cmd: string): boolean {
  if (cmd.startsWith('/')) return existsSync(cmd);
  return (process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin').split(':').some((d) => existsSync(`${d}/${cmd}`));
}
