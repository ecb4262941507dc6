import type { Desired, LinkSpec, WgSpec, Addr } from '../model/desired.js';
import type { Observed, ObservedLink, ObservedRoute, SavedState } from '../system/observe.js';
import { FRR_CONF, FRR_DAEMONS, FRR_RELOAD, IPV6_FORWARDING, STATE_FILE, POLICY_STATE_FILE, blockInSync, frrControl } from '../system/observe.js';
import { LINK_ALIAS_PREFIX, RULE_PROTO, demotedMetric, isDemoted } from '../model/addressing.js';
import { spliceFrrConf, extractBlock, conflictsInUserConf, costOnlyChanges, unsetLeavingInterfaces } from '../render/frr.js';
import { nftHash, nftScript, hex, NFT_FAMILY, NFT_TABLE } from '../render/nft.js';
import { renderShaper, shapeSignature } from '../render/tc.js';
import { OspfbondError, EXIT } from '../errors.js';
import type { Step } from './steps.js';

/**
 * The planner is pure: (what the config wants, what the router has) => the steps between them.
 * An up-to-date router plans no step at all.
 */
export function planApply(want: Desired, have: Observed, opts: { warn?: (message: string) => void } = {}): Step[] {
  want = checkPreconditions(want, have, opts.warn);
  const steps: Step[] = [];
  steps.push(...planSaved(want, have));
  steps.push(...planSysctls(want, have));
  steps.push(...planWanRoutes(want, have, opts.warn));
  steps.push(...planRules(want, have));
  steps.push(...planLinks(want, have));
  steps.push(...planShapes(want, have));
  steps.push(...planNft(want, have));
  steps.push(...planDemote(want, have));
  steps.push(...planFrr(want, have, opts.warn));
  return steps;
}

/** Returns `want` without the WAN routes of missing devices when `warn` tolerates them. */
function checkPreconditions(want: Desired, have: Observed, warn?: (message: string) => void): Desired {
  const names = new Set(have.links.map((l) => l.name));
  const missing = want.requiredDevs.filter((d) => !names.has(d.dev));
  if (missing.length && warn) {
    for (const d of missing) warn(`device ${d.dev} (${d.what}) does not exist (yet): left as it is`);
    const gone = new Set(missing.map((d) => d.dev));
    want = { ...want, wanRoutes: want.wanRoutes.filter((w) => !gone.has(w.dev)) };
  } else if (missing.length) {
    throw new OspfbondError(
      missing.map((d) => `device ${d.dev} (${d.what}) does not exist`).join('; '),
      EXIT.precondition,
      `check the names with \`ip link\` and fix the config; nothing was changed`,
    );
  }
  const conflicts = conflictsInUserConf(have.frr.conf, want.role);
  if (conflicts.length) {
    throw new OspfbondError(`${FRR_CONF} has ${conflicts.join('; and ')}`, EXIT.precondition, 'nothing was changed');
  }
  return want;
}

function planSaved(want: Desired, have: Observed): Step[] {
  const saved: SavedState = { sysctls: { ...have.saved?.sysctls }, daemons: { ...have.saved?.daemons } };
  let changed = !have.saved;
  for (const [k, v] of Object.entries(want.sysctls)) {
    if (!(k in saved.sysctls) && have.sysctls[k] !== v) {
      saved.sysctls[k] = have.sysctls[k] ?? '';
      changed = true;
    }
  }
  const daemons = parseDaemons(have.frr.daemons);
  for (const [d, v] of Object.entries(want.daemons)) {
    if (!(d in saved.daemons) && daemons[d] !== undefined && daemons[d] !== v) {
      saved.daemons[d] = daemons[d];
      changed = true;
    }
  }
  if (!changed) return [];
  return [{ kind: 'write', path: STATE_FILE, content: `${JSON.stringify(saved, null, 2)}\n`, mode: 0o600, label: 'settings to restore on down' }];
}

function planSysctls(want: Desired, have: Observed): Step[] {
  return Object.entries(want.sysctls)
    .filter(([k, v]) => have.sysctls[k] !== v)
    .map(([k, v]) => ({ kind: 'run', argv: ['sysctl', '-q', '-w', `${k}=${v}`] }));
}

/** The gateway of a `gw=dhcp` WAN: the DHCP client's default route (even once demoted), else what we installed. */
export function dhcpGateway(have: Observed, dev: string, table: number): string | undefined {
  const viaDev = (r: ObservedRoute) => r.dst === 'default' && r.dev === dev && r.gateway;
  return (
    have.routes.find((r) => r.table === 'main' && viaDev(r) && r.protocol !== String(RULE_PROTO))?.gateway ??
    have.routes.find((r) => r.table === String(table) && viaDev(r))?.gateway
  );
}

