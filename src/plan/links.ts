import { OspfbondError, EXIT } from '../base/errors.js';
import { LINK_ALIAS_PREFIX, type Addr } from '../model/addressing.js';
import { creating, deleteLink, run, type Step } from '../model/step.js';
import { hex } from '../render/nft.js';
import { renderShaper, shapeSignature } from '../render/tc.js';
import type { ObservedLink } from '../router/kernel.js';
import type { Observed } from '../router/observe.js';
import type { Desired, LinkSpec, WgSpec } from './desired.js';

/** The tunnels: WireGuard and VXLAN links, their addresses, WireGuard's keys and peers, the taps' shapers. */

const addrKey = (a: Addr) => `${a.local}/${a.prefixlen}${a.peer ? ` peer ${a.peer}` : ''}`;

function linkMatches(spec: LinkSpec, l: ObservedLink): boolean {
  if (spec.kind === 'wireguard') return l.kind === 'wireguard' || l.kind === 'tun';
  const v = l.vxlan;
  return l.kind === 'vxlan' && !!v && v.id === spec.vxlan.id && v.local === spec.vxlan.local && v.remote === spec.vxlan.remote && v.port === spec.vxlan.port;
}

const isOurs = (l: ObservedLink) => !!l.alias?.startsWith(LINK_ALIAS_PREFIX);

/** An existing link apply keeps as it is: ospfbond's own, and of the wanted kind and parameters. */
function reusable(spec: LinkSpec, cur: ObservedLink | undefined): boolean {
  return cur !== undefined && linkMatches(spec, cur) && isOurs(cur);
}

function createLink(spec: LinkSpec): Step {
  if (spec.kind === 'wireguard') return creating({ kind: 'wg-link', area: 'link', name: spec.name }, spec.name);
  const v = spec.vxlan;
  return creating(run('link', ['ip', 'link', 'add', spec.name, 'type', 'vxlan', 'id', String(v.id), 'local', v.local, 'remote', v.remote, 'dstport', String(v.port)]), spec.name);
}

const addrArgs = (a: Addr) => [`${a.local}/${a.prefixlen}`, ...(a.peer ? ['peer', `${a.peer}/32`] : [])];

export function planLinks(want: Desired, have: Observed): Step[] {
  const steps: Step[] = [];
  const byName = new Map(have.links.map((l) => [l.name, l]));
  const wanted = new Set(want.links.map((l) => l.name));
  for (const l of have.links) {
    if (isOurs(l) && !wanted.has(l.name)) steps.push(deleteLink(l.name));
  }
  for (const spec of want.links) {
    let cur = byName.get(spec.name);
    if (cur && !reusable(spec, cur)) {
      if (!isOurs(cur)) {
        throw new OspfbondError(`interface ${spec.name} exists and is not ospfbond's`, EXIT.precondition, 'rename or remove it; ospfbond only changes interfaces it created');
      }
      steps.push(deleteLink(spec.name));
      cur = undefined;
    }
    if (!cur) steps.push(createLink(spec));
    if (!cur || cur.alias !== spec.alias) steps.push(run('link', ['ip', 'link', 'set', spec.name, 'alias', spec.alias]));
    if (!cur || cur.mtu !== spec.mtu) steps.push(run('link', ['ip', 'link', 'set', spec.name, 'mtu', String(spec.mtu)]));
    const wg = want.wg.find((w) => w.name === spec.name);
    if (wg) steps.push(...planWg(wg, have, !cur));
    const haveAddrs = new Set((cur?.addrs ?? []).map(addrKey));
    const wantAddrs = new Set(spec.addrs.map(addrKey));
    for (const a of cur?.addrs ?? []) {
      if (!wantAddrs.has(addrKey(a))) steps.push(run('link', ['ip', 'addr', 'del', ...addrArgs(a), 'dev', spec.name]));
    }
    for (const a of spec.addrs) {
      if (!haveAddrs.has(addrKey(a))) steps.push(run('link', ['ip', 'addr', 'add', ...addrArgs(a), 'dev', spec.name]));
    }
    if (!cur?.up) steps.push(run('link', ['ip', 'link', 'set', spec.name, 'up']));
  }
  return steps;
}

/** A tap made or remade in this run has no qdisc yet; one whose shaper differs is rebuilt whole. */
export function planShapes(want: Desired, have: Observed): Step[] {
  const steps: Step[] = [];
  const byName = new Map(have.links.map((l) => [l.name, l]));
  for (const s of want.shapes) {
    const spec = want.links.find((l) => l.name === s.dev)!;
    const has = reusable(spec, byName.get(s.dev)) ? have.shapes[s.dev] : undefined;
    const wanted = s.shaper ? shapeSignature(s.shaper) : undefined;
    if (has === wanted) continue;
    // htb cannot change its root in place (`tc qdisc replace` fails on it), so delete and rebuild.
    if (has !== undefined) steps.push(run('shaper', ['tc', 'qdisc', 'del', 'dev', s.dev, 'root']));
    if (s.shaper) steps.push(run('shaper', ['tc', '-batch', '-'], renderShaper(s.shaper)));
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
  return argv.length > 3 ? [run('wireguard', argv)] : [];
}
