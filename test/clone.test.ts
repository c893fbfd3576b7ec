/** Kernel.clone(): a branch evolves independently of its parent (the explorer relies on it). */

import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { nodeHost } from '../src/node/host.ts';
import { runScenario } from '../src/scenario/run.ts';
import { load, ROOT } from './support/scenarios.ts';

describe('Kernel.clone', () => {
  it('a clone continues exactly like the original, and does not disturb it', () => {
    const s = load(join(ROOT, 'test/scenarios/examples/scenario-format-example.yaml'));
    const cut = 12; // after the conversion to private, before the first INIT_MEM_REGION
    const head = { ...s, steps: s.steps.slice(0, cut) };
    const r = runScenario(head, nodeHost);
    const original = r.kernel;
    const branch = original.clone();
    const full = runScenario(s, nodeHost);
    const rest = full.steps.slice(cut).map((x) => x.op);
    const viaBranch = rest.map((op) => branch.step(op));
    expect(viaBranch.map((o) => [o.ret, o.errno, o.rule.id, o.out.mrtd])).toEqual(
      full.steps.slice(cut).map((x) => [x.outcome.ret, x.outcome.errno, x.outcome.rule.id, x.outcome.out.mrtd]),
    );
    // the original was not advanced by the branch: its first INIT_MEM_REGION still succeeds
    const again = original.step(rest[0]!);
    expect(again.ret).toBe(0n);
  });
});
