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
];

/** The Debian packages whose programs are missing. */
export function missingPackages(): string[] {
  return [...new Set(TOOLS.filter(([cmd]) => !onPath(cmd)).map(([, pkg]) => pkg))];
}
