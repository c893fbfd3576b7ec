/**
 * /dev/kvm and VM-level ioctls: KVM_CREATE_VM, KVM_CHECK_EXTENSION, KVM_ENABLE_CAP,
 * KVM_CREATE_VCPU; vCPU ioctls KVM_SET_CPUID2, KVM_RUN, KVM_PRE_FAULT_MEMORY (generic parts).
 */
import { supportedGmemFlags } from '../guest_memfd/create.ts';
import { clearFolios } from '../guest_memfd/folio.ts';
import type { Kernel } from '../kernel.ts';
import type { Op } from '../ops.ts';
import { fail, type Outcome, ok } from '../outcome.ts';
import { Commits, cite, defineRules, type Rule } from '../rule.ts';
import { gmemIndex, type Memslot, type Vcpu, Vm } from '../state.ts';
import {
  Cap,
  KVM_EXIT_HYPERCALL_VALID_MASK,
  KVM_MAX_CPUID_ENTRIES,
  KVM_MAX_IRQ_ROUTES,
  KVM_MAX_VCPU_IDS,
  KVM_MAX_VCPUS,
  KVM_MEMORY_ATTRIBUTE_PRIVATE,
  KVM_USER_MEM_SLOTS,
  type VmTypeNum,
} from '../uapi.ts';
import { supportedVmAttributes } from './attributes.ts';
import { R as RunR } from './run.ts';

/** The modelled host offers every x86 VM type (a real host has TDX or SNP, not both). */
export const SUPPORTED_VM_TYPES = 0b111111;

