/** One change to the router. Every step prints as the command a person could have typed. */
export type Step =
  | { kind: 'run'; argv: string[]; input?: string }
  /** `ip link add NAME type wireguard`, or wireguard-go where the kernel has no WireGuard (as wg-quick). */
  | { kind: 'wg-link'; name: string }
  | { kind: 'write'; path: string; content: string; mode: number; label: string; preview?: string }
  | { kind: 'remove'; path: string; label: string };

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
