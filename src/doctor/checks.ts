import { statSync, existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { OspfbondError } from '../base/errors.js';
import { readText } from '../base/files.js';
import { onPath, readSysctl, underSystemd } from '../base/host.js';
import { FRR } from '../base/paths.js';
import { probe } from '../base/run.js';
import { loadConfig } from '../config/load.js';
import type { Config } from '../config/types.js';
import { keyFileProblems } from '../config/key-files.js';
import { parseDaemons } from '../frr/daemons.js';
import { frrControl, frrState } from '../frr/service.js';
import { desiredSysctls } from '../plan/desired.js';
import { missingPackages } from '../router/tools.js';
import { fail, ok, warn, type Check } from './check.js';
import { uplinkCheck } from './uplink.js';

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

  const daemons = parseDaemons(readText(FRR.daemons));
  const off = ['ospfd', 'bfdd'].filter((d) => daemons[d] !== 'yes');
  checks.push(off.length ? fail('frr daemons', `${off.join(', ')} not enabled in ${FRR.daemons}`, 'ospfbond apply (it enables them), or set ospfd=yes and bfdd=yes there') : ok('frr daemons', `ospfd and bfdd enabled in ${FRR.daemons}`));
  if (existsSync(FRR.init)) {
    const systemd = underSystemd();
    const frr = await frrState(systemd);
    const restart = frrControl('restart', systemd).join(' ');
    if (frr.state === 'unsettled') checks.push(fail('frr running', frr.what, frr.fix));
    else if (frr.state === 'stopped') checks.push(fail('frr running', 'FRR is not running', frrControl('start', systemd).join(' ')));
    else {
      const running = (await probe(['vtysh', '-c', 'show daemons'])).stdout.split(/\s+/);
      const down = ['zebra', 'ospfd', 'bfdd', 'staticd'].filter((d) => !running.includes(d));
      checks.push(down.length ? fail('frr running', `FRR runs without ${down.join(', ')}`, `${restart} (watchfrr starts the daemons enabled in ${FRR.daemons})`) : ok('frr running', `zebra, ospfd, bfdd, staticd answer vtysh${systemd ? '; frr.service active' : ''}`));
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
    const want = desiredSysctls(cfg);
    const wrong = Object.entries(want).filter(([k, v]) => readSysctl(k) !== v);
    checks.push(
      wrong.length
        ? fail('sysctls', wrong.map(([k, v]) => `${k}=${readSysctl(k) || '(none)'} (needs ${v})`).join(', '), `ospfbond apply (it sets them), or: sysctl -w ${wrong.map(([k, v]) => `${k}=${v}`).join(' ')}`)
        : ok('sysctls', Object.entries(want).map(([k, v]) => `${k}=${v}`).join(', ')),
    );
  }
  const aggregating = cfg?.role === 'spoke' ? cfg.aggregate === 'tcp' : (cfg?.spokes.some((s) => s.aggregate === 'tcp') ?? false);
  if (aggregating) checks.push(...aggregationChecks(cfg!.role));
  if (cfg?.role === 'hub') checks.push(await uplinkCheck(cfg.uplink, cfg.uplinkAllow, cfg.listenPort));
  checks.push(await clockCheck());
  return checks;
}

/** Single-connection aggregation needs MPTCP in the kernel and shadowsocks-libev's proxy. */
function aggregationChecks(role: 'hub' | 'spoke'): Check[] {
  const enabled = readSysctl('net.mptcp.enabled');
  const program = role === 'spoke' ? '/usr/bin/ss-redir' : '/usr/bin/ss-server';
  return [
    enabled === '1'
      ? ok('mptcp', 'net.mptcp.enabled = 1')
      : fail('mptcp', enabled === '' ? 'this kernel has no MPTCP (no net.mptcp.enabled)' : `net.mptcp.enabled = ${enabled}`, enabled === '' ? 'a Debian kernel (5.6 or later) has it; or set aggregate = off' : 'sysctl -w net.mptcp.enabled=1, or set aggregate = off'),
    existsSync(program) ? ok('aggregation proxy', `${program} (shadowsocks-libev)`) : fail('aggregation proxy', `${program} is missing`, 'apt-get install shadowsocks-libev, or set aggregate = off'),
  ];
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
