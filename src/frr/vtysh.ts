import { createConnection } from 'node:net';
import { OspfbondError, EXIT } from '../base/errors.js';
import { FRR } from '../base/paths.js';
import { probe } from '../base/run.js';

const VTYSH_TIMEOUT_MS = 10_000;

/**
 * The daemon that answers a show command, as vtysh would route it. Only these are asked over the
 * daemon's own vty socket; anything else goes through vtysh.
 */
export function vtyDaemonFor(command: string): 'ospfd' | 'bfdd' | 'zebra' | undefined {
  if (/^show ip ospf\b/.test(command)) return 'ospfd';
  if (/^show bfd\b/.test(command)) return 'bfdd';
  if (/^show ip route\b/.test(command)) return 'zebra';
  return undefined;
}

/**
 * One command over an FRR daemon's vty socket (FRR.runDir/DAEMON.vty), the way vtysh talks to it:
 * each command ends with a NUL, each answer with three NULs and a status byte (0: done). `enable`
 * first, as vtysh does, since bfdd's show commands live in the enable node. A vtysh process costs
 * some 10 ms of CPU and connects to every daemon; this costs a connect and a read, which is what
 * lets the daemon poll FRR every 2 s on a small router (docs/design.md, "The daemon's cost").
 */
export function vtyQuery(daemon: string, command: string, timeoutMs = VTYSH_TIMEOUT_MS): Promise<{ status: number; output: string }> {
  return new Promise((resolve, reject) => {
    const sock = createConnection({ path: `${FRR.runDir}/${daemon}.vty` });
    const pending = ['enable', command];
    let chunks: Buffer[] = [];
    let tail = Buffer.alloc(0);
    const timer = setTimeout(() => sock.destroy(new Error(`no answer after ${timeoutMs / 1000} s`)), timeoutMs);
    const done = (err: Error | undefined, r?: { status: number; output: string }) => {
      clearTimeout(timer);
      sock.destroy();
      if (err) reject(err);
      else resolve(r!);
    };
    sock.on('connect', () => sock.write(`${pending.shift()}\0`));
    sock.on('data', (d: Buffer) => {
      chunks.push(d);
      // The end marker may straddle two reads: look at the last four bytes of everything so far.
      tail = Buffer.concat([tail, d]).subarray(-4);
      if (tail.length < 4 || tail[0] !== 0 || tail[1] !== 0 || tail[2] !== 0) return;
      const status = tail[3]!;
      const all = Buffer.concat(chunks);
      chunks = [];
      tail = Buffer.alloc(0);
      if (pending.length && status === 0) sock.write(`${pending.shift()}\0`);
      else done(undefined, { status, output: all.subarray(0, all.length - 4).toString('utf8') });
    });
    sock.on('error', (err) => done(err));
    sock.on('close', () => done(new Error('FRR closed the vty connection before answering')));
  });
}

/** A `show ... json` command's output (json.ts reads it); an error when FRR does not answer with JSON. */
export async function vtyshJson(command: string): Promise<string> {
  const isJson = (s: string) => s.trim().startsWith('{') || s.trim().startsWith('[');
  const daemon = vtyDaemonFor(command);
  if (daemon) {
    // Whatever goes wrong here (the daemon restarting, a socket elsewhere) is left to vtysh,
    // whose answer, or error, is the one an operator knows.
    const r = await vtyQuery(daemon, command).catch(() => undefined);
    if (r && r.status === 0 && isJson(r.output)) return r.output;
  }
  // vtysh answers in milliseconds; a daemon that is stopping or starting can hold it much longer.
  const r = await probe(['vtysh', '-c', command], undefined, VTYSH_TIMEOUT_MS);
  if (r.exitCode !== 0 || !isJson(r.stdout)) {
    throw new OspfbondError(`vtysh -c '${command}': ${(r.stderr || r.stdout).trim() || `exit ${r.exitCode}`}`, EXIT.precondition, 'is FRR running? `ospfbond doctor` checks it');
  }
  return r.stdout;
}

/**
 * Drops an OSPF interface's adjacencies at once (`clear ip ospf interface`: ospfd takes it down and
 * up). Its router LSA then lists the tap as a stub link, which no path of the other end uses, and is
 * flooded over the remaining tunnels. Used when a WAN loses carrier: nothing can cross its tunnel
 * any more, so no hello re-forms the adjacency until the carrier, and with it the tunnel, is back.
 *
 * Not `ip link set TAP down`: after a tap went down and up, FRR 8.4's zebra showed the tap among
 * the site's default's nexthops while the kernel's route (its nexthop group) lacked it, for as long
 * as the lab watched (20 s): the tunnel was Full at both ends and carried none of the site's uploads.
 */
export async function resetOspfInterface(iface: string): Promise<void> {
  const command = `clear ip ospf interface ${iface}`;
  const r = await vtyQuery('ospfd', command).catch(() => undefined);
  if (r?.status === 0) return;
  const v = await probe(['vtysh', '-c', command], undefined, VTYSH_TIMEOUT_MS);
  if (v.exitCode !== 0) throw new OspfbondError(`vtysh -c '${command}': ${(v.stderr || v.stdout).trim() || `exit ${v.exitCode}`}`, EXIT.precondition, 'is FRR running? `ospfbond doctor` checks it');
}
