import { spokeWgName } from '../../model/addressing.js';
import { run } from '../../model/step.js';
import { withRouterLock } from '../../engine/lock.js';
import { execute } from '../../router/executor.js';
import { hubPeers, observeWg, readNetDev, type ObservedPeer } from '../../router/kernel.js';
import type { Job } from './job.js';

/**
 * A hub whose WireGuard restarts (a crash, a reboot, the device re-created by a rollback or an
 * `apply --confirm` revert) has forgotten every session. Its spokes keep sending on the old ones,
 * which it drops without a word, and WireGuard starts a new handshake only after 15 s without an
 * answer (KEEPALIVE_TIMEOUT + REKEY_TIMEOUT), on top of the hub's own restart.
 *
 * A spoke sees the hub fall silent sooner: over a working tunnel the hub sends OSPF hellos every
 * second and BFD many times a second, so a WAN's WireGuard device that has received no packet for
 * STALL_MS is on a session the hub may not have any more. The device's own counter
 * (/proc/net/dev) counts packets delivered through the tunnel, not handshakes or keepalives, and
 * is read without a process: `wg` runs only when a session is to be restarted.
 *
 * A WAN silent while another still hears the hub is not restarted: the hub is there, that WAN's
 * path is not (see sample).
 *
 * Removing and re-adding the peer drops that session; WireGuard handshakes with the next packet
 * and, while packets wait, again every 5 s by itself, so one restart per outage is enough. The
 * next one is armed only once traffic has come in again for FLOWING_SAMPLES samples in a row, not
 * at the first packet after a restart. So a hub that dies again within those seconds of coming
 * back is left to WireGuard's own retry.
 */
export const STALL_MS = 3_000;
export const FLOWING_SAMPLES = 3;
/** Sampling: fast enough that a restart comes within STALL_MS + 1 s of the hub going quiet. */
export const WG_WATCH_SECONDS = 1;

interface WanState {
  rx: number;
  changedAt: number;
  flowing: number;
  armed: boolean;
}

export class WgWatch {
  private readonly wans = new Map<string, WanState>();

  /** One sample of each WAN's received bytes through its tunnel; returns the WANs to restart now. */
  sample(nowMs: number, rxBytes: Record<string, number>): string[] {
    const restart: string[] = [];
    for (const name of this.wans.keys()) if (!(name in rxBytes)) this.wans.delete(name);
    for (const [name, rx] of Object.entries(rxBytes)) {
      const s = this.wans.get(name);
      // A device re-created (by apply or a rollback) starts counting from zero: not yet flowing.
      if (!s || rx < s.rx) {
        this.wans.set(name, { rx, changedAt: nowMs, flowing: 0, armed: false });
        continue;
      }
      if (rx !== s.rx) {
        Object.assign(s, { rx, changedAt: nowMs, flowing: s.flowing + 1 });
        if (s.flowing >= FLOWING_SAMPLES) s.armed = true;
        continue;
      }
      s.flowing = 0;
      if (s.armed && nowMs - s.changedAt >= STALL_MS) restart.push(name);
    }
    // A hub that forgot its sessions falls silent on every tunnel at once. One WAN silent while
    // another still hears the hub is that WAN's path failing: its session is left alone, so that
    // it carries packets the moment the path is back. A new session there would wait for a
    // handshake, which WireGuard retries only every 5 s: with restarts, a WAN back from a silent
    // drop rejoined 1.8-4.6 s later in the benchmark, without them 0.7-1.2 s.
    const hubHeard = [...this.wans.values()].some((s) => nowMs - s.changedAt < STALL_MS);
    if (hubHeard) return [];
    for (const name of restart) this.wans.get(name)!.armed = false;
    return restart;
  }
}

/**
 * `wg set` arguments that drop a peer's session and put it back as it was (endpoint, allowed IPs,
 * keepalive): one call, so the peer is never missing between two commands. No key material but
 * the peer's public key.
 */
export function restartPeerArgv(dev: string, peer: ObservedPeer): string[] {
  const argv = ['wg', 'set', dev, 'peer', peer.publicKey, 'remove', 'peer', peer.publicKey];
  if (peer.endpoint) argv.push('endpoint', peer.endpoint);
  argv.push('allowed-ips', peer.allowedIps.join(','));
  if (peer.keepalive) argv.push('persistent-keepalive', String(peer.keepalive));
  return argv;
}

/** A spoke's tunnel whose hub fell silent gets a fresh WireGuard handshake (above). */
export function wgWatchJob(): Job {
  const watch = new WgWatch();
  const stallSeconds = STALL_MS / 1000;
  return async (cfg, log) => {
    if (cfg.role !== 'spoke') return;
    const rx = readNetDev();
    const devs = cfg.wans.map((w) => [w.name, spokeWgName(w.name)] as const).filter(([, dev]) => dev in rx);
    const restart = watch.sample(Date.now(), Object.fromEntries(devs.map(([w, dev]) => [w, rx[dev]!.rxBytes])));
    if (restart.length === 0) return;
    const peers = hubPeers(cfg, await observeWg());
    // Under the router lock, as every change the daemon makes; not waiting long: an apply that
    // holds it sets the peers itself, and WireGuard's own retry comes within 15 s anyway.
    await withRouterLock(
      'daemon wg-watch',
      async () => {
        for (const w of restart) {
          const peer = peers.get(w);
          if (!peer) continue;
          log.warn({ wan: w, silentSeconds: stallSeconds, lastHandshake: peer.latestHandshake || null }, `${w}: nothing from the hub for ${stallSeconds} s; starting a new WireGuard session (the hub may have restarted)`);
          await execute([run('wireguard', restartPeerArgv(spokeWgName(w), peer))], () => undefined);
        }
      },
      { waitMs: 5_000 },
    );
  };
}