function planWanRoutes(want: Desired, have: Observed, warn?: (message: string) => void): Step[] {
  const steps: Step[] = [];
  const tables = new Set(want.wanRoutes.map((w) => String(w.table)));
  for (const w of want.wanRoutes) {
    const gw = w.gw === 'dhcp' ? dhcpGateway(have, w.dev, w.table) : w.gw;
    if (!gw && warn) {
      warn(`wan ${w.wan}: no DHCP gateway on ${w.dev} yet: its table is left as it is`);
      continue;
    }
    if (!gw) {
      throw new OspfbondError(`wan ${w.wan}: no DHCP gateway on ${w.dev} yet (no default route via ${w.dev})`, EXIT.precondition, 'wait for the DHCP lease, or set gw= to the gateway address; nothing was changed');
    }
    const inTable = have.routes.filter((r) => r.table === String(w.table));
    const ok = inTable.length === 1 && inTable[0]!.dst === 'default' && inTable[0]!.gateway === gw && inTable[0]!.dev === w.dev;
    if (!ok) {
      for (const r of inTable.filter((r) => r.dst !== 'default')) steps.push(delRoute(r));
      steps.push({ kind: 'run', argv: ['ip', 'route', 'replace', 'default', 'via', gw, 'dev', w.dev, 'table', String(w.table), 'proto', String(RULE_PROTO)] });
    }
  }
  for (const r of have.routes) {
    if (r.protocol === String(RULE_PROTO) && r.table !== 'main' && !tables.has(r.table)) steps.push(delRoute(r));
  }
  return steps;
}

function delRoute(r: ObservedRoute): Step {
  const argv = ['ip', 'route', 'del', r.dst];
  if (r.type && r.type !== 'unicast') argv.splice(3, 0, r.type);
  if (r.gateway) argv.push('via', r.gateway);
  if (r.dev) argv.push('dev', r.dev);
  argv.push('table', r.table);
  if (r.metric) argv.push('metric', String(r.metric));
  return { kind: 'run', argv };
}

function planRules(want: Desired, have: Observed): Step[] {
  const steps: Step[] = [];
  const ours = have.rules.filter((r) => r.protocol === String(RULE_PROTO));
  const same = (w: Desired['rules'][number], r: (typeof ours)[number]) =>
    r.pref === w.pref && r.fwmark === w.fwmark && (w.table === undefined ? r.action === 'unreachable' : r.table === String(w.table));
  for (const r of ours) {
    if (!want.rules.some((w) => same(w, r))) steps.push({ kind: 'run', argv: ['ip', 'rule', 'del', 'pref', String(r.pref)] });
  }
  for (const w of want.rules) {
    if (ours.some((r) => same(w, r))) continue;
    const action = w.table === undefined ? ['unreachable'] : ['lookup', String(w.table)];
    steps.push({ kind: 'run', argv: ['ip', 'rule', 'add', 'pref', String(w.pref), 'fwmark', hex(w.fwmark), ...action, 'protocol', String(RULE_PROTO)] });
  }
  return steps;
}

const addrKey = (a: Addr) => `${a.local}/${a.prefixlen}${a.peer ? ` peer ${a.peer}` : ''}`;

function linkMatches(spec: LinkSpec, l: ObservedLink): boolean {
  if (spec.kind === 'wireguard') return l.kind === 'wireguard' || l.kind === 'tun';
  const v = l.vxlan;
  return l.kind === 'vxlan' && !!v && v.id === spec.vxlan!.id && v.local === spec.vxlan!.local && v.remote === spec.vxlan!.remote && v.port === spec.vxlan!.port;
}

/** An existing link apply keeps as it is: ospfbond's own, and of the wanted kind and parameters. */
function reusable(spec: LinkSpec, cur: ObservedLink | undefined): boolean {
  return cur !== undefined && linkMatches(spec, cur) && !!cur.alias?.startsWith(LINK_ALIAS_PREFIX);
}

