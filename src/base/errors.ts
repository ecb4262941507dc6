// Exit codes are part of the CLI contract (docs/operating.md, Exit codes).
export const EXIT = {
  failure: 1, // a command on the router failed; what ran is printed above the error
  usage: 2, // bad flags or bad config: nothing was changed
  precondition: 3, // the router lacks something (a device, a tool): nothing was changed
  partial: 4, // a command failed and the router could not be put back: it is between two configs
} as const;

export class OspfbondError extends Error {
  constructor(
    message: string,
    readonly exitCode: number = EXIT.failure,
    readonly hint?: string,
  ) {
    super(message);
    this.name = 'OspfbondError';
  }
}

export interface ConfigProblem {
  file: string;
  line: number;
  key: string;
  message: string;
}

/** Every problem of one config file at once, as `file:line key: message`. */
export class ConfigError extends OspfbondError {
  constructor(readonly problems: ConfigProblem[]) {
    super(problems.map((p) => `${p.file}:${p.line} ${p.key}: ${p.message}`).join('\n'), EXIT.usage);
    this.name = 'ConfigError';
  }
}

export function usage(message: string, hint?: string): OspfbondError {
  return new OspfbondError(message, EXIT.usage, hint);
}
