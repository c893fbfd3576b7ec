/**
 * TDVF metadata (measurement.md §3; edk2 OvmfPkg/ResetVector/X64/IntelTdxMetadata.asm, QEMU
 * hw/i386/tdvf.c tdvf_get_metadata / tdvf_parse_and_check_section_entry, target/i386/kvm/tdx.c
 * tdx_get_hob_entry): the sections QEMU turns into KVM_TDX_INIT_MEM_REGION calls. Every check QEMU
 * makes is made here, with the same outcome (the image is refused), plus the one QEMU leaves to
 * the kernel: a BFV/CFV section whose data lies beyond the image (a split OVMF_CODE.fd, vector T6).
 */

import { hex0x as hex } from '../util/hex.ts';
import { FirmwareError, findOvmfEntry, parseOvmfTable } from './ovmf.ts';

/** e47a6535-984a-4798-865e-4685a7bf8ec2: u32 offset from the image end to the TDVF descriptor */
export const TDX_METADATA_OFFSET_GUID = 'e47a6535-984a-4798-865e-4685a7bf8ec2';
/** 'TDVF' little-endian */
export const TDVF_SIGNATURE = 0x46564454;
export const TDVF_VERSION = 1;
export const TDVF_DESCRIPTOR_SIZE = 16;
export const TDVF_SECTION_SIZE = 32;
const TDVF_ALIGNMENT = 4096n;

export const TdvfSectionType = { BFV: 0, CFV: 1, TD_HOB: 2, TEMP_MEM: 3 } as const;
export type TdvfSectionTypeName = keyof typeof TdvfSectionType;
/** td-shim section types: metadata QEMU refuses */
const TD_SHIM_TYPES: Record<number, string> = {
  4: 'PermMem',
  5: 'Payload',
  6: 'PayloadParam',
  7: 'TdInfo',
  8: 'TdParams',
};

/** Attributes bit 0: the VMM measures the section's contents (TDH.MR.EXTEND) */
export const TDVF_ATTR_MR_EXTEND = 1;
/** Attributes bit 1: the pages are added lazily (TDH.MEM.PAGE.AUG), not by the VMM: not in MRTD */
export const TDVF_ATTR_PAGE_AUG = 2;

export interface TdvfSection {
  /** position in the metadata (0-based): the order of the INIT_MEM_REGION calls */
  index: number;
  type: TdvfSectionTypeName;
  dataOffset: number;
  rawDataSize: number;
  memoryAddress: bigint;
  memoryDataSize: bigint;
  attributes: number;
}

export interface TdvfMetadata {
  /** offset of the 'TDVF' descriptor in the image */
  offset: number;
  sections: TdvfSection[];
  /** the section whose address QEMU passes to KVM_TDX_INIT_VCPU (the initial RCX) */
  hob: TdvfSection;
}

export function describeSection(s: TdvfSection): string {
  return `TDVF section ${s.index} (${s.type})`;
}

