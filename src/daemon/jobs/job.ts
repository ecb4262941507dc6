import type { Logger } from 'pino';
import type { Config } from '../../config/types.js';

/** One round of a daemon job, given the config in force when its turn came. */
export type Job = (cfg: Config, log: Logger) => Promise<void>;
