/**
 * The TDX module below KVM, as far as a launch needs it: per-TD S-EPT state of private GPAs,
 * TDH.MEM.PAGE.ADD (copy source → target, one 128-byte MRTD record), TDH.MR.EXTEND (per 256-byte
 * chunk: one header record and the chunk), TDH.MR.FINALIZE (MRTD = SHA-384 of all records),
 * PAGE.AUG after finalize and PAGE.REMOVE on zap. Record layouts: measurement.md §2.1
 * (intel/tdx-module tdh_mem_page_add.c, tdh_mr_extend.c, tdh_mr_finalize.c).
 */
import { STALE_PAGE, ZERO_PAGE } from '../guest_memfd/folio.ts';
import type { Sha384 } from '../ports.ts';
import { RangeMap, RangeSet } from '../ranges.ts';
import { PAGE_SIZE } from '../uapi.ts';

export const TDX_EXTENDMR_CHUNKSIZE = 256;
/** S-EPT leaf states of a private GFN */
export const SEPT_ADDED = 1;
export const SEPT_AUGMENTED = 2;
/** an augmented page the guest accepted (TDG.MEM.PAGE.ACCEPT) */
export const SEPT_ACCEPTED = 3;

/** a record's first 128 bytes: its tag, then zeros (the GPA goes at 0x10) */
function header(tag: string): Uint8Array {
  const h = new Uint8Array(128);
  h.set(new TextEncoder().encode(tag));
  return h;
}
const PAGE_ADD_HEADER = header('MEM.PAGE.ADD');
const MR_EXTEND_HEADER = header('MR.EXTEND');
/** records are hashed in updates of up to this many bytes */
const BATCH_BYTES = 64 * 1024;
/** the 16 MR.EXTEND records of a page, each 128-byte header and 256-byte chunk */
const EXTEND_RECORD = 128 + TDX_EXTENDMR_CHUNKSIZE;
const EXTENDS_PER_PAGE = PAGE_SIZE / TDX_EXTENDMR_CHUNKSIZE;
/** the records of a page before the GPAs and chunks go in: the headers, and zeros */
const MR_EXTEND_HEADERS = (() => {
  const t = new Uint8Array(EXTENDS_PER_PAGE * EXTEND_RECORD);
  for (let c = 0; c < EXTENDS_PER_PAGE; c++) t.set(MR_EXTEND_HEADER, c * EXTEND_RECORD);
  return t;
})();
/**
 * Scratch for extendPage (no state between calls, so not part of a module's state): the page being
 * measured, and views of its 256-byte chunks, to copy them into records without allocating views
 */
const SCRATCH = new Uint8Array(PAGE_SIZE);
const SCRATCH_CHUNKS = Array.from({ length: EXTENDS_PER_PAGE }, (_, c) =>
  SCRATCH.subarray(c * TDX_EXTENDMR_CHUNKSIZE, (c + 1) * TDX_EXTENDMR_CHUNKSIZE),
);

export class TdxModule {
  /** private GFN → SEPT_ADDED / SEPT_AUGMENTED */
  readonly sept = new RangeMap<number>();
  /** GFNs whose contents were measured (TDH.MR.EXTEND) */
  readonly measured = new RangeSet();
  /** TDH.MEM.PAGE.ADD / TDH.MR.EXTEND records issued, in order */
  pageAdds = 0;
  extends = 0;
  finalized = false;
  mrtd: Uint8Array | null = null;
  private readonly hash: Sha384;
  /**
   * Records not yet fed to the hash, batched so that hashing runs in large updates. Only during a
   * kernel call: the call ends with endBatch(), so that the state between calls (what the explorer
   * clones ~30,000 times a run) holds no buffer.
   */
  private buf: Uint8Array | null = null;
  private view: DataView | null = null;
  private fill = 0;

  constructor(hash: Sha384) {
    this.hash = hash;
  }

  /** room for n more bytes of records: the offset in this.buf */
  private reserve(n: number): number {
    if (this.buf === null) {
      this.buf = new Uint8Array(BATCH_BYTES);
      this.view = new DataView(this.buf.buffer);
    } else if (this.fill + n > this.buf.length) this.flush();
    const at = this.fill;
    this.fill += n;
    return at;
  }

  private flush(): void {
    // records after TDH.MR.FINALIZE (only with the finalized-lock safeguard off) change nothing:
    // the MRTD is final, and the audit has counted them
    if (this.fill && !this.finalized) this.hash.update(this.buf!.subarray(0, this.fill));
    this.fill = 0;
  }

  /** the end of a kernel call: the records go to the hash, the batch buffer goes */
  endBatch(): void {
    this.flush();
    this.buf = null;
    this.view = null;
  }

