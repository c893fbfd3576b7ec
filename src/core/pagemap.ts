/**
 * The page map: what each guest_memfd offset and each guest physical page is, as ranges of equal
 * state, and the changes a step made. This is the picture the view draws; it is computed from the
 * range structures, so it costs the number of ranges, never the guest size.
 */
import type { Kernel } from './kernel.ts';
import { PAGE } from './pagebits.ts';
import type { RangeMap, RangeSet } from './ranges.ts';
import type { SnpVm } from './snp/state.ts';
import type { GmemInode } from './state.ts';
import { SEPT_ACCEPTED, SEPT_ADDED } from './tdx/module.ts';
import type { TdxVm } from './tdx/state.ts';
import { GuestMemfdFlag, KVM_MEMORY_ATTRIBUTE_PRIVATE } from './uapi.ts';

export { PAGE };

/** [start, end, bits] */
export type Run = [number, number, number];

export interface Snapshot {
  /** guest_memfd inode id → runs over file page offsets */
  files: Map<number, { pages: number; released: boolean; runs: Run[] }>;
  /** VM id → runs over GFNs (only inside memslots, or with attributes set) */
  gpa: Map<number, { runs: Run[] }>;
}

/** A source of one state bit: the sorted, disjoint runs [a, b) of indices that have it. */
interface Source {
  bit: number;
  runs: [number, number][];
}

const setSource = (bit: number, s: RangeSet, shift = 0): Source => ({
  bit,
  runs: [...s.runs()].map(([a, b]) => [a + shift, b + shift]),
});

/** the runs of a range map whose value satisfies pred (an index without a value never has the bit) */
const mapSource = (bit: number, m: RangeMap<number>, pred: (v: number) => boolean): Source => ({
  bit,
  runs: [...m.runs()].filter(([, , v]) => pred(v)).map(([a, b]) => [a, b]),
});

const byStart = (x: [number, number], y: [number, number]) => x[0] - y[0];

/**
 * The runs of [0, limit) with the bits of every source: one pass over all the sources' runs at once
 * (a pointer per source), so its cost is the number of runs, whatever their number or size
 */
function sweep(limit: number, sources: Source[]): Run[] {
  const at = sources.map(() => 0);
  const runs: Run[] = [];
  let pos = 0;
  while (pos < limit) {
    let bits = 0;
    let next = limit;
    for (let j = 0; j < sources.length; j++) {
      const rs = sources[j]!.runs;
      let i = at[j]!;
      while (i < rs.length && rs[i]![1] <= pos) i++;
      at[j] = i;
      if (i === rs.length) continue;
      const [a, b] = rs[i]!;
      if (a <= pos) {
        bits |= sources[j]!.bit;
        if (b < next) next = b;
      } else if (a < next) next = a;
    }
    const last = runs[runs.length - 1];
    if (last && last[1] === pos && last[2] === bits) last[1] = next;
    else runs.push([pos, next, bits]);
    pos = next;
  }
  return runs;
}

/** GFN runs of a VM translated to file indices through the bindings of an inode */
function viaBindings(
  inode: GmemInode,
  bit: number,
  gfnRuns: (s: number, e: number) => Iterable<[number, number]>,
): Source {
  const runs: [number, number][] = [];
  for (const b of inode.bindings) {
    const shift = b.start - b.slot.baseGfn;
    for (const [s, e] of gfnRuns(b.slot.baseGfn, b.slot.baseGfn + b.slot.npages)) runs.push([s + shift, e + shift]);
  }
  return { bit, runs: runs.sort(byStart) };
}