/** The TDVF metadata of a firmware image; a FirmwareError for anything QEMU would refuse. */
export function parseTdvf(image: Uint8Array): TdvfMetadata {
  const size = image.length;
  if (size >= 2 ** 31) throw new FirmwareError(`the image is ${hex(size)} bytes; QEMU takes firmware below 2 GiB`);
  const table = parseOvmfTable(image);
  if (!table.length)
    throw new FirmwareError('no OVMF footer table (GUID 96b582de-1fb2-45f7-baea-a366c55a082d): not an OVMF image');
  const entry = findOvmfEntry(table, TDX_METADATA_OFFSET_GUID);
  if (!entry)
    throw new FirmwareError(
      `the OVMF footer table has no TDX metadata offset entry (GUID ${TDX_METADATA_OFFSET_GUID}): not a TDVF image`,
    );
  if (entry.data.length < 4)
    throw new FirmwareError(`the TDX metadata offset entry holds ${entry.data.length} bytes, not a u32 offset`);
  const view = new DataView(image.buffer, image.byteOffset, image.byteLength);
  const fromEnd = view.getUint32(entry.offset, true);
  const offset = size - fromEnd;
  if (offset < 0 || offset + TDVF_DESCRIPTOR_SIZE > size)
    throw new FirmwareError(
      `the TDX metadata offset ${hex(fromEnd)} from the image end puts the TDVF descriptor outside the ${hex(size)}-byte image`,
    );
  const signature = view.getUint32(offset, true);
  if (signature !== TDVF_SIGNATURE)
    throw new FirmwareError(
      `no 'TDVF' signature at ${hex(offset)} (found ${hex(signature)}): the TDX metadata offset is wrong`,
    );
  const length = view.getUint32(offset + 4, true);
  if (offset + length > size)
    throw new FirmwareError(`the TDVF descriptor at ${hex(offset)} has Length ${hex(length)}, beyond the image end`);
  const version = view.getUint32(offset + 8, true);
  if (version !== TDVF_VERSION)
    throw new FirmwareError(`TDVF metadata version ${version} is not supported (only ${TDVF_VERSION})`);
  const n = view.getUint32(offset + 12, true);
  if (n < 2) throw new FirmwareError(`TDVF metadata has ${n} section entries; QEMU needs at least 2`);
  if (length !== TDVF_DESCRIPTOR_SIZE + TDVF_SECTION_SIZE * n)
    throw new FirmwareError(
      `TDVF metadata Length ${hex(length)} does not match its ${n} section entries (expected ${hex(TDVF_DESCRIPTOR_SIZE + TDVF_SECTION_SIZE * n)})`,
    );

  const sections: TdvfSection[] = [];
  for (let i = 0; i < n; i++) {
    const at = offset + TDVF_DESCRIPTOR_SIZE + i * TDVF_SECTION_SIZE;
    const dataOffset = view.getUint32(at, true);
    const rawDataSize = view.getUint32(at + 4, true);
    const memoryAddress = view.getBigUint64(at + 8, true);
    const memoryDataSize = view.getBigUint64(at + 16, true);
    const typeNo = view.getUint32(at + 24, true);
    const attributes = view.getUint32(at + 28, true);
    const what = `TDVF section ${i}`;
    if (memoryDataSize < BigInt(rawDataSize))
      throw new FirmwareError(
        `${what}: MemoryDataSize ${hex(memoryDataSize)} is smaller than RawDataSize ${hex(rawDataSize)}`,
      );
    if (memoryAddress % TDVF_ALIGNMENT)
      throw new FirmwareError(`${what}: MemoryAddress ${hex(memoryAddress)} is not 4 KiB aligned`);
    if (memoryDataSize % TDVF_ALIGNMENT)
      throw new FirmwareError(`${what}: MemoryDataSize ${hex(memoryDataSize)} is not 4 KiB aligned`);
    const type = (Object.keys(TdvfSectionType) as TdvfSectionTypeName[]).find((k) => TdvfSectionType[k] === typeNo);
    if (type === undefined)
      throw new FirmwareError(
        `${what}: type ${typeNo}${TD_SHIM_TYPES[typeNo] ? ` (td-shim ${TD_SHIM_TYPES[typeNo]})` : ''} is not supported (QEMU takes BFV, CFV, TD_HOB, TEMP_MEM)`,
      );
    if ((type === 'BFV' || type === 'CFV') && rawDataSize === 0)
      throw new FirmwareError(`${what} (${type}): RawDataSize is 0, but a ${type} is copied from the image`);
    if ((type === 'TD_HOB' || type === 'TEMP_MEM') && rawDataSize !== 0)
      throw new FirmwareError(
        `${what} (${type}): RawDataSize ${hex(rawDataSize)} is not 0, but a ${type} has no data in the image`,
      );
    if ((type === 'TD_HOB' || type === 'TEMP_MEM') && memoryDataSize === 0n)
      throw new FirmwareError(`${what} (${type}): MemoryDataSize is 0 (QEMU cannot map memory for it)`);
    sections.push({ index: i, type, dataOffset, rawDataSize, memoryAddress, memoryDataSize, attributes });
  }

  const hobs = sections.filter((s) => s.type === 'TD_HOB');
  if (hobs.length !== 1)
    throw new FirmwareError(
      hobs.length
        ? `TDVF metadata has ${hobs.length} TD_HOB sections (${hobs.map((s) => s.index).join(', ')}); exactly one is expected`
        : 'TDVF metadata has no TD_HOB section: QEMU needs its address for KVM_TDX_INIT_VCPU',
    );

  for (const s of sections) {
    if (s.memoryAddress + s.memoryDataSize >= 1n << 64n)
      throw new FirmwareError(
        `${describeSection(s)}: MemoryAddress ${hex(s.memoryAddress)} + MemoryDataSize ${hex(s.memoryDataSize)} wraps around`,
      );
    if (s.type !== 'BFV' && s.type !== 'CFV') continue;
    // QEMU copies MemoryDataSize bytes from image + DataOffset: they must be in the image
    if (s.dataOffset + s.rawDataSize > size)
      throw new FirmwareError(
        `${describeSection(s)}: DataOffset ${hex(s.dataOffset)} + RawDataSize ${hex(s.rawDataSize)} is beyond the end of the ${hex(size)}-byte image (a split OVMF_CODE.fd? TDX needs the combined image, as QEMU -bios takes it)`,
      );
    if (BigInt(s.dataOffset) + s.memoryDataSize > BigInt(size))
      throw new FirmwareError(
        `${describeSection(s)}: MemoryDataSize ${hex(s.memoryDataSize)} from DataOffset ${hex(s.dataOffset)} reaches beyond the end of the ${hex(size)}-byte image`,
      );
  }
  return { offset, sections, hob: hobs[0]! };
}
