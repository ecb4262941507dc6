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
