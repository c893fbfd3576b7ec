/**
 * The core's public API alone gives TDX and SNP VMs their arch hooks and their rules: this file
 * imports nothing of gmemsim but src/core/index.ts (no host, no scenario runner), as a caller of the
 * pure core would. When the arch modules registered themselves as an import side effect, a kernel
 * made here answered every KVM_MEMORY_ENCRYPT_OP with the generic ENOTTY of a VM that is neither
 * TDX nor SEV, and the catalogue had no TDX or SNP rule.
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { allRules, createKernel, KVM_FD, type Op, type Sha384Factory } from '../src/core/index.ts';

const sha384: Sha384Factory = () => {
  const h = createHash('sha384');
  const s = { update: (d: Uint8Array) => void h.update(d), copy: () => s, digest: () => h.digest() };
  return s;
};

/** KVM_X86_TDX_VM, KVM_X86_SNP_VM, KVM_TDX_CAPABILITIES, KVM_SEV_SNP_LAUNCH_START: uapi values */
const TDX_VM = 5n;
const SNP_VM = 4n;
const KVM_TDX_CAPABILITIES = 0n;
const KVM_SEV_SNP_LAUNCH_START = 100n;

const encOp = (fd: bigint, id: bigint, data: Extract<Op, { op: 'KVM_MEMORY_ENCRYPT_OP' }>['data']): Op => ({
  op: 'KVM_MEMORY_ENCRYPT_OP',
  fd,
  id,
  flags: 0n,
  data,
  hw_error: 0n,
  error: 0n,
  sev_fd: 0n,
});

describe('the core with no other import', () => {
  it('answers a TDX ioctl with a TDX rule', () => {
    const k = createKernel('in-place', sha384);
    const vm = k.step({ op: 'KVM_CREATE_VM', fd: BigInt(KVM_FD), type: TDX_VM });
    expect(vm.errno).toBeUndefined();
    const caps = k.step(encOp(vm.ret, KVM_TDX_CAPABILITIES, { cpuid: { nent: 12n, padding: 0n, entries: [] } }));
    expect(caps.rule.id).toBe('tdx.vm.capabilities');
    expect(caps.errno).toBeUndefined();
  });

  it('answers an SNP ioctl with an SNP rule', () => {
    const k = createKernel('in-place', sha384);
    const vm = k.step({ op: 'KVM_CREATE_VM', fd: BigInt(KVM_FD), type: SNP_VM });
    expect(vm.errno).toBeUndefined();
    const start = k.step(encOp(vm.ret, KVM_SEV_SNP_LAUNCH_START, { policy: 0x30000n }));
    expect(start.rule.id).toMatch(/^snp\./);
  });

  it('lists the TDX and SNP rules in the catalogue', () => {
    const ids = allRules().map((r) => r.id);
    expect(ids).toContain('tdx.vm.capabilities');
    expect(ids).toContain('snp.arch.measurement');
  });
});
