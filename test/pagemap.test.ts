/** diffRuns against a naive per-index comparison. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { diffRuns, type Run } from '../src/core/pagemap.ts';

const runsArb = fc
  .array(fc.record({ gap: fc.nat(3), len: fc.integer({ min: 1, max: 4 }), bits: fc.nat(3) }), { maxLength: 8 })
  .map((xs) => {
    const out: Run[] = [];
    let pos = 0;
    for (const x of xs) {
      pos += x.gap;
      out.push([pos, pos + x.len, x.bits]);
      pos += x.len;
    }
    return out;
  });

const at = (runs: Run[], i: number) => runs.find((r) => r[0] <= i && i < r[1])?.[2];

describe('diffRuns', () => {
  it('reports exactly the indices whose bits changed, with the new bits', () => {
    fc.assert(
      fc.property(runsArb, runsArb, (prev, next) => {
        const d = diffRuns(prev, next);
        for (let i = 0; i < 60; i++) {
          const changed = at(prev, i) !== at(next, i);
          const inD = at(d, i);
          if (changed) expect(inD).toBe(at(next, i) ?? 0);
          else expect(inD).toBeUndefined();
        }
      }),
      { numRuns: 500, ...(process.env.CI ? { seed: 3 } : {}) },
    );
  });
});