export const R = defineRules('vm', 'KVM', {
  badType: {
    op: 'KVM_CREATE_VM',
    errno: 'EINVAL',
    reason: 'VM type not in KVM_CAP_VM_TYPES',
    cite: cite.x86('kvm_arch_init_vm'),
  },
  vmCreated: { op: 'KVM_CREATE_VM', reason: 'new VM', cite: cite.kvm('kvm_dev_ioctl_create_vm') },
  capValue: {
    op: 'KVM_CHECK_EXTENSION',
    reason: 'capability value',
    cite: cite.kvm('kvm_vm_ioctl_check_extension_generic'),
  },
  enableCapFlags: {
    op: 'KVM_ENABLE_CAP',
    errno: 'EINVAL',
    reason: 'KVM_ENABLE_CAP flags must be 0 for x86 capabilities',
    cite: cite.x86('kvm_vm_ioctl_enable_cap'),
  },
  enableCapUnknown: {
    op: 'KVM_ENABLE_CAP',
    errno: 'EINVAL',
    reason: 'capability cannot be enabled on a VM',
    cite: cite.x86('kvm_vm_ioctl_enable_cap'),
  },
  splitIrqchipRoutes: {
    op: 'KVM_ENABLE_CAP',
    errno: 'EINVAL',
    reason: 'KVM_CAP_SPLIT_IRQCHIP: args[0] (reserved IOAPIC pins) above KVM_MAX_IRQ_ROUTES',
    cite: cite.x86('kvm_vm_ioctl_enable_cap'),
  },
  splitIrqchipExists: {
    op: 'KVM_ENABLE_CAP',
    errno: 'EEXIST',
    reason: 'KVM_CAP_SPLIT_IRQCHIP: an irqchip already exists or vCPUs were created',
    cite: cite.x86('kvm_vm_ioctl_enable_cap'),
  },
  capEnabled: { op: 'KVM_ENABLE_CAP', reason: 'capability enabled', cite: cite.x86('kvm_vm_ioctl_enable_cap') },
  vcpuId: {
    op: 'KVM_CREATE_VCPU',
    errno: 'EINVAL',
    reason: 'vCPU id >= KVM_MAX_VCPU_IDS',
    cite: cite.kvm('kvm_vm_ioctl_create_vcpu'),
  },
  tooManyVcpus: {
    op: 'KVM_CREATE_VCPU',
    errno: 'EINVAL',
    reason: 'the VM already has its maximum number of vCPUs',
    cite: cite.kvm('kvm_vm_ioctl_create_vcpu'),
  },
  vcpuExists: {
    op: 'KVM_CREATE_VCPU',
    errno: 'EEXIST',
    reason: 'a vCPU with this id exists',
    cite: cite.kvm('kvm_vm_ioctl_create_vcpu'),
  },
  vcpuCreated: { op: 'KVM_CREATE_VCPU', reason: 'new vCPU', cite: cite.kvm('kvm_vm_ioctl_create_vcpu') },
  cpuidTooBig: {
    op: 'KVM_SET_CPUID2',
    errno: 'E2BIG',
    reason: 'nent > KVM_MAX_CPUID_ENTRIES (256)',
    cite: cite.linux('arch/x86/kvm/cpuid.c', 'kvm_vcpu_ioctl_set_cpuid2'),
  },
  cpuidFrozen: {
    op: 'KVM_SET_CPUID2',
    errno: 'EINVAL',
    reason: 'the vCPU has run: CPUID can only be set again to identical entries',
    cite: cite.linux('arch/x86/kvm/cpuid.c', 'kvm_cpuid_check_equal'),
  },
  cpuidVaddrBits: {
    op: 'KVM_SET_CPUID2',
    errno: 'EINVAL',
    reason: 'CPUID 0x80000008 EAX[15:8] (virtual address bits) must be 0, 48 or 57',
    cite: cite.linux('arch/x86/kvm/cpuid.c', 'kvm_check_cpuid'),
  },
  cpuidSet: {
    op: 'KVM_SET_CPUID2',
    reason: 'guest CPUID set',
    cite: cite.linux('arch/x86/kvm/cpuid.c', 'kvm_set_cpuid'),
  },
  run: {
    op: 'KVM_RUN',
    reason: 'the checks before entering the guest pass (gmemsim runs no guest code)',
    cite: cite.x86('kvm_arch_vcpu_ioctl_run'),
  },
  preFaultArgs: {
    op: 'KVM_PRE_FAULT_MEMORY',
    errno: 'EINVAL',
    reason: 'flags not 0, gpa or size not page-aligned, size 0, or the range wraps',
    cite: cite.kvm('kvm_vcpu_pre_fault_memory'),
  },
  preFaultInterrupted: {
    op: 'KVM_PRE_FAULT_MEMORY',
    errno: 'EINTR',
    reason: 'a signal is pending before the first page (the loop checks before each mapping)',
    cite: cite.next('virt/kvm/kvm_main.c', Commits.NEXT_KVM_MAIN, 'kvm_vcpu_pre_fault_memory'),
  },
  preFaultNotAllowed: {
    op: 'KVM_PRE_FAULT_MEMORY',
    errno: 'EOPNOTSUPP',
    reason: 'pre-faulting is not allowed before the launch is finalized (pre_fault_allowed)',
    cite: cite.next('arch/x86/kvm/mmu/mmu.c', Commits.NEXT_MMU, 'kvm_arch_vcpu_pre_fault_memory'),
  },
  preFaultNoTdp: {
    op: 'KVM_PRE_FAULT_MEMORY',
    errno: 'EOPNOTSUPP',
    reason:
      'the host has no TDP (tdp_enabled off: the vCPU MMU is not kvm_tdp_page_fault; the TDP MMU itself is not needed): kvm_tdp_map_page cannot map ahead of the guest',
    cite: cite.next('arch/x86/kvm/mmu/mmu.c', Commits.NEXT_MMU, 'kvm_tdp_map_page'),
  },
  preFaultAlias: {
    op: 'KVM_PRE_FAULT_MEMORY',
    errno: 'EINVAL',
    reason: 'the gpa is an alias (a TDX GPA with the shared bit set: kvm_is_gfn_alias)',
    cite: cite.next('arch/x86/kvm/mmu/mmu.c', Commits.NEXT_MMU, 'kvm_arch_vcpu_pre_fault_memory'),
  },
  preFaultNoSlot: {
    op: 'KVM_PRE_FAULT_MEMORY',
    errno: 'ENOENT',
    reason: 'no memslot at the gpa: the fault would be emulated MMIO (RET_PF_EMULATE)',
    cite: cite.next('arch/x86/kvm/mmu/mmu.c', Commits.NEXT_MMU, 'kvm_tdp_map_page'),
  },
  preFaultPrivateNoGmem: {
    op: 'KVM_PRE_FAULT_MEMORY',
    errno: 'EFAULT',
    reason:
      'a private gpa whose memslot has no guest_memfd (!kvm_slot_has_gmem), or whose guest_memfd was closed (kvm_gmem_get_pfn finds no file): a memory-fault exit',
    cite: cite.next('arch/x86/kvm/mmu/mmu.c', Commits.NEXT_MMU, 'kvm_mmu_faultin_pfn_private'),
  },
  preFaultPrivateNoSlot: {
    op: 'KVM_PRE_FAULT_MEMORY',
    errno: 'EFAULT',
    reason: 'no memslot at a gpa that is private: a private fault cannot be emulated MMIO',
    cite: cite.next('arch/x86/kvm/mmu/mmu.c', Commits.NEXT_MMU, 'kvm_handle_noslot_fault'),
  },
  preFaulted: {
    op: 'KVM_PRE_FAULT_MEMORY',
    reason: 'range mapped; gpa and size written back advanced',
    cite: cite.kvm('kvm_vcpu_pre_fault_memory'),
  },
});

