/**
 * Interval maps over page indices. Everything that could be as large as a guest (attributes,
 * allocation, bindings, S-EPT, RMP) lives in one of these, so state grows with the number of
 * distinct ranges, never with guest size. Indices are page numbers (< 2^53, exact in a double).
 *
 * Representation: three parallel arrays of disjoint, sorted, half-open runs [start, end) with a
 * value; adjacent runs with equal values (===) are merged. Lookups are binary searches; an update
 * splices O(runs touched) entries.
 */
export class RangeMap<V> {
  private starts: number[] = [];
  private ends: number[] = [];
  private values: V[] = [];
  /** after track(): the ranges set() was asked to change since the last takeTouched() */
  private touched: [number, number][] | undefined;

  get runCount(): number {
    return this.starts.length;
  }

  /** the end of the last run (0 when empty) */
  get end(): number {
    return this.ends.length ? this.ends[this.ends.length - 1]! : 0;
  }

  /**
   * Record from now on the ranges set() is asked to change (a superset of what changed), for the
   * page-map trace (core/pagemap.ts PageMapTracker); a clone does not record.
   */
  track(): void {
    this.touched ??= [];
  }

  /** the ranges recorded since the last call (undefined when not tracking), and forget them */
  takeTouched(): [number, number][] | undefined {
    const t = this.touched;
    if (t?.length) this.touched = [];
    return t;
  }

  clone(): RangeMap<V> {
    const m = new RangeMap<V>();
    m.starts = this.starts.slice();
    m.ends = this.ends.slice();
    m.values = this.values.slice();
    return m;
  }

  /** index of the first run whose end > x */
  private firstEndingAfter(x: number): number {
    const ends = this.ends;
    let lo = 0;
    let hi = ends.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (ends[mid]! > x) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  }

  get(x: number): V | undefined {
    const i = this.firstEndingAfter(x);
    if (i < this.starts.length && this.starts[i]! <= x) return this.values[i];
    return undefined;
  }

  /** The runs intersecting [start, end), clipped to it; gaps are reported with value undefined. */
  *segments(start: number, end: number): Generator<[number, number, V | undefined]> {
    let pos = start;
    for (let i = this.firstEndingAfter(start); i < this.starts.length && pos < end; i++) {
      const s = this.starts[i]!;
      if (s >= end) break;
      if (s > pos) {
        yield [pos, s, undefined];
        pos = s;
      }
      const e = Math.min(this.ends[i]!, end);
      yield [pos, e, this.values[i]];
      pos = e;
    }
    if (pos < end) yield [pos, end, undefined];
  }

  /** All runs, in order. */
  *runs(): Generator<[number, number, V]> {
    for (let i = 0; i < this.starts.length; i++) yield [this.starts[i]!, this.ends[i]!, this.values[i]!];
  }

  /** True when every index of [start, end) maps to a value equal to v (undefined = unset). */
  every(start: number, end: number, pred: (v: V | undefined) => boolean): boolean {
    for (const [, , v] of this.segments(start, end)) if (!pred(v)) return false;
    return true;
  }

  /** First index in [start, end) whose value satisfies pred, or -1. */
  findFirst(start: number, end: number, pred: (v: V | undefined) => boolean): number {
    for (const [s, , v] of this.segments(start, end)) if (pred(v)) return s;
    return -1;
  }

