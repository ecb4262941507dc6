/**
 * One change to the router. Every step prints as the command a person could have typed, and
 * carries its intent, so rollback and tests select steps by what they do, never by their argv.
 */
export type Step = Intent &
  (
    | { kind: 'run'; argv: string[]; input?: string }
    /** `ip link add NAME type wireguard`, or wireguard-go where the kernel has no WireGuard (as wg-quick). */
    | { kind: 'wg-link'; name: string }
    | { kind: 'write'; path: string; content: string; mode: number; label: string; preview?: string }
    | { kind: 'remove'; path: string; label: string }
  );

/** The part of the router a step changes. */
export type Area = 'sysctl' | 'wan-route' | 'rule' | 'link' | 'wireguard' | 'shaper' | 'nft' | 'aggregate' | 'frr' | 'record';

export interface Intent {
  area: Area;
  /**
   * The link this step creates, and the step that deletes it. `ip link add` takes no alias, so
   * until a later step tags it a link is not recognisably ospfbond's: a run that fails in between
   * undoes it by this.
   */
  creates?: { link: string; undo: Step };
}

export function run(area: Area, argv: string[], input?: string): Step {
  return input === undefined ? { kind: 'run', area, argv } : { kind: 'run', area, argv, input };
}

export function deleteLink(name: string): Step {
  return run('link', ['ip', 'link', 'del', name]);
}

/** A step that creates link `name`, with its undo. */
export function creating(step: Step, name: string): Step {
  return { ...step, creates: { link: name, undo: deleteLink(name) } };
}

export function shellQuote(arg: string): string {
  return /^[A-Za-z0-9_./:=,@%+-]+$/.test(arg) ? arg : `'${arg.replaceAll("'", "'\\''")}'`;
}

export function describe(step: Step): string {
  switch (step.kind) {
    case 'run':
      return step.argv.map(shellQuote).join(' ');
    case 'wg-link':
      return `ip link add ${step.name} type wireguard`;
    case 'write':
      return `write ${step.path} (${step.label})`;
    case 'remove':
      return `rm ${step.path} (${step.label})`;
  }
}