function planLinks(want: Desired, have: Observed): Step[] {
  const steps: Step[] = [];
  const byName = new Map(have.links.map((l) => [l.name, l]));
  const wanted = new Set(want.links.map((l) => l.name));
  for (const l of have.links) {
    if (l.alias?.startsWith(LINK_ALIAS_PREFIX) && !wanted.has(l.name)) steps.push({ kind: 'run', argv: ['ip', 'link', 'del', l.name] });
  }
  for (const spec of want.links) {
    let cur = byName.get(spec.name);
    if (cur && !reusable(spec, cur)) {
      if (!cur.alias?.startsWith(LINK_ALIAS_PREFIX)) {
        throw new OspfbondError(`interface ${spec.name} exists and is not ospfbond's`, EXIT.precondition, 'rename or remove it; ospfbond only changes interfaces it created');
      }
      steps.push({ kind: 'run', argv: ['ip', 'link', 'del', spec.name] });
      cur = undefined;
    }
    if (!cur) {
      if (spec.kind === 'wireguard') steps.push({ kind: 'wg-link', name: spec.name });
      else {
        const v = spec.vxlan!;
        steps.push({ kind: 'run', argv: ['ip', 'link', 'add', spec.name, 'type', 'vxlan', 'id', String(v.id), 'local', v.local, 'remote', v.remote, 'dstport', String(v.port)] });
      }
    }
    if (!cur || cur.alias !== spec.alias) steps.push({ kind: 'run', argv: ['ip', 'link', 'set', spec.name, 'alias', spec.alias] });
    if (!cur || cur.mtu !== spec.mtu) steps.push({ kind: 'run', argv: ['ip', 'link', 'set', spec.name, 'mtu', String(spec.mtu)] });
    const wg = want.wg.find((w) => w.name === spec.name);
    if (wg) steps.push(...planWg(wg, have, !cur));
    const haveAddrs = new Set((cur?.addrs ?? []).map(addrKey));
    const wantAddrs = new Set(spec.addrs.map(addrKey));
    for (const a of cur?.addrs ?? []) {
      if (!wantAddrs.has(addrKey(a))) steps.push({ kind: 'run', argv: ['ip', 'addr', 'del', `${a.local}/${a.prefixlen}`, ...(a.peer ? ['peer', `${a.peer}/32`] : []), 'dev', spec.name] });
    }
    for (const a of spec.addrs) {
      if (!haveAddrs.has(addrKey(a))) steps.push({ kind: 'run', argv: ['ip', 'addr', 'add', `${a.local}/${a.prefixlen}`, ...(a.peer ? ['peer', `${a.peer}/32`] : []), 'dev', spec.name] });
    }
    if (!cur?.up) steps.push({ kind: 'run', argv: ['ip', 'link', 'set', spec.name, 'up'] });
  }
  return steps;
}

/** A tap made or remade in this run has no qdisc yet; one whose shaper differs is rebuilt whole. */
function planShapes(want: Desired, have: Observed): Step[] {
  const steps: Step[] = [];
  const byName = new Map(have.links.map((l) => [l.name, l]));
  for (const s of want.shapes) {
    const spec = want.links.find((l) => l.name === s.dev)!;
    const has = reusable(spec, byName.get(s.dev)) ? have.shapes[s.dev] : undefined;
    const wanted = s.shaper ? shapeSignature(s.shaper) : undefined;
    if (has === wanted) continue;
    // htb cannot change its root in place (`tc qdisc replace` fails on it), so delete and rebuild.
    if (has !== undefined) steps.push({ kind: 'run', argv: ['tc', 'qdisc', 'del', 'dev', s.dev, 'root'] });
    if (s.shaper) steps.push({ kind: 'run', argv: ['tc', '-batch', '-'], input: renderShaper(s.shaper) });
  }
  return steps;
}

function planWg(spec: WgSpec, have: Observed, fresh: boolean): Step[] {
  const cur = fresh ? undefined : have.wg[spec.name];
  const argv = ['wg', 'set', spec.name];
  if (!cur || cur.publicKey !== spec.publicKey) argv.push('private-key', spec.privateKeyFile);
  if (spec.listenPort !== undefined && cur?.listenPort !== spec.listenPort) argv.push('listen-port', String(spec.listenPort));
  if ((spec.fwmark ?? 0) !== (cur?.fwmark ?? 0)) argv.push('fwmark', spec.fwmark ? hex(spec.fwmark) : 'off');
  const wantKeys = new Set(spec.peers.map((p) => p.publicKey));
  for (const p of cur?.peers ?? []) if (!wantKeys.has(p.publicKey)) argv.push('peer', p.publicKey, 'remove');
  for (const p of spec.peers) {
    const old = cur?.peers.find((o) => o.publicKey === p.publicKey);
    const endpoint = p.endpoint ? `${have.resolved[p.endpoint.host] ?? p.endpoint.host}:${p.endpoint.port}` : undefined;
    const allowed = [...p.allowedIps].sort().join(',');
    const same =
      old &&
      (endpoint === undefined || old.endpoint === endpoint) &&
      [...old.allowedIps].sort().join(',') === allowed &&
      (old.keepalive ?? 0) === (p.keepalive ?? 0);
    if (same) continue;
    argv.push('peer', p.publicKey);
    // The name, not the address: wg resolves it, and the config keeps the name for later re-resolution.
    if (p.endpoint) argv.push('endpoint', `${p.endpoint.host}:${p.endpoint.port}`);
    argv.push('allowed-ips', allowed);
    if (p.keepalive) argv.push('persistent-keepalive', String(p.keepalive));
  }
  return argv.length > 3 ? [{ kind: 'run', argv }] : [];
}

