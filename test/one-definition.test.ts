/**
 * Domain facts that the scenario layer and the measure code take from the core instead of writing
 * them again (issue 11 item 4): a second copy that drifts fails here.
 */
import { describe, expect, it } from 'vitest';
import { FwError } from '../src/core/snp/psp.ts';
import { cpuidEntry } from '../src/scenario/build.ts';
import { SevFwError } from '../src/scenario/run.ts';
import { CpuidFields } from '../src/scenario/spec.ts';

describe('one definition', () => {
  it("the scenario format's CPUID fields are exactly the core CpuidEntry's, in its order", () => {
    // cpuidEntry returns a CpuidEntry literal, which the compiler holds to the core type's fields
    expect(Object.keys(cpuidEntry({}))).toEqual([...CpuidFields]);
  });

  it("the runner's SEV firmware status names are the core's table", () => {
    expect(SevFwError).toBe(FwError);
  });
});
