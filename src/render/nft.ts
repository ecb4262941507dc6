import { createHash } from 'node:crypto';
import type { HubConfig, SpokeConfig } from '../config/config.js';
import { wanPolicy } from '../model/addressing.js';

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

export function renderHubNft(cfg: HubConfig): string {
  let body = clamp('obt*');
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
