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
  const p = new Uint8Array(PAGE_SIZE);
  const text = 'STALE HOST DATA ';
  for (let i = 0; i < PAGE_SIZE; i++) p[i] = text.charCodeAt(i % text.length);
  return p;
})();

/** Find or allocate the folio at index; clear it if `clear` and it is not uptodate. */
export function getFolio(inode: GmemInode, index: number, clear: boolean): void {
  if (!inode.allocated.has(index)) inode.allocated.add(index);
  if (clear && !inode.uptodate.has(index)) clearFolio(inode, index);
}

export function clearFolio(inode: GmemInode, index: number): void {
  inode.content.delete(index);
  inode.uptodate.add(index);
  inode.undefinedContent.delete(index);
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
  else inode.content.set(index, bytes === ZERO_PAGE || bytes === STALE_PAGE ? bytes.slice() : bytes);
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
    page = pageBytes(inode, index).slice();
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
