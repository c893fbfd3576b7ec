/** diffRuns against a naive per-index comparison. */

import { join, relative } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type Changes, diffRuns, PageMapTracker, type Run, type Snapshot, snapshot } from '../src/core/pagemap.ts';
import type { TdxVm } from '../src/core/tdx/state.ts';
import { KVM_MEMORY_ATTRIBUTE_PRIVATE } from '../src/core/uapi.ts';
import { nodeHost } from '../src/node/host.ts';
import { runScenario } from '../src/scenario/run.ts';
import { findScenarios, loadText, ROOT, runEach } from './support/scenarios.ts';

const runsArb = fc
  .array(fc.record({ gap: fc.nat(3), len: fc.integer({ min: 1, max: 4 }), bits: fc.nat(3) }), { maxLength: 8 })
  .map((xs) => {
    const out: Run[] = [];
    let pos = 0;
    for (const x of xs) {
      pos += x.gap;
      out.push([pos, pos + x.len, x.bits]);
      pos += x.len;
    }
    return out;
  });

const at = (runs: Run[], i: number) => runs.find((r) => r[0] <= i && i < r[1])?.[2];

describe('diffRuns', () => {
  it('reports exactly the indices whose bits changed, with the new bits', () => {
    fc.assert(
      fc.property(runsArb, runsArb, (prev, next) => {
        const d = diffRuns(prev, next);
        for (let i = 0; i < 60; i++) {
          const changed = at(prev, i) !== at(next, i);
          const inD = at(d, i);
          if (changed) expect(inD).toBe(at(next, i) ?? 0);
          else expect(inD).toBeUndefined();
        }
      }),
      { numRuns: 500, ...(process.env.CI ? { seed: 3 } : {}) },
    );
  });
});

/**
 * The trace's changes (PageMapTracker: only the windows a step touched) against the whole-map
 * reference (snapshot() after every step, diffRuns against the one before) on every scenario file,
 * under every kernel it runs on: the same runs, step by step.
 */
describe('the page-map trace in O(changes)', () => {
  const files = findScenarios(join(ROOT, 'test/scenarios'));
  it.each(files.map((f) => relative(ROOT, f)))('%s: every step as the whole-map diff says', (file) => {
    const reference: Changes[] = [];
    let prev: Snapshot | undefined;
    const results = runEach(join(ROOT, file), {
      trace: true,
      onStep: (done, _n, k) => {
        if (done === 1) prev = undefined; // a new run
        const snap = snapshot(k);
        const ch: Changes = { files: {}, gpa: {} };
        for (const [id, f] of snap.files) {
          const d = diffRuns(prev?.files.get(id)?.runs, f.runs);
          if (d.length) ch.files[id] = d;
        }
        for (const [id, g] of snap.gpa) {
          const d = diffRuns(prev?.gpa.get(id)?.runs, g.runs);
          if (d.length) ch.gpa[id] = d;
        }
        reference.push(ch);
        prev = snap;
      },
    });
    // runEach runs the file once per kernel; the reference restarts with each run's first step
    const traced: Changes[] = results.flatMap((r) => r.steps.map((st) => st.changes!));
    expect(traced.length).toBe(reference.length);
    for (let i = 0; i < traced.length; i++) expect(traced[i], `step ${i}`).toEqual(reference[i]);
  });
});

/**
 * Each structure the page map reads, changed alone (the model always changes several at once, so
 * the scenario corpus cannot tell whether one of them is left out of the windows): random updates
 * of each, straight into a TD's state, and the tracker against the whole-map diff after each.
 */
describe('the page-map trace follows every structure it reads', () => {
  const td = (inPlace: boolean) =>
    runScenario(
      loadText(
        'td.yaml',
        `format: gmemsim/1
name: td
kernel: { profile: in-place, gmem_in_place_conversion: ${inPlace} }
steps:
  - include: tdx-td-ready
    with: { gmem_size: 0x40000, gpa: 0x10000, gmem_flags: ${inPlace ? '[GUEST_MEMFD_FLAG_MMAP, GUEST_MEMFD_FLAG_INIT_SHARED]' : '[]'}, private: ${!inPlace} }
`,
      ),
      nodeHost,
      {},
    ).kernel;
  const targets = [
    'sept',
    'measured',
    'attrs',
    'allocated',
    'hostMapped',
    'undefinedContent',
    'pins',
    'memAttrs',
  ] as const;
  const update = fc.record({
    target: fc.constantFrom(...targets),
    at: fc.nat(80),
    len: fc.integer({ min: 1, max: 6 }),
    value: fc.nat(3),
  });
  it.each([true, false])('in-place %s', (inPlace) => {
    fc.assert(
      fc.property(fc.array(update, { minLength: 1, maxLength: 12 }), (updates) => {
        const k = td(inPlace);
        expect(k.inodes).toHaveLength(1);
        const inode = k.inodes[0]!;
        const t = k.vms[0]!.arch as TdxVm;
        const tracker = new PageMapTracker();
        tracker.step(k);
        let prev = snapshot(k);
        for (const u of updates) {
          const gfn = 0x10 + u.at; // GFNs of the memslot (and a few past it)
          const end = u.at + u.len;
          if (u.target === 'sept') t.module.sept.set(gfn, gfn + u.len, u.value || undefined);
          else if (u.target === 'measured')
            u.value & 1 ? t.module.measured.add(gfn, gfn + u.len) : t.module.measured.delete(gfn, gfn + u.len);
          else if (u.target === 'attrs') inode.attrs.set(u.at, end, u.value & 1 ? KVM_MEMORY_ATTRIBUTE_PRIVATE : 0);
          else if (u.target === 'memAttrs')
            k.vms[0]!.memAttrs.set(gfn, gfn + u.len, u.value & 1 ? KVM_MEMORY_ATTRIBUTE_PRIVATE : undefined);
          else if (u.target === 'pins') inode.pins.set(u.at, u.value & 1);
          else u.value & 1 ? inode[u.target].add(u.at, end) : inode[u.target].delete(u.at, end);
          const got = tracker.step(k);
          const snap = snapshot(k);
          const want: Changes = { files: {}, gpa: {} };
          for (const [id, f] of snap.files) {
            const d = diffRuns(prev.files.get(id)?.runs, f.runs);
            if (d.length) want.files[id] = d;
          }
          for (const [id, g] of snap.gpa) {
            const d = diffRuns(prev.gpa.get(id)?.runs, g.runs);
            if (d.length) want.gpa[id] = d;
          }
          expect(got, JSON.stringify(u)).toEqual(want);
          prev = snap;
        }
      }),
      { numRuns: 150, ...(process.env.CI ? { seed: 7 } : {}) },
    );
  });
});
