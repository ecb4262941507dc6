import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { spokeWgName } from '../../model/addressing.js';
import { run } from '../../model/step.js';
import { execute } from '../../router/executor.js';
import { hubPeers, observeWg } from '../../router/kernel.js';
import type { Job } from './job.js';

/** A spoke whose hub is known by name follows the name to a new address. */
export const resolve: Job = async (cfg, log) => {
  if (cfg.role !== 'spoke' || isIP(cfg.hub.host)) return;
  const address = (await lookup(cfg.hub.host, { family: 4 })).address;
  const endpoint = `${address}:${cfg.hub.port}`;
  for (const [wan, peer] of hubPeers(cfg, await observeWg())) {
    if (peer.endpoint === endpoint) continue;
    log.info({ wan, host: cfg.hub.host, from: peer.endpoint ?? null, to: endpoint }, 'hub endpoint re-resolved');
    await execute([run('wireguard', ['wg', 'set', spokeWgName(wan), 'peer', cfg.hub.publicKey, 'endpoint', endpoint])], () => undefined);
  }
};
