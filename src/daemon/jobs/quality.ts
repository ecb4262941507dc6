import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, constants, openSync, readSync, rmSync } from 'node:fs';
import type { Logger } from 'pino';
import { writeFileAtomic } from '../../base/files.js';
import { RUN_DIR, RUNTIME } from '../../base/paths.js';
import { probe } from '../../base/run.js';
import type { Config, SpokeConfig } from '../../config/types.js';
import { tunnelAddresses } from '../../model/addressing.js';
import {
  addProbe,
  initialSteer,
  judgedProbes,
  lowestRtt,
  judge,
  verdict,
  windowStats,
  LONG_WINDOW_MS,
  LOSS_WINDOW_MS,
  PROBE_TIMEOUT_MS,
  type Probe,
  type QualityRecord,
  type SteerState,
  type TunnelQuality,
  type WindowStats,
} from '../../model/quality.js';
import { readSteering, sameTunnels, writeSteering, type Steering } from '../../router/records.js';
import type { Job } from './job.js';

/** The record `status` reads is written every second; the tunnels are judged more often (JUDGE_MS). */
export const QUALITY_SECONDS = 1;
const JUDGE_MS = 250;
const LONG_EVERY_MS = 10_000;
/** Where fping's pipe is made; the name is gone once both ends are open. */
const PROBE_FIFO = `${RUN_DIR}/probes.fifo`;

/**
 * One fping line: a probe answered (with its RTT) or timed out, and with `-D` when fping printed it
 * (ms since the epoch); anything else is not a probe.
 */
export function parseFpingLine(line: string): { target: string; rttMs: number | null; at?: number } | undefined {
  const m = /^(?:\[([\d.]+)\] )?(\S+) : \[\d+\], (?:\d+ bytes, ([\d.]+) ms|(timed out))/.exec(line);
  if (!m) return undefined;
  const p: { target: string; rttMs: number | null; at?: number } = { target: m[2]!, rttMs: m[4] ? null : Number(m[3]) };
  if (m[1]) p.at = Math.round(Number(m[1]) * 1000);
  return p;
}

/**
 * fping arguments for probing `targets` `rate` times a second each: loop mode, one line per
 * probe. `-i` spaces all probes evenly, so a site with many WANs does not send them in bursts.
 */
export function fpingArgs(targets: string[], rate: number): string[] {
  const period = Math.round(1000 / rate);
  const interval = Math.max(1, Math.floor(period / Math.max(1, targets.length)));
  return ['-D', '-l', '-p', String(period), '-i', String(interval), '-t', String(PROBE_TIMEOUT_MS), ...targets];
}

/**
 * A site's link quality and its steering. One fping process probes the hub's tap address of every
 * tunnel (the hub's kernel answers: no process of ours runs there); each answer or timeout is kept
 * for the long window. Each tunnel is judged every JUDGE_MS (model/quality.ts); when the set of
 * degraded tunnels changes, it is written (RUNTIME.steering) and `steer` applies it: the degraded
 * cost at this end, which the hub's mirror job follows. The record `status` reads is written by
 * the job's round, every second.
 */
