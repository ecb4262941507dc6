/** iperf3's JSON output, and what it is judged against, the same for the lab tests and the benchmark. */

/** Tap MTU 1390 at WAN MTU 1500: TCP payload 1390 - 20 (IP) - 20 (TCP) - 12 (timestamps) per packet. */
export const TCP_PAYLOAD = 1338;
/** What tbf counts per full packet on a veth: the 1500-byte WAN packet plus its Ethernet header. */
export const WIRE_BYTES = 1514;
export const PAYLOAD_SHARE = TCP_PAYLOAD / WIRE_BYTES;

/**
 * Through the aggregation proxies each packet is an MPTCP subflow's, whose DSS option (a 64-bit
 * data ACK and a 64-bit mapping, 26 bytes, padded to 28) fills the TCP options with the
 * timestamps: 1310 bytes of payload a packet. Seen on a lab tap (a raw socket on obt-wan1 during a
 * proxied upload: 3370 of the full-size packets were 1390 bytes of IP with a 60-byte TCP header).
 */
export const MPTCP_TCP_PAYLOAD = 1310;

/**
 * The encapsulation limit: the most TCP payload lines of these rates can carry through the tunnels,
 * as plain TCP (ECMP) or, with `mptcp`, as the aggregation proxies' subflows.
 */
export function limitMbit(ratesMbit: number[], mptcp = false): number {
  return ratesMbit.reduce((a, b) => a + b, 0) * (mptcp ? MPTCP_TCP_PAYLOAD / WIRE_BYTES : PAYLOAD_SHARE);
}

export interface IperfInterval {
  start: number;
  end: number;
  mbit: number;
}

export interface IperfRun {
  mbit: number;
  /** the intervals are the receiver's (download: the client; upload: the server's JSON output) */
  receiverSide: boolean;
  intervals: IperfInterval[];
  ports: number[];
  error?: string;
}

export function parseIperf(json: string): IperfRun {
  type Intervals = { sum: { start: number; end: number; bits_per_second: number } }[];
  const j = JSON.parse(json) as {
    error?: string;
    start?: { connected?: { local_port: number }[]; test_start?: { reverse?: number } };
    intervals?: Intervals;
    end?: { sum_received?: { bits_per_second: number } };
    server_output_json?: { intervals?: Intervals };
  };
  // The receiver's view: a sender's intervals count bytes handed to its socket, which come in bursts.
  const upload = !j.start?.test_start?.reverse;
  const server = upload ? j.server_output_json?.intervals : undefined;
  const intervals = server ?? j.intervals ?? [];
  return {
    receiverSide: !upload || server !== undefined,
    mbit: (j.end?.sum_received?.bits_per_second ?? 0) / 1e6,
    intervals: intervals.map((i) => ({ start: i.sum.start, end: i.sum.end, mbit: i.sum.bits_per_second / 1e6 })),
    ports: (j.start?.connected ?? []).map((c) => c.local_port),
    error: j.error,
  };
}
