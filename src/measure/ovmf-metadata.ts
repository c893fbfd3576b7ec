/**
 * `--ovmf-metadata FILE`: an SEV-SNP launch from a precalculated OVMF hash without the OVMF image.
 * What the launch needs of the image besides its pages is its SEV metadata (the pages QEMU adds
 * after it) and the APs' reset EIP; sev-snp-measure-go keeps exactly these in a JSON document
 * (guest/testdata/ovmf_img_*.json: MetadataItems [{GPA, Size, SectionTypeInt}], ResetEIP,
 * OVMFHash). From it this builds a one-page stand-in image whose OVMF footer table carries the same
 * facts (an SEV metadata descriptor and an SEV-ES reset block, nothing else), which the launch
 * builder reads as it reads a real image; its pages are never measured (the launch starts from the
 * OVMF hash). Pure: text in, bytes out; a FirmwareError for a document that does not say enough.
 */
import { hex0x as hex } from '../util/hex.ts';
import { FirmwareError, guidBytes, OVMF_TABLE_END_OFFSET, OVMF_TABLE_FOOTER_GUID } from './ovmf.ts';
import { OVMF_SEV_METADATA_GUID, SEV_ES_RESET_BLOCK_GUID, SEV_METADATA_SIGNATURE } from './sevmeta.ts';

export interface OvmfMetadataDoc {
  /** the stand-in image: one page, footer table, SEV metadata */
  image: Uint8Array;
  /** OVMFHash of the document, lower case, if it has one */
  ovmfHash?: string;
  sections: number;
}

const PAGE = 4096;
const DESCRIPTOR_AT = 0x100;

function num(v: unknown, what: string): number {
  const n =
    typeof v === 'number' ? v : typeof v === 'string' && /^(0x[0-9a-fA-F]+|[0-9]+)$/.test(v) ? Number(v) : Number.NaN;
  if (!Number.isSafeInteger(n) || n < 0 || n >= 2 ** 32)
    throw new FirmwareError(`${what}: ${JSON.stringify(v)} is not a u32`);
  return n;
}

export function ovmfFromMetadata(text: string): OvmfMetadataDoc {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new FirmwareError(`not JSON: ${(e as Error).message}`);
  }
  if (typeof doc !== 'object' || doc === null)
    throw new FirmwareError('expected a JSON object with MetadataItems and ResetEIP');
  const d = doc as Record<string, unknown>;
  if (!Array.isArray(d.MetadataItems))
    throw new FirmwareError('MetadataItems: expected a list of {GPA, Size, SectionTypeInt}');
  const items = d.MetadataItems.map((it: unknown, i: number) => {
    const o = (it ?? {}) as Record<string, unknown>;
    return {
      gpa: num(o.GPA, `MetadataItems[${i}].GPA`),
      size: num(o.Size, `MetadataItems[${i}].Size`),
      type: num(o.SectionTypeInt, `MetadataItems[${i}].SectionTypeInt`),
    };
  });
  const resetEip = num(d.ResetEIP, 'ResetEIP');
  let ovmfHash: string | undefined;
  if (d.OVMFHash !== undefined) {
    if (typeof d.OVMFHash !== 'string' || !/^[0-9a-fA-F]{96}$/.test(d.OVMFHash))
      throw new FirmwareError('OVMFHash: a launch digest is 96 hex digits');
    ovmfHash = d.OVMFHash.toLowerCase();
  }
  const need = DESCRIPTOR_AT + 16 + 12 * items.length;
  if (need > PAGE - 200) throw new FirmwareError(`${items.length} metadata items: too many for the stand-in image`);

  const img = new Uint8Array(PAGE);
  const v = new DataView(img.buffer);
  // the 'ASEV' descriptor and its sections, in the document's order
  v.setUint32(DESCRIPTOR_AT, SEV_METADATA_SIGNATURE, true);
  v.setUint32(DESCRIPTOR_AT + 4, 16 + 12 * items.length, true);
  v.setUint32(DESCRIPTOR_AT + 8, 1, true);
  v.setUint32(DESCRIPTOR_AT + 12, items.length, true);
  items.forEach((it, i) => {
    const at = DESCRIPTOR_AT + 16 + 12 * i;
    v.setUint32(at, it.gpa, true);
    v.setUint32(at + 4, it.size, true);
    v.setUint32(at + 8, it.type, true);
  });
  // the footer table: reset block, metadata offset, footer (data ‖ u16 length ‖ GUID each)
  const entries: [string, number][] = [
    [SEV_ES_RESET_BLOCK_GUID, resetEip],
    [OVMF_SEV_METADATA_GUID, PAGE - DESCRIPTOR_AT],
  ];
  const tableEnd = PAGE - OVMF_TABLE_END_OFFSET;
  const total = 18 + entries.length * 22;
  let at = tableEnd - total;
  for (const [guid, value] of entries) {
    v.setUint32(at, value, true);
    v.setUint16(at + 4, 22, true);
    img.set(guidBytes(guid), at + 6);
    at += 22;
  }
  v.setUint16(at, total, true);
  img.set(guidBytes(OVMF_TABLE_FOOTER_GUID), at + 2);
  if (at + 18 !== tableEnd) throw new Error(`Model invariant violated: footer table ends at ${hex(at + 18)}`);
  return { image: img, ...(ovmfHash ? { ovmfHash } : {}), sections: items.length };
}