export function createVm(k: Kernel, op: Extract<Op, { op: 'KVM_CREATE_VM' }>): Outcome {
  const t = op.type;
  // kvm_caps.supported_vm_types: what this host's build and vendor module offer (host.ts)
  if (t >= 32n || ((k.host.vmTypes >> Number(t)) & 1) === 0) return fail(R.badType);
  const vm = new Vm(k.vms.length, Number(t) as VmTypeNum);
  vm.ownerProc = k.current;
  k.vms.push(vm);
  k.arch(vm)?.initVm(k, vm);
  return ok(R.vmCreated, k.installFd({ kind: 'vm', vm }));
}

/** KVM_CHECK_EXTENSION on /dev/kvm (vm null) or a VM */
export function capabilityValue(k: Kernel, vm: Vm | null, cap: bigint): number {
  switch (Number(cap)) {
    case Cap.KVM_CAP_IRQCHIP:
    case Cap.KVM_CAP_USER_MEMORY:
    case Cap.KVM_CAP_USER_MEMORY2:
    case Cap.KVM_CAP_GUEST_MEMFD:
    case Cap.KVM_CAP_SPLIT_IRQCHIP:
    // x86 kvm_vm_ioctl_check_extension: 1 on every x86 host (docs/notes/kernel-generic.md §2)
    case Cap.KVM_CAP_MEMORY_FAULT_INFO:
      return 1;
    case Cap.KVM_CAP_NR_VCPUS:
      return 2;
    case Cap.KVM_CAP_MAX_VCPUS:
      return KVM_MAX_VCPUS;
    case Cap.KVM_CAP_MAX_VCPU_ID:
      return KVM_MAX_VCPU_IDS;
    case Cap.KVM_CAP_NR_MEMSLOTS:
      return KVM_USER_MEM_SLOTS;
    case Cap.KVM_CAP_VM_TYPES:
      return k.host.vmTypes;
    case Cap.KVM_CAP_PRE_FAULT_MEMORY:
      // x86 reports tdp_enabled
      return k.host.tdp ? 1 : 0;
    case Cap.KVM_CAP_EXIT_HYPERCALL:
      return Number(KVM_EXIT_HYPERCALL_VALID_MASK);
    case Cap.KVM_CAP_MEMORY_ATTRIBUTES:
      // without CONFIG_KVM_GENERIC_MEMORY_ATTRIBUTES the cap is not reported
      return k.host.memoryAttributes ? supportedVmAttributes(k, vm) : 0;
    case Cap.KVM_CAP_GUEST_MEMFD_FLAGS:
      return Number(vm ? supportedGmemFlags(k, vm) : 3n);
    case Cap.KVM_CAP_GUEST_MEMFD_MEMORY_ATTRIBUTES:
      // [SER] v8 17/46: 0 unless in-place; PRIVATE for /dev/kvm and private-memory VMs
      if (!k.inPlace) return 0;
      return vm === null || vm.hasPrivateMem ? KVM_MEMORY_ATTRIBUTE_PRIVATE : 0;
    default:
      return 0;
  }
}