  /** Set [start, end) to v (or clear it when v is undefined). */
  set(start: number, end: number, v: V | undefined): void {
    if (start >= end) return;
    if (this.touched) {
      // one window for a sequence of adjacent or overlapping updates (a population, page by page)
      const last = this.touched[this.touched.length - 1];
      if (last && start <= last[1] && end >= last[0]) {
        last[0] = Math.min(last[0], start);
        last[1] = Math.max(last[1], end);
      } else this.touched.push([start, end]);
    }
    let i = this.firstEndingAfter(start);
    // fast paths (sequential population): already so, or extending the previous run
    if (v !== undefined) {
      if (i < this.starts.length && this.starts[i]! <= start && this.ends[i]! >= end && this.values[i]! === v) return;
      if (
        i > 0 &&
        this.ends[i - 1] === start &&
        this.values[i - 1]! === v &&
        (i === this.starts.length || this.starts[i]! >= end)
      ) {
        if (i < this.starts.length && this.starts[i] === end && this.values[i]! === v) {
          this.ends[i - 1] = this.ends[i]!;
          this.starts.splice(i, 1);
          this.ends.splice(i, 1);
          this.values.splice(i, 1);
        } else this.ends[i - 1] = end;
        return;
      }
    }
    // runs [i, j) intersect or touch the new range
    let j = i;
    const newStarts: number[] = [];
    const newEnds: number[] = [];
    const newValues: V[] = [];
    // keep left remainder of run i
    if (i < this.starts.length && this.starts[i]! < start) {
      newStarts.push(this.starts[i]!);
      newEnds.push(start);
      newValues.push(this.values[i]!);
    }
    while (j < this.starts.length && this.starts[j]! < end) j++;
    if (v !== undefined) {
      newStarts.push(start);
      newEnds.push(end);
      newValues.push(v);
    }
    if (j > i && this.ends[j - 1]! > end) {
      newStarts.push(end);
      newEnds.push(this.ends[j - 1]!);
      newValues.push(this.values[j - 1]!);
    }
    // merge adjacent equal pieces among the new ones (left remainder, new run, right remainder)
    for (let x = newStarts.length - 1; x > 0; x--) {
      if (newEnds[x - 1] === newStarts[x] && newValues[x - 1]! === newValues[x]!) {
        newEnds[x - 1] = newEnds[x]!;
        newStarts.splice(x, 1);
        newEnds.splice(x, 1);
        newValues.splice(x, 1);
      }
    }
    // merge with neighbours
    if (i > 0 && newStarts.length > 0 && this.ends[i - 1] === newStarts[0] && this.values[i - 1]! === newValues[0]!) {
      i--;
      newStarts[0] = this.starts[i]!;
    }
    const last = newStarts.length - 1;
    if (
      j < this.starts.length &&
      last >= 0 &&
      this.starts[j] === newEnds[last] &&
      this.values[j]! === newValues[last]!
    ) {
      newEnds[last] = this.ends[j]!;
      j++;
    }
    this.starts.splice(i, j - i, ...newStarts);
    this.ends.splice(i, j - i, ...newEnds);
    this.values.splice(i, j - i, ...newValues);
  }

  clear(start: number, end: number): void {
    this.set(start, end, undefined);
  }
}

/** A set of page indices, as runs. */
export class RangeSet {
  private readonly m: RangeMap<true>;
  constructor(m?: RangeMap<true>) {
    this.m = m ?? new RangeMap<true>();
  }
  clone(): RangeSet {
    return new RangeSet(this.m.clone());
  }
  get runCount(): number {
    return this.m.runCount;
  }
  /** RangeMap.track */
  track(): void {
    this.m.track();
  }
  /** RangeMap.takeTouched */
  takeTouched(): [number, number][] | undefined {
    return this.m.takeTouched();
  }
  has(x: number): boolean {
    return this.m.get(x) === true;
  }
  add(start: number, end = start + 1): void {
    this.m.set(start, end, true);
  }
  delete(start: number, end = start + 1): void {
    this.m.clear(start, end);
  }
  /** The runs of [start, end) that are not in the set. */
  *segmentsMissing(start: number, end: number): Generator<[number, number]> {
    for (const [s, e, v] of this.m.segments(start, end)) if (v !== true) yield [s, e];
  }
  /** the first index of [start, end) not in the set, or -1 */
  firstMissing(start: number, end: number): number {
    return this.m.findFirst(start, end, (v) => v !== true);
  }
  *runs(): Generator<[number, number]> {
    for (const [s, e] of this.m.runs()) yield [s, e];
  }
  /** The set's runs intersected with [start, end). */
  *within(start: number, end: number): Generator<[number, number]> {
    for (const [s, e, v] of this.m.segments(start, end)) if (v) yield [s, e];
  }
}
