/**
 * The initial VMSA (struct sev_es_save_area, 4 KiB) of a vCPU at reset, as QEMU, AWS ec2 and GCE
 * set it up (measurement.md §2.2 "VMSA page", sev-snp-measure vmsa.py): the BSP starts at
 * 0xfffffff0, APs at the firmware's SEV-ES reset block EIP.
 */

export type VmmType = 'QEMU' | 'ec2' | 'gce' | 'svsm';

/** the BSP's reset EIP (the x86 reset vector) */
export const BSP_RESET_EIP = 0xfffffff0;

export interface VmsaParams {
  /** reset EIP (BSP_RESET_EIP for the BSP) */
  eip: number;
  /** CPUID 1 EAX of the vCPU: the VMSA's RDX */
  signature: number;
  /** sev_features (SNP_ACTIVE | DebugSwap …) */
  sevFeatures: bigint;
  vmm: VmmType;
  /** ec2 before sev-snp-measure v0.0.13 (and sev-snp-measure-go): RDX 0 */
  ec2LegacyRdx?: boolean;
}

export function buildVmsa(p: VmsaParams): Uint8Array {
  if (p.vmm === 'svsm') return buildSvsmVmsa(p);
  const page = new Uint8Array(4096);
  const v = new DataView(page.buffer);
  const seg = (off: number, selector: number, attrib: number, limit: number, base: bigint) => {
    v.setUint16(off, selector, true);
    v.setUint16(off + 2, attrib, true);
    v.setUint32(off + 4, limit, true);
    v.setBigUint64(off + 8, base, true);
  };
  const ec2 = p.vmm === 'ec2';
  const gce = p.vmm === 'gce';
  const csAttrib = ec2 && p.eip === BSP_RESET_EIP ? 0x9a : 0x9b;
  seg(0x00, 0, 0x93, 0xffff, 0n); // es
  seg(0x10, 0xf000, csAttrib, 0xffff, BigInt((p.eip & 0xffff0000) >>> 0)); // cs
  seg(0x20, 0, ec2 ? 0x92 : 0x93, 0xffff, 0n); // ss
  seg(0x30, 0, 0x93, 0xffff, 0n); // ds
  seg(0x40, 0, 0x93, 0xffff, 0n); // fs
  seg(0x50, 0, 0x93, 0xffff, 0n); // gs
  seg(0x60, 0, 0, 0xffff, 0n); // gdtr
  seg(0x70, 0, 0x82, 0xffff, 0n); // ldtr
  seg(0x80, 0, 0, 0xffff, 0n); // idtr
  seg(0x90, 0, ec2 ? 0x83 : 0x8b, 0xffff, 0n); // tr
  v.setBigUint64(0xd0, 0x1000n, true); // efer (SVME)
  v.setBigUint64(0x148, 0x40n, true); // cr4 (MCE)
  v.setBigUint64(0x158, 0x10n, true); // cr0 (ET)
  v.setBigUint64(0x160, 0x400n, true); // dr7
  v.setBigUint64(0x168, 0xffff0ff0n, true); // dr6
  v.setBigUint64(0x170, 0x2n, true); // rflags
  v.setBigUint64(0x178, BigInt(p.eip & 0xffff), true); // rip
  v.setBigUint64(0x268, gce ? 0x00070106n : 0x0007040600070406n, true); // g_pat
  const rdx = ec2 ? (p.ec2LegacyRdx ? 0 : 0x600) : gce ? 0x600 : p.signature;
  v.setBigUint64(0x310, BigInt(rdx), true); // rdx
  v.setBigUint64(0x3b0, p.sevFeatures, true); // sev_features
  v.setBigUint64(0x3e8, 1n, true); // xcr0
  if (!ec2 && !gce) {
    v.setUint32(0x408, 0x1f80, true); // mxcsr
    v.setUint16(0x410, 0x37f, true); // x87_fcw
  }
  return page;
}

/**
 * The VMSA coconut QEMU gives every vCPU of a guest that boots the Coconut SVSM (sev-snp-measure
 * VMSA_SVSM, measurement.md §2.2 "SVSM mode"): 64-bit flat segments, CR0 PE|ET, RIP = the SVSM
 * entry (not split into CS base and IP), no x87 FCW.
 */
function buildSvsmVmsa(p: VmsaParams): Uint8Array {
  const page = new Uint8Array(4096);
  const v = new DataView(page.buffer);
  const seg = (off: number, selector: number, attrib: number, limit: number) => {
    v.setUint16(off, selector, true);
    v.setUint16(off + 2, attrib, true);
    v.setUint32(off + 4, limit, true);
  };
  seg(0x00, 16, 0xc93, 0xffffffff); // es
  seg(0x10, 8, 0xc9b, 0xffffffff); // cs
  seg(0x20, 16, 0xc93, 0xffffffff); // ss
  seg(0x30, 16, 0xc93, 0xffffffff); // ds
  seg(0x40, 16, 0xc93, 0xffffffff); // fs
  seg(0x50, 0, 0x93, 0xffff); // gs
  seg(0x60, 0, 0, 0xffff); // gdtr
  seg(0x70, 0, 0x82, 0xffff); // ldtr
  seg(0x80, 0, 0, 0xffff); // idtr
  seg(0x90, 0, 0x8b, 0xffff); // tr
  v.setBigUint64(0xd0, 0x1000n, true); // efer (SVME)
  v.setBigUint64(0x148, 0x40n, true); // cr4 (MCE)
  v.setBigUint64(0x158, 0x11n, true); // cr0 (PE | ET)
  v.setBigUint64(0x160, 0x400n, true); // dr7
  v.setBigUint64(0x168, 0xffff0ff0n, true); // dr6
  v.setBigUint64(0x170, 0x2n, true); // rflags
  v.setBigUint64(0x178, BigInt(p.eip >>> 0), true); // rip: the SVSM entry
  v.setBigUint64(0x268, 0x0007040600070406n, true); // g_pat
  v.setBigUint64(0x310, BigInt(p.signature >>> 0), true); // rdx
  v.setBigUint64(0x3b0, p.sevFeatures, true); // sev_features
  v.setBigUint64(0x3e8, 1n, true); // xcr0
  v.setUint32(0x408, 0x1f80, true); // mxcsr (x87_fcw stays 0)
  return page;
}

/**
 * CPUID Fn0000_0001_EAX for a family/model/stepping, as sev-snp-measure's cpu_sig computes it (AMD
 * CPUID specification #25481): stepping in bits 3:0, model in 7:4 with its high nibble in the
 * extended model, bits 19:16; a family above 0xf is base family 0xf plus the extended family, bits
 * 27:20. Each field keeps only its own bits: a stepping above 0xf or an extended family above 0xff
 * does not spill into the next field.
 */
export function cpuSignature(family: number, model: number, stepping: number): number {
  const famLow = Math.min(family, 0xf);
  const famExt = family > 0xf ? (family - 0xf) & 0xff : 0;
  const modLow = model & 0xf;
  const modExt = (model >> 4) & 0xf;
  return ((famExt << 20) | (modExt << 16) | (famLow << 8) | (modLow << 4) | (stepping & 0xf)) >>> 0;
}
