// UDP probe flows for failover measurements, run inside lab namespaces:
//   node flows.js echo --port P --seconds S --out FILE [--tos T]   (on the server: echoes, records arrivals)
//   node flows.js send --dst IP --port P --flows N --sport-base B --pps R --seconds S [--tos T]   (on a LAN host)
// Packet `seq` of every flow is sent at startedAt + seq / pps seconds (epoch ms, in the sender's output).
// Every flow is one UDP 5-tuple (its own source port), so ECMP pins it to one tunnel each way.
// Both ends record, per flow, packets seen, packets missing (sequence gaps) and the longest gap
// between two arrivals: the outage that flow saw. The sender also counts the time from a flow's last
// arrival to its last send, or an outage that outlasted the run would look like none at all.
// A packet that arrives twice (ospfbond duplicates real-time flows into two tunnels) counts once in
// `received`, as an RTP receiver keeps one copy by its sequence number; the second is counted in
// `duplicates`. The echo answers each sequence number once: the stream back is the server's own.
// --tos T puts the IP TOS byte T (0xb8: DSCP EF) on the packets sent, the echo's replies included.
// Results are JSON (file for echo, stdout for send).
import dgram from 'node:dgram';
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';

export interface FlowStats {
  sport: number;
  /** Distinct sequence numbers that arrived. */
  received: number;
  lost: number;
  /** Arrivals of a sequence number already received. */
  duplicates: number;
  maxGapMs: number;
  /** The first sequence numbers that never arrived (at most MISSING_KEPT), to place a loss in time. */
  missing: number[];
}

const MISSING_KEPT = 20;
/** Asked of the kernel, which caps it at net.core.rmem_max (4 MiB on the lab machines). */
const RECV_BUFFER = 4 << 20;

class Tracker {
  private last = new Map<number, number>();
  private seen = new Map<number, { maxSeq: number; maxGapMs: number; duplicates: number; seqs: Set<number> }>();
  /** Whether this is the first arrival of `seq`; a copy neither ends a gap nor counts as received. */
  note(key: number, seq: number): boolean {
    const now = performance.now();
    const s = this.seen.get(key) ?? { maxSeq: -1, maxGapMs: 0, duplicates: 0, seqs: new Set<number>() };
    this.seen.set(key, s);
    if (s.seqs.has(seq)) {
      s.duplicates++;
      return false;
    }
    const prev = this.last.get(key);
    if (prev !== undefined) s.maxGapMs = Math.max(s.maxGapMs, now - prev);
    this.last.set(key, now);
    s.maxSeq = Math.max(s.maxSeq, seq);
    s.seqs.add(seq);
    return true;
  }
  /** `total`, when known (the sender's count), also counts the lost tail as missing; `lastSentAt` ends the last gap. */
  stats(total?: number, lastSentAt?: number): FlowStats[] {
    const gap = (sport: number, s: { maxGapMs: number }) => Math.max(s.maxGapMs, lastSentAt === undefined ? 0 : lastSentAt - this.last.get(sport)!);
    const missing = (s: { maxSeq: number; seqs: Set<number> }) => {
      const out: number[] = [];
      for (let q = 0; q < (total ?? s.maxSeq + 1) && out.length < MISSING_KEPT; q++) if (!s.seqs.has(q)) out.push(q);
      return out;
    };
    return [...this.seen.entries()]
      .map(([sport, s]) => ({ sport, received: s.seqs.size, lost: s.maxSeq + 1 - s.seqs.size, duplicates: s.duplicates, maxGapMs: Math.round(gap(sport, s) * 10) / 10, missing: missing(s) }))
      .sort((a, b) => a.sport - b.sport);
  }
}

/**
 * Node's dgram cannot set IP_TOS on a socket, so the TOS byte is set by an nft rule on the packets
 * of the run's own ports, in the network namespace the run is in (a lab node's), and removed after.
 */
function markTos(tos: number | undefined, sports: string): () => void {
  if (tos === undefined) return () => {};
  const table = `flows-tos-${process.pid}`;
  const nft = (script: string) => execFileSync('nft', ['-f', '-'], { input: script });
  nft(`table ip ${table} {\n\tchain out {\n\t\ttype filter hook output priority mangle; policy accept;\n\t\tudp sport ${sports} ip dscp set ${tos >> 2}\n\t}\n}\n`);
  return () => nft(`delete table ip ${table}\n`);
}

