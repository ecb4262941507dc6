import { PROXY_CIPHER } from '../model/aggregate.js';

/**
 * shadowsocks-libev's JSON config (ss-redir on a spoke, ss-server on the hub). One idle timeout for
 * both ends, long enough that an idle SSH session or a quiet database connection is not cut.
 */
export const PROXY_IDLE_TIMEOUT_S = 86400;

export interface ProxySettings {
  role: 'redir' | 'server';
  /** ss-redir: the hub proxy's address and port; ss-server: where it listens. */
  server: string;
  serverPort: number;
  /** ss-redir only: where the nft redirect delivers LAN TCP. */
  localPort?: number;
}

export function renderProxyConfig(s: ProxySettings, key: string): string {
  const conf: Record<string, unknown> = {
    server: s.server,
    server_port: s.serverPort,
    ...(s.role === 'redir' ? { local_address: '0.0.0.0', local_port: s.localPort } : {}),
    key,
    method: PROXY_CIPHER,
    mode: 'tcp_only',
    mptcp: true,
    no_delay: true,
    timeout: PROXY_IDLE_TIMEOUT_S,
  };
  return `${JSON.stringify(conf, null, 2)}\n`;
}

/**
 * The proxy's systemd unit: systemd restarts it a second after it dies, however often (the site's
 * redirect is disarmed meanwhile; the daemon also starts it, and that is no conflict). The proxy
 * reads its root-only config and then drops to `nobody` itself (`-a`), the same command line the
 * namespace lab runs without systemd; the unit keeps it from gaining anything back.
 */
export function renderProxyUnit(p: { name: string; program: string; configPath: string }): string {
  return [
    '# Written by `ospfbond apply`; `ospfbond down` (or turning aggregation off) removes it.',
    '[Unit]',
    `Description=ospfbond: single-connection aggregation proxy ${p.name}`,
    'After=network.target',
    'StartLimitIntervalSec=0',
    '',
    '[Service]',
    'Type=simple',
    `ExecStart=${p.program} -c ${p.configPath} -a nobody`,
    'Restart=always',
    'RestartSec=1',
    // What `-a nobody` needs (setuid, setgid, initgroups) and nothing else; the proxies bind
    // unprivileged ports and read the original destination of a redirected connection, which needs none.
    'CapabilityBoundingSet=CAP_SETUID CAP_SETGID',
    'NoNewPrivileges=yes',
    'ProtectSystem=strict',
    'ProtectHome=yes',
    'PrivateTmp=yes',
    'PrivateDevices=yes',
    'ProtectKernelTunables=yes',
    'ProtectKernelModules=yes',
    'ProtectControlGroups=yes',
    '',
  ].join('\n');
}
