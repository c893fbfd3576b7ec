/**
 * The page map: what each guest_memfd offset and each guest physical page is, as ranges of equal
 * state, and the changes a step made. This is the picture the view draws; it is computed from the
 * range structures, so it costs the number of ranges, never the guest size.
 */
import type { Kernel } from './kernel.ts';
import { PAGE } from './pagebits.ts';
import { RangeMap, RangeSet } from './ranges.ts';
import type { SnpVm } from './snp/state.ts';
import type { GmemInode, Vm } from './state.ts';
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

/** the runs [a, b) of one state bit inside a window [s, e), sorted, disjoint and clipped to it */
type Within = (s: number, e: number) => Iterable<[number, number]>;

/** A source of one state bit. */
interface Source {
  bit: number;
  within: Within;
}

const setSource = (bit: number, set: RangeSet): Source => ({ bit, within: (s, e) => set.within(s, e) });

/** the runs of a range map whose value satisfies pred (an index without a value never has the bit) */
const mapSource = (bit: number, m: RangeMap<number>, pred: (v: number) => boolean): Source => ({
  bit,
  *within(s, e) {
    for (const [a, b, v] of m.segments(s, e)) if (v !== undefined && pred(v)) yield [a, b];
  },
});

/** fixed runs, sorted and disjoint */
const listSource = (bit: number, runs: [number, number][]): Source => ({
  bit,
  *within(s, e) {
    let lo = 0;
    let hi = runs.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (runs[mid]![1] > s) hi = mid;
      else lo = mid + 1;
    }
    for (let i = lo; i < runs.length && runs[i]![0] < e; i++)
      yield [Math.max(runs[i]![0], s), Math.min(runs[i]![1], e)];
  },
});

/**
 * The runs of [start, limit) with the bits of every source: one pass over all the sources' runs at
 * once (a pointer per source), so its cost is the number of runs in the window, whatever their size
 */
