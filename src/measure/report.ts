/**
 * The launch measurement read from an attestation document, for `gmemsim measure ... --report FILE`.
 * Pure: bytes in, the 48-byte measurement and what the document was out; anything else is a
 * FirmwareError-like ReportError naming what is wrong.
 *
 * - SEV-SNP ATTESTATION_REPORT (AMD SEV-SNP Firmware ABI specification #56860, "ATTESTATION_REPORT
 *   structure"): 0x4A0 bytes, VERSION u32 at 0x00 (2, 3 or 5 in use), MEASUREMENT 48 bytes at 0x90.
 *   Also as the guest driver's MSG_REPORT_RSP wraps it (u32 status, u32 report_size, 0x18 reserved,
 *   then the report at 0x20: linux include/uapi/linux/sev-guest.h users, snpguest).
 * - TDX TDREPORT_STRUCT (Intel TDX Module ABI, TDG.MR.REPORT): 1024 bytes, REPORTMACSTRUCT (256) at
 *   0, TEE_TCB_INFO (239) at 256, 17 reserved, TDINFO_STRUCT at 512: ATTRIBUTES u64, XFAM u64, MRTD
 *   at 512 + 16 = 0x210.
 * - TDX quote (Intel TDX DCAP Quote Generation Library, "Quote Format"): a 48-byte header (u16
 *   version 4 or 5, u16 attestation key type, u32 TEE type 0x81 for TDX), then in version 4 the TD
 *   quote body at 48, in version 5 a u16 body type (2 TDX 1.0, 3 TDX 1.5) and u32 size, the body at
 *   54. The body starts TEE_TCB_SVN (16), MRSEAM (48), MRSIGNERSEAM (48), SEAMATTRIBUTES (8),
 *   TDATTRIBUTES (8), XFAM (8), then MRTD: at 48 + 136 = 184 (v4) or 54 + 136 = 190 (v5).
 */
import { toHex } from '../util/hex.ts';

export class ReportError extends Error {}

export interface ReportMeasurement {
  /** 96 hex digits */
  measurement: string;
  /** what was read, and where: 'SEV-SNP attestation report v2, MEASUREMENT at 0x90' */
  what: string;
}

export const SNP_REPORT_SIZE = 0x4a0;
export const SNP_MEASUREMENT_OFFSET = 0x90;
const SNP_RESPONSE_HEADER = 0x20;
const SNP_VERSIONS = [2, 3, 5];
export const TDREPORT_SIZE = 1024;
export const TDREPORT_MRTD_OFFSET = 0x210;
const QUOTE_HEADER = 48;
const TEE_TYPE_TDX = 0x81;
/** TEE_TCB_SVN, MRSEAM, MRSIGNERSEAM, SEAMATTRIBUTES, TDATTRIBUTES, XFAM */
const BODY_MRTD = 16 + 48 + 48 + 8 + 8 + 8;

const at = (b: Uint8Array, off: number, what: string): ReportMeasurement => ({
  measurement: toHex(b.subarray(off, off + 48)),
  what: `${what}, at offset 0x${off.toString(16)}`,
});

export function snpReportMeasurement(b: Uint8Array): ReportMeasurement {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  let base = 0;
  let wrap = '';
  if (b.length === SNP_RESPONSE_HEADER + SNP_REPORT_SIZE) {
    const status = v.getUint32(0, true);
    const size = v.getUint32(4, true);
    if (status !== 0) throw new ReportError(`an SNP MSG_REPORT_RSP with status 0x${status.toString(16)}: no report`);
    if (size !== SNP_REPORT_SIZE)
      throw new ReportError(`an SNP MSG_REPORT_RSP says report_size 0x${size.toString(16)}, not 0x4a0`);
    base = SNP_RESPONSE_HEADER;
    wrap = ' in an MSG_REPORT_RSP';
  } else if (b.length !== SNP_REPORT_SIZE)
    throw new ReportError(
      `${b.length} bytes: an SEV-SNP attestation report is 0x4a0 (1184) bytes, 0x4c0 inside an MSG_REPORT_RSP`,
    );
  const version = v.getUint32(base, true);
  if (!SNP_VERSIONS.includes(version))
    throw new ReportError(`SEV-SNP attestation report version ${version}: gmemsim reads versions 2, 3 and 5`);
  return at(b, base + SNP_MEASUREMENT_OFFSET, `SEV-SNP attestation report v${version}${wrap}, MEASUREMENT`);
}

export function tdxReportMeasurement(b: Uint8Array): ReportMeasurement {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  if (b.length >= QUOTE_HEADER + 6) {
    const version = v.getUint16(0, true);
    const tee = v.getUint32(4, true);
    if ((version === 4 || version === 5) && tee === TEE_TYPE_TDX) {
      if (version === 4) {
        if (b.length < QUOTE_HEADER + BODY_MRTD + 48) throw new ReportError('a TDX quote v4 too short for its body');
        return at(b, QUOTE_HEADER + BODY_MRTD, 'TDX quote v4, TD quote body MRTD');
      }
      const type = v.getUint16(QUOTE_HEADER, true);
      if (type !== 2 && type !== 3)
        throw new ReportError(`a TDX quote v5 with body type ${type}: only TD report bodies (2, 3) carry an MRTD`);
      if (b.length < QUOTE_HEADER + 6 + BODY_MRTD + 48) throw new ReportError('a TDX quote v5 too short for its body');
      return at(b, QUOTE_HEADER + 6 + BODY_MRTD, `TDX quote v5 (body type ${type}), MRTD`);
    }
  }
  if (b.length === TDREPORT_SIZE) return at(b, TDREPORT_MRTD_OFFSET, 'TDX TDREPORT_STRUCT, TDINFO MRTD');
  throw new ReportError(
    `${b.length} bytes: neither a TDREPORT_STRUCT (1024 bytes) nor a TDX quote (version 4 or 5, TEE type 0x81)`,
  );
}

/** --expect's value: 96 hex digits, or the 64-character base64 of 48 bytes (--output-format base64) */
export function parseExpected(s: string): string | undefined {
  const t = s.trim();
  if (/^(0x)?[0-9a-fA-F]{96}$/.test(t)) return t.replace(/^0x/, '').toLowerCase();
  if (/^[A-Za-z0-9+/]{64}$/.test(t)) {
    const bin = atob(t);
    return Array.from(bin, (c) => c.charCodeAt(0).toString(16).padStart(2, '0')).join('');
  }
  return undefined;
}
