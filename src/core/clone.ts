/**
 * Deep copy of the model's state graph (for the explorer, which branches a state once per action).
 * Shares what is immutable (functions, the profile, the shared zero/stale pages), forks running
 * hashes with their copy(), and keeps object identity (a memo) so cross references survive.
 */
import { STALE_PAGE, sharePage, ZERO_PAGE } from './guest_memfd/folio.ts';
import { RangeMap } from './ranges.ts';

type Memo = Map<unknown, unknown>;

function isHash(x: object): x is { copy(): unknown; digest(): unknown; update(b: Uint8Array): void } {
  const o = x as Record<string, unknown>;
  return typeof o.copy === 'function' && typeof o.digest === 'function' && typeof o.update === 'function';
}

export function deepClone<T>(x: T, memo: Memo = new Map(), frozen: ReadonlySet<unknown> = new Set()): T {
  if (x === null || typeof x !== 'object') return x;
  if (frozen.has(x) || (x as unknown) === ZERO_PAGE || (x as unknown) === STALE_PAGE) return x;
  const seen = memo.get(x);
  if (seen !== undefined) return seen as T;
  // range maps copy their own arrays: their values are numbers or immutable records, shared
  if (x instanceof RangeMap) {
    const c = x.clone();
    memo.set(x, c);
    return c as T;
  }
  if (x instanceof Uint8Array) {
    // a page of memory is shared, copy-on-write for both states from now on
    const page = sharePage(x);
    if (page) {
      memo.set(x, page);
      return page as T;
    }
    const c = x.slice();
    memo.set(x, c);
    memo.set(x.buffer, c.buffer);
    return c as T;
  }
  if (x instanceof DataView) {
    const buf = (memo.get(x.buffer) as ArrayBuffer | undefined) ?? x.buffer.slice(0);
    const c = new DataView(buf, x.byteOffset, x.byteLength);
    memo.set(x, c);
    return c as T;
  }
  if (isHash(x)) {
    let c: unknown;
    try {
      c = x.copy();
    } catch {
      c = x; // a finalized hash is never used again
    }
    memo.set(x, c);
    return c as T;
  }
  if (x instanceof Map) {
    const c = new Map();
    memo.set(x, c);
    for (const [k, v] of x) c.set(deepClone(k, memo, frozen), deepClone(v, memo, frozen));
    return c as T;
  }
  if (x instanceof Set) {
    const c = new Set();
    memo.set(x, c);
    for (const v of x) c.add(deepClone(v, memo, frozen));
    return c as T;
  }
  if (Array.isArray(x)) {
    const c: unknown[] = new Array(x.length);
    memo.set(x, c);
    for (let i = 0; i < x.length; i++) c[i] = deepClone(x[i], memo, frozen);
    return c as T;
  }
  const c = Object.create(Object.getPrototypeOf(x)) as Record<string, unknown>;
  memo.set(x, c);
  for (const key of Object.keys(x)) c[key] = deepClone((x as Record<string, unknown>)[key], memo, frozen);
  return c as T;
}
