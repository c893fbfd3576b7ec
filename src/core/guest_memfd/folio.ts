/**
 * guest_memfd pages ("folios", order 0): allocation, clearing on first use, contents.
 * An uptodate page without a stored buffer holds zeros; a page that was allocated but never
 * cleared holds whatever the host freed into it last (STALE_PAGE), which only a switched-off
 * safeguard can ever expose.
 */
import type { GmemInode } from '../state.ts';
import { PAGE_SIZE } from '../uapi.ts';

export const ZERO_PAGE: Uint8Array = new Uint8Array(PAGE_SIZE);

/** Deterministic stand-in for another party's data left in a freed host page. */
export const STALE_PAGE: Uint8Array = (() => {
  // 'STALE HOST DATA ' over and over; doubling copies (a byte loop costs ~0.7 ms of every cold start)
  const p = new Uint8Array(PAGE_SIZE);
  const text = 'STALE HOST DATA ';
  for (let i = 0; i < text.length; i++) p[i] = text.charCodeAt(i);
  for (let n = text.length; n < PAGE_SIZE; n *= 2) p.copyWithin(n, 0, n);
  return p;
})();

/**
 * A fresh, independent 4 KiB page (zeros, or a copy of the page `from`). Pages are carved out of
 * 64 KiB buffers: a TDX launch copies every firmware page it adds, and one buffer allocation per page
 * made that dominate its cost (and the collector's). Each page is its own view; nothing but its
 * 4 KiB is ever read or written through it.
 */
export function newPage(from?: Uint8Array): Uint8Array {
  if (slabUsed === SLAB_PAGES) {
    slab = new ArrayBuffer(PAGE_SIZE * SLAB_PAGES);
    slabUsed = 0;
  }
  const page: MarkedPage = new Uint8Array(slab, PAGE_SIZE * slabUsed++, PAGE_SIZE);
  if (from) page.set(from);
  page[OWNED] = true;
  return page;
}
const SLAB_PAGES = 16;
let slab = new ArrayBuffer(0);
let slabUsed = SLAB_PAGES;

/**
 * A page that is a view of bytes the model does not own (a whole page a `store` wrote: QEMU writes
 * a 4 MiB firmware image into its RAM block before a launch), shared rather than copied and never
 * written in place: a write copies it first. Step data is never modified after the call. Such a
 * page is a plain Uint8Array that carries this mark as an own property, so copies made of it
 * (slice), views into it (subarray) and clones are plain, owned pages. (A mark rather than a
 * Uint8Array subclass: constructing a subclass instance costs several times a plain view, and a
 * launch borrows every page of its firmware.)
 */
const BORROWED = Symbol('borrowed page');
/** a page from newPage: the model's own, written in place until it is shared */
const OWNED = Symbol('owned page');
type MarkedPage = Uint8Array & { [BORROWED]?: true; [OWNED]?: true };

/** A page that is a view of the 4 KiB of `bytes` from index `at`. */
export function borrowPage(bytes: Uint8Array, at = 0): Uint8Array {
  if (at < 0 || at + PAGE_SIZE > bytes.length)
    throw new RangeError('Model invariant violated: a page beyond the bytes');
  const page: MarkedPage = new Uint8Array(bytes.buffer, bytes.byteOffset + at, PAGE_SIZE);
  page[BORROWED] = true;
  return page;
}

/** The page is shared (borrowPage): copy it before writing. */
export function isBorrowed(page: Uint8Array): boolean {
  return (page as MarkedPage)[BORROWED] === true;
}

/**
 * A page that two copies of the state may hold from now on (Kernel.clone): returned as it is, and
 * copy-on-write for both from then on (an owned page becomes borrowed); undefined for bytes that
 * are not a page of the model (they are copied)
 */
export function sharePage(bytes: Uint8Array): Uint8Array | undefined {
  const p = bytes as MarkedPage;
  if (p[BORROWED]) return p;
  if (!p[OWNED]) return undefined;
  p[BORROWED] = true;
  return p;
}

