/**
 * The page's model (web/src/model.ts): page-state reconstruction from the `changes` runs of the run
 * document, against a naive per-page model and against the example scenario; the map layout from a
 * few pages to 1 TiB; the refusal of documents of another format.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { runDocument } from '../../src/cli/view.ts';
import { nodeHost } from '../../src/node/host.ts';
import { runScenario } from '../../src/scenario/run.ts';
import {
  atomAt,
  BIT,
  bitsOf,
  checkDocument,
  DocumentError,
  fmtOffset,
  fmtPages,
  layoutWindow,
  type Run,
  type RunEntry,
  runsIn,
  stateNames,
  stepFromHash,
  stepStatus,
  Timeline,
} from '../../web/src/model.ts';
import { load, loadText } from '../support/scenarios.ts';
import { scaleScenario } from './scale.ts';

const EXAMPLE = 'test/scenarios/examples/scenario-format-example.yaml';

function exampleRun(): RunEntry {
  const doc = runDocument([runScenario(load(EXAMPLE), nodeHost, { trace: true })]);
  return checkDocument(JSON.parse(JSON.stringify(doc))).runs[0]!;
}

/** a run entry with one guest_memfd of `pages` pages and the given per-step file runs */
function fakeRun(pages: number, steps: Run[][]): RunEntry {
  return {
    file: 'fake.yaml',
    objects: { files: [{ id: 0, vm: 0, pages, flags: 3 }], vms: [] },
    name: 'fake',
    profile: 'in-place',
    gmem_in_place_conversion: true,
    ok: true,
    expectations: 0,
    failed: 0,
    steps: steps.map((runs, i) => ({
      index: i + 1,
      line: i + 1,
      op: 'x',
      call: 'x()',
      ret: 0,
      errno: null,
      signal: null,
      rule: {
        id: 'r',
        errno: null,
        signal: null,
        reason: '',
        confidence: 'read',
        cite: { repo: '', path: '', commit: '', fn: '' },
      },
      cause: null,
      out: {},
      changes: { files: runs.length ? { '0': runs } : {}, gpa: {} },
    })),
  };
}

/** the bits of page p after step `step` (0-based) */
function pageBits(t: Timeline, key: string, step: number, p: number): number {
  const s = t.space(key)!;
  return t.stateAt(s, step)[atomAt(s.bounds, p)]!;
}

