/**
 * Golden outputs: the user-visible text of the demo and of a run, compared byte for byte with the
 * reviewed files in test/golden/. After an intended change: `npm run golden:accept`, then read the
 * git diff before committing it.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { gmemsim } from './support/cli.ts';
import { ROOT } from './support/scenarios.ts';

/** golden file, arguments, exit status (diff exits 1 when the kernels differ, as diff(1) does) */
const cases: [string, string[], number][] = [
  ['demo.txt', ['demo'], 0],
  ['example-run.txt', ['run', 'test/scenarios/examples/scenario-format-example.yaml'], 0],
  [
    'diff-in-place-yan.txt',
    ['diff', '--profile', 'in-place', '--profile', 'yan-proposal', 'examples/demo/02-src0-out-of-place.yaml'],
    1,
  ],
];

describe('golden outputs (npm run golden:accept after reading the diff)', () => {
  for (const [file, args, code] of cases) {
    it(file, () => {
      const r = gmemsim(...args);
      expect(r.code).toBe(code);
      expect(r.err).toBe('');
      const path = join(ROOT, 'test', 'golden', file);
      if (process.env.GOLDEN_ACCEPT) {
        // accepting compares the file with itself: never under CI
        expect(process.env.CI, 'GOLDEN_ACCEPT under CI').toBeFalsy();
        writeFileSync(path, r.out);
      }
      expect(r.out).toBe(readFileSync(path, 'utf8'));
    });
  }
});
