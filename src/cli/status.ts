import { usage } from '../base/errors.js';
import { loadConfig } from '../config/load.js';
import type { Printer } from '../router/executor.js';
import { collectStatus, type LinkSample } from '../status/collect.js';
import { renderStatus } from '../status/view.js';

export interface StatusOptions {
  json?: boolean;
  watch?: boolean | string;
}

/** One sample second for the rates of a one-shot status; --watch takes them over its own interval. */
const ONE_SHOT_SAMPLE_MS = 1000;

export async function status(file: string, opts: StatusOptions, print: Printer): Promise<void> {
  const cfg = loadConfig(file);
  const every = opts.watch === undefined || opts.watch === false ? undefined : opts.watch === true ? 2 : Number(opts.watch);
  if (every !== undefined && !(every >= 0.5 && every <= 3600)) throw usage(`--watch ${String(opts.watch)}: expected seconds from 0.5 to 3600`, 'for example --watch 2');
  const color = !opts.json && process.stdout.isTTY === true && !process.env.NO_COLOR;
  if (every === undefined) {
    const { report } = await collectStatus(cfg, { sampleMs: ONE_SHOT_SAMPLE_MS });
    print(opts.json ? JSON.stringify(report, null, 2) : renderStatus(report, color));
    return;
  }
  let previous: LinkSample | undefined;
  for (;;) {
    const { report, sample } = await collectStatus(cfg, previous ? { previous } : { sampleMs: ONE_SHOT_SAMPLE_MS });
    previous = sample;
    // --json --watch: one JSON document per line, for a pipe; the table is redrawn in place.
    if (opts.json) print(JSON.stringify(report));
    else print(`${process.stdout.isTTY ? '\x1b[H\x1b[2J' : ''}${renderStatus(report, color)}`);
    // Counted from the sample, so each frame's rates cover at least the interval asked for.
    await new Promise((r) => setTimeout(r, Math.max(0, every * 1000 - (Date.now() - sample.at))));
  }
}
