/**
 * One setting, two ways: `run --profile P --set K=V` and `kernel: { profile: P, K: V }` in a file
 * give the same answer for every knob of the declaration and every profile: the same refusal (one
 * exit 2) or the same run. The test walks the table, so a new knob or profile is covered as it is
 * declared.
 */
import { describe, expect, it } from 'vitest';
import { checkSetsApply, parseSets, UsageError } from '../src/cli/common.ts';
import { KnobDecls, type KnobKind, KnobNames } from '../src/core/decl.ts';
import { ProfileNames } from '../src/core/profiles.ts';
import { nodeHost } from '../src/node/host.ts';
import { ScenarioError } from '../src/scenario/load.ts';
import { runScenario } from '../src/scenario/run.ts';
import { loadText } from './support/scenarios.ts';

/** steps whose answers depend on each knob: a fixed mmap low in memory, attributes on a gmem VM, a measured TD add */
const STEPS = `steps:
  - mmap: { addr: 0x1000, length: 0x1000, prot: [PROT_READ], flags: [MAP_PRIVATE, MAP_ANONYMOUS, MAP_FIXED] }
  - KVM_CREATE_VM: { type: KVM_X86_SW_PROTECTED_VM }
    as: vm
  - KVM_CREATE_GUEST_MEMFD: { fd: vm, size: 0x2000, flags: [GUEST_MEMFD_FLAG_MMAP, GUEST_MEMFD_FLAG_INIT_SHARED] }
    as: gmem
  - KVM_SET_MEMORY_ATTRIBUTES2: { fd: gmem, offset: 0, size: 0x1000, attributes: [KVM_MEMORY_ATTRIBUTE_PRIVATE] }
  - KVM_SET_MEMORY_ATTRIBUTES: { fd: vm, address: 0, size: 0x1000, attributes: [KVM_MEMORY_ATTRIBUTE_PRIVATE] }
`;

/** values to try, as YAML text and as --set text: valid ones and invalid ones of each kind */
function samples(kind: KnobKind): { yaml: string; text: string }[] {
  switch (kind.t) {
    case 'bool':
      return [
        { yaml: 'true', text: 'true' },
        { yaml: 'false', text: 'false' },
        { yaml: 'maybe', text: 'maybe' },
      ];
    case 'u64':
      return ['0', '0x1000', '0x10000', `0x${kind.max.toString(16)}`, `0x${(kind.max + 1n).toString(16)}`].map((v) => ({
        yaml: v,
        text: v,
      }));
    case 'enum':
      return [...kind.values, 'bogus'].map((v) => ({ yaml: v, text: v }));
  }
}

type Answer = { refused: true } | { refused: false; knobs: unknown; steps: string[] };

const answer = (r: ReturnType<typeof runScenario>): Answer => ({
  refused: false,
  knobs: r.knobs,
  steps: r.steps.map((s) => `${s.outcome.ret} ${s.outcome.errno ?? ''} ${s.outcome.rule.id}`),
});

function fromFile(profile: string, key: string, yaml: string): Answer {
  try {
    const s = loadText(
      'x.yaml',
      `format: gmemsim/1\nname: x\nkernel: { profile: ${profile}, ${key}: ${yaml} }\n${STEPS}`,
    );
    return answer(runScenario(s, nodeHost));
  } catch (e) {
    if (e instanceof ScenarioError) return { refused: true };
    throw e;
  }
}

function fromFlags(profile: string, key: string, text: string): Answer {
  try {
    const set = parseSets([`${key}=${text}`]);
    const s = loadText('x.yaml', `format: gmemsim/1\nname: x\n${STEPS}`);
    checkSetsApply(set, profile as never, s.file);
    return answer(runScenario(s, nodeHost, { profile: profile as never, set }));
  } catch (e) {
    if (e instanceof UsageError) return { refused: true };
    throw e;
  }
}

describe('a knob set in a file and with --set gives the same answer', () => {
  for (const profile of ProfileNames)
    for (const key of KnobNames)
      it(`${profile}: ${key}`, () => {
        let refusals = 0;
        for (const v of samples(KnobDecls[key].kind)) {
          const a = fromFile(profile, key, v.yaml);
          expect(fromFlags(profile, key, v.text), `${key}=${v.text}`).toEqual(a);
          if (a.refused) refusals++;
        }
        // every kind has an invalid sample: the walk sees refusals, so it can tell them apart
        expect(refusals).toBeGreaterThan(0);
      });

  it('safeguards: the same names and values are accepted both ways', () => {
    for (const [name, v, ok] of [
      ['double-add', 'off', true],
      ['double-add', 'on', true],
      ['no-such-guard', 'off', false],
      ['double-add', 'sideways', false],
    ] as const) {
      let file = true;
      try {
        loadText('x.yaml', `format: gmemsim/1\nname: x\nkernel: { safeguards: { ${name}: ${v} } }\n${STEPS}`);
      } catch {
        file = false;
      }
      let flag = true;
      try {
        parseSets([`safeguard.${name}=${v}`]);
      } catch {
        flag = false;
      }
      expect([file, flag], `${name}=${v}`).toEqual([ok, ok]);
    }
  });
});
