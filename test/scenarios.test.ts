/**
 * The main tests: every scenario file under test/scenarios carries its own expectations, written
 * from the kernel source and kvm-uapi-spec.md, and every one must hold.
 */
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { failures, findScenarios, ROOT, runEach, runLabel } from './support/scenarios.ts';

const files = findScenarios(join(ROOT, 'test', 'scenarios'));

describe('scenario files', () => {
  it('exist', () => {
    expect(files.length).toBeGreaterThan(0);
  });
  for (const f of files) {
    // a file with kernel.profiles is one run per kernel: each must assert something and hold
    it(relative(join(ROOT, 'test', 'scenarios'), f), () => {
      const runs = runEach(f);
      expect(runs.length).toBeGreaterThan(0);
      for (const r of runs) {
        expect(r.expectations, `under ${runLabel(r)} a scenario file must assert something`).toBeGreaterThan(0);
        expect(failures(r), `under ${runLabel(r)}`).toBe('');
      }
    });
  }
});