function planNft(want: Desired, have: Observed): Step[] {
  if (have.nftRuleset !== undefined && nftHash(have.nftRuleset) === nftHash(want.nft)) return [];
  return [{ kind: 'run', argv: ['nft', '-f', '-'], input: have.nftRuleset === undefined ? want.nft : nftScript(want.nft) }];
}

/** WAN defaults from DHCP/PPP would beat OSPF's default in zebra (distance = metric's top byte). */
function planDemote(want: Desired, have: Observed): Step[] {
  const devs = new Set(want.wanRoutes.map((w) => w.dev));
  const steps: Step[] = [];
  for (const r of have.routes) {
    if (r.table !== 'main' || r.dst !== 'default' || !r.dev || !devs.has(r.dev) || isDemoted(r.metric)) continue;
    steps.push(...moveRoute(r, demotedMetric(r.metric)));
  }
  return steps;
}

/**
 * A default route to another metric: the new one first, so the WAN is never without it. `replace`,
 * not `add`: a run stopped between the two steps leaves both, and the next run's (or a rollback's)
 * move must not fail on the one already there.
 */
function moveRoute(r: ObservedRoute, metric: number): Step[] {
  const add = ['ip', 'route', 'replace', 'default', ...(r.gateway ? ['via', r.gateway] : []), 'dev', r.dev!, 'metric', String(metric)];
  if (r.protocol) add.push('proto', r.protocol);
  return [{ kind: 'run', argv: add }, delRoute(r)];
}

export function parseDaemons(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of text.matchAll(/^([a-z0-9]+d)=(\S+)\s*$/gm)) out[m[1]!] = m[2]!;
  return out;
}

export function setDaemons(text: string, want: Record<string, string>): string {
  let out = text;
  for (const [d, v] of Object.entries(want)) {
    const re = new RegExp(`^${d}=\\S*\\s*$`, 'm');
    out = re.test(out) ? out.replace(re, `${d}=${v}`) : `${out}${out.endsWith('\n') || out === '' ? '' : '\n'}${d}=${v}\n`;
  }
  return out;
}

function daemonsChanges(want: Desired, text: string): Record<string, string> {
  const cur = parseDaemons(text);
  // staticd is always started by frrinit.sh; its line does not exist in Debian's daemons file.
  return Object.fromEntries(Object.entries(want.daemons).filter(([d, v]) => d !== 'staticd' && cur[d] !== v));
}

function planFrr(want: Desired, have: Observed, warn?: (message: string) => void): Step[] {
  const steps: Step[] = [];
  const changes = daemonsChanges(want, have.frr.daemons);
  if (Object.keys(changes).length) {
    steps.push({ kind: 'write', path: FRR_DAEMONS, content: setDaemons(have.frr.daemons, changes), mode: 0o640, label: `enable ${Object.keys(changes).join(', ')}`, preview: Object.entries(changes).map(([d, v]) => `${d}=${v}`).join('\n') });
  }
  const current = extractBlock(have.frr.conf);
  const confChanged = current !== want.frrBlock;
  if (confChanged) {
    steps.push({ kind: 'write', path: FRR_CONF, content: spliceFrrConf(have.frr.conf, want.frrBlock), mode: 0o640, label: 'ospfbond block', preview: want.frrBlock });
  }
  // A policy change (costs only) on a FRR that runs exactly the current block: one vtysh transaction.
  const costs = costOnlyChanges(current, want.frrBlock);
  if (have.frr.running && costs?.length && !Object.keys(changes).length && blockInSync(have.frr.reloadTest, current!)) {
    // Raises first: each change is flooded at once, and a half-done switch then reads as "every
    // tunnel standby" (no policy, ignored by the other end) rather than as active-active (a policy).
    const ordered = [...costs].sort((a, b) => b.cost - a.cost);
    steps.push({ kind: 'run', argv: ['vtysh', '-c', 'configure terminal', ...ordered.flatMap((c) => ['-c', `interface ${c.iface}`, '-c', `ip ospf cost ${c.cost}`, '-c', 'exit'])] });
    return steps;
  }
  if (have.frr.unsettled) {
    const { what, fix } = have.frr.unsettled;
    if (!warn) throw new OspfbondError(what, EXIT.precondition, `${fix}; nothing was changed`);
    // A start or reload now could run a second FRR; the next round sees it settled.
    warn(`${what}: not starting or reloading it this round`);
  } else if (!have.frr.running) steps.push({ kind: 'run', argv: frrControl('start', have.frr.systemd) });
  else if (confChanged || Object.keys(changes).length || !blockInSync(have.frr.reloadTest, want.frrBlock)) steps.push(...reloadFrr(current, want.frrBlock, have, Object.keys(changes).length > 0));
  return steps;
}

