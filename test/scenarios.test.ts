/**
 * The main tests: every scenario file under test/scenarios carries its own expectations, written
 * from the kernel source and kvm-uapi-spec.md, and every one must hold.
 */
import { readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { failures, findScenarios, ROOT, runEach, runLabel } from './support/scenarios.ts';

const files = findScenarios(join(ROOT, 'test', 'scenarios'));

/**
 * Expectations and checks per kernel over all files, at least (docs/notes/scenario-fold.md): folding
 * copies or sharing setup must not lose any. Raise the numbers when adding scenarios.
 */
const baseline = JSON.parse(readFileSync(join(ROOT, 'test', 'support', 'expectation-counts.json'), 'utf8')) as Record<
  string,
  { expectations: number; checks: number }
>;
const counted = new Map<string, { expectations: number; checks: number }>();

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
        const c = counted.get(runLabel(r)) ?? { expectations: 0, checks: 0 };
        c.expectations += r.expectations;
        c.checks += r.steps.reduce((n, st) => n + st.checks.length, 0);
        counted.set(runLabel(r), c);
        expect(r.expectations, `under ${runLabel(r)} a scenario file must assert something`).toBeGreaterThan(0);
        expect(failures(r), `under ${runLabel(r)}`).toBe('');
      }
    });
  }
  // after every file (vitest runs a file's tests in order; a -t filter skips this one too)
  it('keep at least the expectations and checks per kernel of test/support/expectation-counts.json', () => {
    for (const [kernel, want] of Object.entries(baseline)) {
      const got = counted.get(kernel) ?? { expectations: 0, checks: 0 };
      expect(got.expectations, `${kernel}: expectations`).toBeGreaterThanOrEqual(want.expectations);
      expect(got.checks, `${kernel}: checks`).toBeGreaterThanOrEqual(want.checks);
    }
  });
});
