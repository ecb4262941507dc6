import { onPath } from '../base/host.js';
import { FRR } from '../base/paths.js';

/** The programs apply runs, and the Debian package of each. */
const TOOLS: [string, string][] = [
  ['tc', 'iproute2'],
  ['wg', 'wireguard-tools'],
  ['nft', 'nftables'],
  ['vtysh', 'frr'],
  [FRR.init, 'frr'],
  [FRR.reload, 'frr-pythontools'],
  // A site's daemon probes its tunnels with it (daemon/jobs/quality.ts); a hub needs none, but one
  // list for both keeps a router that is turned from one role to the other installable as it is.
  ['fping', 'fping'],
];

/** The Debian packages whose programs are missing. */
export function missingPackages(): string[] {
  return [...new Set(TOOLS.filter(([cmd]) => !onPath(cmd)).map(([, pkg]) => pkg))];
}
