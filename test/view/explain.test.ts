/**
 * What the page says about a run beyond the page states (web/src/model.ts): a step's result in the
 * words of `gmemsim run`, expected results that are not problems, the step the page opens on, the
 * search over steps, addresses with units, citation links, memslot and firmware-section labels, the
 * GPA ↔ guest_memfd offset link, the window a GPA space opens on, and the measurement's records.
 */
import { describe, expect, it } from 'vitest';
import { runDocument } from '../../src/cli/view.ts';
import { nodeHost } from '../../src/node/host.ts';
import { formatResult } from '../../src/scenario/report.ts';
import { runScenario } from '../../src/scenario/run.ts';
import {
  checkDocument,
  citeUrl,
  fmtAddr,
  initialStep,
  initialWindow,
  isProblem,
  linkedPages,
  matchStep,
  measurementRecords,
  memslotLabels,
  parseAddress,
  parseQuery,
  plural,
  type RunEntry,
  resultLine,
  sectionLabels,
  stepSource,
  Timeline,
} from '../../web/src/model.ts';
import { findScenarios, load, loadText, ROOT } from '../support/scenarios.ts';
import { TWO_SLOTS } from './two-slots.ts';

const EXAMPLE = 'test/scenarios/examples/scenario-format-example.yaml';

function entryOf(r: ReturnType<typeof runScenario>): RunEntry {
  return checkDocument(JSON.parse(JSON.stringify(runDocument([r])))).runs[0]!;
}

describe("a step's result, as `gmemsim run` prints it", () => {
  // every scenario of these folders: errnos, signals, bound names, data, bytes, st_size, digests
  const files = ['examples', 'gmem', 'tdx', 'snp', 'mm', 'inplace'].flatMap((d) =>
    findScenarios(`${ROOT}/test/scenarios/${d}`),
  );
  it.each(files.map((f) => [f.slice(ROOT.length + 1)]))('%s', (file) => {
    const r = runScenario(load(`${ROOT}/${file}`), nodeHost, {});
    const e = entryOf(r);
    expect(e.steps.map(resultLine)).toEqual(r.steps.map(formatResult));
  });
});

describe('expected results, plurals, the step the page opens on', () => {
  it('an errno or signal the step expected is not a problem; the page opens on the first one', () => {
    const e = entryOf(runScenario(load(EXAMPLE), nodeHost, { trace: true }));
    expect(e.steps.filter(isProblem)).toEqual([]);
    expect(initialStep(e)).toBe(11); // step 12, the expected SIGBUS
  });

  it('opens on the first problem when there is one', () => {
    const text = `format: gmemsim/1\nname: x\nsteps:\n  - KVM_CREATE_VM: { type: 99 }\n    expect: { errno: EINVAL }\n  - KVM_CREATE_VM: { type: 99 }\n    expect: ok\n`;
    const e = entryOf(runScenario(loadText('x.yaml', text), nodeHost, { trace: true }));
    expect(e.steps.map(isProblem)).toEqual([false, true]);
    expect(initialStep(e)).toBe(1);
  });

  it('opens on the last step that changed the map when nothing failed', () => {
    const e = entryOf(runScenario(loadText('two.yaml', TWO_SLOTS), nodeHost, { trace: true }));
    expect(initialStep(e)).toBe(5);
  });

  it('counts in words', () => {
    expect(plural(1, 'expectation')).toBe('1 expectation');
    expect(plural(2, 'problem step')).toBe('2 problem steps');
    expect(plural(0, 'step')).toBe('0 steps');
    expect(plural(1234, 'step')).toBe('1,234 steps');
  });
});

describe('the search over steps', () => {
  const e = entryOf(runScenario(load(EXAMPLE), nodeHost, { trace: true }));
  const find = (q: string) => e.steps.filter((s) => matchStep(s, parseQuery(q))).map((s) => s.index);
  it('by op, errno, signal, rule, status, line and free words', () => {
    expect(find('op:KVM_TDX_INIT_MEM_REGION')).toEqual([13, 14]);
    expect(find('errno:EIO')).toEqual([14]);
    expect(find('signal:sigbus')).toEqual([12]);
    expect(find('rule:tdx.imr')).toEqual([13, 14]);
    expect(find('status:expected')).toEqual([12, 14]);
    expect(find('status:problem')).toEqual([]);
    expect(find('attest')).toEqual([16]);
    expect(find('op:KVM_MEMORY_ENCRYPT_OP errno:EIO')).toEqual([14]);
  });
  it('by GPA: the steps that changed the page of an address or name it in their call', () => {
    // the page at GPA 0x1000: converted (11), added and measured (13), added again (14)
    expect(find('gpa:0x1000')).toEqual(expect.arrayContaining([11, 13, 14]));
    // the page at 0x3000: only the memslot that covers it, not the adds of 0x1000
    expect(find('gpa:0x3000')).toEqual([8]);
    expect(parseQuery('gpa:zz').error).toMatch(/expected an address/);
    expect(parseAddress('1m')).toBe(2 ** 20);
    expect(parseAddress('0x1000')).toBe(4096);
  });
});

