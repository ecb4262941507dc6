import { statSync, readFileSync, existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { probe } from './run.js';
import { FRR_DAEMONS, FRR_INIT, missingPackages, frrState, frrControl, underSystemd, readSysctl, onPath } from './observe.js';
import { parseDaemons } from '../plan/planner.js';
import { loadConfig, type Config } from '../config/config.js';
import { keyFileProblems } from '../config/key-files.js';
import { desiredState } from '../model/desired.js';
import { OspfbondError } from '../errors.js';
import { BFD_PORTS, VXLAN_PORT } from '../model/addressing.js';
import { formatUplinkAllow, type UplinkService } from '../config/schema.js';

export interface Check {
  name: string;
  status: 'ok' | 'warn' | 'fail';
  detail: string;
  /** The command (or action) that fixes it. */
  fix?: string;
}

const ok = (name: string, detail: string): Check => ({ name, status: 'ok', detail });
const fail = (name: string, detail: string, fix: string): Check => ({ name, status: 'fail', detail, fix });
const warn = (name: string, detail: string, fix: string): Check => ({ name, status: 'warn', detail, fix });

/**
 * A throw-away link of a kind, made and deleted at once: the only sure test that the kernel has it.
 * Returns undefined when it worked, else the kernel's answer.
 */
async function kernelLacks(kind: string, extra: string[]): Promise<string | undefined> {
  const name = `obdoc${process.pid % 100000}`;
  const r = await probe(['ip', 'link', 'add', name, 'type', kind, ...extra]);
  if (r.exitCode !== 0) return r.stderr.trim() || `exit ${r.exitCode}`;
  await probe(['ip', 'link', 'del', name]);
  return undefined;
}

/** What this router needs for ospfbond, each with the command that fixes it. Changes nothing lasting. */
export async function runChecks(configFile: string): Promise<Check[]> {
  const checks: Check[] = [];
  const missing = missingPackages();
  checks.push(missing.length ? fail('packages', `missing ${missing.join(', ')}`, `apt-get install ${missing.join(' ')}`) : ok('packages', 'iproute2, wireguard-tools, nftables, frr, frr-pythontools present'));

  let cfg: Config | undefined;
  try {
    cfg = loadConfig(configFile);
    checks.push(ok('config', `${configFile}: valid ${cfg.role} config`));
  } catch (err) {
    const msg = err instanceof OspfbondError ? err.message : String(err);
    checks.push(fail('config', msg.split('\n').slice(0, 3).join('; '), err instanceof OspfbondError && err.hint ? err.hint : `fix ${configFile}`));
  }

  const daemons = parseDaemons(existsSync(FRR_DAEMONS) ? readFileSync(FRR_DAEMONS, 'utf8') : '');
  const off = ['ospfd', 'bfdd'].filter((d) => daemons[d] !== 'yes');
  checks.push(off.length ? fail('frr daemons', `${off.join(', ')} not enabled in ${FRR_DAEMONS}`, 'ospfbond apply (it enables them), or set ospfd=yes and bfdd=yes there') : ok('frr daemons', `ospfd and bfdd enabled in ${FRR_DAEMONS}`));
  if (existsSync(FRR_INIT)) {
    const systemd = underSystemd();
    const frr = await frrState(systemd);
    const restart = frrControl('restart', systemd).join(' ');
    if (frr.state === 'unsettled') checks.push(fail('frr running', frr.what, frr.fix));
    else if (frr.state === 'stopped') checks.push(fail('frr running', 'FRR is not running', frrControl('start', systemd).join(' ')));
    else {
      const running = (await probe(['vtysh', '-c', 'show daemons'])).stdout.split(/\s+/);
      const down = ['zebra', 'ospfd', 'bfdd', 'staticd'].filter((d) => !running.includes(d));
      checks.push(down.length ? fail('frr running', `FRR runs without ${down.join(', ')}`, `${restart} (watchfrr starts the daemons enabled in ${FRR_DAEMONS})`) : ok('frr running', `zebra, ospfd, bfdd, staticd answer vtysh${systemd ? '; frr.service active' : ''}`));
    }
    // apply at boot pulls frr.service in; without it enabled a reboot with the apply unit off leaves no routing.
    if (systemd) {
      const enabled = (await probe(['systemctl', 'is-enabled', 'frr.service'])).stdout.trim();
      checks.push(enabled === 'enabled' ? ok('frr at boot', 'frr.service enabled') : warn('frr at boot', `frr.service is ${enabled || 'unknown'}: FRR does not start at boot`, 'systemctl enable frr.service'));
    }
  }

  if (!(await kernelLacks('wireguard', []))) checks.push(ok('wireguard', 'kernel module'));
  else if (onPath('wireguard-go')) checks.push(ok('wireguard', 'no kernel module; wireguard-go (userspace) will be used, as wg-quick does'));
  else checks.push(fail('wireguard', 'no WireGuard kernel module and no wireguard-go', 'modprobe wireguard, or apt-get install wireguard-go'));
  // The highest VNI on loopback: it cannot collide with a tunnel's (VNI = tunnel number).
  const vxlan = await kernelLacks('vxlan', ['id', '16777215', 'local', '127.0.0.1', 'dstport', '4789']);
  checks.push(vxlan ? fail('vxlan', `cannot create a VXLAN link: ${vxlan}`, 'modprobe vxlan') : ok('vxlan', 'kernel supports VXLAN'));
  const nft = await probe(['nft', 'list', 'tables']).catch(() => ({ exitCode: 1, stderr: 'nft not installed', stdout: '' }));
  checks.push(nft.exitCode === 0 ? ok('nftables', 'nft works') : fail('nftables', `nft list tables: ${nft.stderr.trim()}`, 'apt-get install nftables; modprobe nf_tables'));

  if (cfg) {
    const keys = keyFileProblems(cfg);
    checks.push(keys.length ? fail('keys', keys.join('; '), 'fix the key files or public_key in the config (`wg pubkey < FILE` prints a key file\'s public key)') : ok('keys', 'every key file holds the private key of its public_key, each its own'));
    const want = desiredState(cfg).sysctls;
    const wrong = Object.entries(want).filter(([k, v]) => readSysctl(k) !== v);
    checks.push(
      wrong.length
        ? fail('sysctls', wrong.map(([k, v]) => `${k}=${readSysctl(k) || '(none)'} (needs ${v})`).join(', '), `ospfbond apply (it sets them), or: sysctl -w ${wrong.map(([k, v]) => `${k}=${v}`).join(' ')}`)
        : ok('sysctls', Object.entries(want).map(([k, v]) => `${k}=${v}`).join(', ')),
    );
  }
  if (cfg?.role === 'hub') checks.push(await uplinkCheck(cfg.uplink, cfg.uplinkAllow, cfg.listenPort));
  checks.push(await clockCheck());
  return checks;
}

export interface Listener {
  proto: 'tcp' | 'udp';
  addr: string;
  port: number;
  process?: string;
}

/** `ss -Htulnp` lines: listening TCP and bound UDP sockets, with the owning process where ss tells it. */
export function parseListeners(ss: string): Listener[] {
  const out: Listener[] = [];
  for (const line of ss.split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f.length < 5 || (f[0] !== 'tcp' && f[0] !== 'udp')) continue;
    const m = /^\[?(.*?)\]?(?:%[^:]+)?:(\d+|\*)$/.exec(f[4]!);
    if (!m || m[2] === '*') continue;
    out.push({ proto: f[0], addr: m[1]!, port: Number(m[2]), process: /users:\(\("([^"]+)"/.exec(line)?.[1] });
  }
  return out;
}

/**
 * Services that listen where the internet reaches them (the uplink's addresses or any address) but
 * that the hub's uplink filter turns away: after apply their new connections from outside are
 * dropped. ospfbond's own (WireGuard, BFD, VXLAN: dropped on purpose) and loopback-only ones are
 * left out, and so is every socket of bfdd: besides its ports it binds one per session to send
 * from (source ports from 49152, RFC 5881), which listen for nothing.
 */
export function uplinkBlocked(listeners: Listener[], uplinkAddrs: string[], allow: UplinkService[], wgPort: number): Listener[] {
  const reachable = new Set(['0.0.0.0', '::', '*', ...uplinkAddrs]);
  const ours = new Set([`udp/${wgPort}`, ...[...BFD_PORTS, VXLAN_PORT].map((p) => `udp/${p}`)]);
  const allowed = new Set(allow.map((a) => `${a.proto}/${a.port}`));
  const seen = new Set<string>();
  return listeners.filter((l) => {
    const key = `${l.proto}/${l.port}`;
    if (!reachable.has(l.addr) || ours.has(key) || l.process === 'bfdd' || allowed.has(key) || seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

async function uplinkCheck(uplink: string, allow: UplinkService[] | 'any', wgPort: number): Promise<Check> {
  const name = 'uplink services';
  if (allow === 'any') return ok(name, 'uplink_allow = any: the uplink drops only OSPF, BFD and VXLAN from outside');
  const ss = await probe(['ss', '-Htulnp']);
  if (ss.exitCode !== 0) return warn(name, `cannot list listening sockets (ss: ${ss.stderr.trim()})`, 'apt-get install iproute2');
  const addrs = await probe(['ip', '-j', 'addr', 'show', 'dev', uplink]);
  const uplinkAddrs = addrs.exitCode === 0 ? (JSON.parse(addrs.stdout) as { addr_info: { local: string }[] }[]).flatMap((a) => a.addr_info.map((i) => i.local)) : [];
  const blocked = uplinkBlocked(parseListeners(ss.stdout), uplinkAddrs, allow, wgPort);
  const allowText = formatUplinkAllow(allow);
  if (blocked.length === 0) return ok(name, `every service listening on ${uplink} is in uplink_allow (${allowText})`);
  const list = blocked.map((l) => `${l.proto}/${l.port}${l.process ? ` (${l.process})` : ''}`).join(', ');
  return warn(
    name,
    `${list} listen${blocked.length === 1 ? 's' : ''} on ${uplink} but uplink_allow (${allowText}) turns new connections from the internet away`,
    `add what must be reachable to uplink_allow in [hub] (uplink_allow = ${[...(allow.length ? [allowText] : []), ...blocked.map((l) => `${l.proto}/${l.port}`)].join(',')}) and run ospfbond apply --confirm 120, or leave it if only the tunnels need it`,
  );
}

/**
 * WireGuard refuses a handshake whose timestamp is older than the last one it accepted from that
 * peer (replay protection), so a router whose clock came up in the past cannot reconnect until the
 * clock is right. Checks the clock is not before this ospfbond was built, and that NTP syncs it.
 */
async function clockCheck(): Promise<Check> {
  const built = statSync(fileURLToPath(import.meta.url)).mtimeMs;
  if (Date.now() < built - 86_400_000) {
    return fail('clock', `the clock says ${new Date().toISOString()}, before this ospfbond was installed`, 'set the time (NTP: apt-get install systemd-timesyncd), or WireGuard handshakes may be refused');
  }
  const timedated = await probe(['timedatectl', 'show', '-p', 'NTPSynchronized', '--value']).catch(() => undefined);
  if (timedated?.exitCode === 0) {
    return timedated.stdout.trim() === 'yes' ? ok('clock', 'synchronised (timedatectl)') : warn('clock', 'not synchronised by NTP (timedatectl)', 'timedatectl set-ntp true');
  }
  if (onPath('chronyc')) {
    const c = await probe(['chronyc', '-n', 'tracking']);
    return /Leap status\s*:\s*Normal/.test(c.stdout) ? ok('clock', 'synchronised (chrony)') : warn('clock', 'chrony is not synchronised', 'chronyc sources (check the NTP servers)');
  }
  return warn('clock', `${new Date().toISOString()}; cannot tell whether NTP keeps it right (no timedatectl or chronyc answered)`, 'apt-get install systemd-timesyncd (or chrony)');
}

export function renderChecks(checks: Check[]): string {
  const width = Math.max(...checks.map((c) => c.name.length));
  const lines = checks.map((c) => `${c.status === 'ok' ? 'ok  ' : c.status === 'warn' ? 'warn' : 'FAIL'}  ${c.name.padEnd(width)}  ${c.detail}${c.fix ? `\n      ${' '.repeat(width)}  fix: ${c.fix}` : ''}`);
  const failed = checks.filter((c) => c.status === 'fail').length;
  const warned = checks.filter((c) => c.status === 'warn').length;
  lines.push(failed ? `ospfbond doctor: ${failed} problem${failed > 1 ? 's' : ''} to fix${warned ? `, ${warned} warning${warned > 1 ? 's' : ''}` : ''}` : `ospfbond doctor: all needed parts present${warned ? ` (${warned} warning${warned > 1 ? 's' : ''})` : ''}`);
  return lines.join('\n');
}
