/**
 * Names, limits and defaults: one definition each, used by the config schema, the bundle reader
 * and the command-line flags alike.
 */

/** Interface names are built from WAN names (`obw-NAME`, `obt-NAME`), and Linux allows 15 characters. */
export const WAN_NAME = /^[a-z][a-z0-9]{0,9}$/;
export const WAN_NAME_RULE = 'WAN names are 1-10 lower-case letters and digits, starting with a letter';
export const SPOKE_NAME = /^[a-z][a-z0-9-]{0,30}$/;
export const SPOKE_NAME_RULE = 'spoke names are 1-31 lower-case letters, digits and -, starting with a letter';
export const IFNAME = /^[A-Za-z0-9_.@-]{1,15}$/;
/** 32 bytes of base64, as `wg genkey` and `wg pubkey` write them (the last character holds 2 bits). */
export const WG_KEY = /^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw480]=$/;

export const MAX_WANS = 16;
/** A spoke's id is its OSPF area id. */
export const SPOKE_ID = { min: 1, max: 65535 } as const;
/** Tunnel numbers; the tunnel pool bounds them further (maxTunnels). */
export const TUNNEL = { min: 1, max: 1 << 20 } as const;
/** A WAN's MTU; its tap carries 110 bytes less (WireGuard and VXLAN headers). */
export const WAN_MTU = { min: 1280, max: 9000 } as const;
export const PORT = { min: 1, max: 65535 } as const;
/** A line rate in Mbit/s, as a speed test reports it: decimals allowed. */
export const MBIT = { min: 0.1, max: 100000 } as const;

export const DEFAULT_PORT = 51820;
export const DEFAULT_POOL = '10.255.0.0/16';
export const DEFAULT_COST = 10;
export const DEFAULT_WAN_MTU = 1500;
export const DEFAULT_UPLINK_ALLOW = 'tcp/22';

export const BFD_PROFILES = {
  fast: { intervalMs: 100, multiplier: 3 },
  aggressive: { intervalMs: 50, multiplier: 3 },
  relaxed: { intervalMs: 300, multiplier: 3 },
} as const;
export type BfdProfileName = keyof typeof BFD_PROFILES;
export const BFD_PROFILE_NAMES = Object.keys(BFD_PROFILES) as [BfdProfileName, ...BfdProfileName[]];
