import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Lab } from '../lab/lab.js';
import type { SpokeSpec } from '../lab/topology.js';
import { hubTunnels } from '../lab/scenario.js';
export { wanBytes, failWan, restoreWan, type FailureKind } from '../lab/scenario.js';
export { type IperfRun, PAYLOAD_SHARE, limitMbit } from '../lab/iperf.js';

export const FLOWS_JS = fileURLToPath(new URL('./flows.js', import.meta.url));
const SERVER = '203.0.113.2';

/**
 * UDP datagrams that the sockets of a flows.js run dropped because their receive buffer was full
 * (UdpRcvbufErrors on the server and the site's host; -s leaves nstat's history alone). Taken before
 * and after a run, the difference is what the measurement lost itself and the tunnels did not.
 */
export async function flowsHarnessDrops(lab: Lab, site: SpokeSpec): Promise<number> {
  let n = 0;
  for (const node of ['server', site.host]) {
    const out = await lab.sh(node, 'nstat -asz UdpRcvbufErrors');
    const m = /^UdpRcvbufErrors\s+(\d+)/m.exec(out);
    if (!m) throw new Error(`${node}: no UdpRcvbufErrors in nstat's output: ${out}`);
    n += Number(m[1]);
  }
  return n;
}

/** A flows.js result: the sender's (`sent` set) or the echo server's. */
export interface FlowsResult {
  sent?: number;
  flows: { sport: number; received: number }[];
}

/**
 * What flows lost in one direction each. Up: what the server did not receive. Down: what the
 * server echoed and the host did not receive. Judged per direction because both ends hash a flow
 * alike (the kernel's flow hash is symmetric): whether its two directions share a WAN depends on
 * the order of the two routes' nexthops, which a restart of either end's FRR can flip.
 */
export function directionLosses(sent: FlowsResult & { sent: number }, recv: FlowsResult, up: { sport: number }[], down: { sport: number }[]): { up: number[]; down: number[] } {
  const received = (r: FlowsResult, sport: number) => r.flows.find((f) => f.sport === sport)?.received ?? 0;
  return {
    up: up.map((p) => sent.sent - received(recv, p.sport)),
    down: down.map((p) => received(recv, p.sport) - received(sent, p.sport)),
  };
}

/**
 * The tunnel (WAN name) the spoke's ECMP hash picks for an upload flow, as `ip route get` computes it.
 * Valid for packets without a socket hash, like the unconnected UDP sockets of flows.ts. A TCP
 * socket's packets carry its random txhash into the forwarding hash (across veth here, as a NIC's
 * RSS hash does on real hardware), so TCP paths are recorded, not predicted: see PathRecorder.
 */
export async function uploadWan(lab: Lab, site: SpokeSpec, proto: 'tcp' | 'udp', sport: number, dport: number): Promise<string> {
  const out = await lab.sh(site.name, `ip route get ${SERVER} from ${site.hostAddr} iif ${site.lanDev} ipproto ${proto} sport ${sport} dport ${dport}`);
  const m = / dev obt-(\w+)/.exec(out);
  if (!m) throw new Error(`${site.name}: no tunnel for ${proto} ${sport}->${dport}: ${out}`);
  return m[1]!;
}

/** The tunnel the hub's ECMP hash picks for the download direction of a flow (after NAT is undone). */
export async function downloadWan(lab: Lab, site: SpokeSpec, proto: 'tcp' | 'udp', serverPort: number, hostPort: number, tapWan: (tap: string) => string): Promise<string> {
  const out = await lab.sh('hub', `ip route get ${site.hostAddr} from ${SERVER} iif ${lab.topo.hub.uplink} ipproto ${proto} sport ${serverPort} dport ${hostPort}`);
  const m = / dev (obt\d+)/.exec(out);
  if (!m) throw new Error(`hub: no tunnel toward ${site.name} for ${proto} ${serverPort}->${hostPort}: ${out}`);
  return tapWan(m[1]!);
}

/**
 * The WANs that `flows` UDP flows from the site's host (source ports sportBase, sportBase + 1, ...)
 * to `port` on the server take up and down, as the two ends' ECMP hashes place them.
 */
