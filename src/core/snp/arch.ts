/** SEV-SNP's arch hooks (svm_x86_ops for an SNP VM): the core's arch table holds them for KVM_X86_SNP_VM. */

import { toHex } from '../../util/hex.ts';
import type { ArchOps } from '../arch.ts';
import { fail, ok } from '../outcome.ts';
import { cite, defineRules } from '../rule.ts';
import { R as RunR, snpRuntime } from './runtime.ts';
import { R as SevR, sevMemEncOp } from './sev.ts';
import { sevRuleSets } from './sev_vm.ts';
import { measuredOf, newSnp, rmpOf, snpOf, validatedOf } from './state.ts';

export const R = defineRules('snp.arch', 'SEV-SNP', {
  vcpuIoctl: {
    op: 'KVM_MEMORY_ENCRYPT_OP',
    errno: 'ENOTTY',
    reason: 'SEV has no vCPU-scope KVM_MEMORY_ENCRYPT_OP (svm_x86_ops sets no vcpu_mem_enc_ioctl)',
    cite: cite.fork('arch/x86/kvm/x86.c', 'kvm_arch_vcpu_ioctl'),
  },
  runNotSnp: {
    op: 'KVM_RUN',
    errno: 'EINVAL',
    reason: 'KVM_RUN on an SNP-type VM before KVM_SEV_INIT2 (need_init is still set)',
    cite: cite.fork('arch/x86/kvm/svm/svm.c', 'svm_vcpu_pre_run'),
  },
  notFinished: {
    op: 'attest',
    errno: 'EINVAL',
    reason: 'the launch digest is final only after SNP_LAUNCH_FINISH',
    cite: cite.kxSev('snp_launch_finish'),
    confidence: 'inferred',
  },
  measurement: {
    op: 'attest',
    reason: "the MEASUREMENT of the guest's attestation report: the final launch digest",
    cite: cite.kxSev('snp_launch_finish'),
  },
});

/** every SEV-SNP rule set (the catalogue lists them) */
export const snpRuleSets = [R, SevR, RunR, ...sevRuleSets];

export const snpArch: ArchOps = {
  initVm(k, vm) {
    vm.arch = newSnp(k);
  },
  runtime: snpRuntime,
  privateMapped: (vm, inode, index) => rmpOf(snpOf(vm), inode).has(index),
  memEncOp(k, op, vm, vcpu) {
    if (vcpu) return fail(R.vcpuIoctl);
    return sevMemEncOp(k, op, vm);
  },
  mapPrivate(_k, vm, inode, gfn, end, index) {
    // kvm_gmem_prepare → sev_gmem_prepare: rmp_make_private of each page (assigned, not validated)
    const snp = snpOf(vm);
    if (snp.psp.state === 'RUNNING') {
      // at run time, bytes the host left in the page in plaintext read through the guest's key as
      // ciphertext: not defined (only the guest's own writes from now on are)
      for (let i = index; i < index + (end - gfn); i++) if (inode.content.has(i)) inode.guestUndefined.add(i);
    }
    rmpOf(snp, inode).add(index, index + (end - gfn));
  },
  makeShared(_k, inode, start, end) {
    // kvm_arch_gmem_make_shared: RMP → shared; what the guest left there is ciphertext to the host
    const snp = snpOf(inode.vm);
    const rmp = rmpOf(snp, inode);
    for (const [s, e] of rmp.within(start, end)) inode.undefinedContent.add(s, e);
    rmp.delete(start, end);
    validatedOf(snp, inode).delete(start, end);
    // what the guest wrote privately is ciphertext to the host now, not its plaintext
    inode.guestWritten.delete(start, end);
    measuredOf(snp, inode).delete(start, end);
  },
  gmemInvalidate(k, inode, start, end) {
    rmpOf(snpOf(inode.vm), inode).delete(start, end);
    // rmp_make_shared of the freed page: the hardware clears the Validated bit with the assignment
    if (k.safeguard('rmp-reclaim')) validatedOf(snpOf(inode.vm), inode).delete(start, end);
    measuredOf(snpOf(inode.vm), inode).delete(start, end);
  },
  preRun(_k, vcpu) {
    return snpOf(vcpu.vm).active ? null : R.runNotSnp;
  },
  attest(_k, vm) {
    const snp = snpOf(vm);
    if (snp.psp.state !== 'RUNNING') return fail(R.notFinished);
    return ok(R.measurement, 0, { measurement: toHex(snp.psp.ld) });
  },
  describe(vm) {
    const snp = snpOf(vm);
    return {
      active: snp.active,
      launched: snp.context,
      state: snp.psp.state,
      updates: snp.psp.updates,
      ld: toHex(snp.psp.ld),
    };
  },
};