export function qualityJob(steer: () => Promise<void>): Job & { stop(): void } {
  let prober: ChildProcess | undefined;
  let proberKey = '';
  let stopped = false;
  const probes = new Map<string, Probe[]>();
  let states: Map<number, SteerState> | undefined;
  /** Per target: the minute's figures, and its lowest RTT, as of longAt. */
  const long = new Map<string, WindowStats>();
  const base = new Map<string, number | null>();
  let longAt = 0;

  /*
   * fping writes into a pipe that is read only when the tunnels are judged, 4 times a second: a
   * stream on its stdout woke the daemon for each of its lines, 40 a second on a 4-WAN site, and
   * those wake-ups cost more than all the judging (a third of a site daemon's CPU at rest). The
   * pipe is a FIFO unlinked once both ends are open, since Node makes no bare pipe; `-D` stamps
   * each line with the time fping printed it, so reading late loses no precision.
   */
  let reader: number | undefined;
  let rest = '';
  const chunk = Buffer.alloc(65536);
  const closeReader = () => {
    if (reader !== undefined) closeSync(reader);
    reader = undefined;
    rest = '';
  };
  /** Takes in what fping wrote since the last call. */
  const drain = () => {
    while (reader !== undefined) {
      let n: number;
      try {
        n = readSync(reader, chunk, 0, chunk.length, null);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'EAGAIN') return;
        throw err;
      }
      // No writer left: fping is gone (its exit handler starts the next one).
      if (n === 0) return closeReader();
      const lines = (rest + chunk.toString('utf8', 0, n)).split('\n');
      rest = lines.pop()!;
      const now = Date.now();
      for (const line of lines) {
        const p = parseFpingLine(line);
        if (!p) continue;
        const list = probes.get(p.target) ?? [];
        addProbe(list, p.at ?? now, p.rttMs);
        probes.set(p.target, list);
      }
    }
  };

  const startProber = async (cfg: SpokeConfig, log: Logger) => {
    const targets = cfg.wans.map((w) => tunnelAddresses(cfg.tunnelPool, w.tunnel).hubTap);
    const key = `${cfg.quality.probeRate} ${targets.join(' ')}`;
    if (prober && key === proberKey) return;
    prober?.kill();
    prober = undefined;
    closeReader();
    proberKey = key;
    for (const m of [probes, long, base]) for (const t of m.keys()) if (!targets.includes(t)) m.delete(t);
    rmSync(PROBE_FIFO, { force: true });
    const made = await probe(['mkfifo', '-m', '600', PROBE_FIFO]);
    if (made.exitCode !== 0) throw new Error(`mkfifo ${PROBE_FIFO}: ${made.stderr.trim()}`);
    // The reading end first, without blocking; then the writing end, which a reader lets open at once.
    const r = openSync(PROBE_FIFO, constants.O_RDONLY | constants.O_NONBLOCK);
    const w = openSync(PROBE_FIFO, constants.O_WRONLY);
    rmSync(PROBE_FIFO, { force: true });
    const child = spawn('fping', fpingArgs(targets, cfg.quality.probeRate), { stdio: ['ignore', w, 'ignore'] });
    closeSync(w);
    reader = r;
    prober = child;
    child.on('error', (err) => log.error({ err: err.message }, 'cannot run fping: link quality is not measured (apt-get install fping)'));
    child.on('exit', (code, signal) => {
      if (prober !== child) return;
      prober = undefined;
      drain();
      closeReader();
      // The next round starts it again.
      if (!stopped) log.warn({ code, signal }, 'fping exited; starting it again');
    });
  };

  /** Judges every tunnel now: the tunnels degraded. */
  const judgeAll = (cfg: SpokeConfig, log: Logger, now: number): Steering => {
    const s = cfg.quality;
    // A daemon that restarts keeps what the last one degraded, until the hold-down says otherwise:
    // starting with every tunnel good would put a bad one back in service for a few seconds.
    states ??= new Map(Object.entries(readSteering()).map(([t, why]) => [Number(t), { ...initialSteer(s), degraded: true, reason: why }]));
    const degraded: Steering = {};
    for (const w of cfg.wans) {
      const target = tunnelAddresses(cfg.tunnelPool, w.tunnel).hubTap;
      const list = probes.get(target) ?? [];
      const before = states.get(w.tunnel) ?? initialSteer(s);
      const state = s.steer ? judge(before, verdict(judgedProbes(list, now), now, s, base.get(target) ?? null), now, s) : initialSteer(s);
      states.set(w.tunnel, state);
      if (state.degraded !== before.degraded) {
        if (state.degraded) log.warn({ wan: w.name, tunnel: w.tunnel, reason: state.reason }, `${w.name} degraded: ${state.reason}; steering its traffic to the other tunnels`);
        else log.info({ wan: w.name, tunnel: w.tunnel, holdDownSeconds: state.holdDownMs / 1000 }, `${w.name} good for ${state.holdDownMs / 1000} s: back in service`);
      }
      if (state.degraded) degraded[w.tunnel] = state.reason!;
    }
    for (const t of states.keys()) if (!cfg.wans.some((w) => w.tunnel === t)) states.delete(t);
    return degraded;
  };

  /**
   * The record `status` reads: each tunnel's windows and steering state, as the last judgement left
   * them. The minute's figures (and the lowest RTT the judging compares with) are worked out every
   * LONG_EVERY_MS only: over 600 probes a tunnel, every second, they were a tenth of a site daemon's CPU.
   */
  const record = (cfg: SpokeConfig, now: number): QualityRecord => {
    const fresh = now - longAt >= LONG_EVERY_MS;
    if (fresh) longAt = now;
    return {
      at: new Date(now).toISOString(),
      probeRate: cfg.quality.probeRate,
      steer: cfg.quality.steer,
      tunnels: cfg.wans.map((w): TunnelQuality => {
        const target = tunnelAddresses(cfg.tunnelPool, w.tunnel).hubTap;
        const list = probes.get(target) ?? [];
        let i = 0;
        while (i < list.length && list[i]!.at <= now - LONG_WINDOW_MS) i++;
        if (i) list.splice(0, i);
        if (fresh || !long.has(target)) {
          long.set(target, windowStats(list, now, LONG_WINDOW_MS));
          base.set(target, lowestRtt(list));
        }
        const state = states?.get(w.tunnel) ?? initialSteer(cfg.quality);
        return { tunnel: w.tunnel, short: windowStats(judgedProbes(list, now), now, LOSS_WINDOW_MS), long: long.get(target)!, degraded: state.degraded, reason: state.reason ?? null, changes: state.changes };
      }),
    };
  };

  // One steering change at a time; a change that comes while one is applied waits for the next judgement.
  // The set last written is kept here, so that a judgement that changes nothing reads no file.
  let steering = false;
  let written: Steering | undefined;
  const follow = async (degraded: Steering) => {
    if (steering || (written && sameTunnels(written, degraded))) return;
    written = readSteering();
    if (sameTunnels(written, degraded)) return;
    steering = true;
    try {
      writeSteering(degraded);
      written = degraded;
      await steer();
    } finally {
      steering = false;
    }
  };

  // Judged every JUDGE_MS, on a timer of its own rather than in the rounds: an RTT spike's median crosses its threshold at some
  // moment of the second, and waiting for the next round added up to a second to the steering.
  let last: { cfg: SpokeConfig; log: Logger } | undefined;
  const judging = setInterval(() => {
    if (!last || stopped) return;
    const { cfg, log } = last;
    // No round may take the daemon down: a failure here is the next round's to retry.
    const failed = (err: unknown) => log.warn({ err: err instanceof Error ? err.message : String(err) }, 'judging the tunnels failed; trying again');
    try {
      drain();
      follow(judgeAll(cfg, log, Date.now())).catch(failed);
    } catch (err) {
      failed(err);
    }
  }, JUDGE_MS);
  judging.unref();

  const job: Job = async (cfg: Config, log: Logger): Promise<void> => {
    if (cfg.role !== 'spoke' || stopped) return;
    last = { cfg, log };
    await startProber(cfg, log);
    drain();
    // The judging timer decides; the round keeps the prober running and writes what it saw.
    writeFileAtomic(RUNTIME.quality, `${JSON.stringify(record(cfg, Date.now()))}\n`, 0o644);
  };
  return Object.assign(job, {
    stop: () => {
      stopped = true;
      clearInterval(judging);
      prober?.kill();
      closeReader();
    },
  });
}