describe('page-state reconstruction', () => {
  it('gives the example its states: host-mapped shared page, then private, then populated and measured', () => {
    const t = new Timeline(exampleRun());
    const file = t.space('file:0')!;
    const gpa = t.space('gpa:0')!;
    expect(t.spaces.map((s) => s.key)).toEqual(['gpa:0', 'file:0']);
    expect(gpa.bounds).toEqual([0, 1, 2, 4]);
    // the guest_memfd appears at step 7 (KVM_CREATE_GUEST_MEMFD), 4 pages
    expect(file.first).toBe(6);
    expect(file.bounds.at(-1)).toBe(4);
    expect(t.exists(file, 5)).toBe(false);
    expect(t.exists(file, 6)).toBe(true);
    const names = (key: string, step: number, p: number) =>
      stateNames(pageBits(t, key, step - 1, p), key.startsWith('file') ? 'file' : 'gpa').join(' ');
    expect(names('file:0', 9, 1)).toBe('shared');
    expect(names('file:0', 10, 1)).toBe('shared allocated host-mapped'); // after the store
    expect(names('file:0', 11, 1)).toBe('private allocated'); // after the conversion: host PTEs zapped
    expect(names('file:0', 13, 1)).toBe('private allocated populated measured accepted'); // after INIT_MEM_REGION
    expect(names('file:0', 14, 1)).toBe('private allocated populated measured accepted'); // the double add changes nothing
    expect(names('file:0', 13, 0)).toBe('shared');
    expect(names('gpa:0', 13, 1)).toBe('in-memslot private populated measured accepted');
    expect(names('gpa:0', 13, 2)).toBe('in-memslot shared');
    // going back and forth gives the same answers (cached state, checkpoints)
    expect(names('file:0', 10, 1)).toBe('shared allocated host-mapped');
    expect(names('file:0', 16, 1)).toBe('private allocated populated measured accepted');
    expect(t.changedAt(file, 12)?.[atomAt(file.bounds, 1)]).toBe(1);
    expect(t.changedAt(file, 13)).toBeNull();
  });

  it('carries the launch state forward and marks what a step changed', () => {
    const t = new Timeline(exampleRun());
    const at13 = t.launchAt(12).get('0')!;
    expect(at13.state.pageAdds).toBe(1);
    expect(at13.state.extends).toBe(16);
    expect([...at13.changed].sort()).toEqual(['extends', 'mrtd', 'pageAdds']);
    const at14 = t.launchAt(13).get('0')!;
    expect(at14.changed.size).toBe(0);
    expect(at14.state.mrtd).toBe(at13.state.mrtd);
    expect(t.launchAt(15).get('0')!.state.state).toBe('RUNNABLE');
  });

  it('agrees with a naive per-page model for any sequence of changes, in any order of look-ups', () => {
    const N = 48;
    const run = fc
      .tuple(fc.nat(N - 1), fc.integer({ min: 1, max: 12 }), fc.nat(511)) // PAGE.ACCEPTED is 256
      .map(([s, len, bits]): Run => [s, Math.min(N, s + len), bits]);
    fc.assert(
      fc.property(
        fc.array(fc.array(run, { maxLength: 4 }), { minLength: 1, maxLength: 40 }),
        fc.array(fc.nat(), { minLength: 1, maxLength: 30 }),
        (steps, lookups) => {
          steps[0] = [[0, N, 0], ...steps[0]!];
          const t = new Timeline(fakeRun(N, steps), 4);
          const naive: number[][] = [];
          const cur = new Array<number>(N).fill(0);
          for (const runs of steps) {
            for (const [a, b, bits] of runs) cur.fill(bits, a, b);
            naive.push([...cur]);
          }
          for (const l of lookups) {
            const step = l % steps.length;
            for (let p = 0; p < N; p++) expect(pageBits(t, 'file:0', step, p)).toBe(naive[step]![p]);
          }
        },
      ),
      { seed: 7, numRuns: 200 },
    );
  });

  it('text runs merge equal neighbours and clip to the window', () => {
    const t = new Timeline(
      fakeRun(16, [
        [[0, 16, 0]],
        [
          [2, 4, BIT.PRIVATE],
          [4, 6, BIT.PRIVATE],
          [8, 9, BIT.ALLOCATED],
        ],
      ]),
    );
    const s = t.space('file:0')!;
    expect(runsIn(s, t.stateAt(s, 1), 0, 16)).toEqual([
      [0, 2, 0],
      [2, 6, 1],
      [6, 8, 0],
      [8, 9, 2],
      [9, 16, 0],
    ]);
    expect(runsIn(s, t.stateAt(s, 1), 3, 9)).toEqual([
      [3, 6, 1],
      [6, 8, 0],
      [8, 9, 2],
    ]);
  });
});

