/**
 * What the PSP does to a CPUID page it rejects (SNP_LAUNCH_UPDATE type CPUID, INVALID_PARAM): it
 * writes back the values it would accept. The page is struct snp_cpuid_table (count, then 48-byte
 * entries: eax_in, ecx_in, xcr0_in, xss_in, eax, ebx, ecx, edx, reserved). The model's PSP accepts
 * only the bits of a fixed host CPU profile and clears the rest (its "corrections").
 */

/** output-register masks the modelled host allows, per leaf; other leaves are passed unchanged */
const HOST_MASKS: Record<number, [number, number, number, number]> = {
  // leaf 1: no hypervisor-reserved ECX bit 31 forging, no MONITOR (ECX bit 3)
  1: [0xffffffff, 0xffffffff, 0x7ffffff7, 0xffffffff],
  // leaf 7: no TSX (EBX bits 4 and 11)
  7: [0xffffffff, 0xfffff7ef, 0xffffffff, 0xffffffff],
};

export function correctCpuidPage(page: Uint8Array): Uint8Array {
  const out = page.slice();
  const v = new DataView(out.buffer);
  const count = Math.min(v.getUint32(0, true), 64);
  for (let i = 0; i < count; i++) {
    const e = 16 + i * 48;
    const leaf = v.getUint32(e, true);
    const m = HOST_MASKS[leaf];
    if (!m) continue;
    for (let r = 0; r < 4; r++) v.setUint32(e + 24 + r * 4, v.getUint32(e + 24 + r * 4, true) & m[r]!, true);
  }
  return out;
}