export function checkExtension(k: Kernel, vm: Vm | null, op: Extract<Op, { op: 'KVM_CHECK_EXTENSION' }>): Outcome {
  return ok(R.capValue, capabilityValue(k, vm, op.cap));
}

export function enableCap(_k: Kernel, vm: Vm, op: Extract<Op, { op: 'KVM_ENABLE_CAP' }>): Outcome {
  if (op.flags !== 0n) return fail(R.enableCapFlags);
  if (op.cap === BigInt(Cap.KVM_CAP_EXIT_HYPERCALL)) {
    const mask = op.args[0] ?? 0n;
    if ((mask & ~KVM_EXIT_HYPERCALL_VALID_MASK) !== 0n) return fail(RunR.capExitHypercallMask);
    vm.hypercallExitEnabled = mask;
    return ok(RunR.capExitHypercall);
  }
  if (op.cap !== BigInt(Cap.KVM_CAP_SPLIT_IRQCHIP)) return fail(R.enableCapUnknown);
  const pins = op.args[0] ?? 0n;
  if (pins > BigInt(KVM_MAX_IRQ_ROUTES)) return fail(R.splitIrqchipRoutes);
  if (vm.irqchip !== 'none' || vm.vcpus.length > 0) return fail(R.splitIrqchipExists);
  vm.irqchip = 'split';
  return ok(R.capEnabled);
}

export function createVcpu(k: Kernel, vm: Vm, op: Extract<Op, { op: 'KVM_CREATE_VCPU' }>): Outcome {
  if (op.id >= BigInt(KVM_MAX_VCPU_IDS)) return fail(R.vcpuId);
  if (vm.vcpus.length >= KVM_MAX_VCPUS) return fail(R.tooManyVcpus);
  const id = Number(op.id);
  const vcpu: Vcpu = { fd: -1, vm, id, cpuid: [], hasRun: false };
  const r = k.arch(vm)?.createVcpu?.(k, vm, vcpu);
  if (r) return fail(r);
  if (vm.vcpus.some((v) => v.id === id)) return fail(R.vcpuExists);
  const fd = k.installFd({ kind: 'vcpu', vcpu });
  const placed: Vcpu = Object.assign(vcpu, { fd });
  vm.vcpus.push(placed);
  return ok(R.vcpuCreated, fd);
}

export function setCpuid2(vcpu: Vcpu, op: Extract<Op, { op: 'KVM_SET_CPUID2' }>): Outcome {
  if (op.nent > BigInt(KVM_MAX_CPUID_ENTRIES)) return fail(R.cpuidTooBig);
  const entries = op.entries.map((e) => ({
    function: Number(e.function & 0xffffffffn),
    index: Number(e.index & 0xffffffffn),
    eax: Number(e.eax & 0xffffffffn),
    ebx: Number(e.ebx & 0xffffffffn),
    ecx: Number(e.ecx & 0xffffffffn),
    edx: Number(e.edx & 0xffffffffn),
  }));
  if (vcpu.hasRun) {
    const same = JSON.stringify(entries) === JSON.stringify(vcpu.cpuid);
    return same ? ok(R.cpuidSet) : fail(R.cpuidFrozen);
  }
  const ext = entries.find((e) => e.function === 0x80000008 && e.index === 0);
  if (ext) {
    const vaddr = (ext.eax >> 8) & 0xff;
    if (vaddr !== 0 && vaddr !== 48 && vaddr !== 57) return fail(R.cpuidVaddrBits);
  }
  vcpu.cpuid = entries;
  return ok(R.cpuidSet);
}

