/**
 * Reading an input file named by the user with a size bound: a directory is EISDIR up front, and a
 * device or pipe that never ends (`/dev/zero`) or a file too large for its purpose is refused after
 * at most `max` bytes instead of filling the heap.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';

const MiB = 1024 * 1024;

/** "32 MiB" */
export const sizeText = (n: number): string => (n % MiB === 0 ? `${n / MiB} MiB` : `${n} bytes`);

/** the error a too-large input gives; fsReason() prints its message */
export const tooLarge = (max: number): Error => new Error(`larger than ${sizeText(max)}`);

export function readBounded(path: string, max: number): Uint8Array {
  const fd = openSync(path, 'r');
  try {
    const st = fstatSync(fd);
    if (st.isDirectory())
      throw Object.assign(new Error(`EISDIR: illegal operation on a directory`), { code: 'EISDIR' });
    if (st.isFile() && st.size > max) throw tooLarge(max);
    const chunks: Uint8Array[] = [];
    let total = 0;
    for (;;) {
      const want = Math.min(st.isFile() && st.size > 0 ? st.size - total + 1 : 1 << 20, max + 1 - total);
      const buf = new Uint8Array(Math.max(want, 1));
      const n = readSync(fd, buf, 0, buf.length, null);
      if (n === 0) break;
      total += n;
      if (total > max) throw tooLarge(max);
      chunks.push(n === buf.length ? buf : buf.subarray(0, n));
    }
    if (chunks.length === 1) return chunks[0]!;
    const out = new Uint8Array(total);
    let at = 0;
    for (const c of chunks) {
      out.set(c, at);
      at += c.length;
    }
    return out;
  } finally {
    closeSync(fd);
  }
}
