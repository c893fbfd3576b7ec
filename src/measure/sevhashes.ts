/**
 * The SEV hash table of a measured direct boot (measurement.md §2.2 "Kernel-hash table"; QEMU
 * target/i386/sev.c sev_add_kernel_loader_hashes, sev-snp-measure sev_hashes.py): a GUIDed table of
 * the SHA-256 of the command line (with its NUL), the initrd and the kernel, which QEMU writes into
 * the SNP_KERNEL_HASHES page at the in-page offset of the firmware's hash-table address. Pure: the
 * SHA-256 digests arrive from the caller.
 */
import { guidBytes } from './ovmf.ts';

export const SEV_HASH_TABLE_HEADER_GUID = '9438d606-4f22-4cc9-b479-a793d411fd21';
export const SEV_CMDLINE_ENTRY_GUID = '97d02dd8-bd20-4c94-aa78-e7714d36ab2a';
export const SEV_INITRD_ENTRY_GUID = '44baf731-3a2f-4bd7-9af1-41e29169781d';
export const SEV_KERNEL_ENTRY_GUID = '4de79437-abd2-427f-b835-d5b172d2045b';

const ENTRY_LEN = 16 + 2 + 32;
/** GUID, u16 length, three entries: 168 bytes */
export const SEV_HASH_TABLE_LEN = 16 + 2 + 3 * ENTRY_LEN;
/** the table as QEMU lays it out, padded to 16 bytes: 176 */
export const SEV_HASH_TABLE_PADDED_LEN = (SEV_HASH_TABLE_LEN + 15) & ~15;

export interface SevHashInputs {
  /** SHA-256 of the kernel file, 32 bytes */
  kernel: Uint8Array;
  /** SHA-256 of the initrd file, or of nothing without an initrd */
  initrd: Uint8Array;
  /** SHA-256 of the command line's UTF-8 bytes and a NUL (of a lone NUL without one) */
  cmdline: Uint8Array;
}

/** The bytes whose SHA-256 is the cmdline entry: UTF-8 of the command line, then NUL. */
export function cmdlineBytes(append: string | undefined): Uint8Array {
  const text = new TextEncoder().encode(append ?? '');
  const out = new Uint8Array(text.length + 1);
  out.set(text);
  return out;
}

/** The 176-byte padded table. */
export function sevHashTable(h: SevHashInputs): Uint8Array {
  for (const [name, d] of Object.entries(h))
    if (d.length !== 32) throw new Error(`Model invariant violated: ${name} hash is ${d.length} bytes`);
  const t = new Uint8Array(SEV_HASH_TABLE_PADDED_LEN);
  const v = new DataView(t.buffer);
  t.set(guidBytes(SEV_HASH_TABLE_HEADER_GUID), 0);
  v.setUint16(16, SEV_HASH_TABLE_LEN, true);
  let e = 18;
  for (const [guid, digest] of [
    [SEV_CMDLINE_ENTRY_GUID, h.cmdline],
    [SEV_INITRD_ENTRY_GUID, h.initrd],
    [SEV_KERNEL_ENTRY_GUID, h.kernel],
  ] as const) {
    t.set(guidBytes(guid), e);
    v.setUint16(e + 16, ENTRY_LEN, true);
    t.set(digest, e + 18);
    e += ENTRY_LEN;
  }
  return t;
}
