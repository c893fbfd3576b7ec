/**
 * The TDX module below KVM, as far as a launch needs it: per-TD S-EPT state of private GPAs,
 * TDH.MEM.PAGE.ADD (copy source → target, one 128-byte MRTD record), TDH.MR.EXTEND (per 256-byte
 * chunk: one header record and the chunk), TDH.MR.FINALIZE (MRTD = SHA-384 of all records),
 * PAGE.AUG after finalize and PAGE.REMOVE on zap. Record layouts: measurement.md §2.1
 * (intel/tdx-module tdh_mem_page_add.c, tdh_mr_extend.c, tdh_mr_finalize.c).
 */
import type { Sha384 } from '../ports.ts';
import { RangeMap } from '../ranges.ts';
import { PAGE_SIZE } from '../uapi.ts';

export const TDX_EXTENDMR_CHUNKSIZE = 256;
/** S-EPT leaf states of a private GFN */
export const SEPT_ADDED = 1;
export const SEPT_AUGMENTED = 2;

const PAGE_ADD_TAG = new TextEncoder().encode('MEM.PAGE.ADD');
const MR_EXTEND_TAG = new TextEncoder().encode('MR.EXTEND');

export class TdxModule {
  /** private GFN → SEPT_ADDED / SEPT_AUGMENTED */
  readonly sept = new RangeMap<number>();
  /** TDH.MEM.PAGE.ADD / TDH.MR.EXTEND records issued, in order */
  pageAdds = 0;
  extends = 0;
  finalized = false;
  mrtd: Uint8Array | null = null;
  private readonly hash: Sha384;
  /** one page's records: PAGE.ADD + 16 × (EXTEND header + 256 bytes) */
  private readonly buf = new Uint8Array(128 + 16 * 384);
  private readonly view = new DataView(this.buf.buffer);

  constructor(hash: Sha384) {
    this.hash = hash;
  }

  /** TDH.MEM.PAGE.ADD(gpa): the caller copies the source into the target; here the MRTD record */
  pageAdd(gfn: number): void {
    const b = this.buf;
    b.fill(0, 0, 128);
    b.set(PAGE_ADD_TAG, 0);
    this.view.setBigUint64(0x10, BigInt(gfn) * BigInt(PAGE_SIZE), true);
    this.pageAdds++;
    this.sept.set(gfn, gfn + 1, SEPT_ADDED);
    this.hash.update(b.subarray(0, 128));
  }

  /** 16 × TDH.MR.EXTEND(gpa + k*256) over the private page's own bytes */
  extendPage(gfn: number, contents: Uint8Array): void {
    const b = this.buf;
    const gpa = BigInt(gfn) * BigInt(PAGE_SIZE);
    for (let c = 0; c < 16; c++) {
      const off = 128 + c * 384;
      b.fill(0, off, off + 128);
      b.set(MR_EXTEND_TAG, off);
      this.view.setBigUint64(off + 0x10, gpa + BigInt(c * TDX_EXTENDMR_CHUNKSIZE), true);
      b.set(contents.subarray(c * 256, c * 256 + 256), off + 128);
    }
    this.extends += 16;
    this.hash.update(b.subarray(128, 128 + 16 * 384));
  }

  /** TDH.MEM.PAGE.AUG: a private page added after finalize (not measured) */
  pageAug(gfn: number): void {
    this.sept.set(gfn, gfn + 1, SEPT_AUGMENTED);
  }

  /** TDH.MEM.RANGE.BLOCK + TRACK + PAGE.REMOVE for every mapped GFN in [start, end) */
  remove(start: number, end: number): [number, number][] {
    const removed: [number, number][] = [];
    for (const [s, e, v] of this.sept.segments(start, end)) if (v !== undefined) removed.push([s, e]);
    if (removed.length) this.sept.clear(start, end);
    return removed;
  }

  /** TDH.MR.FINALIZE: SHA-384 padding and the final digest */
  finalize(): Uint8Array {
    this.finalized = true;
    this.mrtd = this.hash.digest();
    return this.mrtd;
  }

  /** the MRTD the records so far would give if finalized now (for views) */
  peek(): Uint8Array {
    return this.mrtd ?? this.hash.copy().digest();
  }
}
