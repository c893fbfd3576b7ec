/**
 * What an SEV-SNP launch reads from a firmware image (measurement.md §3): the OVMF footer table
 * entries for the SEV-ES reset block (the APs' reset EIP), the SEV hash table (where QEMU puts the
 * kernel hashes), the SVSM info (the Coconut SVSM entry), and the OVMF SEV metadata ('ASEV': the
 * pages QEMU's snp_populate_metadata_pages adds after the image; edk2
 * OvmfPkg/ResetVector/X64/OvmfSevMetadata.asm). Pure: bytes in, a description out; every image
 * QEMU or sev-snp-measure would refuse is a FirmwareError naming what is wrong.
 */

import { hex0x as hex } from '../util/hex.ts';
import { FirmwareError, findOvmfEntry, type OvmfTableEntry, parseOvmfTable } from './ovmf.ts';

/** u32 offset from the image end to the 'ASEV' descriptor */
export const OVMF_SEV_METADATA_GUID = 'dc886566-984a-4798-a75e-5585a7bf67cc';
/** u32 reset EIP of the application processors */
export const SEV_ES_RESET_BLOCK_GUID = '00f771de-1a7e-4fcb-890e-68c77e2fb44e';
/** u32 base, u32 size: where QEMU writes the SEV hash table (kernel, initrd, cmdline) */
export const SEV_HASH_TABLE_RV_GUID = '7255371f-3a3b-4b04-927b-1da6efa8d454';
/** u32 offset of the SVSM entry point from the start of the SVSM image */
export const SVSM_INFO_GUID = 'a789a612-0597-4c4b-a49f-cbb1fe9d1ddd';

/** 'ASEV' little-endian */
export const SEV_METADATA_SIGNATURE = 0x56455341;
export const SEV_METADATA_VERSION = 1;
const DESCRIPTOR_SIZE = 16;
const SECTION_SIZE = 12;
const PAGE = 4096;
const FOUR_GIB = 2 ** 32;

/** OVMF SEV metadata section types (OvmfSevMetadata.asm; sev-snp-measure SectionType) */
export const SevSectionType = {
  SNP_SEC_MEM: 1,
  SNP_SECRETS: 2,
  CPUID: 3,
  SVSM_CAA: 4,
  SNP_KERNEL_HASHES: 0x10,
} as const;
export type SevSectionTypeName = keyof typeof SevSectionType;

export interface SevSection {
  /** position in the metadata (0-based): the order of the SNP_LAUNCH_UPDATE calls */
  index: number;
  type: SevSectionTypeName;
  gpa: number;
  size: number;
}

export interface SevFirmware {
  /** what the image is, for messages: 'OVMF' or 'SVSM' */
  kind: 'OVMF' | 'SVSM';
  size: number;
  table: OvmfTableEntry[];
  /** offset of the 'ASEV' descriptor, when the image has SEV metadata */
  metadataOffset?: number;
  /** the metadata sections in table order (empty without SEV metadata) */
  sections: SevSection[];
}

export function describeSevSection(fw: SevFirmware, s: SevSection): string {
  return `${fw.kind} SEV metadata section ${s.index} (${s.type})`;
}

/**
 * The footer table and SEV metadata of an image. An image without a footer table, or without SEV
 * metadata, has no sections (sev-snp-measure and QEMU then add none); a metadata descriptor that is
 * there but wrong is an error.
 */
