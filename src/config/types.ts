import type { BfdProfileName } from '../model/limits.js';
import type { AggregateMode, ExcludeItem } from '../model/aggregate.js';
import type { Policy } from '../model/policy.js';
import type { QualitySettings } from '../model/quality.js';
import type { RealtimeSettings } from '../model/realtime.js';

/** A config as the program uses it, read from the INI file by load.ts and written back by write.ts. */

export interface Endpoint {
  host: string;
  port: number;
}

/** A service the hub's uplink accepts from the internet besides WireGuard: `tcp/22`, `udp/53`. */
export interface UplinkService {
  proto: 'tcp' | 'udp';
  port: number;
}

export interface HubTunnel {
  wan: string;
  tunnel: number;
  publicKey: string;
  cost: number;
  mtu: number;
  /** The spoke WAN's line rates in Mbit/s, when known: the hub shapes to downMbit. */
  downMbit?: number;
  upMbit?: number;
}
export interface HubSpoke {
  name: string;
  id: number;
  /** How this spoke's WANs are used; the hub keeps it in step with the spoke's own (see policy.ts). */
  policy: Policy;
  /** `tcp`: the hub runs a proxy for this site's single-connection aggregation (docs/aggregation.md). */
  aggregate: AggregateMode;
  wans: HubTunnel[];
}
/** How often `ospfbond daemon` runs each job (30s, 5m, 1h), and where it serves metrics (IPV4:PORT). */
export interface DaemonSettings {
  reconcileEvery: string;
  resolveEvery: string;
  mirrorEvery: string;
  statsEvery: string;
  metricsListen?: string;
}
export interface HubConfig {
  role: 'hub';
  file: string;
  endpoint: Endpoint;
  listenPort: number;
  uplink: string;
  nat: boolean;
  /** What the uplink accepts from the internet besides WireGuard (`any`: no filter but ospfbond's own protocols). */
  uplinkAllow: UplinkService[] | 'any';
  tunnelPool: string;
  privateKeyFile: string;
  publicKey: string;
  bfdProfile: BfdProfileName;
  spokes: HubSpoke[];
  daemon: DaemonSettings;
  /** What the hub duplicates into a second tunnel of the site it sends to. */
  realtime: RealtimeSettings;
}

export interface SpokeWan {
  name: string;
  dev: string;
  gw: string; // an IPv4 address or 'dhcp'
  mtu: number;
  tunnel: number;
  hubMtu: number;
  privateKeyFile: string;
  publicKey: string;
  cost: number;
  /** Line rates in Mbit/s, when known: the spoke shapes to upMbit. */
  downMbit?: number;
  upMbit?: number;
}
export interface SpokeConfig {
  role: 'spoke';
  file: string;
  name: string;
  id: number;
  hub: Endpoint & { publicKey: string };
  tunnelPool: string;
  lanDevs: string[];
  bfdProfile: BfdProfileName;
  policy: Policy;
  /** `tcp`: LAN TCP to the internet goes through the MPTCP proxies, one subflow per tunnel. */
  aggregate: AggregateMode;
  /** Destinations and ports that go unproxied, besides private space (ALWAYS_BYPASS). */
  aggregateExclude: ExcludeItem[];
  /** How many busy connections at once go through the proxies; more go per flow (ECMP). */
  aggregateConnections: number;
  /** Probes through each tunnel and the steering off degraded ones (the hub follows the costs). */
  quality: QualitySettings;
  wans: SpokeWan[];
  daemon: DaemonSettings;
  /** What the spoke duplicates into a second tunnel when it sends to the hub. */
  realtime: RealtimeSettings;
}

export type Config = HubConfig | SpokeConfig;