function sweep(start: number, limit: number, sources: Source[]): Run[] {
  const lists = sources.map((src) => [...src.within(start, limit)]);
  const at = sources.map(() => 0);
  const runs: Run[] = [];
  let pos = start;
  while (pos < limit) {
    let bits = 0;
    let next = limit;
    for (let j = 0; j < sources.length; j++) {
      const rs = lists[j]!;
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

/** the bindings of an inode as [file start, file end, GFN − file index], by file index */
const bindingsOf = (inode: GmemInode): [number, number, number][] =>
  inode.bindings
    .map((b): [number, number, number] => [b.start, b.start + b.slot.npages, b.slot.baseGfn - b.start])
    .sort((x, y) => x[0] - y[0]);

/** a source over GFNs seen through the bindings of an inode, as file indices */
function viaBindings(inode: GmemInode, bit: number, gfnRuns: Within): Source {
  const binds = bindingsOf(inode);
  return {
    bit,
    *within(s, e) {
      for (const [fs, fe, shift] of binds) {
        const a = Math.max(s, fs);
        const b = Math.min(e, fe);
        if (a >= b) continue;
        for (const [x, y] of gfnRuns(a + shift, b + shift)) yield [x - shift, y - shift];
      }
    },
  };
}

/** the slots of a VM that hold a guest_memfd binding, as [first GFN, end GFN, file index − GFN, inode] */
const gmemSlotsOf = (vm: Vm): [number, number, number, GmemInode][] =>
  [...vm.memslots]
    .sort((a, b) => a.baseGfn - b.baseGfn)
    .flatMap((sl) => {
      const inode = sl.gmem?.inode;
      return inode ? [[sl.baseGfn, sl.baseGfn + sl.npages, sl.gmem!.pgoff - sl.baseGfn, inode]] : [];
    });

/** one file's (guest_memfd inode's) sources, and the objects they read */
function fileSources(k: Kernel, inode: GmemInode): { sources: Source[]; reads: unknown[]; pinned: number[] } {
  const pinned = [...inode.pins]
    .filter(([, n]) => n > 0)
    .map(([i]) => i)
    .sort((a, b) => a - b);
  const sources: Source[] = [
    setSource(PAGE.ALLOCATED, inode.allocated),
    setSource(PAGE.HOST_MAPPED, inode.hostMapped),
    setSource(PAGE.UNDEFINED, inode.undefinedContent),
    listSource(
      PAGE.PINNED,
      pinned.map((i) => [i, i + 1]),
    ),
  ];
  const reads: unknown[] = [inode.allocated, inode.hostMapped, inode.undefinedContent];
  if (k.inPlace) {
    sources.push(mapSource(PAGE.PRIVATE, inode.attrs, (v) => v === KVM_MEMORY_ATTRIBUTE_PRIVATE));
    reads.push(inode.attrs);
  } else if ((inode.flags & GuestMemfdFlag.GUEST_MEMFD_FLAG_INIT_SHARED) === 0n)
    sources.push(listSource(PAGE.PRIVATE, [[0, inode.npages]]));
  const arch = inode.vm.arch;
  reads.push(arch);
  if (arch?.kind === 'tdx') {
    const td = arch as TdxVm;
    sources.push(
      viaBindings(inode, PAGE.POPULATED, (s, e) => septWithin(td, s, e)),
      viaBindings(inode, PAGE.MEASURED, (s, e) => td.module.measured.within(s, e)),
      viaBindings(inode, PAGE.ACCEPTED, (s, e) => acceptedWithin(td, s, e)),
    );
    reads.push(td.module, td.module.sept, td.module.measured);
  } else if (arch?.kind === 'snp') {
    const snp = arch as SnpVm;
    const rmp = snp.rmp.get(inode.id);
    const meas = snp.measured.get(inode.id);
    const val = snp.validated.get(inode.id);
    if (rmp) sources.push(setSource(PAGE.POPULATED, rmp));
    if (meas) sources.push(setSource(PAGE.MEASURED, meas));
    if (val) sources.push(setSource(PAGE.ACCEPTED, val));
    reads.push(rmp, meas, val);
  }
  return { sources, reads, pinned };
}

/** one VM's sources over GFNs, the GFN limit of its map, and the objects they read */
function gpaSources(k: Kernel, vm: Vm): { sources: Source[]; reads: unknown[]; limit: number } {
  const slots = [...vm.memslots].sort((a, b) => a.baseGfn - b.baseGfn);
  const reads: unknown[] = [vm.arch];
  for (const sl of slots) reads.push(sl, sl.baseGfn, sl.npages, sl.gmem?.inode, sl.gmem?.pgoff);
  let priv: Source;
  if (k.inPlace) {
    const gslots = gmemSlotsOf(vm);
    for (const g of gslots) reads.push(g[3].attrs);
    priv = {
      bit: PAGE.PRIVATE,
      *within(s, e) {
        for (const [gs, ge, shift, inode] of gslots) {
          const a = Math.max(s, gs);
          const b = Math.min(e, ge);
          if (a >= b) continue;
          for (const [x, y, v] of inode.attrs.segments(a + shift, b + shift))
            if (v === KVM_MEMORY_ATTRIBUTE_PRIVATE) yield [x - shift, y - shift];
        }
      },
    };
  } else priv = mapSource(PAGE.PRIVATE, vm.memAttrs, (v) => (v & KVM_MEMORY_ATTRIBUTE_PRIVATE) !== 0);
  reads.push(vm.memAttrs);
  const sources: Source[] = [
    listSource(
      PAGE.IN_MEMSLOT,
      slots.map((sl) => [sl.baseGfn, sl.baseGfn + sl.npages]),
    ),
    priv,
  ];
  if (vm.arch?.kind === 'tdx') {
    const td = vm.arch as TdxVm;
    sources.push(
      { bit: PAGE.POPULATED, within: (s, e) => septWithin(td, s, e) },
      setSource(PAGE.MEASURED, td.module.measured),
      { bit: PAGE.ACCEPTED, within: (s, e) => acceptedWithin(td, s, e) },
    );
    reads.push(td.module, td.module.sept, td.module.measured);
  }
  let limit = 0;
  for (const sl of vm.memslots) limit = Math.max(limit, sl.baseGfn + sl.npages);
  limit = Math.max(limit, vm.memAttrs.end);
  reads.push(limit);
  return { sources, reads, limit };
}

/**
 * The whole page map, swept from scratch: what the tracker keeps up to date step by step, and the
 * reference test/pagemap.test.ts checks the tracker against.
 */
export function snapshot(k: Kernel): Snapshot {
  const files = new Map<number, { pages: number; released: boolean; runs: Run[] }>();
  for (const inode of k.inodes) {
    const { sources } = fileSources(k, inode);
    files.set(inode.id, { pages: inode.npages, released: inode.released, runs: sweep(0, inode.npages, sources) });
  }
  const gpa = new Map<number, { runs: Run[] }>();
  for (const vm of k.vms) {
    const { sources, limit } = gpaSources(k, vm);
    gpa.set(vm.id, { runs: sweep(0, limit, sources).filter((r) => r[2] !== 0) });
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

/** the page-state changes of one step: per file (inode id) and per VM (id), runs with their new bits */
export interface Changes {
  files: Record<string, Run[]>;
  gpa: Record<string, Run[]>;
}

/** sort and merge windows, touching ones too, clipped to [0, limit) */
function mergeWindows(ws: [number, number][], limit: number): [number, number][] {
  ws.sort((x, y) => x[0] - y[0]);
  const out: [number, number][] = [];
  for (const [a0, b0] of ws) {
    const a = Math.max(a0, 0);
    const b = Math.min(b0, limit);
    if (a >= b) continue;
    const last = out[out.length - 1];
    if (last && a <= last[1]) last[1] = Math.max(last[1], b);
    else out.push([a, b]);
  }
  return out;
}

const sameList = (x: readonly unknown[], y: readonly unknown[]) =>
  x.length === y.length && x.every((v, i) => v === y[i]);

/** windows where a sorted list of indices gained or lost one */
function listChanges(prev: number[], next: number[]): [number, number][] {
  const out: [number, number][] = [];
  let i = 0;
  let j = 0;
  while (i < prev.length || j < next.length) {
    const p = prev[i] ?? Number.POSITIVE_INFINITY;
    const n = next[j] ?? Number.POSITIVE_INFINITY;
    if (p === n) {
      i++;
      j++;
    } else if (p < n) {
      out.push([p, p + 1]);
      i++;
    } else {
      out.push([n, n + 1]);
      j++;
    }
  }
  return out;
}

/** the map of one file or VM as the tracker last saw it */
interface Tracked {
  reads: unknown[];
  /** bits by index (a VM's GFNs without bits have no value) */
  map: RangeMap<number>;
  pinned: number[];
}

function mapOf(runs: Run[]): RangeMap<number> {
  const m = new RangeMap<number>();
  for (const [a, b, v] of runs) m.set(a, b, v);
  return m;
}

/**
 * The page-map trace in O(changes): the changes each step made, as `diffRuns(previous snapshot,
 * snapshot)` gives them, computed only inside the windows the step touched. Every range structure
 * the map reads records the ranges its set() was asked to change (RangeMap.track); a step
 * re-sweeps those windows (GFN windows seen through the bindings as file windows, and file windows
 * as GFN windows), compares them with the map it keeps, and updates that map. A file or VM whose
 * shape changed (created, resized, released, memslots or bindings changed, a structure replaced)
 * is swept whole, as snapshot() does. test/pagemap.test.ts checks it against snapshot() + diffRuns
 * on every scenario file.
 */
export class PageMapTracker {
  private readonly files = new Map<number, Tracked>();
  private readonly vms = new Map<number, Tracked>();

  /** the changes since the last call (the first call: everything, as diffRuns(undefined, …)) */
  step(k: Kernel): Changes {
    // what each tracked structure recorded, once (a structure may be read by a file and by a VM)
    const touched = new Map<object, [number, number][]>();
    const take = (x: RangeMap<number> | RangeSet): [number, number][] => {
      let t = touched.get(x);
      if (!t) {
        x.track();
        t = (x.takeTouched() ?? []).slice();
        touched.set(x, t);
      }
      return t;
    };
    const files: Record<string, Run[]> = {};
    const gpa: Record<string, Run[]> = {};
    for (const inode of k.inodes) {
      const { sources, reads, pinned } = fileSources(k, inode);
      reads.push(inode.npages, inode.released, ...bindingsOf(inode).flat());
      const before = this.files.get(inode.id);
      const d = this.update(before, reads, inode.npages, sources, false, take, () => {
        const ws = listChanges(before!.pinned, pinned);
        const arch = inode.vm.arch;
        const td = arch?.kind === 'tdx' ? (arch as TdxVm) : null;
        // the file's own structures, by file index
        for (const r of reads)
          if ((r instanceof RangeMap || r instanceof RangeSet) && r !== td?.module.sept && r !== td?.module.measured)
            for (const w of take(r)) ws.push(w);
        if (td) {
          // the TD's, by GFN, seen through the bindings
          const gfn = take(td.module.sept).concat(take(td.module.measured));
          for (const [fs, fe, shift] of bindingsOf(inode))
            for (const [a, b] of gfn) {
              const x = Math.max(a - shift, fs);
              const y = Math.min(b - shift, fe);
              if (x < y) ws.push([x, y]);
            }
        }
        return ws;
      });
      this.files.set(inode.id, { ...d.tracked, pinned });
      if (d.changes.length) files[inode.id] = d.changes;
    }
    for (const vm of k.vms) {
      const { sources, reads, limit } = gpaSources(k, vm);
      const before = this.vms.get(vm.id);
      const d = this.update(before, reads, limit, sources, true, take, () => {
        const ws: [number, number][] = [];
        if (k.inPlace) {
          for (const [gs, ge, shift, inode] of gmemSlotsOf(vm))
            for (const [a, b] of take(inode.attrs)) {
              const x = Math.max(a - shift, gs);
              const y = Math.min(b - shift, ge);
              if (x < y) ws.push([x, y]);
            }
        }
        const td = vm.arch?.kind === 'tdx' ? (vm.arch as TdxVm) : null;
        return ws.concat(take(vm.memAttrs), td ? take(td.module.sept) : [], td ? take(td.module.measured) : []);
      });
      this.vms.set(vm.id, { ...d.tracked, pinned: [] });
      if (d.changes.length) gpa[vm.id] = d.changes;
    }
    // structures read by nothing this step (a file gone) keep no record
    return { files, gpa };
  }

  /** one file's or VM's changes: inside the touched windows, or whole when its shape changed */
  private update(
    before: Tracked | undefined,
    reads: unknown[],
    limit: number,
    sources: Source[],
    dropEmpty: boolean,
    take: (x: RangeMap<number> | RangeSet) => [number, number][],
    windows: () => [number, number][],
  ): { changes: Run[]; tracked: Omit<Tracked, 'pinned'> } {
    const keep = (runs: Run[]) => (dropEmpty ? runs.filter((r) => r[2] !== 0) : runs);
    if (!before || !sameList(before.reads, reads)) {
      // every structure read starts (or goes on) recording; what it recorded so far is covered
      for (const r of reads) if (r instanceof RangeMap || r instanceof RangeSet) take(r);
      const runs = keep(sweep(0, limit, sources));
      const prev = before ? [...before.map.runs()] : undefined;
      return { changes: diffRuns(prev, runs), tracked: { reads, map: mapOf(runs) } };
    }
    const map = before.map;
    const changes: Run[] = [];
    for (const [s, e] of mergeWindows(windows(), limit)) {
      const now = keep(sweep(s, e, sources));
      const was: Run[] = [];
      for (const [a, b, v] of map.segments(s, e)) if (v !== undefined) was.push([a, b, v]);
      for (const c of diffRuns(was, now)) {
        changes.push(c);
        if (dropEmpty && c[2] === 0) map.clear(c[0], c[1]);
        else map.set(c[0], c[1], c[2]);
      }
    }
    return { changes, tracked: { reads, map } };
  }
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
