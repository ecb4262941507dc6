import { createHash } from 'node:crypto';
import type { HubConfig, SpokeConfig } from '../config/types.js';
import { wanPolicy, HUB_WG, VXLAN_PORT, BFD_PORTS } from '../model/addressing.js';

export const NFT_TABLE = 'ospfbond';
export const NFT_FAMILY = 'inet';

/**
 * The table body without its comment; the comment carries this body's hash, so `apply` can tell
 * whether the kernel holds exactly this ruleset without parsing nft's own reformatted output.
 */
function table(body: string): string {
  const hash = createHash('sha256').update(body).digest('hex').slice(0, 16);
  return `table ${NFT_FAMILY} ${NFT_TABLE} {\n\tcomment "ospfbond ${hash}"\n${body}}\n`;
}

export function nftHash(ruleset: string): string | undefined {
  return /comment "ospfbond ([0-9a-f]{16})"/.exec(ruleset)?.[1];
}

/** Replaces the table in one transaction: `nft -f` applies all of it or none of it. */
export function nftScript(ruleset: string): string {
  return `table ${NFT_FAMILY} ${NFT_TABLE}\ndelete table ${NFT_FAMILY} ${NFT_TABLE}\n${ruleset}`;
}

const clamp = (tapGlob: string) =>
  `\tchain forward {\n` +
  `\t\ttype filter hook forward priority mangle; policy accept;\n` +
  `\t\t# the tunnels carry less than the WAN MTU: shrink TCP's MSS to the route MTU of the tap\n` +
  `\t\toifname "${tapGlob}" tcp flags syn tcp option maxseg size set rt mtu\n` +
  `\t}\n`;

const OSPF_PROTO = 89;

/**
 * The hub's own input: from the internet only WireGuard and what `uplink_allow` names. OSPF, BFD and
 * VXLAN are dropped on the uplink whatever uplink_allow says: they would reach ospfd, bfdd or a
 * tap without WireGuard's authentication. Over WireGuard, OSPF and BFD come only inside the taps.
 * The counters show what the uplink turned away (`nft list table inet ospfbond`).
 */
function hubInput(cfg: HubConfig): string {
  const up = `iifname "${cfg.uplink}"`;
  const ctl = `udp dport { ${[...BFD_PORTS, VXLAN_PORT].join(', ')} }`;
  let rules =
    `		${up} ip protocol ${OSPF_PROTO} counter drop
` +
    `		${up} ${ctl} counter drop
` +
    `		${up} udp dport ${cfg.listenPort} counter accept
` +
    `		iifname "${HUB_WG}" ip protocol ${OSPF_PROTO} counter drop
` +
    `		iifname "${HUB_WG}" udp dport { ${BFD_PORTS.join(', ')} } counter drop
`;
  if (cfg.uplinkAllow !== 'any') {
    rules +=
      `		${up} ct state established,related accept
` +
      // ICMP errors of new flows (PMTU) are "related"; echo and IPv6 neighbour discovery are not
      `		${up} meta l4proto { icmp, ipv6-icmp } accept
` +
      cfg.uplinkAllow.map((a) => `		${up} ${a.proto} dport ${a.port} accept
`).join('') +
      `		${up} counter drop
`;
  }
  return `	chain input {
		type filter hook input priority filter; policy accept;
${rules}	}
`;
}

export function renderHubNft(cfg: HubConfig): string {
  let body = hubInput(cfg) + clamp('obt*');
  if (cfg.nat) {
    body +=
      `\tchain postrouting {\n` +
      `\t\ttype nat hook postrouting priority srcnat; policy accept;\n` +
      `\t\t# the sites' traffic leaves with the hub's address, whatever WAN it came in on\n` +
      `\t\tiifname "obt*" oifname "${cfg.uplink}" masquerade\n` +
      `\t}\n`;
  }
  return table(body);
}

export function renderSpokeNft(cfg: SpokeConfig): string {
  const marks = cfg.wans
    .map((w, i) => `\t\tiifname "${w.dev}" fib daddr type local meta mark set ${hex(wanPolicy(i + 1).fwmark)}\n`)
    .join('');
  const body =
    `\tchain prerouting {\n` +
    `\t\ttype filter hook prerouting priority mangle; policy accept;\n` +
    `\t\t# the hub's replies arrive unmarked; with its WAN's mark (and src_valid_mark) the reverse-path\n` +
    `\t\t# check looks the hub up in that WAN's table, not in main, where only the tunnels or the\n` +
    `\t\t# blackhole fallback lead to it and a loose rp_filter would drop the reply\n` +
    marks +
    `\t}\n` +
    clamp('obt-*');
  return table(body);
}

export function hex(n: number): string {
  return `0x${n.toString(16).padStart(8, '0')}`;
}
