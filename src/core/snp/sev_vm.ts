/**
 * SEV and SEV-ES VMs (KVM_X86_SEV_VM, KVM_X86_SEV_ES_VM): KVM_SEV_INIT2 only. The legacy SEV launch
 * commands are out of the model's scope; INIT2 and the VM types are the same ioctl as SNP's, and
 * the KVM selftest sev_init2_tests asserts what it does (docs/notes/releases.md §4.4,
 * docs/notes/kernel-snp.md §2: sev_guest_init2 → __sev_guest_init).
 */
import type { ArchOps } from '../arch.ts';
import type { Kernel } from '../kernel.ts';
import { type Op, structOf } from '../ops.ts';
import { fail, type Outcome, ok } from '../outcome.ts';
import { cite, defineRules } from '../rule.ts';
import type { ArchVm, Vm } from '../state.ts';
import { SevCmd, VmType } from '../uapi.ts';
import { SVM_SEV_FEAT_DEBUG_SWAP } from './state.ts';

const sev = (fn: string) => cite.kxSev(fn);

export const R = defineRules('sev', 'KVM_SEV_INIT2', {
  vcpuIoctl: {
    op: 'KVM_MEMORY_ENCRYPT_OP',
    errno: 'ENOTTY',
    reason: 'SEV has no vCPU-scope KVM_MEMORY_ENCRYPT_OP (svm_x86_ops sets no vcpu_mem_enc_ioctl)',
    cite: cite.fork('arch/x86/kvm/x86.c', 'kvm_arch_vcpu_ioctl'),
  },
  notInitNeeded: {
    errno: 'EINVAL',
    reason: 'KVM_SEV_INIT2 again: need_init was cleared by the first one',
    cite: sev('sev_guest_init2'),
  },
  efault: { errno: 'EFAULT', reason: 'struct kvm_sev_init cannot be read', cite: sev('sev_guest_init2') },
  vcpus: { errno: 'EINVAL', reason: 'KVM_SEV_INIT2 after vCPUs were created', cite: sev('__sev_guest_init') },
  flags: { errno: 'EINVAL', reason: 'kvm_sev_init.flags must be 0', cite: sev('__sev_guest_init') },
  features: {
    errno: 'EINVAL',
    reason:
      'vmsa_features not offered: any bit for a plain SEV VM; for SEV-ES, bits outside KVM_X86_SEV_VMSA_FEATURES (DebugSwap; Secure TSC is SNP-only)',
    cite: sev('__sev_guest_init'),
  },
  ghcb: {
    errno: 'EINVAL',
    reason: 'ghcb_version above 2, or non-zero for a plain SEV VM',
    cite: sev('__sev_guest_init'),
  },
  init2: {
    reason: 'the VM is an active SEV (SEV-ES) guest; sev_init2_tests: a zeroed kvm_sev_init succeeds with cmd.error 0',
    cite: sev('__sev_guest_init'),
  },
  legacyInit: {
    op: 'KVM_MEMORY_ENCRYPT_OP (SEV)',
    errno: 'EINVAL',
    reason:
      'KVM_SEV_INIT / KVM_SEV_ES_INIT are for KVM_X86_DEFAULT_VM; SEV and SEV-ES VM types are initialized with KVM_SEV_INIT2',
    cite: sev('sev_guest_init'),
  },
  legacyNotSev: {
    op: 'KVM_MEMORY_ENCRYPT_OP (SEV)',
    errno: 'ENOTTY',
    reason: 'a legacy SEV command on a VM that is not an SEV guest yet (no KVM_SEV_INIT2)',
    cite: sev('sev_mem_enc_ioctl'),
  },
  legacyOutOfScope: {
    op: 'KVM_MEMORY_ENCRYPT_OP (SEV)',
    errno: 'ENOTTY',
    reason:
      'a legacy SEV launch command after KVM_SEV_INIT2: not modelled (the legacy SEV launch flow is out of scope); the model refuses it',
    cite: sev('sev_mem_enc_ioctl'),
    confidence: 'inferred',
  },
  snpCmd: {
    op: 'KVM_MEMORY_ENCRYPT_OP (SEV)',
    errno: 'ENOTTY',
    reason: 'an SNP command on a VM that is not an SNP guest (!sev_snp_guest)',
    cite: sev('snp_launch_start'),
  },
});

interface SevVm extends ArchVm {
  readonly kind: 'sev';
  active: boolean;
  vmsaFeatures: bigint;
}

function sevOf(vm: Vm): SevVm {
  return vm.arch as SevVm;
}

type EncOp = Extract<Op, { op: 'KVM_MEMORY_ENCRYPT_OP' }>;

function init2(k: Kernel, vm: Vm, op: EncOp): Outcome {
  const s = sevOf(vm);
  if (s.active) return fail(R.notInitNeeded);
  if (k.inject.efault) return fail(R.efault);
  const d = structOf(op, 'KVM_SEV_INIT2');
  if (vm.vcpus.length > 0) return fail(R.vcpus);
  if (d.flags !== 0n) return fail(R.flags);
  const es = vm.type === VmType.KVM_X86_SEV_ES_VM;
  // the modelled host offers DebugSwap to SEV-ES (Secure TSC is removed unless the VM is SNP)
  const valid = es ? SVM_SEV_FEAT_DEBUG_SWAP : 0n;
  if ((d.vmsa_features & ~valid) !== 0n) return fail(R.features);
  if (d.ghcb_version > 2n || (!es && d.ghcb_version !== 0n)) return fail(R.ghcb);
  s.active = true;
  s.vmsaFeatures = d.vmsa_features;
  return ok(R.init2, 0, { error: 0n });
}

export const sevRuleSets = [R];

export const sevArch: ArchOps = {
  initVm(_k, vm) {
    const s: SevVm = { kind: 'sev', active: false, vmsaFeatures: 0n };
    vm.arch = s;
  },
  memEncOp(k, op, vm, vcpu) {
    if (vcpu) return fail(R.vcpuIoctl);
    if (op.id === BigInt(SevCmd.KVM_SEV_INIT2)) return init2(k, vm, op);
    if (op.id >= 100n) return fail(R.snpCmd);
    if (op.id === BigInt(SevCmd.KVM_SEV_INIT) || op.id === BigInt(SevCmd.KVM_SEV_ES_INIT)) return fail(R.legacyInit);
    return fail(sevOf(vm).active ? R.legacyOutOfScope : R.legacyNotSev);
  },
  describe(vm) {
    const s = sevOf(vm);
    return { active: s.active, vmsa_features: `0x${s.vmsaFeatures.toString(16)}` };
  },
};