const HEADER = 8;
const SIZE = 200;

async function echo(port: number, seconds: number, out: string, tos?: number): Promise<void> {
  // One socket takes every flow (800 packets/s in the flap drill): with the default 208 KiB buffer a
  // stall of the echo process of some 200 ms on a busy 2-core runner overflowed it, and CI counted
  // those drops (UdpRcvbufErrors in the server's namespace) as packets the tunnels lost.
  const sock = dgram.createSocket({ type: 'udp4', recvBufferSize: RECV_BUFFER });
  const t = new Tracker();
  sock.on('message', (msg, rinfo) => {
    if (msg.length < HEADER) return;
    if (t.note(rinfo.port, msg.readUInt32BE(4))) sock.send(msg, rinfo.port, rinfo.address);
  });
  const unmark = markTos(tos, String(port));
  await new Promise<void>((res) => sock.bind(port, res));
  await sleep(seconds * 1000);
  writeFileSync(out, JSON.stringify({ flows: t.stats() }));
  sock.close();
  unmark();
}

async function send(dst: string, port: number, flows: number, sportBase: number, pps: number, seconds: number, tos?: number): Promise<void> {
  const t = new Tracker();
  const unmark = markTos(tos, `${sportBase}-${sportBase + flows - 1}`);
  const socks = await Promise.all(
    Array.from({ length: flows }, (_, i) => {
      const s = dgram.createSocket({ type: 'udp4', recvBufferSize: RECV_BUFFER });
      s.on('message', (msg) => {
        if (msg.length >= HEADER) t.note(sportBase + i, msg.readUInt32BE(4));
      });
      return new Promise<dgram.Socket>((res) => s.bind(sportBase + i, () => res(s)));
    }),
  );
  const start = performance.now();
  const startedAt = Date.now();
  const total = Math.round(pps * seconds);
  let seq = 0;
  // Sends on schedule rather than on timer ticks, so a late timer catches up instead of drifting.
  while (seq < total) {
    const due = start + (seq * 1000) / pps;
    const wait = due - performance.now();
    if (wait > 1) await sleep(wait);
    socks.forEach((s, i) => {
      // A buffer of its own each: send() only queues it (the address goes through a lookup first),
      // and a sender behind schedule writes the next sequence number before the queue is sent. One
      // shared buffer made seq N go out as N + 1: one packet 'lost' and one 'duplicate' per flow.
      const buf = Buffer.alloc(SIZE);
      buf.writeUInt16BE(i, 0);
      buf.writeUInt32BE(seq, 4);
      s.send(buf, port, dst);
    });
    seq++;
  }
  const lastSentAt = performance.now();
  await sleep(1000);
  socks.forEach((s) => s.close());
  unmark();
  process.stdout.write(JSON.stringify({ sent: total, startedAt, flows: t.stats(total, lastSentAt) }));
}

const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: {
    dst: { type: 'string' },
    port: { type: 'string', default: '9000' },
    flows: { type: 'string', default: '16' },
    'sport-base': { type: 'string', default: '40000' },
    pps: { type: 'string', default: '200' },
    seconds: { type: 'string', default: '8' },
    out: { type: 'string' },
    tos: { type: 'string' },
  },
});
const tos = values.tos === undefined ? undefined : Number(values.tos);
if (tos !== undefined && !(Number.isInteger(tos) && tos >= 0 && tos <= 255)) {
  process.stderr.write(`--tos ${values.tos}: expected a TOS byte, 0-255 (0xb8: DSCP EF)\n`);
  process.exit(2);
}
if (positionals[0] === 'echo') await echo(Number(values.port), Number(values.seconds), values.out!, tos);
else if (positionals[0] === 'send') await send(values.dst!, Number(values.port), Number(values.flows), Number(values['sport-base']), Number(values.pps), Number(values.seconds), tos);
else {
  process.stderr.write('usage: flows.js echo|send ...\n');
  process.exit(2);
}
