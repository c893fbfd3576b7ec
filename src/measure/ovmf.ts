/**
 * The OVMF GUIDed footer table (measurement.md §3): a list of `data ‖ u16 length ‖ GUID` entries
 * that ends 32 bytes before the end of a firmware image, read backwards from its footer entry.
 * QEMU reads it in pc_system_parse_ovmf_flash / pc_system_ovmf_table_find, sev-snp-measure and
 * dstack-mr read it the same way. Pure: bytes in, entries out.
 */
import { hex0x as hex } from '../util/hex.ts';

/** A firmware image that cannot be measured: one line naming what is wrong. */
export class FirmwareError extends Error {}

/** 96b582de-1fb2-45f7-baea-a366c55a082d: the footer entry that closes the table */
export const OVMF_TABLE_FOOTER_GUID = '96b582de-1fb2-45f7-baea-a366c55a082d';
/** the table ends this many bytes before the end of the image (the reset vector follows) */
export const OVMF_TABLE_END_OFFSET = 32;
const ENTRY_HEADER = 2 + 16;

/** GUID text → its 16 bytes as stored (bytes_le: the first three fields little-endian). */
export function guidBytes(guid: string): Uint8Array {
  const h = guid.replace(/-/g, '');
  if (!/^[0-9a-fA-F]{32}$/.test(h)) throw new Error(`Model invariant violated: bad GUID ${guid}`);
  const be = Uint8Array.from({ length: 16 }, (_, i) => Number.parseInt(h.slice(2 * i, 2 * i + 2), 16));
  const order = [3, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15];
  return Uint8Array.from(order, (i) => be[i]!);
}

/** 16 stored bytes → GUID text (lower case). */
export function guidString(b: Uint8Array): string {
  const order = [3, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15];
  const h = order.map((i) => b[i]!.toString(16).padStart(2, '0')).join('');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

export interface OvmfTableEntry {
  guid: string;
  /** offset of the entry's data in the image */
  offset: number;
  data: Uint8Array;
}

/**
 * The entries of the footer table, in table order (first entry first). An image without the
 * footer GUID has no table: the result is empty, as QEMU's lookup then finds nothing. A table
 * whose lengths do not fit is an error.
 */
export function parseOvmfTable(image: Uint8Array): OvmfTableEntry[] {
  const tableEnd = image.length - OVMF_TABLE_END_OFFSET;
  const footer = tableEnd - ENTRY_HEADER;
  if (footer < 0) return [];
  const view = new DataView(image.buffer, image.byteOffset, image.byteLength);
  if (guidString(image.subarray(footer + 2, tableEnd)) !== OVMF_TABLE_FOOTER_GUID) return [];
  const tableLen = view.getUint16(footer, true);
  if (tableLen < ENTRY_HEADER || tableLen > tableEnd)
    throw new FirmwareError(
      `OVMF footer table: length ${hex(tableLen)} does not fit before the footer at ${hex(footer)} (needs ${ENTRY_HEADER} to ${hex(tableEnd)})`,
    );
  const tableStart = tableEnd - tableLen;
  const out: OvmfTableEntry[] = [];
  let end = footer;
  // as QEMU's walk: stop when too few bytes remain for another entry header
  while (end - tableStart >= ENTRY_HEADER) {
    const guid = guidString(image.subarray(end - 16, end));
    const len = view.getUint16(end - ENTRY_HEADER, true);
    if (len < ENTRY_HEADER || end - len < tableStart)
      throw new FirmwareError(
        `OVMF footer table: entry ${guid} at ${hex(end - ENTRY_HEADER)} has length ${hex(len)}, outside the table (${hex(tableStart)}..${hex(tableEnd)})`,
      );
    const start = end - len;
    out.push({ guid, offset: start, data: image.subarray(start, end - ENTRY_HEADER) });
    end = start;
  }
  return out.reverse();
}

/** The data of the entry with this GUID, or undefined (pc_system_ovmf_table_find). */
export function findOvmfEntry(entries: OvmfTableEntry[], guid: string): OvmfTableEntry | undefined {
  return entries.find((e) => e.guid === guid.toLowerCase());
}
