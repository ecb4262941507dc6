import { z } from 'zod';

/**
 * `ospfbond status --json`: a stable, documented schema (docs/status.schema.json is generated from
 * it, and a unit test keeps the two equal). Add fields, never rename or remove them within a version.
 */
export const STATUS_SCHEMA = 'ospfbond.status/1';

const rate = z.number().nullable().describe('bits per second over the sampling interval; null without a previous sample');
const qualityWindow = z.object({
  seconds: z.number().describe('the window: the last N seconds'),
  probes: z.number().int().describe('probes answered or timed out in it'),
  lossRatio: z.number().nullable().describe('share of those probes lost (0-1); null without probes'),
  rttMedianMs: z.number().nullable().describe('median round-trip time through the tunnel, ms'),
  rttP95Ms: z.number().nullable().describe('95th percentile of the round-trip time, ms'),
  jitterMs: z.number().nullable().describe('mean difference between consecutive round-trip times, ms'),
});
export const tunnelStatus = z.object({
  spoke: z.string().describe('the site'),
  wan: z.string().describe('the WAN this tunnel rides'),
  tunnel: z.number().int().describe('tunnel number (addresses, VXLAN id)'),
  tap: z.string().describe('the VXLAN tap OSPF runs on'),
  dev: z.string().nullable().describe('spoke: the WAN device; hub: null'),
  carrier: z.boolean().nullable().describe('spoke: the WAN device is up with carrier; hub: null'),
  gateway: z.string().nullable().describe('spoke: the WAN gateway in its routing table; hub: null'),
  endpoint: z.string().nullable().describe('WireGuard endpoint of the other end (address:port), null before the first packet'),
  handshakeAgeSeconds: z.number().nullable().describe('seconds since the latest WireGuard handshake; null: none yet'),
  ospf: z.string().describe('OSPF neighbour state on the tap ("Full/DR", "Init/DROther", ...), "Down" without a neighbour'),
  bfd: z.string().describe('BFD session state ("up", "down", "init"), "none" when there is no session'),
  cost: z.number().nullable().describe('OSPF cost this router gives the tap'),
  peerCost: z.number().nullable().describe('OSPF cost the other end gives it, from its router LSA; null when not seen'),
  role: z.enum(['active', 'standby']).describe('what the local policy makes of this tunnel'),
  inEcmp: z.boolean().describe('the tap is an active nexthop of the selected OSPF route (spoke: the default; hub: the site\'s prefixes)'),
  rxBytes: z.number().describe('bytes received from the tunnel (tap counter)'),
  txBytes: z.number().describe('bytes sent into the tunnel (tap counter)'),
  rxBitsPerSecond: rate,
  txBitsPerSecond: rate,
  subflows: z.number().int().nullable().describe('MPTCP subflows of the site\'s proxied connections that ride this tunnel now; null when the site does not aggregate'),
  degraded: z.boolean().describe('the link quality steering keeps this tunnel out of service now (its cost carries the degraded mark; docs/quality.md)'),
  degradedReason: z.string().nullable().describe('why, as the site judged it ("loss 9.8 % >= 5 %"); at the hub, that it follows the site; null when not degraded'),
  quality: z
    .object({ short: qualityWindow, long: qualityWindow, changes: z.number().int().describe('times the tunnel was degraded or returned since the site\'s daemon started') })
    .nullable()
    .describe('spoke: probes through the tunnel, measured by the daemon (the loss window and the last minute); null at the hub (the site measures) and when no daemon measures'),
});
export const spokeSummary = z.object({
  name: z.string(),
  mode: z.enum(['active-active', 'active-standby']).describe('this router\'s policy for the site'),
  primary: z.array(z.string()).describe('active-standby: the primary WANs; active-active: empty'),
  peerPolicy: z.string().nullable().describe('the other end\'s policy as its costs show it ("active-active" or "active-standby WAN,..."); null when not all its costs are seen'),
  inSync: z.boolean().nullable().describe('both ends run the same policy; null when unknown'),
  aggregate: z.enum(['tcp', 'off']).describe('single-connection aggregation for the site (docs/aggregation.md)'),
  proxyUp: z.boolean().nullable().describe('the site\'s proxy on this router runs (spoke: and listens, so LAN TCP goes through it); null when the site does not aggregate'),
  proxiedConnections: z.number().int().nullable().describe('MPTCP connections between the site\'s proxies now; null when the site does not aggregate'),
  proxiedBytesUp: z.number().nullable().describe('bytes of the site\'s proxied connections through the tunnels from the site to the hub (IP bytes of the subflows) since ospfbond\'s nft table was last written; null when the site does not aggregate'),
  proxiedBytesDown: z.number().nullable().describe('the same, from the hub to the site'),
  cappedConnections: z.number().int().nullable().describe('new TCP connections of the site that went per flow, not through the proxies, because aggregate_connections were busy, since ospfbond\'s nft table was last written; null at the hub (the spoke decides) and when the site does not aggregate'),
  rxBitsPerSecond: rate,
  txBitsPerSecond: rate,
});
export const statusReport = z.object({
  schema: z.literal(STATUS_SCHEMA),
  role: z.enum(['hub', 'spoke']),
  time: z.string().describe('ISO 8601 time of the sample'),
  intervalSeconds: z.number().nullable().describe('the interval the rates cover'),
  spokes: z.array(spokeSummary).describe('spoke: the site itself; hub: every spoke'),
  tunnels: z.array(tunnelStatus),
  totals: z.object({ rxBytes: z.number(), txBytes: z.number(), rxBitsPerSecond: rate, txBitsPerSecond: rate }),
});
export type TunnelStatus = z.infer<typeof tunnelStatus>;
export type StatusReport = z.infer<typeof statusReport>;
