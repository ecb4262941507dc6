import { dirname, join } from 'node:path';

/**
 * Every file ospfbond reads or writes, in one place.
 *
 * OSPFBOND_ROOT=DIR (tests only) puts ospfbond's own files under DIR: the default config, its state
 * records and its lock. FRR's files stay where FRR reads them: moving them would test nothing.
 */
const ROOT = process.env.OSPFBOND_ROOT ?? '';
/** The name of that override, for a process ospfbond starts elsewhere (a systemd timer's unit). */
export const ROOT_ENV = 'OSPFBOND_ROOT';

export const DEFAULT_CONFIG = `${ROOT}/etc/ospfbond/ospfbond.ini`;
/** Private keys live beside the config they belong to, mode 0600. */
export function keysDir(configFile: string): string {
  return join(dirname(configFile), 'keys');
}

/** ospfbond's records on the router: what was applied, what failed, what waits for a confirm. */
export const STATE_DIR = `${ROOT}/var/lib/ospfbond`;
export const STATE = {
  /** The config of the last apply that finished: what a failed apply goes back to. */
  applied: `${STATE_DIR}/applied.ini`,
  /** The config text an apply failed on and rolled back; the daemon does not retry it. */
  rejected: `${STATE_DIR}/rejected.json`,
  /** An `apply --confirm` whose confirm has not come yet. */
  pending: `${STATE_DIR}/pending.json`,
  /** Where the revert's waiter writes (without systemd; with it, the journal of the timer's unit). */
  revertLog: `${STATE_DIR}/revert.log`,
  /** What ospfbond changed that is not its own object (sysctls, FRR's daemons file), for `down`. */
  saved: `${STATE_DIR}/state.json`,
  /** The last policy both ends of each site ran. */
  policy: `${STATE_DIR}/policy.json`,
} as const;

/** /run: a reboot clears a lock that a crash left behind. */
export const RUN_DIR = `${ROOT}/run/ospfbond`;
/**
 * The daemon's steering and what it measured. In /run: measurements start afresh after a reboot,
 * and a tunnel the last boot degraded must not start this one steered away.
 */
export const RUNTIME = {
  /** Tunnels degraded now, by tunnel number, with why: apply and the daemon's repairs cost them so. */
  steering: `${RUN_DIR}/steering.json`,
  /** The link quality of each tunnel, rewritten every second by a site's daemon, for `status`. */
  quality: `${RUN_DIR}/quality.json`,
} as const;
export const LOCK = { target: `${RUN_DIR}/router`, file: `${RUN_DIR}/router.lock`, holder: `${RUN_DIR}/router.holder` } as const;

export const FRR = {
  conf: '/etc/frr/frr.conf',
  daemons: '/etc/frr/daemons',
  init: '/usr/lib/frr/frrinit.sh',
  reload: '/usr/lib/frr/frr-reload.py',
  /** Where FRR's daemons keep their pid files. */
  runDir: '/run/frr',
} as const;

/** wireguard-go's control socket for an interface. */
export const wireguardSocket = (name: string) => `/var/run/wireguard/${name}.sock`;
/** Changes at every boot: a confirm window's timer does not survive one. */
export const BOOT_ID = '/proc/sys/kernel/random/boot_id';

/**
 * The aggregation proxies' configs (they hold each site's key: mode 0600), their systemd units and
 * (without systemd) their pid files. The key is in the file, not on a command line, where `ps`
 * would show it. The units are runtime units, in /run: they exist while a config wants the proxy,
 * and at boot `ospfbond apply` writes them again, after the addresses the proxies listen on.
 */
export const AGGREGATE = {
  dir: `${ROOT}/etc/ospfbond/aggregate`,
  config: (name: string) => `${ROOT}/etc/ospfbond/aggregate/${name}.json`,
  pid: (name: string) => `${RUN_DIR}/aggregate-${name}.pid`,
  runDir: RUN_DIR,
  unitDir: `${ROOT}/run/systemd/system`,
  unitName: (name: string) => `ospfbond-aggregate-${name}.service`,
  unit: (name: string) => `${ROOT}/run/systemd/system/ospfbond-aggregate-${name}.service`,
} as const;