export function parseSevFirmware(image: Uint8Array, kind: 'OVMF' | 'SVSM' = 'OVMF'): SevFirmware {
  const size = image.length;
  if (size === 0) throw new FirmwareError(`the ${kind} image is empty`);
  if (size % PAGE !== 0)
    throw new FirmwareError(
      `the ${kind} image is ${hex(size)} bytes, not a whole number of 4 KiB pages (SNP_LAUNCH_UPDATE measures whole pages)`,
    );
  if (size > FOUR_GIB) throw new FirmwareError(`the ${kind} image is ${hex(size)} bytes; it must fit below 4 GiB`);
  const table = parseOvmfTable(image);
  const fw: SevFirmware = { kind, size, table, sections: [] };
  const entry = findOvmfEntry(table, OVMF_SEV_METADATA_GUID);
  if (!entry) return fw;
  const view = new DataView(image.buffer, image.byteOffset, image.byteLength);
  if (entry.data.length < 4)
    throw new FirmwareError(
      `the ${kind} SEV metadata entry (GUID ${OVMF_SEV_METADATA_GUID}) holds ${entry.data.length} bytes, not a u32 offset`,
    );
  const fromEnd = view.getUint32(entry.offset, true);
  const offset = size - fromEnd;
  if (offset < 0 || offset + DESCRIPTOR_SIZE > size)
    throw new FirmwareError(
      `the ${kind} SEV metadata offset ${hex(fromEnd)} from the image end puts the 'ASEV' descriptor outside the ${hex(size)}-byte image`,
    );
  const signature = view.getUint32(offset, true);
  if (signature !== SEV_METADATA_SIGNATURE)
    throw new FirmwareError(
      `no 'ASEV' signature at ${hex(offset)} of the ${kind} image (found ${hex(signature)}): wrong SEV metadata signature`,
    );
  const length = view.getUint32(offset + 4, true);
  const version = view.getUint32(offset + 8, true);
  const n = view.getUint32(offset + 12, true);
  if (version !== SEV_METADATA_VERSION)
    throw new FirmwareError(`${kind} SEV metadata version ${version} is not supported (only ${SEV_METADATA_VERSION})`);
  if (length < DESCRIPTOR_SIZE + SECTION_SIZE * n)
    throw new FirmwareError(
      `${kind} SEV metadata Length ${hex(length)} is too short for its ${n} sections (needs ${hex(DESCRIPTOR_SIZE + SECTION_SIZE * n)})`,
    );
  if (offset + length > size)
    throw new FirmwareError(
      `the ${kind} SEV metadata at ${hex(offset)} has Length ${hex(length)}, beyond the image end`,
    );
  const names = Object.keys(SevSectionType) as SevSectionTypeName[];
  for (let i = 0; i < n; i++) {
    const at = offset + DESCRIPTOR_SIZE + i * SECTION_SIZE;
    const gpa = view.getUint32(at, true);
    const len = view.getUint32(at + 4, true);
    const typeNo = view.getUint32(at + 8, true);
    const what = `${kind} SEV metadata section ${i}`;
    const type = names.find((k) => SevSectionType[k] === typeNo);
    if (type === undefined)
      throw new FirmwareError(
        `${what}: unknown section type ${hex(typeNo)} (known: 1 SNP_SEC_MEM, 2 SNP_SECRETS, 3 CPUID, 4 SVSM_CAA, 0x10 SNP_KERNEL_HASHES)`,
      );
    if (gpa % PAGE !== 0) throw new FirmwareError(`${what} (${type}): base ${hex(gpa)} is not 4 KiB aligned`);
    if (len % PAGE !== 0) throw new FirmwareError(`${what} (${type}): size ${hex(len)} is not a multiple of 4 KiB`);
    if (gpa + len > FOUR_GIB)
      throw new FirmwareError(`${what} (${type}): base ${hex(gpa)} + size ${hex(len)} wraps around 4 GiB`);
    fw.sections.push({ index: i, type, gpa, size: len });
  }
  fw.metadataOffset = offset;
  return fw;
}

function u32Entry(fw: SevFirmware, guid: string, name: string, bytes = 4): DataView | undefined {
  const e = findOvmfEntry(fw.table, guid);
  if (!e) return undefined;
  if (e.data.length < bytes)
    throw new FirmwareError(
      `the ${fw.kind} ${name} entry (GUID ${guid}) holds ${e.data.length} bytes, expected at least ${bytes}`,
    );
  return new DataView(e.data.buffer, e.data.byteOffset, e.data.byteLength);
}

/** The APs' reset EIP (SEV-ES reset block); sev-snp-measure and QEMU need it for every SNP guest. */
export function sevEsResetEip(fw: SevFirmware): number {
  const v = u32Entry(fw, SEV_ES_RESET_BLOCK_GUID, 'SEV-ES reset block');
  if (!v)
    throw new FirmwareError(
      `the ${fw.kind} footer table has no SEV-ES reset block (GUID ${SEV_ES_RESET_BLOCK_GUID}): the APs have no reset EIP`,
    );
  return v.getUint32(0, true);
}

/** The GPA of the SEV hash table (where QEMU writes the kernel, initrd and cmdline hashes). */
export function sevHashTableGpa(fw: SevFirmware): number {
  const v = u32Entry(fw, SEV_HASH_TABLE_RV_GUID, 'SEV hash table');
  if (!v)
    throw new FirmwareError(
      `the ${fw.kind} footer table has no SEV hash table entry (GUID ${SEV_HASH_TABLE_RV_GUID}): nowhere to put the kernel hashes`,
    );
  return v.getUint32(0, true);
}

/** The offset of the SVSM entry point from the start of the SVSM image (SVSM info entry). */
export function svsmEntryOffset(fw: SevFirmware): number {
  const v = u32Entry(fw, SVSM_INFO_GUID, 'SVSM info');
  if (!v)
    throw new FirmwareError(
      `the ${fw.kind} footer table has no SVSM info entry (GUID ${SVSM_INFO_GUID}): not a Coconut SVSM image`,
    );
  return v.getUint32(0, true);
}
