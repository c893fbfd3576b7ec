/** RangeMap against a naive per-index model (fast-check): the range structure everything stands on. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RangeMap } from '../src/core/ranges.ts';

const N = 64;
const op = fc.record({
  s: fc.nat(N - 1),
  len: fc.integer({ min: 0, max: 20 }),
  v: fc.option(fc.nat(2), { nil: undefined }),
});

describe('RangeMap', () => {
  it('agrees with a naive array model and stays canonical (sorted, disjoint, merged)', () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 60 }), (ops) => {
        const m = new RangeMap<number>();
        const naive: (number | undefined)[] = new Array(N + 32).fill(undefined);
        for (const o of ops) {
          m.set(o.s, o.s + o.len, o.v);
          for (let i = o.s; i < o.s + o.len; i++) naive[i] = o.v;
          for (let i = 0; i < naive.length; i++) expect(m.get(i)).toBe(naive[i]);
          const runs = [...m.runs()];
          for (let r = 0; r < runs.length; r++) {
            const [s, e, v] = runs[r]!;
            expect(s).toBeLessThan(e);
            if (r > 0) {
              const [, pe, pv] = runs[r - 1]!;
              expect(pe).toBeLessThanOrEqual(s);
              if (pe === s) expect(pv).not.toBe(v);
            }
          }
        }
      }),
      { numRuns: 300, ...(process.env.CI ? { seed: 7 } : {}) },
    );
  });
});