/** Find or allocate the folio at index; clear it if `clear` and it is not uptodate. */
export function getFolio(inode: GmemInode, index: number, clear: boolean): void {
  if (!inode.allocated.has(index)) inode.allocated.add(index);
  if (clear && !inode.uptodate.has(index)) clearFolio(inode, index);
}

export function clearFolio(inode: GmemInode, index: number): void {
  inode.content.delete(index);
  inode.uptodate.add(index);
  inode.undefinedContent.delete(index);
  if (inode.guestUndefined.runCount) inode.guestUndefined.delete(index);
  if (inode.guestWritten.runCount) inode.guestWritten.delete(index);
}

/** clearFolio for every index of [start, end) */
export function clearFolios(inode: GmemInode, start: number, end: number): void {
  if (inode.content.size < end - start) {
    for (const i of [...inode.content.keys()]) if (i >= start && i < end) inode.content.delete(i);
  } else for (let i = start; i < end; i++) inode.content.delete(i);
  inode.uptodate.add(start, end);
  inode.undefinedContent.delete(start, end);
  if (inode.guestUndefined.runCount) inode.guestUndefined.delete(start, end);
  if (inode.guestWritten.runCount) inode.guestWritten.delete(start, end);
}

/** The bytes of an allocated page. */
export function pageBytes(inode: GmemInode, index: number): Uint8Array {
  const c = inode.content.get(index);
  if (c) return c;
  return inode.uptodate.has(index) ? ZERO_PAGE : STALE_PAGE;
}

/** Replace a whole page's contents (marks it uptodate). */
export function setPage(inode: GmemInode, index: number, bytes: Uint8Array): void {
  inode.allocated.add(index);
  inode.uptodate.add(index);
  if (isZero(bytes)) inode.content.delete(index);
  else inode.content.set(index, bytes === ZERO_PAGE || bytes === STALE_PAGE ? newPage(bytes) : bytes);
}

/** Write part of an allocated page. */
export function writePage(
  inode: GmemInode,
  index: number,
  offset: number,
  src: Uint8Array | number,
  len: number,
): void {
  let page = inode.content.get(index);
  if (!page) {
    page = newPage(pageBytes(inode, index));
    inode.content.set(index, page);
  } else if (isBorrowed(page)) {
    page = newPage(page);
    inode.content.set(index, page);
  }
  if (typeof src === 'number') page.fill(src, offset, offset + len);
  else page.set(src.subarray(0, len), offset);
  inode.uptodate.add(index);
  inode.undefinedContent.delete(index);
}

/** Free pages [start, end) (truncate): contents are gone; attributes stay. */
export function truncatePages(inode: GmemInode, start: number, end: number): void {
  inode.allocated.delete(start, end);
  inode.uptodate.delete(start, end);
  inode.undefinedContent.delete(start, end);
  if (inode.guestUndefined.runCount) inode.guestUndefined.delete(start, end);
  if (inode.guestWritten.runCount) inode.guestWritten.delete(start, end);
  inode.hostMapped.delete(start, end);
  // a pinned folio leaves the file but lives on, held by its pin; a new folio at the index is not pinned
  for (const [i, n] of [...inode.pins]) {
    if (i < start || i >= end) continue;
    inode.detachedPins.set(i, (inode.detachedPins.get(i) ?? 0) + n);
    inode.pins.delete(i);
  }
  if (inode.content.size < end - start) {
    for (const i of [...inode.content.keys()]) if (i >= start && i < end) inode.content.delete(i);
  } else {
    for (let i = start; i < end; i++) inode.content.delete(i);
  }
}

export function isZero(b: Uint8Array): boolean {
  if (b === ZERO_PAGE) return true;
  for (let i = 0; i < b.length; i++) if (b[i] !== 0) return false;
  return true;
}