describe('addresses, citations, labels and links', () => {
  it('writes addresses in the largest unit they reach, to three decimals', () => {
    expect(fmtAddr(0)).toBe('0');
    expect(fmtAddr(1)).toBe('4 KiB');
    expect(fmtAddr(256)).toBe('1 MiB');
    expect(fmtAddr(0x809)).toBe('8.035 MiB');
    expect(fmtAddr(0xffc00)).toBe('3.996 GiB');
    expect(fmtAddr(0xffc84)).toBe('3.997 GiB');
    expect(fmtAddr(2 ** 20)).toBe('4 GiB');
    expect(fmtAddr(2 ** 28)).toBe('1 TiB');
  });

  it('links a citation to its file at its commit, and its lines when it names them', () => {
    const c = { repo: 'torvalds/linux', path: 'arch/x86/kvm/mmu/mmu.c', commit: '01f492e1817e', fn: 'f' };
    expect(citeUrl(c)).toBe('https://github.com/torvalds/linux/blob/01f492e1817e/arch/x86/kvm/mmu/mmu.c');
    expect(citeUrl({ ...c, line: 10 })).toMatch(/mmu\.c#L10$/);
    expect(citeUrl({ ...c, line: [10, 20] })).toMatch(/mmu\.c#L10-L20$/);
    expect(citeUrl({ ...c, repo: 'javascript:alert(1)//x' })).toBeNull();
    // every rule of the example links
    const e = entryOf(runScenario(load(EXAMPLE), nodeHost, {}));
    for (const s of e.steps) expect(citeUrl(s.rule.cite)).toMatch(/^https:\/\/github\.com\/[\w.-]+\/[\w.-]+\/blob\//);
  });

  it('labels memslots and the sections steps name; links a GPA to its guest_memfd offset and back', () => {
    const e = entryOf(runScenario(loadText('two.yaml', TWO_SLOTS), nodeHost, { trace: true }));
    const t = new Timeline(e);
    const gpa = t.space('gpa:0')!;
    expect(memslotLabels(e, gpa).map((l) => [l.start, l.end, l.text])).toEqual([
      [0x100, 0x110, 'slot 0 → gmem 0'],
      [0xfffc0, 0xffff0, 'slot 1 → gmem 1'],
    ]);
    expect(memslotLabels(e, { kind: 'file', id: 1 }).map((l) => [l.start, l.end, l.text])).toEqual([
      [0x10, 0x40, 'slot 1 @ GPA 0xfffc0000'],
    ]);
    expect(sectionLabels(e, gpa).map((l) => [l.start, l.end, l.text])).toEqual([[0x100, 0x104, 'BFV']]);
    expect(linkedPages(e, gpa, 0xfffc1)).toEqual([{ key: 'file:1', page: 0x11, slot: 1 }]);
    expect(linkedPages(e, { kind: 'file', id: 1 }, 0x11)).toEqual([{ key: 'gpa:0', page: 0xfffc1, slot: 1 }]);
    expect(linkedPages(e, gpa, 0x200)).toEqual([]);
    // the GPA space opens on its memslots, not on the 1 MiB of nothing below the first
    expect(initialWindow(e, gpa)).toEqual({ lo: 0x100, hi: 0xffff0 });
    expect(initialWindow(e, t.space('file:1')!)).toEqual({ lo: 0, hi: 0x40 });
  });
});

describe('the measurement as its records', () => {
  it('lists the steps that added records, what they added, over which pages, and the digest after', () => {
    const e = entryOf(runScenario(load(EXAMPLE), nodeHost, { trace: true }));
    const recs = measurementRecords(e);
    expect(recs.map((r) => [e.steps[r.step]!.index, r.added, r.ranges.map(([a, b]) => [a, b])])).toEqual([
      [13, ['1 TDH.MEM.PAGE.ADD', '16 TDH.MR.EXTEND (256 bytes each)'], [[1, 2]]],
    ]);
    expect(recs[0]!.digest).toMatch(/^426406e35870475784c53fc0a8a21b09/);
  });
});

describe("a step's own lines of the scenario", () => {
  it('from its line to the next step, without the comments and blank lines before that one', () => {
    const text =
      'format: gmemsim/1\nname: x\nsteps:\n  - KVM_CREATE_VM: { type: 0 }\n    as: vm\n\n  # a comment\n  - KVM_CREATE_VM:\n      type: 0\n';
    const e = entryOf(runScenario(loadText('x.yaml', text), nodeHost, {}));
    expect(stepSource(text, e, 0)).toEqual({ from: 4, lines: ['  - KVM_CREATE_VM: { type: 0 }', '    as: vm'] });
    expect(stepSource(text, e, 1)).toEqual({ from: 8, lines: ['  - KVM_CREATE_VM:', '      type: 0'] });
    expect(stepSource(undefined, e, 0)).toBeNull();
  });
});