  /** integrity audit of the launch (what the invariants check): each count must stay 0 */
  readonly audit = { doubleAdds: 0, staleAdds: 0, addsAfterFinalize: 0 };
  /**
   * The bytes each added GFN was given (and measured with), to compare with what the guest has:
   * nonzero pages one by one, zero pages (TD_HOB, TEMP_MEM: most of a large TD) as ranges
   */
  readonly added = new Map<number, Uint8Array>();
  readonly addedZero = new RangeSet();

  /** Is the GFN mapped in the S-EPT (added or augmented)? */
  mapped(gfn: number): boolean {
    return this.sept.get(gfn) !== undefined;
  }

  /**
   * TDH.MEM.PAGE.ADD(gpa): the caller copies the source into the target; here the MRTD record.
   * `mapped`: what mapped(gfn) says, when the caller has just asked.
   */
  pageAdd(gfn: number, contents?: Uint8Array, mapped = this.mapped(gfn)): void {
    if (mapped) this.audit.doubleAdds++;
    if (this.finalized) this.audit.addsAfterFinalize++;
    if (contents === STALE_PAGE) this.audit.staleAdds++;
    if (contents === ZERO_PAGE) {
      if (this.added.size) this.added.delete(gfn);
      this.addedZero.add(gfn);
    } else if (contents) {
      this.added.set(gfn, contents);
      if (this.addedZero.runCount) this.addedZero.delete(gfn);
    }
    const at = this.reserve(128);
    this.buf!.set(PAGE_ADD_HEADER, at);
    this.setGpa(at, gfn * PAGE_SIZE);
    this.pageAdds++;
    this.sept.set(gfn, gfn + 1, SEPT_ADDED);
  }

  /** the u64 GPA at 0x10 of the record at `at`: two 32-bit halves (a GFN × 4096 is exact in a double) */
  private setGpa(at: number, gpa: number): void {
    const v = this.view!;
    v.setUint32(at + 0x10, gpa >>> 0, true);
    v.setUint32(at + 0x14, Math.floor(gpa / 2 ** 32), true);
  }

  /** 16 × TDH.MR.EXTEND(gpa + k*256) over the private page's own bytes */
  extendPage(gfn: number, contents: Uint8Array): void {
    const base = this.reserve(EXTENDS_PER_PAGE * EXTEND_RECORD);
    const b = this.buf!;
    const gpa = gfn * PAGE_SIZE;
    // the headers, then each record's GPA and chunk (through the scratch page's chunk views: one
    // copy of the page, then sixteen of 256 bytes, without allocating a view per chunk)
    b.set(MR_EXTEND_HEADERS, base);
    SCRATCH.set(contents);
    for (let c = 0; c < EXTENDS_PER_PAGE; c++) {
      const off = base + c * EXTEND_RECORD;
      this.setGpa(off, gpa + c * TDX_EXTENDMR_CHUNKSIZE);
      b.set(SCRATCH_CHUNKS[c]!, off + 128);
    }
    this.extends += EXTENDS_PER_PAGE;
    this.measured.add(gfn);
  }

  /** TDH.MEM.PAGE.AUG of [gfn, end): private pages added after finalize (not measured), where unmapped */
  pageAug(gfn: number, end = gfn + 1): void {
    for (const [s, e, v] of [...this.sept.segments(gfn, end)]) if (v === undefined) this.sept.set(s, e, SEPT_AUGMENTED);
  }

  /** TDH.MEM.RANGE.BLOCK + TRACK + PAGE.REMOVE for every mapped GFN in [start, end) */
  remove(start: number, end: number): [number, number][] {
    const removed: [number, number][] = [];
    for (const [s, e, v] of this.sept.segments(start, end)) if (v !== undefined) removed.push([s, e]);
    for (const [s, e] of removed) {
      if (this.added.size < e - s) {
        for (const g of [...this.added.keys()]) if (g >= s && g < e) this.added.delete(g);
      } else for (let g = s; g < e; g++) this.added.delete(g);
      this.addedZero.delete(s, e);
    }
    if (removed.length) {
      this.sept.clear(start, end);
      this.measured.delete(start, end);
    }
    return removed;
  }

  /** TDH.MR.FINALIZE: SHA-384 padding and the final digest */
  finalize(): Uint8Array {
    this.flush();
    this.finalized = true;
    this.mrtd = this.hash.digest();
    return this.mrtd;
  }

  /** the MRTD the records so far would give if finalized now (for views) */
  peek(): Uint8Array {
    if (this.mrtd) return this.mrtd;
    this.flush();
    return this.hash.copy().digest();
  }
}
