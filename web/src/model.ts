/**
 * The run document (docs/trace-format.md, `gmemsim-run/1`) as the page reads it, and what the page
 * computes from it: the page state after each step (applying the `changes` runs of steps 1..i in
 * order), the launch state so far, and the layout of a map from a few pages to 1 TiB.
 *
 * Pure: no DOM and no Node, so the unit tests run it under Node and the page bundles it.
 */

export const RUN_FORMAT = 'gmemsim-run/1';

/** state bits of a page: the core's own table */
import { PAGE as BIT } from '../../src/core/pagebits.ts';

export { BIT };

/** the state bits of every atom of a space (16 bits: PAGE.ACCEPTED is 256) */
export type PageBits = Uint16Array;
const PageBitsBytes = 2;
/** what the checkpoints of one space may hold, about */
const CHECKPOINT_BYTES = 64 * 2 ** 20;

/** [start, end, bits] over page offsets (files) or GFNs (GPA) */
export type Run = [number, number, number];
/** numbers above 2^53 are written as hex strings */
export type Num = number | string;

export interface CiteDoc {
  repo: string;
  path: string;
  commit: string;
  fn: string;
  /** a line, or first and last line, when the citation names them */
  line?: number | [number, number];
}

export interface RuleDoc {
  id: string;
  errno: string | null;
  signal: string | null;
  reason: string;
  confidence: string;
  cite: CiteDoc;
}

export interface CheckDoc {
  what: string;
  expected: string;
  actual: string;
  ok: boolean;
}

export interface ViolationDoc {
  invariant: string;
  detail: string;
}

export interface ChangesDoc {
  files: Record<string, Run[]>;
  gpa: Record<string, Run[]>;
}

export interface StepDoc {
  index: number;
  line: number;
  op: string;
  call: string;
  ret: Num;
  errno: string | null;
  signal: string | null;
  rule: RuleDoc;
  cause: RuleDoc | null;
  out: Record<string, unknown>;
  bound?: { name: string; value: Num };
  expect_ok?: boolean;
  checks?: CheckDoc[];
  note?: string;
  violations?: ViolationDoc[];
  changes?: ChangesDoc;
  launch?: Record<string, Record<string, unknown>>;
}

export interface FileObj {
  id: number;
  vm: number;
  pages: number;
  flags: number;
}

export interface MemslotObj {
  id: number;
  gfn: number;
  pages: number;
  file: number | null;
  pgoff: number;
}

export interface VmObj {
  id: number;
  type: number;
  memslots: MemslotObj[];
}

export interface RunEntry {
  file: string;
  objects: { files: FileObj[]; vms: VmObj[] };
  name: string;
  profile: string;
  gmem_in_place_conversion: boolean;
  ok: boolean;
  expectations: number;
  failed: number;
  steps: StepDoc[];
}

export interface RunDocument {
  format: string;
  ok: boolean;
  runs: RunEntry[];
}

/** the text of each scenario file, by the name its run carries (`gmemsim view` adds it beside the run document) */
export type Sources = Record<string, string>;

/**
 * The lines of a scenario file that are one step: from its line to the line before the next step,
 * without the blank and comment lines that end it. Null when the text is not there.
 */
