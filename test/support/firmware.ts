/** The real firmware images of ../shared/firmware (read in place, never copied into the repo). */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './scenarios.ts';

export const FIRMWARE = join(ROOT, '..', 'shared', 'firmware');

export const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

const cache = new Map<string, Uint8Array>();

/** a firmware file's bytes, by path under ../shared/firmware */
export function firmware(file: string): Uint8Array {
  let b = cache.get(file);
  if (!b) {
    b = new Uint8Array(readFileSync(join(FIRMWARE, file)));
    cache.set(file, b);
  }
  return b;
}
