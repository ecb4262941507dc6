/** One finding of `ospfbond doctor`, with the command that fixes it. */
export interface Check {
  name: string;
  status: 'ok' | 'warn' | 'fail';
  detail: string;
  /** The command (or action) that fixes it. */
  fix?: string;
}

export const ok = (name: string, detail: string): Check => ({ name, status: 'ok', detail });
export const fail = (name: string, detail: string, fix: string): Check => ({ name, status: 'fail', detail, fix });
export const warn = (name: string, detail: string, fix: string): Check => ({ name, status: 'warn', detail, fix });
