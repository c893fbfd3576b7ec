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

const cases: [string, string[]][] = [
  ['demo.txt', ['demo']],
  ['example-run.txt', ['run', 'test/scenarios/examples/scenario-format-example.yaml']],
  [
    'diff-in-place-yan.txt',
    ['diff', '--profile', 'in-place', '--profile', 'yan-proposal', 'examples/demo/02-src0-out-of-place.yaml'],
  ],
];

describe('golden outputs (npm run golden:accept after reading the diff)', () => {
  for (const [file, args] of cases) {
    it(file, () => {
      const r = gmemsim(...args);
      const path = join(ROOT, 'test', 'golden', file);
      if (process.env.GOLDEN_ACCEPT) writeFileSync(path, r.out);
      expect(r.out).toBe(readFileSync(path, 'utf8'));
    });
  }
});
