import { FRR } from '../base/paths.js';
import { run, type Step } from '../model/step.js';
import { unsetLeavingInterfaces } from './block.js';
import { frrControl } from './service.js';

/**
 * FRR's reload turns IPv6 forwarding on: frr-reload.py deletes zebra's "no ipv6 forwarding" (a
 * frr.conf without a forwarding line has none) by running "ipv6 forwarding" (FRR issue 21368;
 * seen in the rollback lab test). Where it was off it is put off again at once, so a router taking
 * router advertisements on its uplink keeps them.
 */
export const IPV6_FORWARDING = 'net.ipv6.conf.all.forwarding';
// FRR's area, not a sysctl of ospfbond's own: it undoes what FRR's reload did.
const IPV6_FORWARDING_OFF: Step = run('frr', ['sysctl', '-q', '-w', `${IPV6_FORWARDING}=0`]);

/** What puts IPv6 forwarding back after a reload: `before` and `now` are its values (readSysctl). */
export function ipv6ForwardingBack(before: string, now: string): Step[] {
  return before === '0' && now !== '0' ? [IPV6_FORWARDING_OFF] : [];
}

/**
 * FRR's reload from ospfbond's block `before` to `after`. Devices ospfbond did not make keep existing
 * (`staying`), so their leaving settings are taken off by vtysh first (its own links are deleted
 * before this). Only a changed daemons file needs the service's reload, which restarts watchfrr to
 * start the new daemons; a new frr.conf alone is frr-reload.py's work, which exits non-zero when
 * FRR refused a line.
 */
export function reloadSteps(
  before: string | undefined,
  after: string,
  frr: { systemd: boolean; ipv6Forwarding: string },
  staying: (iface: string) => boolean,
  daemonsChanged: boolean,
): Step[] {
  const unset = unsetLeavingInterfaces(before, after, staying);
  const reload = daemonsChanged ? frrControl('reload', frr.systemd) : ['python3', FRR.reload, '--reload', FRR.conf];
  // The reload about to run turns it on.
  return [...(unset ? [run('frr', unset)] : []), run('frr', reload), ...ipv6ForwardingBack(frr.ipv6Forwarding, '1')];
}
