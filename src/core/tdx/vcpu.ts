/**
 * TDX vCPU-scope commands (KVM_MEMORY_ENCRYPT_OP on a vCPU fd): tdx_vcpu_unlocked_ioctl
 * (INIT_MEM_REGION, INIT_VCPU) and tdx_vcpu_ioctl (GET_CPUID); the vCPU lifecycle hooks.
 */
import type { Kernel } from '../kernel.ts';
import { type Op, structOf } from '../ops.ts';
import { fail, type Outcome, ok } from '../outcome.ts';
import { cite, defineRules } from '../rule.ts';
import type { Vcpu, Vm } from '../state.ts';
import { TdxCmd } from '../uapi.ts';
import { initMemRegion } from './init_mem_region.ts';
import { hkidAssigned, tdxOf } from './state.ts';
import { R as VmR } from './vm.ts';

/** leaves KVM_TDX_GET_CPUID reports for the model's TD (basic 0..0x23 and extended 0x80000000..8, as on a recent host) */
export const TDX_CPUID_LEAVES = 24;

export const R = defineRules('tdx.vcpu', 'KVM_MEMORY_ENCRYPT_OP (TDX vCPU)', {
  notReady: {
    errno: 'EINVAL',
    reason: 'vCPU TDX commands need an initialized, not yet finalized TD',
    cite: cite.tdx('tdx_vcpu_unlocked_ioctl'),
  },
  unknownCmd: { errno: 'EINVAL', reason: 'unknown TDX vCPU sub-command', cite: cite.tdx('tdx_vcpu_ioctl') },
  initVcpuFlags: { errno: 'EINVAL', reason: 'KVM_TDX_INIT_VCPU: cmd.flags must be 0', cite: cite.tdx('tdx_vcpu_init') },
  initVcpuTwice: {
    errno: 'EINVAL',
    reason: 'KVM_TDX_INIT_VCPU on a vCPU that is already initialized',
    cite: cite.tdx('tdx_vcpu_init'),
  },
  initVcpuX2apic: {
    errno: 'EINVAL',
    reason: "TDX requires x2APIC: the vCPU's CPUID (KVM_SET_CPUID2) must set leaf 1 ECX bit 21",
    cite: cite.linux('arch/x86/kvm/lapic.c', 'kvm_apic_set_base'),
  },
  vcpuInitialized: {
    reason: 'TD vCPU created in the TDX module (VP.CREATE/ADDCX/INIT), RCX = data',
    cite: cite.tdx('tdx_vcpu_init'),
  },
  getCpuidNent: {
    errno: 'E2BIG',
    reason: 'KVM_TDX_GET_CPUID: nent smaller than the number of leaves; the needed nent is written back',
    cite: cite.tdx('tdx_vcpu_get_cpuid'),
  },
  getCpuid: {
    reason: "the TD's CPUID as the TDX module reports it (works before KVM_TDX_INIT_VCPU)",
    cite: cite.tdx('tdx_vcpu_get_cpuid'),
  },
  createState: {
    op: 'KVM_CREATE_VCPU',
    errno: 'EIO',
    reason: 'a TD vCPU can only be created after KVM_TDX_INIT_VM and before KVM_TDX_FINALIZE_VM',
    cite: cite.tdx('tdx_vcpu_create'),
  },
  createIrqchip: {
    op: 'KVM_CREATE_VCPU',
    errno: 'EINVAL',
    reason: 'a TD vCPU needs a split irqchip (KVM_CAP_SPLIT_IRQCHIP)',
    cite: cite.tdx('tdx_vcpu_create'),
  },
  runState: {
    op: 'KVM_RUN',
    errno: 'EINVAL',
    reason: 'KVM_RUN before KVM_TDX_INIT_VCPU or before KVM_TDX_FINALIZE_VM',
    cite: cite.tdx('tdx_vcpu_pre_run'),
  },
});

type EncOp = Extract<Op, { op: 'KVM_MEMORY_ENCRYPT_OP' }>;

export function tdxVcpuIoctl(k: Kernel, op: EncOp, vm: Vm, vcpu: Vcpu): Outcome {
  const td = tdxOf(vm);
  if (op.hw_error !== 0n) return fail(VmR.hwError);
  if (!hkidAssigned(td) || (td.state === 'RUNNABLE' && k.safeguard('finalized-lock'))) return fail(R.notReady);
  if (op.id === BigInt(TdxCmd.KVM_TDX_INIT_MEM_REGION)) return initMemRegion(k, op, vm, vcpu);
  if (op.id === BigInt(TdxCmd.KVM_TDX_INIT_VCPU)) {
    if (op.flags !== 0n) return fail(R.initVcpuFlags);
    if (vcpu.tdx?.state !== 'UNINITIALIZED') return fail(R.initVcpuTwice);
    const leaf1 = vcpu.cpuid.find((e) => e.function === 1 && e.index === 0);
    if (!leaf1 || ((leaf1.ecx >>> 21) & 1) === 0) return fail(R.initVcpuX2apic);
    vcpu.tdx.state = 'INITIALIZED';
    return ok(R.vcpuInitialized);
  }
  if (op.id === BigInt(TdxCmd.KVM_TDX_GET_CPUID)) {
    if (k.inject.efault) return fail(VmR.efault);
    const nent = structOf(op, 'KVM_TDX_GET_CPUID').nent;
    const count = BigInt(TDX_CPUID_LEAVES);
    if (nent < count) return fail(R.getCpuidNent, { data: { nent: count } });
    return ok(R.getCpuid, 0, { data: { nent: count } });
  }
  return fail(R.unknownCmd);
}
