import { createServer, type Server } from 'node:http';
import { Registry, Gauge, Counter } from 'prom-client';
import type { Logger } from 'pino';
import type { StatusReport } from '../status/schema.js';

/** OSPF neighbour states (RFC 2328 10.1), as FRR names them before the "/DR" role suffix. */
const OSPF_STATES = ['Down', 'Attempt', 'Init', '2-Way', 'ExStart', 'Exchange', 'Loading', 'Full'] as const;

/**
 * Prometheus metrics per tunnel, filled from a status report on every scrape. Names follow the
 * Prometheus conventions: unit suffixes, `_total` counters, 0/1 gauges, a state set for OSPF.
 */
export function metricsRegistry(): { registry: Registry; update(r: StatusReport): void } {
  const registry = new Registry();
  const labelNames = ['spoke', 'wan'] as const;
  const g = (name: string, help: string, extra: string[] = []) => new Gauge({ name, help, labelNames: [...labelNames, ...extra], registers: [registry] });
  const up = g('ospfbond_tunnel_up', '1 when the tunnel\'s OSPF adjacency is Full and its BFD session up');
  const ospf = g('ospfbond_ospf_neighbor_state', 'OSPF neighbour state on the tunnel\'s tap: 1 for the current state', ['state']);
  const bfd = g('ospfbond_bfd_session_up', '1 when the tunnel\'s BFD session is up');
  const cost = g('ospfbond_ospf_cost', 'OSPF cost of the tunnel: end="local" this router\'s, end="peer" the other end\'s (from its router LSA)', ['end']);
  const ecmp = g('ospfbond_tunnel_in_ecmp', '1 when the tunnel is an active nexthop of the site\'s OSPF route');
  const standby = g('ospfbond_tunnel_standby', '1 when the local policy makes the tunnel a standby');
  const age = g('ospfbond_wireguard_handshake_age_seconds', 'seconds since the tunnel\'s latest WireGuard handshake (absent: none yet)');
  const inSync = new Gauge({ name: 'ospfbond_policy_in_sync', help: '1 when both ends run the same policy for the site (absent: not known)', labelNames: ['spoke'], registers: [registry] });
  const subflows = g('ospfbond_aggregate_subflows', 'MPTCP subflows of the site\'s proxied connections on the tunnel now (absent: the site does not aggregate)');
  const site = (name: string, help: string) => new Gauge({ name, help, labelNames: ['spoke'], registers: [registry] });
  const proxyUp = site('ospfbond_aggregate_proxy_up', '1 when the site\'s aggregation proxy on this router runs (spoke: and listens) (absent: the site does not aggregate)');
  const connections = site('ospfbond_aggregate_connections', 'MPTCP connections between the site\'s proxies now (absent: the site does not aggregate)');
  const proxied = new Counter({ name: 'ospfbond_aggregate_bytes_total', help: 'bytes of the site\'s proxied connections through the tunnels (subflows\' IP bytes), direction="up" from the site, "down" to it', labelNames: ['spoke', 'direction'], registers: [registry] });
  const capped = new Counter({ name: 'ospfbond_aggregate_capped_connections_total', help: 'new connections of the site sent per flow because aggregate_connections were busy (spoke only)', labelNames: ['spoke'], registers: [registry] });
  const degraded = g('ospfbond_tunnel_degraded', '1 while the link quality steering keeps the tunnel out of service (degraded cost)');
  const steered = new Counter({ name: 'ospfbond_tunnel_steering_changes_total', help: 'times the site\'s daemon degraded the tunnel or put it back, since it started (spoke only)', labelNames: [...labelNames], registers: [registry] });
  const loss = g('ospfbond_tunnel_loss_ratio', 'share of the probes through the tunnel lost (0-1), window="short" (the loss window) or "long" (a minute) (spoke only)', ['window']);
  const rtt = g('ospfbond_tunnel_rtt_seconds', 'round-trip time of the probes through the tunnel, quantile="0.5" or "0.95", per window (spoke only)', ['window', 'quantile']);
  const jitter = g('ospfbond_tunnel_jitter_seconds', 'mean difference between consecutive probe round-trip times, per window (spoke only)', ['window']);
  const rx = new Counter({ name: 'ospfbond_tunnel_receive_bytes_total', help: 'bytes received from the tunnel (tap counter)', labelNames: [...labelNames], registers: [registry] });
  const tx = new Counter({ name: 'ospfbond_tunnel_transmit_bytes_total', help: 'bytes sent into the tunnel (tap counter)', labelNames: [...labelNames], registers: [registry] });
  return {
    registry,
    update(r) {
      registry.resetMetrics();
      for (const t of r.tunnels) {
        const l = { spoke: t.spoke, wan: t.wan };
        const full = t.ospf.startsWith('Full');
        up.set(l, full && t.bfd === 'up' ? 1 : 0);
        const current = t.ospf.split('/')[0];
        for (const s of OSPF_STATES) ospf.set({ ...l, state: s }, s === current ? 1 : 0);
        bfd.set(l, t.bfd === 'up' ? 1 : 0);
        if (t.cost !== null) cost.set({ ...l, end: 'local' }, t.cost);
        if (t.peerCost !== null) cost.set({ ...l, end: 'peer' }, t.peerCost);
        ecmp.set(l, t.inEcmp ? 1 : 0);
        standby.set(l, t.role === 'standby' ? 1 : 0);
        if (t.handshakeAgeSeconds !== null) age.set(l, t.handshakeAgeSeconds);
        if (t.subflows !== null) subflows.set(l, t.subflows);
        degraded.set(l, t.degraded ? 1 : 0);
        if (t.quality) {
          steered.inc(l, t.quality.changes);
          for (const [window, w] of [['short', t.quality.short], ['long', t.quality.long]] as const) {
            if (w.lossRatio !== null) loss.set({ ...l, window }, w.lossRatio);
            if (w.rttMedianMs !== null) rtt.set({ ...l, window, quantile: '0.5' }, w.rttMedianMs / 1000);
            if (w.rttP95Ms !== null) rtt.set({ ...l, window, quantile: '0.95' }, w.rttP95Ms / 1000);
            if (w.jitterMs !== null) jitter.set({ ...l, window }, w.jitterMs / 1000);
          }
        }
        // The kernel's counters are the truth; after a reset the counter is set to them again.
        rx.inc(l, t.rxBytes);
        tx.inc(l, t.txBytes);
      }
      for (const s of r.spokes) {
        if (s.inSync !== null) inSync.set({ spoke: s.name }, s.inSync ? 1 : 0);
        if (s.proxyUp !== null) proxyUp.set({ spoke: s.name }, s.proxyUp ? 1 : 0);
        if (s.proxiedConnections !== null) connections.set({ spoke: s.name }, s.proxiedConnections);
        if (s.proxiedBytesUp !== null) proxied.inc({ spoke: s.name, direction: 'up' }, s.proxiedBytesUp);
        if (s.proxiedBytesDown !== null) proxied.inc({ spoke: s.name, direction: 'down' }, s.proxiedBytesDown);
        if (s.cappedConnections !== null) capped.inc({ spoke: s.name }, s.cappedConnections);
      }
    },
  };
}

export function serveMetrics(listen: string, collect: () => Promise<StatusReport>, log: Logger): Server {
  const { registry, update } = metricsRegistry();
  const [host, port] = [listen.slice(0, listen.lastIndexOf(':')), Number(listen.slice(listen.lastIndexOf(':') + 1))];
  const server = createServer((req, res) => {
    if (req.url !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('ospfbond: metrics are at /metrics\n');
      return;
    }
    collect()
      .then(async (report) => {
        update(report);
        res.writeHead(200, { 'content-type': registry.contentType }).end(await registry.metrics());
      })
      .catch((err: unknown) => {
        log.warn({ err: String(err) }, 'metrics scrape failed');
        res.writeHead(503, { 'content-type': 'text/plain' }).end(`ospfbond: cannot read the router: ${String(err)}\n`);
      });
  });
  server.on('error', (err) => log.error({ err: String(err), listen }, 'metrics listener failed'));
  server.listen(port, host, () => log.info({ listen }, 'serving Prometheus metrics at /metrics'));
  return server;
}
