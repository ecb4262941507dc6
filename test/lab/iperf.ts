/** iperf3's JSON output, read the same way by the lab tests and the benchmark. */
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