export async function udpFlowPaths(lab: Lab, site: SpokeSpec, flows: number, sportBase: number, port: number): Promise<{ sport: number; up: string; down: string }[]> {
  const tapWan = await hubTapWans(lab, site);
  return Promise.all(
    Array.from({ length: flows }, async (_, i) => ({
      sport: sportBase + i,
      up: await uploadWan(lab, site, 'udp', sportBase + i, port),
      down: await downloadWan(lab, site, 'udp', port, sportBase + i, tapWan),
    })),
  );
}

/**
 * Records which tunnel each flow really leaves by: an nft dynamic set on a router's forward path,
 * keyed by the LAN host's port (upload: spoke, source port; download: hub, destination port after
 * NAT is undone) and the outgoing tap.
 */
export class PathRecorder {
  private constructor(
    private readonly lab: Lab,
    private readonly node: string,
    private readonly tapToWan: (tap: string) => string,
  ) {}

  static async start(lab: Lab, node: string, field: 'sport' | 'dport', tapGlob: string, tapToWan: (tap: string) => string): Promise<PathRecorder> {
    await lab.sh(node, `nft -f - <<'EOF'
table inet obbench {
  set paths {
    typeof th ${field} . oifname
    size 65535
    flags dynamic,timeout
    timeout 10m
    counter
  }
  chain record {
    type filter hook forward priority 0; policy accept;
    oifname "${tapGlob}" meta l4proto { tcp, udp } update @paths { th ${field} . oifname }
  }
}
EOF`);
    return new PathRecorder(lab, node, tapToWan);
  }

  async flush(): Promise<void> {
    await this.lab.sh(this.node, 'nft flush set inet obbench paths');
  }

  /**
   * port -> bytes per WAN since the last flush. A TCP flow can change tunnels mid-way: Linux draws
   * a new socket hash after a retransmission timeout, and with it a new ECMP path.
   */
  async read(): Promise<Map<number, Record<string, number>>> {
    const out = await this.lab.sh(this.node, 'nft list set inet obbench paths');
    const paths = new Map<number, Record<string, number>>();
    for (const m of out.matchAll(/(\d+) \. "([^"]+)" counter packets \d+ bytes (\d+)/g)) {
      const port = Number(m[1]);
      const per = paths.get(port) ?? {};
      const wan = this.tapToWan(m[2]!);
      per[wan] = (per[wan] ?? 0) + Number(m[3]);
      paths.set(port, per);
    }
    return paths;
  }
}

/** The hub's tap names to WAN names of one site (another site's tap: `other:TAP`). */
export async function hubTapWans(lab: Lab, site: SpokeSpec): Promise<(tap: string) => string> {
  const map = new Map((await hubTunnels(lab)).filter((x) => x.site === site.name).map((x) => [x.tap, x.wan]));
  return (tap) => map.get(tap) ?? `other:${tap}`;
}

/** The WAN that carried most of a flow's bytes. */
export function mainWan(per: Record<string, number> | undefined): string | undefined {
  if (!per) return undefined;
  return Object.entries(per).sort((a, b) => b[1] - a[1])[0]?.[0];
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/**
 * CPU seconds (user + system) a process has used so far, from /proc/PID/stat; with `children`,
 * also those of its children: the ones it has waited for (cutime + cstime) and the ones still
 * running (the daemon's fping and `ip monitor`, found through /proc/PID/task/TID/children), with
 * theirs, so a long-lived child counts before it exits. A process gone between two reads is not counted.
 */
export function cpuSeconds(pid: number, children = false): number {
  const read = (p: number, fields: number) => {
    try {
      return readFileSync(`/proc/${p}/stat`, 'utf8').split(') ')[1]!.split(' ').slice(11, 11 + fields).reduce((a, b) => a + Number(b), 0);
    } catch {
      return 0;
    }
  };
  if (!children) return read(pid, 2) / 100;
  const walk = (p: number): number => {
    let ticks = read(p, 4);
    let tasks: string[] = [];
    try {
      tasks = readdirSync(`/proc/${p}/task`);
    } catch {
      return ticks;
    }
    for (const t of tasks) {
      let kids = '';
      try {
        kids = readFileSync(`/proc/${p}/task/${t}/children`, 'utf8');
      } catch {
        continue;
      }
      for (const c of kids.split(' ').filter(Boolean)) ticks += walk(Number(c));
    }
    return ticks;
  };
  return walk(pid) / 100;
}
