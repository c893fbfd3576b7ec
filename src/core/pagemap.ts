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
import type { TdxVm } from './tdx/state.ts';
import { KVM_MEMORY_ATTRIBUTE_PRIVATE } from './uapi.ts';

export { PAGE };

/** [start, end, bits] */
export type Run = [number, number, number];

export interface Snapshot {
  /** guest_memfd inode id → runs over file page offsets */
  files: Map<number, { pages: number; released: boolean; runs: Run[] }>;
  /** VM id → runs over GFNs (only inside memslots, or with attributes set) */
  gpa: Map<number, { runs: Run[] }>;
}

/** A source of one state bit: a function telling whether index i has it, and the boundaries. */
interface Source {
  bit: number;
  has(i: number): boolean;
  bounds(out: number[]): void;
}

const setSource = (bit: number, s: RangeSet, shift = 0): Source => ({
  bit,
  has: (i) => s.has(i - shift),
  bounds: (out) => {
    for (const [a, b] of s.runs()) out.push(a + shift, b + shift);
  },
});

const mapSource = (bit: number, m: RangeMap<number>, pred: (v: number | undefined) => boolean): Source => ({
  bit,
  has: (i) => pred(m.get(i)),
  bounds: (out) => {
    for (const [a, b] of m.runs()) out.push(a, b);
  },
});

function sweep(limit: number, sources: Source[]): Run[] {
  const pts: number[] = [0, limit];
  for (const s of sources) s.bounds(pts);
  const sorted = [...new Set(pts.filter((p) => p >= 0 && p <= limit))].sort((a, b) => a - b);
  const runs: Run[] = [];
  for (let i = 0; i + 1 < sorted.length; i++) {
    const a = sorted[i]!;
    const b = sorted[i + 1]!;
    let bits = 0;
    for (const s of sources) if (s.has(a)) bits |= s.bit;
    const last = runs[runs.length - 1];
    if (last && last[1] === a && last[2] === bits) last[1] = b;
    else runs.push([a, b, bits]);
  }
  return runs;
}

/** GFN-indexed sets of a VM translated to file indices through the bindings of an inode */
function viaBindings(inode: GmemInode, bit: number, gfnSet: RangeSet): Source[] {
  return inode.bindings.map((b) => {
    const shift = b.start - b.slot.baseGfn;
    return {
      bit,
      has: (i: number) => i >= b.start && i < b.end && gfnSet.has(i - shift),
      bounds: (out: number[]) => {
        for (const [s, e] of gfnSet.within(b.slot.baseGfn, b.slot.baseGfn + b.slot.npages))
          out.push(s + shift, e + shift);
      },
    };
  });
}

export function snapshot(k: Kernel): Snapshot {
  const files = new Map<number, { pages: number; released: boolean; runs: Run[] }>();
  for (const inode of k.inodes) {
    const sources: Source[] = [
      setSource(PAGE.ALLOCATED, inode.allocated),
      setSource(PAGE.HOST_MAPPED, inode.hostMapped),
      setSource(PAGE.UNDEFINED, inode.undefinedContent),
      {
        bit: PAGE.PINNED,
        has: (i) => (inode.pins.get(i) ?? 0) > 0,
        bounds: (out) => {
          for (const [i, n] of inode.pins) if (n > 0) out.push(i, i + 1);
        },
      },
    ];
    if (k.inPlace) sources.push(mapSource(PAGE.PRIVATE, inode.attrs, (v) => v === KVM_MEMORY_ATTRIBUTE_PRIVATE));
    else if ((inode.flags & 2n) === 0n) sources.push({ bit: PAGE.PRIVATE, has: () => true, bounds: () => {} });
    const arch = inode.vm.arch;
    if (arch?.kind === 'tdx') {
      const td = arch as TdxVm;
      const populated = septAsSet(td);
      sources.push(
        ...viaBindings(inode, PAGE.POPULATED, populated),
        ...viaBindings(inode, PAGE.MEASURED, td.module.measured),
      );
    } else if (arch?.kind === 'snp') {
      const snp = arch as SnpVm;
      const rmp = snp.rmp.get(inode.id);
      const meas = snp.measured.get(inode.id);
      if (rmp) sources.push(setSource(PAGE.POPULATED, rmp));
      if (meas) sources.push(setSource(PAGE.MEASURED, meas));
    }
    files.set(inode.id, { pages: inode.npages, released: inode.released, runs: sweep(inode.npages, sources) });
  }
  const gpa = new Map<number, { runs: Run[] }>();
  for (const vm of k.vms) {
    const sources: Source[] = [
      {
        bit: PAGE.IN_MEMSLOT,
        has: (g) => vm.slotForGfn(g) !== undefined,
        bounds: (out) => {
          for (const s of vm.memslots) out.push(s.baseGfn, s.baseGfn + s.npages);
        },
      },
      {
        bit: PAGE.PRIVATE,
        has: (g) => k.isPrivateGfn(vm, g),
        bounds: (out) => {
          for (const [a, b] of vm.memAttrs.runs()) out.push(a, b);
          if (k.inPlace)
            for (const s of vm.memslots) {
              const inode = s.gmem?.inode;
              if (!inode) continue;
              const shift = s.baseGfn - s.gmem!.pgoff;
              for (const [a, b] of inode.attrs.segments(s.gmem!.pgoff, s.gmem!.pgoff + s.npages))
                out.push(a + shift, b + shift);
            }
        },
      },
    ];
    if (vm.arch?.kind === 'tdx') {
      const td = vm.arch as TdxVm;
      sources.push(setSource(PAGE.POPULATED, septAsSet(td)), setSource(PAGE.MEASURED, td.module.measured));
    }
    let limit = 0;
    for (const s of vm.memslots) limit = Math.max(limit, s.baseGfn + s.npages);
    for (const [, b] of vm.memAttrs.runs()) limit = Math.max(limit, b);
    const runs = sweep(limit, sources).filter((r) => r[2] !== 0);
    gpa.set(vm.id, { runs });
  }
  return { files, gpa };
}

/** the S-EPT's mapped GFNs as a set (ADDED or AUGMENTED) */
function septAsSet(td: TdxVm): RangeSet {
  const sept = td.module.sept;
  return {
    has: (g: number) => sept.get(g) !== undefined,
    *runs() {
      for (const [a, b] of sept.runs()) yield [a, b] as [number, number];
    },
    *within(s: number, e: number) {
      for (const [a, b, v] of sept.segments(s, e)) if (v !== undefined) yield [a, b] as [number, number];
    },
  } as unknown as RangeSet;
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