export function kvmRun(k: Kernel, vcpu: Vcpu): Outcome {
  const r = k.arch(vcpu.vm)?.preRun?.(k, vcpu);
  if (r) return fail(r);
  vcpu.hasRun = true;
  return ok(R.run);
}

export function preFaultMemory(k: Kernel, vcpu: Vcpu, op: Extract<Op, { op: 'KVM_PRE_FAULT_MEMORY' }>): Outcome {
  if (
    op.flags !== 0n ||
    op.gpa % 4096n !== 0n ||
    op.size % 4096n !== 0n ||
    op.size === 0n ||
    op.gpa + op.size > 0xffffffffffffffffn
  )
    return fail(R.preFaultArgs);
  const vm = vcpu.vm;
  const first = Number(op.gpa / 4096n);
  const n = Number(op.size / 4096n);
  // kvm_vcpu_pre_fault_memory: per mapping, a signal check, then the arch fault; it stops at the
  // first error, which is the result only if nothing was mapped. The pages of one memslot map
  // alike, so a mapping here is the rest of a memslot (a signal injected after N pages ends one
  // there), or one page where the arch has alias GFNs (TDX)
  const perPage = k.arch(vm)?.gfnAlias !== undefined;
  let done = 0;
  let error: Rule | undefined;
  while (done < n) {
    if (k.signalPending()) error = R.preFaultInterrupted;
    else error = preFaultOne(k, vm, first + done);
    if (error) break;
    const gfn = first + done;
    const slot = vm.slotForGfn(gfn)!;
    const signalAt = k.inject.signal_after_pages;
    let run = perPage ? 1 : k.privateRunEnd(vm, gfn, Math.min(first + n, slot.baseGfn + slot.npages)) - gfn;
    if (signalAt !== undefined && signalAt > k.stepPages) run = Math.min(run, signalAt - k.stepPages);
    if (k.isPrivateGfn(vm, gfn)) mapPrivate(k, vm, slot, gfn, gfn + run);
    done += run;
    k.stepPages += run;
  }
  // the range is written back advanced, also after an error
  const out = { data: { gpa: op.gpa + BigInt(done) * 4096n, size: op.size - BigInt(done) * 4096n } };
  if (error && done === 0) return fail(error, out);
  return ok(R.preFaulted, 0, out);
}

/** kvm_arch_vcpu_pre_fault_memory for one page: the refusing rule, or undefined once mapped */
function preFaultOne(k: Kernel, vm: Vm, gfn: number): Rule | undefined {
  if (!vm.preFaultAllowed) return R.preFaultNotAllowed;
  if (k.arch(vm)?.gfnAlias?.(vm, gfn)) return R.preFaultAlias;
  if (!k.host.tdp) return R.preFaultNoTdp;
  const slot = vm.slotForGfn(gfn);
  if (!slot) return k.isPrivateGfn(vm, gfn) ? R.preFaultPrivateNoSlot : R.preFaultNoSlot;
  if (k.isPrivateGfn(vm, gfn) && !slot.gmem?.inode) return R.preFaultPrivateNoGmem;
  return undefined;
}

/**
 * A private fault on [gfn, end) of one memslot: kvm_gmem_get_pfn allocates and clears each folio
 * that is not uptodate, then the arch maps it (TDX: TDH.MEM.PAGE.AUG after finalize; SNP: the RMP
 * entry becomes assigned). Shared faults map host memory the model does not track.
 */
function mapPrivate(k: Kernel, vm: Vm, slot: Memslot, gfn: number, end: number): void {
  const inode = slot.gmem!.inode!;
  const i0 = gmemIndex(slot, gfn);
  const i1 = i0 + (end - gfn);
  inode.allocated.add(i0, i1);
  for (const [s, e] of [...inode.uptodate.segmentsMissing(i0, i1)]) clearFolios(inode, s, e);
  k.arch(vm)?.mapPrivate?.(k, vm, inode, gfn, end, i0);
}
