import { readFileSync } from 'node:fs';
import { usage } from '../base/errors.js';
import { writeFileAtomic } from '../base/files.js';
import { loadConfig } from '../config/load.js';
import { saveConfig } from '../config/write.js';
import type { Config } from '../config/types.js';
import { describePolicy, policyCheck, MODES, type Policy } from '../model/policy.js';
import { converge } from '../engine/converge.js';
import { lockRouter } from '../engine/lock.js';
import { requireRoot } from '../engine/root.js';
import { commit } from '../engine/transaction.js';
import type { Printer } from '../router/executor.js';

export interface ModeOptions {
  primary?: string;
  spoke?: string;
}

/**
 * Sets a site's policy in this end's config and applies it at once: only this end's costs change
 * (OSPF re-originates one router LSA, no adjacency is reset). The other end's daemon sees the new
 * costs in that LSA and follows (mirror job); until then each direction follows its sender's policy.
 */
export async function mode(file: string, modeName: string, opts: ModeOptions, print: Printer): Promise<void> {
  const cfg = loadConfig(file);
  const policy = parsePolicy(modeName, opts.primary);
  const site = siteOf(cfg, opts.spoke);
  const err = policyCheck(policy, site.wans);
  if (err) throw usage(`mode ${modeName}: ${err}`, `for example --primary ${site.wans[0]}`);
  requireRoot();
  const n = await lockRouter('mode', print, async () => {
    const before = readFileSync(cfg.file, 'utf8');
    if (cfg.role === 'spoke') cfg.policy = policy;
    else cfg.spokes.find((s) => s.name === site.name)!.policy = policy;
    saveConfig(cfg);
    const text = readFileSync(cfg.file, 'utf8');
    try {
      const { steps } = await converge(cfg, print, { atomic: true });
      commit(text);
      return steps;
    } catch (err) {
      // The config says what the router runs: a policy that did not get applied is not kept.
      writeFileAtomic(cfg.file, before);
      throw err;
    }
  });
  const other = cfg.role === 'spoke' ? 'the hub' : `spoke ${site.name}`;
  print(`ospfbond: ${site.name} is ${describePolicy(policy)} here${n ? '' : ' (it already was)'}; ${other} follows when its daemon sees the new costs (\`ospfbond status\` shows both)`);
}

function parsePolicy(modeName: string, primary?: string): Policy {
  if (!(MODES as readonly string[]).includes(modeName)) throw usage(`mode ${modeName}: expected ${MODES.join(' or ')}`);
  if (modeName === 'active-active') {
    if (primary !== undefined) throw usage('--primary only applies to active-standby');
    return { mode: 'active-active' };
  }
  const list = (primary ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  if (list.length === 0) throw usage('active-standby needs --primary WAN[,WAN...]', 'for example: ospfbond mode active-standby --primary dsl');
  return { mode: 'active-standby', primary: list };
}

function siteOf(cfg: Config, spoke?: string): { name: string; wans: string[] } {
  if (cfg.role === 'spoke') {
    if (spoke !== undefined && spoke !== cfg.name) throw usage(`--spoke ${spoke}: this is spoke ${cfg.name}`, 'leave --spoke out on a spoke');
    return { name: cfg.name, wans: cfg.wans.map((w) => w.name) };
  }
  if (spoke === undefined) throw usage('on the hub, say which site: --spoke NAME', cfg.spokes.length ? `the spokes are ${cfg.spokes.map((s) => s.name).join(', ')}` : 'add one with `ospfbond hub add-spoke`');
  const s = cfg.spokes.find((x) => x.name === spoke);
  if (!s) throw usage(`--spoke ${spoke}: no such spoke in ${cfg.file}`, cfg.spokes.length ? `the spokes are ${cfg.spokes.map((x) => x.name).join(', ')}` : undefined);
  return { name: s.name, wans: s.wans.map((t) => t.wan) };
}
