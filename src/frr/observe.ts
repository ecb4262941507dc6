import { readText } from '../base/files.js';
import { readSysctl } from '../base/host.js';
import { FRR } from '../base/paths.js';
import { frrDrift } from './drift.js';
import { IPV6_FORWARDING } from './reload.js';
import { frrState } from './service.js';

/** FRR as apply finds it. */
export interface FrrObserved {
  conf: string;
  daemons: string;
  running: boolean;
  /** frr-reload.py --test output ('' while FRR is not running). */
  reloadTest: string;
  /** systemd runs the router: FRR is controlled through frr.service. */
  systemd: boolean;
  /** FRR must not be started or reloaded now; why, and what the operator can do. */
  unsettled?: { what: string; fix: string };
  /** IPV6_FORWARDING's value, which FRR's reload changes (reload.ts). */
  ipv6Forwarding: string;
}

export async function observeFrr(systemd: boolean): Promise<FrrObserved> {
  const state = await frrState(systemd);
  const running = state.state === 'running';
  return {
    conf: readText(FRR.conf),
    daemons: readText(FRR.daemons),
    running,
    reloadTest: running ? await frrDrift() : '',
    systemd,
    ipv6Forwarding: readSysctl(IPV6_FORWARDING),
    unsettled: state.state === 'unsettled' ? { what: state.what, fix: state.fix } : undefined,
  };
}
