import { FRR, RUNTIME, STATE } from '../base/paths.js';
import { LINK_ALIAS_PREFIX, RULE_PROTO, isDemoted } from '../model/addressing.js';
import { deleteLink, run, type Step } from '../model/step.js';
import { extractBlock, spliceFrrConf } from '../frr/block.js';
import { setDaemons } from '../frr/daemons.js';
import { reloadSteps } from '../frr/reload.js';
import { nftFamilies, NFT_TABLE } from '../render/nft.js';
import type { Observed } from '../router/observe.js';
import { foreignLink } from './frr.js';
import { delRoute, moveRoute } from './routing.js';
import { removeProxies } from './aggregate.js';

/** `down`: remove by tag everything ospfbond made, put back what it changed; needs no config. */
export function planDown(have: Observed): Step[] {
  const steps: Step[] = [];
  for (const r of have.routes) {
    if (r.table === 'main' && r.dst === 'default' && isDemoted(r.metric)) steps.push(...moveRoute(r, r.metric & 0xffffff));
  }
  // The proxies first: their connections end before the tunnels they ride go.
  steps.push(...removeProxies(have.proxies, have.frr.systemd));
  const taps = new Set(have.links.filter((l) => l.alias?.startsWith(LINK_ALIAS_PREFIX)).map((l) => l.name));
  for (const e of have.mptcp.endpoints) if (e.dev !== undefined && taps.has(e.dev)) steps.push(run('aggregate', ['ip', 'mptcp', 'endpoint', 'delete', 'id', String(e.id)]));
  // The links go before FRR's reload, as in apply: FRR 10 refuses `no interface X` while X exists
  // ("only inactive interfaces can be deleted"), so the taps' OSPF settings stayed in its running config.
  for (const l of have.links) if (l.alias?.startsWith(LINK_ALIAS_PREFIX)) steps.push(deleteLink(l.name));
  const block = extractBlock(have.frr.conf);
  if (block !== undefined) {
    steps.push({ kind: 'write', area: 'frr', path: FRR.conf, content: spliceFrrConf(have.frr.conf, ''), mode: 0o640, label: 'without the ospfbond block' });
    if (have.frr.running) steps.push(...reloadSteps(block, '', have.frr, (iface) => foreignLink(have, iface), false));
  }
  for (const r of have.rules) if (r.protocol === String(RULE_PROTO)) steps.push(run('rule', ['ip', 'rule', 'del', 'pref', String(r.pref)]));
  // A route through one of the links deleted above went with it: `ip route del ... dev obt1` would
  // fail ("Cannot find device") and stop `down` halfway.
  for (const r of have.routes) if (r.protocol === String(RULE_PROTO) && r.table !== 'main' && !(r.dev !== undefined && taps.has(r.dev))) steps.push(delRoute(r));
  for (const family of nftFamilies(have.nftRuleset ?? '')) steps.push(run('nft', ['nft', 'delete', 'table', family, NFT_TABLE]));
  if (have.saved) {
    for (const [k, v] of Object.entries(have.saved.sysctls)) if (v !== '' && have.sysctls[k] !== v) steps.push(run('sysctl', ['sysctl', '-q', '-w', `${k}=${v}`]));
    // A daemon switched back off keeps running until FRR's next restart; it holds no ospfbond config any more.
    if (Object.keys(have.saved.daemons).length) {
      steps.push({ kind: 'write', area: 'frr', path: FRR.daemons, content: setDaemons(have.frr.daemons, have.saved.daemons), mode: 0o640, label: `restore ${Object.keys(have.saved.daemons).join(', ')}` });
    }
    steps.push({ kind: 'remove', area: 'record', path: STATE.saved, label: 'restored settings' });
  }
  if (have.policyRecord) steps.push({ kind: 'remove', area: 'record', path: STATE.policy, label: 'record of the policy both ends ran' });
  if (have.runtimeRecords) {
    steps.push({ kind: 'remove', area: 'record', path: RUNTIME.steering, label: 'tunnels the link quality steering degraded' });
    steps.push({ kind: 'remove', area: 'record', path: RUNTIME.quality, label: 'link quality measured by the daemon' });
  }
  return steps;
}