export function stepSource(
  text: string | string[] | undefined,
  run: RunEntry,
  i: number,
): { from: number; lines: string[] } | null {
  if (!text?.length) return null;
  const all = typeof text === 'string' ? text.split('\n') : text;
  const from = run.steps[i]?.line;
  if (!from || from > all.length) return null;
  let next = all.length + 1;
  for (let j = i + 1; j < run.steps.length; j++)
    if (run.steps[j]!.line > from) {
      next = run.steps[j]!.line;
      break;
    }
  const lines = all.slice(from - 1, next - 1);
  while (lines.length > 1 && /^\s*(#.*)?$/.test(lines[lines.length - 1]!)) lines.pop();
  return { from, lines };
}

/** A document the page cannot draw: one sentence, shown instead of the page. */
export class DocumentError extends Error {}

const isObj = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);

/** Check the magic and the shapes the page relies on; refuse anything else with one message. */
export function checkDocument(x: unknown): RunDocument {
  if (!isObj(x)) throw new DocumentError('not a run document: expected a JSON object');
  if (x.format !== RUN_FORMAT)
    throw new DocumentError(`run document format ${JSON.stringify(x.format ?? null)}, expected ${RUN_FORMAT}`);
  if (!Array.isArray(x.runs)) throw new DocumentError('run document without "runs"');
  x.runs.forEach((r, i) => {
    if (!isObj(r) || !Array.isArray(r.steps) || !isObj(r.objects))
      throw new DocumentError(`run ${i + 1}: expected "steps" and "objects"`);
    r.steps.forEach((s, j) => {
      if (!isObj(s) || typeof s.call !== 'string' || !isObj(s.rule))
        throw new DocumentError(`run ${i + 1}, step ${j + 1}: expected "call" and "rule"`);
    });
  });
  return x as unknown as RunDocument;
}

// ---------------------------------------------------------------------------------------------
// Step status

export type StepStatus = 'ok' | 'expected' | 'error' | 'failed' | 'violation';

/**
 * The worst thing about a step: a failed expectation, a broken invariant, an errno or signal nobody
 * expected. An errno or signal that the step's expectation asked for, and got, is `expected`: the
 * scenario shows the kernel refusing, as it should — not a problem.
 */
export function stepStatus(s: StepDoc): StepStatus {
  if (s.expect_ok === false) return 'failed';
  if (s.violations?.length) return 'violation';
  if (s.errno || s.signal) return s.expect_ok === true ? 'expected' : 'error';
  return 'ok';
}

/** a problem: an expectation that failed, an invariant broken, or an errno or signal nobody expected */
export const isProblem = (s: StepDoc): boolean => {
  const st = stepStatus(s);
  return st !== 'ok' && st !== 'expected';
};

/**
 * The GFN range a step's exit is about (gmemsim run --json `out.exit_range`: a memory fault, a
 * MapGPA request), as [first GFN, end GFN) and what it is; null when there is none.
 */
export function exitRangeOf(s: StepDoc | undefined): { start: number; end: number; what: string } | null {
  const r = s?.out?.exit_range as { gpa?: unknown; size?: unknown; what?: unknown } | undefined;
  if (!r || typeof r.gpa !== 'string' || typeof r.size !== 'string') return null;
  const start = Math.floor(Number(BigInt(r.gpa) / 4096n));
  const end = Math.max(start + 1, Math.ceil(Number((BigInt(r.gpa) + BigInt(r.size)) / 4096n)));
  return { start, end, what: typeof r.what === 'string' ? r.what : 'exit' };
}

/** `1 expectation`, `2 expectations` */
export function plural(n: number, word: string, many = `${word}s`): string {
  return `${n.toLocaleString('en')} ${n === 1 ? word : many}`;
}

/** What userspace saw, as strace prints it: `= 0`, `= -1 EIO`, `--- SIGBUS ---`. */
export function resultText(s: StepDoc): string {
  if (s.signal) return `--- ${s.signal} ---`;
  // what KVM_RUN (or a guest operation) left in struct kvm_run, and what the guest saw
  const run = `${typeof s.out?.exit === 'string' ? `  ${s.out.exit}` : ''}${typeof s.out?.guest === 'string' ? `  guest: ${s.out.guest}` : ''}`;
  if (s.errno) return `= -1 ${s.errno}${run}`;
  const r = s.ret;
  if (typeof r === 'string') return `= ${r}${run}`;
  return `= ${r > 0xffff ? `0x${r.toString(16)}` : String(r)}${run}`;
}

/** a number of the run document as `gmemsim run` prints it (scenario/run.ts hex): `0`, `9`, `0xa`, `0x2000` */
function hexOf(v: unknown): string {
  if (typeof v === 'number') return v < 10 && v >= 0 ? String(v) : `0x${v.toString(16)}`;
  if (typeof v === 'string' && /^0x[0-9a-f]+$/i.test(v)) return v.toLowerCase();
  return String(v);
}

/** bytes as `gmemsim run` describes them (scenario/run.ts describeBytes): from their hex, or the description */
function bytesText(v: string): string {
  if (!/^([0-9a-f]{2})*$/i.test(v)) return v; // over 4 KiB the document carries the description itself
  const n = v.length / 2;
  if (n > 0 && v === v.slice(0, 2).repeat(n))
    return `${hexOf(n)} bytes of ${hexOf(Number.parseInt(v.slice(0, 2), 16))}`;
  return `${n} bytes: ${v.slice(0, 32)}${n > 16 ? '…' : ''}`;
}

/**
 * The result of a step in the words of `gmemsim run` (scenario/report.ts formatResult): the return
 * value, then what userspace observed (`→ NAME`, `data={…}`, `bytes: …`, `mrtd=…`), two spaces apart.
 */
export function resultLine(s: StepDoc): string {
  const o = s.out;
  const extra: string[] = [];
  if (s.bound) extra.push(`→ ${s.bound.name}`);
  if (isObj(o.data))
    extra.push(
      `data={${Object.entries(o.data)
        .map(([k, v]) => `${k}=${hexOf(v)}`)
        .join(', ')}}`,
    );
  for (const k of ['hw_error', 'error', 'error_offset'] as const)
    if (o[k] !== undefined) extra.push(`${k}=${hexOf(o[k])}`);
  if (o.st_size !== undefined) extra.push(`st_size=${hexOf(o.st_size)} st_blksize=${hexOf(o.st_blksize ?? 0)}`);
  if (typeof o.bytes === 'string')
    extra.push(`bytes: ${bytesText(o.bytes)}${o.undefined_bytes ? ' (firmware-dependent)' : ''}`);
  if (o.mrtd) extra.push(`mrtd=${String(o.mrtd)}`);
  if (o.measurement) extra.push(`measurement=${String(o.measurement)}`);
  const r = resultText(s);
  return extra.length ? `${r}  ${extra.join('  ')}` : r;
}

/** the page of a citation: https://github.com/REPO/blob/COMMIT/PATH, with #Lx or #Lx-Ly when it names lines */
export function citeUrl(c: CiteDoc): string | null {
  if (!/^[\w.-]+\/[\w.-]+$/.test(c.repo) || !c.path || !/^[0-9a-f]{7,40}$/i.test(c.commit)) return null;
  const path = c.path.split('/').map(encodeURIComponent).join('/');
  let anchor = '';
  const line = c.line;
  if (typeof line === 'number') anchor = `#L${line}`;
  else if (Array.isArray(line) && typeof line[0] === 'number')
    anchor = typeof line[1] === 'number' && line[1] !== line[0] ? `#L${line[0]}-L${line[1]}` : `#L${line[0]}`;
  return `https://github.com/${c.repo}/blob/${c.commit}/${path}${anchor}`;
}

export function formatCite(c: CiteDoc): string {
  const at = c.commit ? `@${c.commit.slice(0, 12)}` : '';
  return `${c.repo}:${c.path}${at} ${c.fn}()`;
}

// ---------------------------------------------------------------------------------------------
// Units

export const PAGE_SIZE = 4096;

/** a page count as a size: 4 KiB, 16 MiB, 1 TiB, 1.5 GiB */
export function fmtPages(pages: number): string {
  const units = ['KiB', 'MiB', 'GiB', 'TiB', 'PiB', 'EiB'];
  let v = pages * 4;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  let s = Number.isInteger(v) ? String(v) : v.toFixed(v < 10 ? 2 : v < 100 ? 1 : 0);
  if (s.includes('.')) s = s.replace(/0+$/, '').replace(/\.$/, '');
  return `${s} ${units[u]}`;
}

/** a page index as a byte offset in hex (exact: page × 2^12 stays an integer double below 2^65) */
export function fmtOffset(page: number): string {
  return `0x${(page * PAGE_SIZE).toString(16)}`;
}

// ---------------------------------------------------------------------------------------------
// Spaces: one guest_memfd (file page offsets) or one VM's guest physical pages (GFNs)

export type SpaceKind = 'file' | 'gpa';

export interface Track {
  bit: number;
  name: string;
}

export const FILE_TRACKS: readonly Track[] = [
  { bit: BIT.PRIVATE, name: 'private' },
  { bit: BIT.ALLOCATED, name: 'allocated' },
  { bit: BIT.HOST_MAPPED, name: 'host-mapped' },
  { bit: BIT.PINNED, name: 'pinned' },
  { bit: BIT.POPULATED, name: 'populated' },
  { bit: BIT.MEASURED, name: 'measured' },
  { bit: BIT.ACCEPTED, name: 'accepted' },
  { bit: BIT.UNDEFINED, name: 'undefined' },
];

export const GPA_TRACKS: readonly Track[] = [
  { bit: BIT.IN_MEMSLOT, name: 'in-memslot' },
  { bit: BIT.PRIVATE, name: 'private' },
  { bit: BIT.POPULATED, name: 'populated' },
  { bit: BIT.MEASURED, name: 'measured' },
  { bit: BIT.ACCEPTED, name: 'accepted' },
];

export const tracksOf = (kind: SpaceKind): readonly Track[] => (kind === 'file' ? FILE_TRACKS : GPA_TRACKS);

/** the state of a range in words: `shared allocated host-mapped`, `private populated measured`… */
export function stateNames(bits: number, kind: SpaceKind): string[] {
  const out: string[] = [];
  if (kind === 'gpa') out.push(bits & BIT.IN_MEMSLOT ? 'in-memslot' : 'no-memslot');
  out.push(bits & BIT.PRIVATE ? 'private' : 'shared');
  for (const t of tracksOf(kind))
    if (t.bit !== BIT.PRIVATE && t.bit !== BIT.IN_MEMSLOT && bits & t.bit) out.push(t.name);
  return out;
}

const VM_TYPES: Record<number, string> = {
  0: 'KVM_X86_DEFAULT_VM',
  1: 'KVM_X86_SW_PROTECTED_VM',
  2: 'KVM_X86_SEV_VM',
  3: 'KVM_X86_SEV_ES_VM',
  4: 'KVM_X86_SNP_VM',
  5: 'KVM_X86_TDX_VM',
};
export const vmTypeName = (t: number): string => VM_TYPES[t] ?? `type ${t}`;

export interface Space {
  /** `file:ID` or `gpa:VMID` */
  key: string;
  kind: SpaceKind;
  id: number;
  /** owning VM (a file's VM; a GPA space's own) */
  vm: number | null;
  /** every run boundary of every step, sorted, from 0 to the extent: the atoms between them have one state per step */
  bounds: number[];
  /** the first step (0-based) whose changes mention this space */
  first: number;
  /** per step (0-based): the atom ranges it set, as [fromAtom, toAtom, bits] */
  deltas: Map<number, Run[]>;
}

export const atomCount = (s: Space): number => s.bounds.length - 1;

/** index i such that bounds[i] === x (x is always a boundary) */
function boundIndex(bounds: number[], x: number): number {
  let lo = 0;
  let hi = bounds.length - 1;
  while (lo < hi) {
    const m = (lo + hi) >>> 1;
    if (bounds[m]! < x) lo = m + 1;
    else hi = m;
  }
  return lo;
}

/** the atom containing page x (bounds[i] <= x < bounds[i+1]) */
export function atomAt(bounds: number[], x: number): number {
  let lo = 0;
  let hi = bounds.length - 2;
  while (lo < hi) {
    const m = (lo + hi + 1) >>> 1;
    if (bounds[m]! <= x) lo = m;
    else hi = m - 1;
  }
  return lo;
}

export interface LaunchView {
  /** the launch state of the VM after the step (the last one reported at or before it) */
  state: Record<string, unknown>;
  /** keys whose value this step changed */
  changed: Set<string>;
}

/**
 * The state of every space after every step of one run. States are rebuilt from checkpoints every
 * `every` steps, so a jump costs at most `every` steps of changes, and stepping forward costs one.
 */
export class Timeline {
  readonly run: RunEntry;
  readonly spaces: Space[];
  readonly steps: number;
  private readonly every: number;
  private readonly checkpoints = new Map<string, PageBits[]>();
  private readonly last = new Map<string, { step: number; state: PageBits }>();

  constructor(run: RunEntry, every = 64) {
    this.run = run;
    this.steps = run.steps.length;
    this.every = every;
    const found = new Map<string, { kind: SpaceKind; id: number; first: number; pts: Set<number>; runs: Run[][] }>();
    const note = (kind: SpaceKind, id: string, step: number, runs: Run[]) => {
      const key = `${kind}:${id}`;
      let f = found.get(key);
      if (!f) {
        f = { kind, id: Number(id), first: step, pts: new Set([0]), runs: [] };
        found.set(key, f);
      }
      for (const [a, b] of runs) f.pts.add(a).add(b);
      f.runs[step] = runs;
    };
    run.steps.forEach((s, i) => {
      for (const [id, runs] of Object.entries(s.changes?.files ?? {})) note('file', id, i, runs);
      for (const [id, runs] of Object.entries(s.changes?.gpa ?? {})) note('gpa', id, i, runs);
    });
    for (const f of run.objects.files) {
      const e = found.get(`file:${f.id}`);
      if (e) e.pts.add(f.pages);
    }
    for (const vm of run.objects.vms) {
      const e = found.get(`gpa:${vm.id}`);
      if (e) for (const m of vm.memslots) e.pts.add(m.gfn).add(m.gfn + m.pages);
    }
    const spaces: Space[] = [];
    for (const [key, f] of found) {
      const bounds = [...f.pts].sort((a, b) => a - b);
      if (bounds.length < 2) bounds.push(1);
      const deltas = new Map<number, Run[]>();
      f.runs.forEach((runs, step) => {
        if (runs?.length)
          deltas.set(
            step,
            runs.map(([a, b, bits]) => [boundIndex(bounds, a), boundIndex(bounds, b), bits]),
          );
      });
      const vm = f.kind === 'gpa' ? f.id : (run.objects.files.find((x) => x.id === f.id)?.vm ?? null);
      spaces.push({ key, kind: f.kind, id: f.id, vm, bounds, first: f.first, deltas });
    }
    // VMs in order, each VM's GPA space before its files
    spaces.sort((a, b) => (a.vm ?? -1) - (b.vm ?? -1) || (a.kind === b.kind ? a.id - b.id : a.kind === 'gpa' ? -1 : 1));
    this.spaces = spaces;
  }

  space(key: string): Space | undefined {
    return this.spaces.find((s) => s.key === key);
  }

  /** whether the space exists after step `step` (0-based) */
  exists(s: Space, step: number): boolean {
    return step >= s.first;
  }

  private apply(s: Space, state: PageBits, step: number): void {
    const d = s.deltas.get(step);
    if (d) for (const [a, b, bits] of d) state.fill(bits, a, b);
  }

  /** the bits of every atom of the space after step `step` (0-based); do not modify the result */
  stateAt(s: Space, step: number): PageBits {
    const n = atomCount(s);
    // a checkpoint every `every` steps, fewer for a long run over many atoms: the checkpoints of a
    // space hold about CHECKPOINT_BYTES at most, and a jump replays at most `every` steps
    const every = Math.max(this.every, Math.ceil((this.steps * n * PageBitsBytes) / CHECKPOINT_BYTES));
    step = Math.max(-1, Math.min(step, this.steps - 1));
    const cached = this.last.get(s.key);
    if (cached && cached.step === step) return cached.state;
    let cps = this.checkpoints.get(s.key);
    if (!cps) {
      cps = [];
      const st = new Uint16Array(n);
      for (let i = 0; i < this.steps; i++) {
        if (i % every === 0) cps.push(st.slice());
        this.apply(s, st, i);
      }
      this.checkpoints.set(s.key, cps);
    }
    let state: PageBits;
    let from: number;
    if (cached && cached.step < step && cached.step >= step - every) {
      state = cached.state.slice();
      from = cached.step + 1;
    } else {
      const c = Math.floor(Math.max(step, 0) / every);
      state = cps[c]?.slice() ?? new Uint16Array(n);
      from = c * every;
    }
    for (let i = from; i <= step; i++) this.apply(s, state, i);
    this.last.set(s.key, { step, state });
    return state;
  }

  /** 1 for each atom that step `step` (0-based) set, else 0; null when it changed nothing here */
  changedAt(s: Space, step: number): Uint8Array | null {
    const d = s.deltas.get(step);
    if (!d) return null;
    const m = new Uint8Array(atomCount(s));
    for (const [a, b] of d) m.fill(1, a, b);
    return m;
  }

  /** the launch state of each VM after step `step` (0-based), with the keys this step changed */
  launchAt(step: number): Map<string, LaunchView> {
    const out = new Map<string, LaunchView>();
    let prev = new Map<string, Record<string, unknown>>();
    for (let i = 0; i <= step && i < this.steps; i++) {
      const l = this.run.steps[i]!.launch;
      if (!l) continue;
      const cur = new Map(prev);
      for (const [vm, st] of Object.entries(l)) cur.set(vm, st);
      if (i === step) {
        for (const [vm, st] of cur) {
          const was = prev.get(vm);
          const changed = new Set<string>();
          for (const k of Object.keys(st)) if (!was || JSON.stringify(was[k]) !== JSON.stringify(st[k])) changed.add(k);
          out.set(vm, { state: st, changed: l[vm] ? changed : new Set() });
        }
        return out;
      }
      prev = cur;
    }
    for (const [vm, st] of prev) out.set(vm, { state: st, changed: new Set() });
    return out;
  }
}

// ---------------------------------------------------------------------------------------------
// Layout of a map window

export type Scale = 'auto' | 'linear' | 'collapsed';

export interface Item {
  /** atoms [a, b) */
  a: number;
  b: number;
  /** pages [start, end), clipped to the window */
  start: number;
  end: number;
  x: number;
  w: number;
  /** drawn at far fewer pixels per page than the other ranges (collapsed scale): marked ≈ */
  squeezed: boolean;
}

export interface Layout {
  items: Item[];
  scale: 'linear' | 'collapsed';
  lo: number;
  hi: number;
  /** atoms per mark when the window holds more ranges than maxItems; else 1 (one range per item) */
  group: number;
}

export interface LayoutOptions {
  scale?: Scale;
  /** the bits of every atom at the step drawn: neighbours with equal bits are drawn as one range */
  state?: PageBits;
  /** atoms the step changed (kept apart from unchanged neighbours) */
  changed?: Uint8Array | null;
  /** at most this many items; more atoms are grouped (a group shows mixed state) */
  maxItems?: number;
  /** the auto scale is linear when every item gets at least this many pixels */
  minPx?: number;
}

/**
 * Place the atoms of [lo, hi) on `width` pixels. To scale when every range is wide enough to see;
 * otherwise collapsed: a range's width grows with the logarithm of its size, so a few pages beside
 * a terabyte stay visible, and ranges drawn at far fewer pixels per page than others are marked squeezed.
 */
export function layoutWindow(
  bounds: number[],
  lo: number,
  hi: number,
  width: number,
  opts: LayoutOptions = {},
): Layout {
  const maxItems = opts.maxItems ?? 400;
  const minPx = opts.minPx ?? 4;
  const extent = bounds[bounds.length - 1]!;
  lo = Math.max(0, Math.min(lo, extent - 1));
  hi = Math.max(lo + 1, Math.min(hi, extent));
  const a0 = atomAt(bounds, lo);
  const a1 = atomAt(bounds, hi - 1) + 1;
  // segments: runs of atoms with equal bits (and equally changed or not) at this step
  const segs: [number, number][] = [];
  for (let a = a0; a < a1; a++) {
    const last = segs[segs.length - 1];
    const same =
      last &&
      opts.state &&
      opts.state[a] === opts.state[a - 1] &&
      (opts.changed?.[a] ?? 0) === (opts.changed?.[a - 1] ?? 0);
    if (same) last[1] = a + 1;
    else segs.push([a, a + 1]);
  }
  const raw: { a: number; b: number; start: number; end: number }[] = [];
  let group = 1;
  if (segs.length <= maxItems)
    for (const [a, b] of segs) raw.push({ a, b, start: Math.max(bounds[a]!, lo), end: Math.min(bounds[b]!, hi) });
  else {
    // too many to draw one by one: marks of a fixed number of atoms, the same at every step, so
    // stepping redraws only the marks whose state changed
    group = Math.ceil((a1 - a0) / maxItems);
    for (let a = a0; a < a1; a += group) {
      const b = Math.min(a + group, a1);
      raw.push({ a, b, start: Math.max(bounds[a]!, lo), end: Math.min(bounds[b]!, hi) });
    }
  }
  const total = hi - lo;
  const linW = raw.map((r) => ((r.end - r.start) / total) * width);
  const minLin = Math.min(...linW);
  const scale =
    opts.scale === 'linear' || opts.scale === 'collapsed' ? opts.scale : minLin >= minPx ? 'linear' : 'collapsed';
  let ws: number[];
  if (scale === 'linear') ws = linW;
  else {
    const weights = raw.map((r) => 1 + Math.log2(r.end - r.start));
    const sum = weights.reduce((x, y) => x + y, 0);
    ws = weights.map((w) => (w / sum) * width);
  }
  // squeezed: drawn at under a quarter of the pixels per page of the most generously drawn range
  const density = raw.map((r, i) => ws[i]! / (r.end - r.start));
  const maxDensity = Math.max(...density);
  let x = 0;
  const items: Item[] = raw.map((r, i) => {
    const w = ws[i]!;
    const it: Item = { ...r, x, w, squeezed: scale === 'collapsed' && density[i]! < maxDensity / 4 };
    x += w;
    return it;
  });
  return { items, scale, lo, hi, group };
}

/** OR and AND of the bits of atoms [a, b) */
export function bitsOf(state: PageBits, a: number, b: number): { any: number; all: number } {
  let any = 0;
  let all = 0xffff;
  for (let i = a; i < b; i++) {
    const v = state[i]!;
    any |= v;
    all &= v;
  }
  return { any, all: b > a ? all : 0 };
}

/** whether any of atoms [a, b) is marked */
export function anyMarked(mask: Uint8Array | null, a: number, b: number): boolean {
  if (!mask) return false;
  for (let i = a; i < b; i++) if (mask[i]) return true;
  return false;
}

/** The runs of a space's state inside [lo, hi), merged where equal: the text version of the map. */
export function runsIn(s: Space, state: ArrayLike<number>, lo: number, hi: number): Run[] {
  const out: Run[] = [];
  const a0 = atomAt(s.bounds, lo);
  const a1 = atomAt(s.bounds, Math.max(lo, hi - 1)) + 1;
  for (let a = a0; a < a1; a++) {
    const start = Math.max(s.bounds[a]!, lo);
    const end = Math.min(s.bounds[a + 1]!, hi);
    const bits = state[a]!;
    const last = out[out.length - 1];
    if (last && last[1] === start && last[2] === bits) last[1] = end;
    else out.push([start, end, bits]);
  }
  return out;
}

/** the selected step from a location hash such as `#step=13` (1-based in the hash, 0-based out) */
export function stepFromHash(hash: string, steps: number): number | null {
  const m = /^#step=(\d+)$/.exec(hash);
  if (!m) return null;
  const n = Number(m[1]);
  return n >= 1 && n <= steps ? n - 1 : null;
}

// ---------------------------------------------------------------------------------------------
// Where the page opens, and the search over steps

/**
 * The step the page opens on when the address names none: the first problem; else the first
 * expected error (what the scenario is about); else the last step that changed the page map or the
 * measurement (the map at its fullest); else the last step.
 */
export function initialStep(run: RunEntry): number {
  const steps = run.steps;
  const first = (f: (s: StepDoc) => boolean) => steps.findIndex(f);
  const problem = first(isProblem);
  if (problem >= 0) return problem;
  const expected = first((s) => stepStatus(s) === 'expected');
  if (expected >= 0) return expected;
  for (let i = steps.length - 1; i >= 0; i--) {
    const s = steps[i]!;
    const ch = s.changes;
    if (s.launch || (ch && (Object.keys(ch.files).length || Object.keys(ch.gpa).length))) return i;
  }
  return Math.max(0, steps.length - 1);
}

/** a parsed search: free words and `key:value` terms (op, errno, signal, rule, gpa, status, line) */
export interface StepQuery {
  terms: { key: string | null; value: string }[];
  /** a term the page cannot use (`gpa:xyz`), with why */
  error: string | null;
}

export const QUERY_KEYS = ['op', 'errno', 'signal', 'rule', 'gpa', 'status', 'line'] as const;

export function parseQuery(text: string): StepQuery {
  const terms: StepQuery['terms'] = [];
  let error: string | null = null;
  for (const w of text.trim().split(/\s+/).filter(Boolean)) {
    const m = /^([a-z]+):(.*)$/i.exec(w);
    const key = m && (QUERY_KEYS as readonly string[]).includes(m[1]!.toLowerCase()) ? m[1]!.toLowerCase() : null;
    const value = key ? m![2]! : w;
    if (key === 'gpa' && parseAddress(value) === null) error = `gpa:${value}: expected an address such as 0x80a000`;
    terms.push({ key, value });
  }
  return { terms, error };
}

/** an address typed by a person: 0x1000, 4096, 1m, 4g */
export function parseAddress(v: string): number | null {
  const m = /^(0x[0-9a-f]+|\d+)([kmgt]i?b?)?$/i.exec(v.trim());
  if (!m) return null;
  const n = Number(m[1]);
  const mult = { k: 2 ** 10, m: 2 ** 20, g: 2 ** 30, t: 2 ** 40 }[(m[2]?.[0] ?? '').toLowerCase()] ?? 1;
  return Number.isFinite(n) ? n * mult : null;
}

/** whether a step changed, or names in its call, the guest page holding address `addr` */
function touchesGpa(s: StepDoc, addr: number): boolean {
  const gfn = Math.floor(addr / PAGE_SIZE);
  for (const runs of Object.values(s.changes?.gpa ?? {}))
    for (const [a, b] of runs) if (gfn >= a && gfn < b) return true;
  // the call's own address fields (gpa=, guest_phys_addr=, address=) with a size or page count beside them
  const call = s.call;
  const at = /\b(?:gpa|guest_phys_addr|address)=(0x[0-9a-f]+|\d+)/i.exec(call);
  if (!at) return false;
  const start = Number(at[1]);
  const size = /\b(?:memory_size|size)=(0x[0-9a-f]+|\d+)/i.exec(call);
  const pages = /\bnr_pages=(0x[0-9a-f]+|\d+)/i.exec(call);
  const len = size ? Number(size[1]) : pages ? Number(pages[1]) * PAGE_SIZE : PAGE_SIZE;
  return addr >= start && addr < start + Math.max(len, 1);
}

/** whether a step matches every term of a search (case-insensitive; words match call, result, rule and note) */
export function matchStep(s: StepDoc, q: StepQuery): boolean {
  const has = (hay: string | null | undefined, v: string) => (hay ?? '').toLowerCase().includes(v.toLowerCase());
  return q.terms.every(({ key, value }) => {
    switch (key) {
      case 'op':
        return has(s.op, value) || has(/^[\w]+/.exec(s.call)?.[0], value) || has(/id=(\w+)/.exec(s.call)?.[1], value);
      case 'errno':
        return has(s.errno, value);
      case 'signal':
        return has(s.signal, value);
      case 'rule':
        return has(s.rule.id, value) || has(s.cause?.id, value);
      case 'status':
        return value.toLowerCase() === 'problem' ? isProblem(s) : has(stepStatus(s), value);
      case 'line':
        return String(s.line) === value;
      case 'gpa': {
        const a = parseAddress(value);
        return a !== null && touchesGpa(s, a);
      }
      default:
        return (
          has(s.call, value) ||
          has(resultLine(s), value) ||
          has(s.rule.id, value) ||
          has(s.cause?.id, value) ||
          has(s.note, value) ||
          String(s.index) === value
        );
    }
  });
}

// ---------------------------------------------------------------------------------------------
// Sizes and addresses in words, labels, and the link between a GPA and its guest_memfd offset

const UNITS: [number, string][] = [
  [2 ** 60, 'EiB'],
  [2 ** 50, 'PiB'],
  [2 ** 40, 'TiB'],
  [2 ** 30, 'GiB'],
  [2 ** 20, 'MiB'],
  [2 ** 10, 'KiB'],
];

/**
 * A page's byte address in the largest unit it reaches, to three decimals: `0`, `4 KiB`,
 * `8.035 MiB`, `3.996 GiB`, `4 GiB`, `1 TiB` (ticks in one band read in order; the exact address is
 * in each tick's tooltip).
 */
export function fmtAddr(page: number): string {
  const bytes = page * PAGE_SIZE;
  if (bytes === 0) return '0';
  const [u, name] = UNITS.find(([x]) => bytes >= x) ?? [1, 'B'];
  return `${(bytes / u).toFixed(3).replace(/\.?0+$/, '')} ${name}`;
}

export interface Label {
  /** pages [start, end) of the space */
  start: number;
  end: number;
  text: string;
  /** what the label is: a memslot, or a firmware section a step named */
  kind: 'memslot' | 'section';
  title: string;
}

/** the memslots over a VM's GPA space, or over a guest_memfd's offsets, from the run's objects */
export function memslotLabels(run: RunEntry, s: Pick<Space, 'kind' | 'id'>): Label[] {
  const out: Label[] = [];
  for (const vm of run.objects.vms)
    for (const m of vm.memslots) {
      const gpa = `GPA ${fmtOffset(m.gfn)}–${fmtOffset(m.gfn + m.pages)}`;
      const file = m.file !== null ? `guest_memfd ${m.file} @ ${fmtOffset(m.pgoff)}` : null;
      if (s.kind === 'gpa' && vm.id === s.id)
        out.push({
          start: m.gfn,
          end: m.gfn + m.pages,
          kind: 'memslot',
          text: `slot ${m.id}${m.file !== null ? ` → gmem ${m.file}` : ''}`,
          title: `memslot ${m.id}: ${gpa} (${fmtPages(m.pages)})${file ? ` → ${file}` : ''}`,
        });
      if (s.kind === 'file' && m.file === s.id)
        out.push({
          start: m.pgoff,
          end: m.pgoff + m.pages,
          kind: 'memslot',
          text: `slot ${m.id} @ GPA ${fmtOffset(m.gfn)}`,
          title: `memslot ${m.id} of VM ${vm.id}: ${gpa} (${fmtPages(m.pages)}) → ${file}`,
        });
    }
  return out.sort((a, b) => a.start - b.start);
}

/**
 * Firmware sections a step names in its note (`TDVF section 0 (BFV)`, as `gmemsim measure` writes
 * them; or `section NAME`), over the guest pages the step changed.
 */
export function sectionLabels(run: RunEntry, s: Pick<Space, 'kind' | 'id'>): Label[] {
  const out: Label[] = [];
  const fileOf = new Map<number, MemslotObj[]>();
  for (const vm of run.objects.vms)
    for (const m of vm.memslots)
      if (m.file !== null) fileOf.set(m.file, [...(fileOf.get(m.file) ?? []), { ...m, id: vm.id }]);
  for (const st of run.steps) {
    const m = st.note && /\bsection\s+(?:\d+\s+)?\(?([A-Za-z][\w.-]*)\)?/.exec(st.note);
    if (!m) continue;
    const name = m[1]!;
    const title = `${name}: ${st.note} (step ${st.index})`;
    if (s.kind === 'gpa') {
      for (const [a, b] of st.changes?.gpa[String(s.id)] ?? [])
        out.push({ start: a, end: b, text: name, kind: 'section', title });
    } else {
      for (const [a, b] of st.changes?.files[String(s.id)] ?? [])
        out.push({ start: a, end: b, text: name, kind: 'section', title });
    }
  }
  // a section's runs are contiguous: merge neighbours with the same name
  out.sort((x, y) => x.start - y.start);
  const merged: Label[] = [];
  for (const l of out) {
    const last = merged[merged.length - 1];
    if (last && last.text === l.text && last.end >= l.start) last.end = Math.max(last.end, l.end);
    else merged.push({ ...l });
  }
  return merged;
}

/** a page of a space, and the same page seen from the other side of a memslot */
export interface Linked {
  key: string;
  page: number;
  slot: number;
}

/** GFN → guest_memfd offset, or guest_memfd offset → GFNs (a file can back several memslots) */
export function linkedPages(run: RunEntry, s: Pick<Space, 'kind' | 'id'>, page: number): Linked[] {
  const out: Linked[] = [];
  for (const vm of run.objects.vms)
    for (const m of vm.memslots) {
      if (m.file === null) continue;
      if (s.kind === 'gpa' && vm.id === s.id && page >= m.gfn && page < m.gfn + m.pages)
        out.push({ key: `file:${m.file}`, page: m.pgoff + (page - m.gfn), slot: m.id });
      if (s.kind === 'file' && m.file === s.id && page >= m.pgoff && page < m.pgoff + m.pages)
        out.push({ key: `gpa:${vm.id}`, page: m.gfn + (page - m.pgoff), slot: m.id });
    }
  return out;
}

/**
 * The window a space opens on: a VM's GPA space on its memslots (from the first to the end of the
 * last), so a memslot at 1 MiB fills the band instead of a sliver beside "no memslot"; a file on all of it.
 */
export function initialWindow(run: RunEntry, s: Space): { lo: number; hi: number } {
  const ext = s.bounds[s.bounds.length - 1]!;
  if (s.kind !== 'gpa') return { lo: 0, hi: ext };
  const slots = run.objects.vms.find((v) => v.id === s.id)?.memslots ?? [];
  if (!slots.length) return { lo: 0, hi: ext };
  const lo = Math.min(...slots.map((m) => m.gfn));
  const hi = Math.max(...slots.map((m) => m.gfn + m.pages));
  return { lo: Math.max(0, lo), hi: Math.min(ext, Math.max(hi, lo + 1)) };
}

/** x of a page in a layout (interpolated inside its item), or null outside the window */
export function xOfPage(layout: Layout, page: number): number | null {
  if (page < layout.lo || page > layout.hi) return null;
  for (const it of layout.items)
    if (page >= it.start && page <= it.end && it.end > it.start)
      return it.x + ((page - it.start) / (it.end - it.start)) * it.w;
  return null;
}

/** the page under x in a layout (interpolated inside its item) */
export function pageAtX(layout: Layout, x: number): number | null {
  for (const it of layout.items)
    if (x >= it.x && x < it.x + it.w)
      return Math.min(it.end - 1, Math.floor(it.start + ((x - it.x) / it.w) * (it.end - it.start)));
  return null;
}

// ---------------------------------------------------------------------------------------------
// The measurement as its records

const COUNTERS: Record<string, string> = {
  pageAdds: 'TDH.MEM.PAGE.ADD',
  extends: 'TDH.MR.EXTEND (256 bytes each)',
  updates: 'SNP_LAUNCH_UPDATE page',
};

export interface RecordEntry {
  /** step (0-based) */
  step: number;
  vm: string;
  /** counts the step added: `1 TDH.MEM.PAGE.ADD`, `16 TDH.MR.EXTEND` */
  added: string[];
  /** the guest pages the step populated or measured */
  ranges: Run[];
  /** the section the step's note names */
  section: string | null;
  /** the digest after the step */
  digest: string | null;
  digestKey: string | null;
}

/** each step that added records to a VM's launch measurement, what it added, and the digest after it */
export function measurementRecords(run: RunEntry): RecordEntry[] {
  const out: RecordEntry[] = [];
  const prev = new Map<string, Record<string, unknown>>();
  run.steps.forEach((s, i) => {
    for (const [vm, st] of Object.entries(s.launch ?? {})) {
      const was = prev.get(vm) ?? {};
      prev.set(vm, st);
      const added: string[] = [];
      for (const [k, name] of Object.entries(COUNTERS)) {
        const d = Number(st[k] ?? 0) - Number(was[k] ?? 0);
        if (d > 0) added.push(`${d.toLocaleString('en')} ${name}${d === 1 || name.includes('(') ? '' : 's'}`);
      }
      const digestKey = ['mrtd', 'ld', 'measurement'].find((k) => k in st) ?? null;
      const digestChanged = digestKey !== null && st[digestKey] !== was[digestKey] && digestKey in was;
      if (!added.length && !digestChanged) continue;
      if (!added.length) added.push(`${digestKey} changed`);
      const ranges = (s.changes?.gpa[vm] ?? []).filter(([, , bits]) => bits & (BIT.POPULATED | BIT.MEASURED));
      const section = s.note ? (/\bsection\s+(?:\d+\s+)?\(?([A-Za-z][\w.-]*)\)?/.exec(s.note)?.[1] ?? null) : null;
      out.push({ step: i, vm, added, ranges, section, digest: digestKey ? String(st[digestKey]) : null, digestKey });
    }
  });
  return out;
}
