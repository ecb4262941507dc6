import { mkdirSync, openSync, writeSync, fsyncSync, closeSync, renameSync, unlinkSync, readFileSync } from 'node:fs';
import { dirname, basename, join } from 'node:path';

/**
 * Write a whole file or nothing: a temp file beside the target, fsynced, then renamed over it,
 * so an interrupted init or add-spoke never leaves half a config, bundle or key behind.
 */
export function writeFileAtomic(path: string, content: string, mode = 0o644): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o755 });
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
  const fd = openSync(tmp, 'w', mode);
  try {
    writeSync(fd, content);
    fsyncSync(fd);
  } catch (err) {
    closeSync(fd);
    unlinkSync(tmp);
    throw err;
  }
  closeSync(fd);
  renameSync(tmp, path);
}

/** Secrets: mode 0600 from the first byte on (the temp file is created with it). */
export function writeSecretAtomic(path: string, content: string): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  writeFileAtomic(path, content, 0o600);
}

/** A file's text, '' when it does not exist or cannot be read. */
export function readText(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}
