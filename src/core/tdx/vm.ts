/**
 * TDX VM-scope commands (KVM_MEMORY_ENCRYPT_OP on the VM fd, tdx_vm_ioctl): KVM_TDX_CAPABILITIES,
 * KVM_TDX_INIT_VM (tdx_td_init, setup_tdparams), KVM_TDX_FINALIZE_VM (tdx_td_finalize).
 */
import type { Kernel } from '../kernel.ts';
import { type Op, type SubCmdStruct, structOf } from '../ops.ts';
import { fail, type Outcome, ok } from '../outcome.ts';
import { cite, defineRules } from '../rule.ts';
import type { Vm } from '../state.ts';
import { KVM_MAX_CPUID_ENTRIES, TdxCmd } from '../uapi.ts';
import { hkidAssigned, tdxOf } from './state.ts';

/** KVM supports one TD attribute: SEPT_VE_DISABLE (bit 28); DEBUG and the rest are refused (tdx_get_supported_attrs) */
export const SUPPORTED_TD_ATTRS = 1n << 28n;
/** XFAM bits the model's host supports: x87, SSE, AVX, AVX-512 (5-7), PKRU (9), AMX (17,18) (tdx_get_supported_xfam) */
export const SUPPORTED_XFAM = 0x602e7n;
/** number of CPUID entries KVM_TDX_CAPABILITIES reports (configurable leaves) */
export const TDX_CAP_CPUID_ENTRIES = 12;

export const R = defineRules('tdx.vm', 'KVM_MEMORY_ENCRYPT_OP (TDX VM)', {
  hwError: {
    errno: 'EINVAL',
    reason: 'kvm_tdx_cmd.hw_error must be 0 on input',
    cite: cite.tdx('tdx_get_cmd'),
  },
  efault: { errno: 'EFAULT', reason: 'the struct at cmd.data cannot be read', cite: cite.tdx('tdx_td_init') },
  unknownCmd: { errno: 'EINVAL', reason: 'unknown TDX VM sub-command', cite: cite.tdx('tdx_vm_ioctl') },
  capFlags: {
    errno: 'EINVAL',
    reason: 'KVM_TDX_CAPABILITIES: flags must be 0',
    cite: cite.tdx('tdx_get_capabilities'),
  },
  capNent: {
    errno: 'E2BIG',
    reason:
      'KVM_TDX_CAPABILITIES: cpuid.nent too small for the configurable CPUID entries (the count is not written back)',
    cite: cite.tdx('tdx_get_capabilities'),
  },
  capabilities: {
    reason: 'supported attributes, XFAM and configurable CPUID written back',
    cite: cite.tdx('tdx_get_capabilities'),
  },
  initTwice: {
    errno: 'EINVAL',
    reason: 'KVM_TDX_INIT_VM on a TD that is already initialized',
    cite: cite.tdx('tdx_td_init'),
  },
  initFlags: { errno: 'EINVAL', reason: 'KVM_TDX_INIT_VM: cmd.flags must be 0', cite: cite.tdx('tdx_td_init') },
  initNent: {
    errno: 'E2BIG',
    reason: 'kvm_tdx_init_vm.cpuid.nent > KVM_MAX_CPUID_ENTRIES (256)',
    cite: cite.tdx('tdx_td_init'),
  },
  initReserved: {
    errno: 'EINVAL',
    reason: 'kvm_tdx_init_vm reserved words or cpuid.padding not 0',
    cite: cite.tdx('tdx_td_init'),
  },
  initVcpus: { errno: 'EBUSY', reason: 'vCPUs were already created', cite: cite.tdx('setup_tdparams') },
  initAttributes: {
    errno: 'EINVAL',
    reason: 'TD attributes not supported by KVM and the TDX module',
    cite: cite.tdx('setup_tdparams'),
  },
  initXfam: {
    errno: 'EINVAL',
    reason: 'XFAM bits the host does not support',
    cite: cite.tdx('setup_tdparams'),
  },
  initGpaw: {
    errno: 'EINVAL',
    reason: 'CPUID 0x80000008 missing, or its guest physical address width (EAX[23:16]) is neither 48 nor 52',
    cite: cite.tdx('setup_tdparams_eptp_controls'),
  },
  initialized: {
    reason: 'TD initialized: HKID assigned, shared bit from the GPAW (GPA bit 47 for 48, 51 for 52)',
    cite: cite.tdx('tdx_td_init'),
  },
  finalizeState: {
    errno: 'EINVAL',
    reason: 'KVM_TDX_FINALIZE_VM before KVM_TDX_INIT_VM or after the TD was finalized',
    cite: cite.tdx('tdx_td_finalize'),
  },
  finalizePremapped: {
    when: { tdxPageAddInPopulate: true },
    errno: 'EINVAL',
    reason:
      'nr_premapped != 0: INIT_MEM_REGION mapped a page whose TDH.MEM.PAGE.ADD never succeeded (e.g. an -EBUSY not retried)',
    cite: cite.n618Tdx('tdx_td_finalize'),
    eras: 'A',
  },
  finalized: {
    reason: 'TDH.MR.FINALIZE: MRTD sealed, TD runnable, pre-faulting allowed',
    cite: cite.tdx('tdx_td_finalize'),
  },
});

