/**
 * The process address space: anonymous and guest_memfd mappings, loads and stores with the
 * signals Linux raises, long-term pins (GUP), madvise. Pages are 4 KiB; anonymous page contents
 * are kept only for pages that were written.
 */
import { borrowPage } from '../guest_memfd/folio.ts';
import { RangeMap } from '../ranges.ts';
import type { GmemInode, Vma } from '../state.ts';
import { PAGE_SIZE, TASK_SIZE } from '../uapi.ts';

/** What GUP or a fault resolved an address to. */
export type PageRef = { kind: 'anon'; vpn: number } | { kind: 'gmem'; inode: GmemInode; index: number };

export const PROT_READ = 1;
export const PROT_WRITE = 2;

/** Base of top-down placement for mappings without an address (x86-64 mmap_base, simplified). */
export const MMAP_BASE = 0x7f0000000000;

/** Whole pages a store took from a byte array: page `vpn` is the 4 KiB of `bytes` at `at + (vpn - vpn0) * 4096`. */
interface BorrowedRun {
  readonly bytes: Uint8Array;
  readonly vpn0: number;
  readonly at: number;
}

/**
 * The contents of anonymous pages that were written, by virtual page number: pages written one at
 * a time, and runs of whole pages one store took from a byte array (QEMU loading a 4 MiB firmware
 * image: one run, not 1,024 entries), whose pages are copy-on-write views of those bytes
 * (folio.ts borrowPage) made when read. A page is in at most one of the two.
 */
export class AnonPages {
  private readonly pages = new Map<number, Uint8Array>();
  private readonly runs = new RangeMap<BorrowedRun>();

  get(vpn: number): Uint8Array | undefined {
    const p = this.pages.get(vpn);
    if (p !== undefined) return p;
    const r = this.runs.get(vpn);
    return r && borrowPage(r.bytes, r.at + (vpn - r.vpn0) * PAGE_SIZE);
  }

  set(vpn: number, page: Uint8Array): void {
    if (this.runs.runCount) this.runs.clear(vpn, vpn + 1);
    this.pages.set(vpn, page);
  }

  /** pages [vpn, vpn + n) become views of bytes[at, at + n * 4096) */
  borrow(vpn: number, n: number, bytes: Uint8Array, at: number): void {
    this.dropPages(vpn, vpn + n);
    this.runs.set(vpn, vpn + n, { bytes, vpn0: vpn, at });
  }

  /** forget pages [start, end) (virtual page numbers) */
  delete(start: number, end = start + 1): void {
    this.dropPages(start, end);
    if (this.runs.runCount) this.runs.clear(start, end);
  }

  private dropPages(start: number, end: number): void {
    if (this.pages.size === 0) return;
    if (this.pages.size < end - start) {
      for (const vpn of [...this.pages.keys()]) if (vpn >= start && vpn < end) this.pages.delete(vpn);
    } else for (let p = start; p < end; p++) this.pages.delete(p);
  }

  /** every page: those written one at a time in the order written, then the borrowed ones by address */
  *entries(): Generator<[number, Uint8Array]> {
    yield* this.pages;
    for (const [s, e, r] of this.runs.runs())
      for (let vpn = s; vpn < e; vpn++) yield [vpn, borrowPage(r.bytes, r.at + (vpn - r.vpn0) * PAGE_SIZE)];
  }
}

export class AddressSpace {
  readonly vmas: Vma[] = [];
  readonly anon = new AnonPages();
  readonly anonPins = new Map<number, number>();

  /** the VMA containing addr */
  find(addr: number): Vma | undefined {
    let lo = 0;
    let hi = this.vmas.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.vmas[mid]!.end > addr) hi = mid;
      else lo = mid + 1;
    }
    const v = this.vmas[lo];
    return v && v.start <= addr ? v : undefined;
  }

  overlaps(start: number, end: number): boolean {
    return this.vmas.some((v) => v.start < end && v.end > start);
  }

  /** Highest free gap of `len` bytes below MMAP_BASE, at or above `floor`. */
  placeTopDown(len: number, floor: number): number | undefined {
    let top = MMAP_BASE;
    for (let i = this.vmas.length - 1; i >= 0; i--) {
      const v = this.vmas[i]!;
      if (v.start >= top) continue;
      if (v.end <= top - len) break;
      top = v.start;
    }
    const addr = top - len;
    return addr >= floor ? addr : undefined;
  }

  insert(v: Vma): void {
    let i = 0;
    while (i < this.vmas.length && this.vmas[i]!.start < v.start) i++;
    this.vmas.splice(i, 0, v);
  }

  /**
   * Remove [start, end) from every mapping (splitting as needed). Returns the guest_memfd inodes
   * whose mapping references changed: +1 per split piece, -1 per removed mapping.
   */
  unmap(start: number, end: number): { inode: GmemInode; delta: number }[] {
    const changes: { inode: GmemInode; delta: number }[] = [];
    const keep: Vma[] = [];
    for (const v of this.vmas) {
      if (v.end <= start || v.start >= end) {
        keep.push(v);
        continue;
      }
      let pieces = 0;
      if (v.start < start) {
        keep.push({ ...v, end: start });
        pieces++;
      }
      if (v.end > end) {
        keep.push({ ...v, start: end, pgoff: v.pgoff + (end - v.start) / PAGE_SIZE });
        pieces++;
      }
      if (v.inode) changes.push({ inode: v.inode, delta: pieces - 1 });
      else this.dropAnon(Math.max(v.start, start), Math.min(v.end, end));
    }
    keep.sort((a, b) => a.start - b.start);
    this.vmas.length = 0;
    this.vmas.push(...keep);
    return changes;
  }

  /** forget anonymous page contents in [start, end) */
  dropAnon(start: number, end: number): void {
    this.anon.delete(start / PAGE_SIZE, end / PAGE_SIZE);
  }
}

const TASK_SIZE_BIG = BigInt(TASK_SIZE);

/** A user address that fits the process's address space, as a number (or undefined). */
export function userAddr(x: bigint): number | undefined {
  return x >= 0n && x < TASK_SIZE_BIG ? Number(x) : undefined;
}
