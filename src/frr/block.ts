/**
 * ospfbond's block in /etc/frr/frr.conf: the markers that own it, putting it in and taking it out,
 * and reading what differs between two versions of it. The user's own config outside the block
 * is never touched.
 */

export const BLOCK_BEGIN = '! ospfbond:begin - managed by ospfbond, replaced on every apply; put your own config outside this block';
export const BLOCK_END = '! ospfbond:end';

/** A rendered FRR config (render/frr.ts) as the block frr.conf holds. */
export function wrapBlock(body: string): string {
  return `${BLOCK_BEGIN}\n${body.trimEnd()}\n${BLOCK_END}\n`;
}

/** frr.conf with ospfbond's block replaced (or appended, or removed when `block` is empty). */
export function spliceFrrConf(current: string, block: string): string {
  const without = stripBlock(current);
  if (!block) return without;
  const sep = without === '' || without.endsWith('\n') ? '' : '\n';
  return `${without}${sep}${block}`;
}

export function extractBlock(conf: string): string | undefined {
  const start = conf.indexOf(BLOCK_BEGIN);
  if (start < 0) return undefined;
  const end = conf.indexOf(BLOCK_END, start);
  if (end < 0) return undefined;
  return conf.slice(start, end + BLOCK_END.length) + '\n';
}

function stripBlock(conf: string): string {
  const block = extractBlock(conf);
  if (block === undefined) return conf;
  const start = conf.indexOf(BLOCK_BEGIN);
  return conf.slice(0, start) + conf.slice(start + block.length);
}

/** Parts of a user's own frr.conf that would fight ospfbond's block on a router of this role. */
export function conflictsInUserConf(conf: string, role: 'hub' | 'spoke'): string[] {
  const user = stripBlock(conf);
  const problems: string[] = [];
  if (/^router ospf(\s|$)/m.test(user)) problems.push('a `router ospf` block outside ospfbond\'s (ospfbond owns ospfd: remove it or move it into a different VRF)');
  // A hub's own static default toward its uplink is fine; a spoke's would bypass the tunnels.
  if (role === 'spoke' && /^ip route 0\.0\.0\.0\/0 /m.test(user)) problems.push('a static default route (`ip route 0.0.0.0/0 ...`) that would compete with the OSPF default through the tunnels');
  return problems;
}

/**
 * The interface costs that differ between two blocks, when nothing else does (else undefined).
 * frr-reload.py applies a changed cost as `no ip ospf cost OLD` then `ip ospf cost NEW`, and in
 * between ospfd originates a router LSA with the auto-cost (1 on a tap); the LSA throttle (5 s) then
 * holds the real cost back: measured in the lab, the other end saw cost 1 for 7 s. One vtysh
 * transaction per cost change has no such in-between state.
 */
export function costOnlyChanges(before: string | undefined, after: string): { iface: string; cost: number }[] | undefined {
  if (before === undefined) return undefined;
  const a = before.split('\n');
  const b = after.split('\n');
  if (a.length !== b.length) return undefined;
  const out: { iface: string; cost: number }[] = [];
  let iface = '';
  for (let i = 0; i < b.length; i++) {
    const m = /^interface (\S+)$/.exec(b[i]!);
    if (m) iface = m[1]!;
    if (a[i] === b[i]) continue;
    const cost = /^ ip ospf cost (\d+)$/.exec(b[i]!);
    if (!cost || !/^ ip ospf cost \d+$/.test(a[i]!) || !iface) return undefined;
    out.push({ iface, cost: Number(cost[1]) });
  }
  return out;
}

/** A block's `interface NAME` contexts and their settings, in order. */
function interfaceContexts(block: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  let current: string[] | undefined;
  for (const line of block.split('\n')) {
    const m = /^interface (\S+)$/.exec(line);
    if (m) out.set(m[1]!, (current = []));
    else if (line === 'exit') current = undefined;
    else if (current && line.startsWith(' ')) current.push(line.trim());
  }
  return out;
}

/**
 * vtysh arguments that take the settings of interfaces that leave the block off them, for those
 * interfaces that stay on the router (a spoke's LAN device). frr-reload.py removes a whole
 * `interface X` context with `no interface X`, which FRR 10 refuses while X exists ("only inactive
 * interfaces can be deleted"): X kept its `ip ospf` settings, in FRR 8.4 it did not. Undefined
 * when there is nothing to take off.
 */
export function unsetLeavingInterfaces(before: string | undefined, after: string, staying: (iface: string) => boolean): string[] | undefined {
  if (before === undefined) return undefined;
  const kept = interfaceContexts(after);
  const args: string[] = [];
  for (const [iface, settings] of interfaceContexts(before)) {
    if (kept.has(iface) || !staying(iface) || !settings.length) continue;
    // FRR's `no description` takes no text.
    args.push('-c', `interface ${iface}`, ...settings.flatMap((s) => ['-c', s.startsWith('description ') ? 'no description' : `no ${s}`]), '-c', 'exit');
  }
  return args.length ? ['vtysh', '-c', 'configure terminal', ...args] : undefined;
}