export function snapshot(k: Kernel): Snapshot {
  const files = new Map<number, { pages: number; released: boolean; runs: Run[] }>();
  for (const inode of k.inodes) {
    const pinned = [...inode.pins].filter(([, n]) => n > 0).map(([i]) => i);
    const sources: Source[] = [
      setSource(PAGE.ALLOCATED, inode.allocated),
      setSource(PAGE.HOST_MAPPED, inode.hostMapped),
      setSource(PAGE.UNDEFINED, inode.undefinedContent),
      { bit: PAGE.PINNED, runs: pinned.sort((a, b) => a - b).map((i) => [i, i + 1]) },
    ];
    if (k.inPlace) sources.push(mapSource(PAGE.PRIVATE, inode.attrs, (v) => v === KVM_MEMORY_ATTRIBUTE_PRIVATE));
    else if ((inode.flags & GuestMemfdFlag.GUEST_MEMFD_FLAG_INIT_SHARED) === 0n)
      sources.push({ bit: PAGE.PRIVATE, runs: [[0, inode.npages]] });
    const arch = inode.vm.arch;
    if (arch?.kind === 'tdx') {
      const td = arch as TdxVm;
      sources.push(
        viaBindings(inode, PAGE.POPULATED, (s, e) => septWithin(td, s, e)),
        viaBindings(inode, PAGE.MEASURED, (s, e) => td.module.measured.within(s, e)),
        viaBindings(inode, PAGE.ACCEPTED, (s, e) => acceptedWithin(td, s, e)),
      );
    } else if (arch?.kind === 'snp') {
      const snp = arch as SnpVm;
      const rmp = snp.rmp.get(inode.id);
      const meas = snp.measured.get(inode.id);
      if (rmp) sources.push(setSource(PAGE.POPULATED, rmp));
      if (meas) sources.push(setSource(PAGE.MEASURED, meas));
      const val = snp.validated.get(inode.id);
      if (val) sources.push(setSource(PAGE.ACCEPTED, val));
    }
    files.set(inode.id, { pages: inode.npages, released: inode.released, runs: sweep(inode.npages, sources) });
  }
  const gpa = new Map<number, { runs: Run[] }>();
  for (const vm of k.vms) {
    const slots = [...vm.memslots].sort((a, b) => a.baseGfn - b.baseGfn);
    const priv: [number, number][] = [];
    if (k.inPlace)
      for (const s of slots) {
        const inode = s.gmem?.inode;
        if (!inode) continue;
        const shift = s.baseGfn - s.gmem!.pgoff;
        for (const [a, b, v] of inode.attrs.segments(s.gmem!.pgoff, s.gmem!.pgoff + s.npages))
          if (v === KVM_MEMORY_ATTRIBUTE_PRIVATE) priv.push([a + shift, b + shift]);
      }
    else for (const [a, b, v] of vm.memAttrs.runs()) if ((v & KVM_MEMORY_ATTRIBUTE_PRIVATE) !== 0) priv.push([a, b]);
    const sources: Source[] = [
      { bit: PAGE.IN_MEMSLOT, runs: slots.map((s) => [s.baseGfn, s.baseGfn + s.npages]) },
      { bit: PAGE.PRIVATE, runs: priv },
    ];
    if (vm.arch?.kind === 'tdx') {
      const td = vm.arch as TdxVm;
      sources.push(
        { bit: PAGE.POPULATED, runs: [...td.module.sept.runs()].map(([a, b]) => [a, b]) },
        setSource(PAGE.MEASURED, td.module.measured),
        { bit: PAGE.ACCEPTED, runs: [...acceptedWithin(td, 0, Number.MAX_SAFE_INTEGER)] },
      );
    }
    let limit = 0;
    for (const s of vm.memslots) limit = Math.max(limit, s.baseGfn + s.npages);
    for (const [, b] of vm.memAttrs.runs()) limit = Math.max(limit, b);
    const runs = sweep(limit, sources).filter((r) => r[2] !== 0);
    gpa.set(vm.id, { runs });
  }
  return { files, gpa };
}

/** the GFNs the guest has accepted in [s, e): ADDED at build time, or ACCEPTED after PAGE.AUG */
function* acceptedWithin(td: TdxVm, s: number, e: number): Generator<[number, number]> {
  for (const [a, b, v] of td.module.sept.segments(s, e)) if (v === SEPT_ADDED || v === SEPT_ACCEPTED) yield [a, b];
}

/** the S-EPT's mapped GFNs (ADDED or AUGMENTED) in [s, e) */
function* septWithin(td: TdxVm, s: number, e: number): Generator<[number, number]> {
  for (const [a, b, v] of td.module.sept.segments(s, e)) if (v !== undefined) yield [a, b];
}

/**
 * The runs of `next` that differ from `prev` (per file / VM), as runs with their new bits (0 where
 * `next` has no run). Both inputs are sorted and disjoint; one linear merge.
 */
export function diffRuns(prev: Run[] | undefined, next: Run[]): Run[] {
  if (!prev) return next;
  const out: Run[] = [];
  let i = 0;
  let j = 0;
  let x = Math.min(prev[0]?.[0] ?? Number.POSITIVE_INFINITY, next[0]?.[0] ?? Number.POSITIVE_INFINITY);
  while (i < prev.length || j < next.length) {
    while (i < prev.length && prev[i]![1] <= x) i++;
    while (j < next.length && next[j]![1] <= x) j++;
    if (i >= prev.length && j >= next.length) break;
    const p = prev[i];
    const n = next[j];
    const pIn = p !== undefined && p[0] <= x;
    const nIn = n !== undefined && n[0] <= x;
    // the next boundary after x
    let y = Number.POSITIVE_INFINITY;
    if (p) y = Math.min(y, pIn ? p[1] : p[0]);
    if (n) y = Math.min(y, nIn ? n[1] : n[0]);
    const was = pIn ? p[2] : -1;
    const now = nIn ? n[2] : -1;
    if (was !== now && (pIn || nIn)) {
      const bits = Math.max(now, 0);
      const last = out[out.length - 1];
      if (last && last[1] === x && last[2] === bits) last[1] = y;
      else out.push([x, y, bits]);
    }
    x = y;
  }
  return out;
}