export const IPV6_FORWARDING_OFF: Step = { kind: 'run', argv: ['sysctl', '-q', '-w', `${IPV6_FORWARDING}=0`] };

/**
 * FRR's reload from ospfbond's block `before` to `after`. Devices ospfbond did not make keep existing,
 * so their leaving settings are taken off by vtysh first (its own links are deleted before this).
 * Only a changed daemons file needs the service's reload, which restarts watchfrr to start the new
 * daemons; a new frr.conf alone is frr-reload.py's work, which exits non-zero when FRR refused a line.
 */
function reloadFrr(before: string | undefined, after: string, have: Observed, daemonsChanged: boolean): Step[] {
  const foreign = (iface: string) => have.links.some((l) => l.name === iface && !l.alias?.startsWith(LINK_ALIAS_PREFIX));
  const unset = unsetLeavingInterfaces(before, after, foreign);
  const reload = daemonsChanged ? frrControl('reload', have.frr.systemd) : ['python3', FRR_RELOAD, '--reload', FRR_CONF];
  // frr-reload.py deletes zebra's "no ipv6 forwarding" (a frr.conf without a forwarding line has
  // none) by running "ipv6 forwarding": IPv6 forwarding was off, it comes back on (FRR issue 21368;
  // seen in the rollback lab test). Off again at once: a router taking RAs on its uplink keeps them.
  return [...(unset ? [{ kind: 'run' as const, argv: unset }] : []), { kind: 'run', argv: reload }, ...(have.frr.ipv6Forwarding === '0' ? [IPV6_FORWARDING_OFF] : [])];
}

/** `down`: remove by tag everything ospfbond made, put back what it changed; needs no config. */
export function planDown(have: Observed): Step[] {
  const steps: Step[] = [];
  for (const r of have.routes) {
    if (r.table === 'main' && r.dst === 'default' && isDemoted(r.metric)) steps.push(...moveRoute(r, r.metric & 0xffffff));
  }
  // The links go before FRR's reload, as in apply: FRR 10 refuses `no interface X` while X exists
  // ("only inactive interfaces can be deleted"), so the taps' OSPF settings stayed in its running config.
  for (const l of have.links) if (l.alias?.startsWith(LINK_ALIAS_PREFIX)) steps.push({ kind: 'run', argv: ['ip', 'link', 'del', l.name] });
  const block = extractBlock(have.frr.conf);
  if (block !== undefined) {
    steps.push({ kind: 'write', path: FRR_CONF, content: spliceFrrConf(have.frr.conf, ''), mode: 0o640, label: 'without the ospfbond block' });
    if (have.frr.running) steps.push(...reloadFrr(block, '', have, false));
  }
  for (const r of have.rules) if (r.protocol === String(RULE_PROTO)) steps.push({ kind: 'run', argv: ['ip', 'rule', 'del', 'pref', String(r.pref)] });
  for (const r of have.routes) if (r.protocol === String(RULE_PROTO) && r.table !== 'main') steps.push(delRoute(r));
  if (have.nftRuleset !== undefined) steps.push({ kind: 'run', argv: ['nft', 'delete', 'table', NFT_FAMILY, NFT_TABLE] });
  if (have.saved) {
    for (const [k, v] of Object.entries(have.saved.sysctls)) if (v !== '' && have.sysctls[k] !== v) steps.push({ kind: 'run', argv: ['sysctl', '-q', '-w', `${k}=${v}`] });
    // A daemon switched back off keeps running until FRR's next restart; it holds no ospfbond config any more.
    if (Object.keys(have.saved.daemons).length) {
      steps.push({ kind: 'write', path: FRR_DAEMONS, content: setDaemons(have.frr.daemons, have.saved.daemons), mode: 0o640, label: `restore ${Object.keys(have.saved.daemons).join(', ')}` });
    }
    steps.push({ kind: 'remove', path: STATE_FILE, label: 'restored settings' });
  }
  if (have.policyRecord) steps.push({ kind: 'remove', path: POLICY_STATE_FILE, label: 'record of the policy both ends ran' });
  return steps;
}