describe('map layout', () => {
  it('draws a few pages to scale', () => {
    const l = layoutWindow([0, 1, 2, 4], 0, 4, 1000);
    expect(l.scale).toBe('linear');
    expect(l.items.map((i) => [i.start, i.end, Math.round(i.w)])).toEqual([
      [0, 1, 250],
      [1, 2, 250],
      [2, 4, 500],
    ]);
  });

  it('draws neighbours of equal state as one range, but keeps what the step changed apart', () => {
    const bounds = [0, 1, 2, 4];
    const same = layoutWindow(bounds, 0, 4, 1000, { state: Uint16Array.of(0, 0, 0) });
    expect(same.items.map((i) => [i.start, i.end])).toEqual([[0, 4]]);
    const changed = layoutWindow(bounds, 0, 4, 1000, {
      state: Uint16Array.of(0, 0, 0),
      changed: Uint8Array.of(0, 1, 0),
    });
    expect(changed.items.map((i) => [i.start, i.end])).toEqual([
      [0, 1],
      [1, 2],
      [2, 4],
    ]);
    const two = layoutWindow(bounds, 0, 4, 1000, { state: Uint16Array.of(1, 1, 0) });
    expect(two.items.map((i) => [i.start, i.end])).toEqual([
      [0, 2],
      [2, 4],
    ]);
  });

  it('collapses a 1 TiB guest_memfd with thousands of scattered ranges into a bounded number of marks', () => {
    const doc = runDocument([
      runScenario(loadText('scale.yaml', scaleScenario({ conversions: 1000 })), nodeHost, { trace: true }),
    ]);
    const t = new Timeline(checkDocument(JSON.parse(JSON.stringify(doc))).runs[0]!);
    const s = t.space('file:0')!;
    expect(s.bounds.at(-1)).toBe(2 ** 28);
    expect(s.bounds.length).toBeGreaterThan(1000);
    const l = layoutWindow(s.bounds, 0, 2 ** 28, 900, { maxItems: 400 });
    expect(l.scale).toBe('collapsed');
    expect(l.items.length).toBeLessThanOrEqual(400);
    expect(l.group).toBeGreaterThan(1);
    // the marks tile the whole range, in order, across the whole width
    expect(l.items[0]!.start).toBe(0);
    expect(l.items.at(-1)!.end).toBe(2 ** 28);
    for (let i = 1; i < l.items.length; i++) expect(l.items[i]!.start).toBe(l.items[i - 1]!.end);
    expect(l.items.reduce((x, i) => x + i.w, 0)).toBeCloseTo(900, 6);
    // at the end, some pages are private and some shared: groups show mixed state
    const st = t.stateAt(s, t.steps - 1);
    expect(l.items.some((i) => bitsOf(st, i.a, i.b).any & BIT.PRIVATE)).toBe(true);
    // zoomed onto one mark, its ranges are drawn one by one
    const one = l.items[10]!;
    const z = layoutWindow(s.bounds, one.start, one.end, 900, { maxItems: 400 });
    expect(z.group).toBe(1);
    expect(z.items.length).toBe(one.b - one.a);
  });

  it('keeps a few pages visible beside a terabyte in the collapsed scale, and marks the squeezed range', () => {
    const l = layoutWindow([0, 1, 2 ** 28], 0, 2 ** 28, 900);
    expect(l.scale).toBe('collapsed');
    expect(l.items[0]!.w).toBeGreaterThan(20);
    expect(l.items[1]!.squeezed).toBe(true);
    expect(l.items[0]!.squeezed).toBe(false);
    const lin = layoutWindow([0, 1, 2 ** 28], 0, 2 ** 28, 900, { scale: 'linear' });
    expect(lin.items[0]!.w).toBeLessThan(0.001);
  });
});

describe('formatting and documents', () => {
  it('writes sizes and offsets', () => {
    expect(fmtPages(1)).toBe('4 KiB');
    expect(fmtPages(4)).toBe('16 KiB');
    expect(fmtPages(384)).toBe('1.5 MiB');
    expect(fmtPages(2 ** 28)).toBe('1 TiB');
    expect(fmtOffset(1)).toBe('0x1000');
    expect(fmtOffset(2 ** 52 - 1)).toBe('0xfffffffffffff000');
  });

  it('reads the step from the location hash', () => {
    expect(stepFromHash('#step=13', 16)).toBe(12);
    expect(stepFromHash('#step=17', 16)).toBeNull();
    expect(stepFromHash('#step=0', 16)).toBeNull();
    expect(stepFromHash('#x', 16)).toBeNull();
  });

  it('classifies steps: an expected errno or signal, an unexpected one, failed expectation, broken invariant', () => {
    const r = exampleRun();
    expect(stepStatus(r.steps[13]!)).toBe('expected'); // expect: { errno: EIO }, and it was
    expect(stepStatus(r.steps[11]!)).toBe('expected'); // SIGBUS, expected
    const { expect_ok: _, checks: __, ...unexpected } = r.steps[13]!;
    expect(stepStatus(unexpected)).toBe('error'); // the same EIO with no expectation
    expect(stepStatus(r.steps[12]!)).toBe('ok');
    expect(stepStatus({ ...r.steps[12]!, expect_ok: false })).toBe('failed');
    expect(stepStatus({ ...r.steps[12]!, violations: [{ invariant: 'x', detail: 'y' }] })).toBe('violation');
  });

  it('refuses a document of another format with one sentence', () => {
    expect(() => checkDocument({ format: 'gmemsim-run/2', runs: [] })).toThrow(
      new DocumentError('run document format "gmemsim-run/2", expected gmemsim-run/1'),
    );
    expect(() => checkDocument([])).toThrow(DocumentError);
    expect(() => checkDocument({ format: 'gmemsim-run/1', runs: [{ steps: [{}], objects: {} }] })).toThrow(
      /step 1: expected "call" and "rule"/,
    );
  });
});
