/**
 * The crash-free rule under fuzzing (issue 16 item 4): mutated real scenarios and hostile command
 * lines, run in-process; exit 0, 1 or 2, no stack trace, exit 2 only with FILE:LINE:COL: or flag
 * lines. A bounded number of cases with a fixed seed here (same cases every run); `npm run fuzz`
 * runs many more with fresh seeds.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { argvCase, checkArgv, checkScenario, scenarioCase, workspace } from './support/fuzz.ts';

const ws = workspace();

describe('fuzzing (fixed seed, bounded)', () => {
  it('mutated scenarios never crash', async () => {
    await fc.assert(
      fc.asyncProperty(scenarioCase, async (c) => {
        const f = await checkScenario(c, ws.dir);
        expect(f && `${f.argv.join(' ')}: ${f.problem}`).toBeUndefined();
      }),
      { numRuns: 60, seed: 16, endOnFailure: true },
    );
  });

  it('hostile command lines never crash', async () => {
    await fc.assert(
      fc.asyncProperty(argvCase, async (c) => {
        const f = await checkArgv(c, ws);
        expect(f && `${JSON.stringify(f.argv)}: ${f.problem}`).toBeUndefined();
      }),
      { numRuns: 40, seed: 16, endOnFailure: true },
    );
  });
});
