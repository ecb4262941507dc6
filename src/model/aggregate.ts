import { createHash, createPrivateKey, createPublicKey, diffieHellman, hkdfSync } from 'node:crypto';
import { Address4 } from 'ip-address';

/**
 * Single-connection aggregation: a site's LAN TCP to the internet goes through a transparent proxy
 * on the spoke (shadowsocks-libev's ss-redir) to a proxy on the hub (ss-server) over Linux MPTCP,
 * one subflow per tunnel (docs/aggregation.md).
 */
export const AGGREGATE_MODES = ['tcp', 'off'] as const;
export type AggregateMode = (typeof AGGREGATE_MODES)[number];
/**
 * On: one connection gets the sum of the links, and with the cap on busy proxied connections
 * (DEFAULT_AGGREGATE_CONNECTIONS) 32 flows get what they get over ECMP (docs/aggregation.md).
 */
export const DEFAULT_AGGREGATE: AggregateMode = 'tcp';

/**
 * How many of a site's connections may be busy in the proxies at once; a new connection beyond goes
 * per flow (ECMP) like UDP. One or two connections need MPTCP to get the sum of the links; many fill
 * the links per flow already, and through the proxies they got less: the kernel's MPTCP re-sends a
 * third of their data when dozens of connections share the subflows (docs/aggregation.md).
 * Measured on a 2 x 20 Mbit/s site, 32 flows each way: 2 gave 97-98 % of the TCP limit, 3 gave
 * 96-98 %, 4 gave 94-96 %, no cap 76 %.
 */
export const DEFAULT_AGGREGATE_CONNECTIONS = 2;
/** The proxied connections' places: one per connection, so the cap can go as high as its set. */
export const AGGREGATE_CONNECTIONS_RANGE = { min: 1, max: 4096 } as const;
/**
 * A new connection holds its place for AGGREGATE_NEW_SECONDS: all connections of a burst (32 at
 * once) meet a full set, and a web page's short requests or an idle keep-alive free theirs soon.
 * Once it has moved AGGREGATE_BULK_KBYTES in full-sized packets (longer than AGGREGATE_FULL_PACKET
 * bytes, either way), each such packet keeps the place for AGGREGATE_BUSY_SECONDS. The bytes are
 * counted per connection (an nft quota per element), and forgotten after AGGREGATE_BULK_IDLE_SECONDS
 * without a full-sized packet.
 */
export const AGGREGATE_NEW_SECONDS = 1;
export const AGGREGATE_BUSY_SECONDS = 5;
export const AGGREGATE_FULL_PACKET = 1000;
export const AGGREGATE_BULK_KBYTES = 128;
export const AGGREGATE_BULK_IDLE_SECONDS = 60;

/** The hub's proxies all listen on this port, each on its own site's address (hubProxyAddr). */
export const HUB_PROXY_PORT = 7300;
/** Where the spoke's nft redirect sends LAN TCP; its input accepts it only from the LAN side. */
export const SPOKE_REDIR_PORT = 7301;
/** AEAD, as OpenMPTCProuter uses; the key is 32 bytes, derived per site (aggregateSecret). */
export const PROXY_CIPHER = 'chacha20-ietf-poly1305';
/**
 * The subflows use cubic at both ends, whatever the system's default. With BBR (a common tuning),
 * MPTCP re-sent data across subflows: 24-394 duplicate packets per 5 s upload among 32 flows, 0-3
 * with cubic (docs/aggregation.md, "Congestion control of the subflows"). Set on the subflows'
 * routes, so an operator's BBR stays on everything else.
 */
export const SUBFLOW_CONGCTL = 'cubic';
/** The kernel's path manager allows at most 8 subflows per connection (MPTCP_PM_ADDR_MAX). */
export const MPTCP_MAX_SUBFLOWS = 8;

/**
 * Destinations never proxied, whatever aggregate_exclude says: private, carrier-NAT, loopback,
 * link-local, multicast and reserved space. Traffic to them is site-to-site or local, and the hub's
 * proxy would hide the site's address from it.
 */
export const ALWAYS_BYPASS = ['0.0.0.0/8', '10.0.0.0/8', '100.64.0.0/10', '127.0.0.0/8', '169.254.0.0/16', '172.16.0.0/12', '192.168.0.0/16', '224.0.0.0/3'];

/** An aggregate_exclude item: a destination prefix, or a destination port or port range. */
export type ExcludeItem = { kind: 'net'; cidr: string } | { kind: 'port'; from: number; to: number };

/** `aggregate_exclude`: comma-separated CIDRs (or addresses) and `port/N` or `port/N-M`. */
export function parseExclude(text: string): ExcludeItem[] | { error: string } {
  const out: ExcludeItem[] = [];
  for (const item of text.split(',').map((s) => s.trim()).filter(Boolean)) {
    const port = /^port\/(\d{1,5})(?:-(\d{1,5}))?$/.exec(item);
    if (port) {
      const from = Number(port[1]);
      const to = port[2] === undefined ? from : Number(port[2]);
      if (from < 1 || to > 65535 || to < from) return { error: `${item}: expected port/N or port/N-M with 1 <= N <= M <= 65535` };
      out.push({ kind: 'port', from, to });
      continue;
    }
    if (!Address4.isValid(item)) return { error: `${item}: expected an IPv4 address, a CIDR such as 192.0.2.0/24, or port/N[-M]` };
    const a = new Address4(item);
    if (a.startAddress().address !== a.addressMinusSuffix) return { error: `${item}: not a network address (did you mean ${a.startAddress().address}/${a.subnetMask}?)` };
    out.push({ kind: 'net', cidr: `${a.addressMinusSuffix}/${a.subnetMask}` });
  }
  return out;
}

export function formatExclude(items: ExcludeItem[]): string {
  return items.map((i) => (i.kind === 'net' ? i.cidr : i.from === i.to ? `port/${i.from}` : `port/${i.from}-${i.to}`)).join(',');
}

const PKCS8_X25519 = Buffer.from('302e020100300506032b656e04220420', 'hex');
const SPKI_X25519 = Buffer.from('302a300506032b656e032100', 'hex');

/**
 * A site's proxy key, which both ends compute and neither sends: X25519 of the hub's private key with
 * the public key of the site's lowest tunnel equals X25519 of that tunnel's private key with the
 * hub's public key, and HKDF makes a cipher key of it. Each site's differs; a key rotated on either
 * end changes it on both, as the bundle carries the new keys to both.
 */
export function aggregateSecret(privateKeyB64: string, peerPublicKeyB64: string): string {
  const priv = createPrivateKey({ key: Buffer.concat([PKCS8_X25519, Buffer.from(privateKeyB64.trim(), 'base64')]), format: 'der', type: 'pkcs8' });
  const pub = createPublicKey({ key: Buffer.concat([SPKI_X25519, Buffer.from(peerPublicKeyB64, 'base64')]), format: 'der', type: 'spki' });
  const shared = diffieHellman({ privateKey: priv, publicKey: pub });
  // shadowsocks-libev reads `key` as URL-safe base64 and refuses '+' or '/' (then exits): a key
  // in plain base64 failed on about three sites in four.
  return Buffer.from(hkdfSync('sha256', shared, Buffer.alloc(0), 'ospfbond aggregate v1', 32)).toString('base64').replaceAll('+', '-').replaceAll('/', '_');
}

/** A fingerprint of a secret for comparisons and logs: never the secret itself. */
export function secretTag(secret: string): string {
  return createHash('sha256').update(`ospfbond tag ${secret}`).digest('hex').slice(0, 12);
}