type EncOp = Extract<Op, { op: 'KVM_MEMORY_ENCRYPT_OP' }>;

export function tdxVmIoctl(k: Kernel, op: EncOp, vm: Vm): Outcome {
  const td = tdxOf(vm);
  if (op.hw_error !== 0n) return fail(R.hwError);
  const id = op.id;
  if (id === BigInt(TdxCmd.KVM_TDX_CAPABILITIES)) {
    if (op.flags !== 0n) return fail(R.capFlags);
    if (k.inject.efault) return fail(R.efault);
    const nent = structOf(op, 'KVM_TDX_CAPABILITIES').cpuid.nent;
    if (nent < BigInt(TDX_CAP_CPUID_ENTRIES)) return fail(R.capNent);
    // no state check, no locks, and the kvm_tdx_cmd is not copied back
    return ok(R.capabilities, 0, {
      data: {
        supported_attrs: SUPPORTED_TD_ATTRS,
        supported_xfam: SUPPORTED_XFAM,
        user_tdvmcallinfo_1_r11: 2n,
        'cpuid.nent': BigInt(TDX_CAP_CPUID_ENTRIES),
      },
    });
  }
  let out: Outcome;
  if (id === BigInt(TdxCmd.KVM_TDX_INIT_VM)) out = initVm(k, vm, op.flags, structOf(op, 'KVM_TDX_INIT_VM'));
  else if (id === BigInt(TdxCmd.KVM_TDX_FINALIZE_VM)) {
    if (!hkidAssigned(td) || td.state === 'RUNNABLE') out = fail(R.finalizeState);
    else if (k.profile.tdxPageAddInPopulate && td.premapped.size > 0) out = fail(R.finalizePremapped);
    else {
      td.module.finalize();
      td.state = 'RUNNABLE';
      vm.preFaultAllowed = true;
      out = ok(R.finalized);
    }
  } else return fail(R.unknownCmd);
  // the whole kvm_tdx_cmd is copied back, so hw_error reaches userspace
  return { ...out, out: { ...out.out, hw_error: 0n } };
}

function initVm(k: Kernel, vm: Vm, flags: bigint, data: SubCmdStruct<'KVM_TDX_INIT_VM'>): Outcome {
  const td = tdxOf(vm);
  if (td.state !== 'UNINITIALIZED') return fail(R.initTwice);
  if (flags !== 0n) return fail(R.initFlags);
  if (k.inject.efault) return fail(R.efault);
  const { cpuid, attributes, xfam } = data;
  const nent = cpuid.nent;
  if (nent > BigInt(KVM_MAX_CPUID_ENTRIES)) return fail(R.initNent);
  if (data.reserved.some((x) => x !== 0n) || cpuid.padding !== 0n) return fail(R.initReserved);
  if (vm.vcpus.length > 0) return fail(R.initVcpus);
  if ((attributes & ~SUPPORTED_TD_ATTRS) !== 0n) return fail(R.initAttributes);
  if ((xfam & ~SUPPORTED_XFAM) !== 0n) return fail(R.initXfam);
  const used = cpuid.entries.slice(0, Number(nent));
  const ext = used.find((e) => e.function === 0x80000008n && e.index === 0n);
  const gpaw = ext ? Number(((ext.eax ?? 0n) >> 16n) & 0xffn) : -1;
  if (gpaw !== 48 && gpaw !== 52) return fail(R.initGpaw);
  td.state = 'INITIALIZED';
  td.sharedGfnBit = (gpaw === 52 ? 51 : 47) - 12;
  return ok(R.initialized);
}
