/**
 * The steps where a running kernel answers otherwise than the model on that machine's host
 * configuration (core/host.ts, from the host file: --host live), each explained by a host fact the
 * model does not configure. Its host is an x86 host with every VM type, TDP, SMM and
 * memory attributes, and a caller without CAP_SYS_RAWIO. test/live.test.ts fails on any difference
 * not listed here and on any entry that no longer differs, so the list shrinks as the host
 * configuration lands. Model bugs (differences that hold on any kernel) are fixed, never listed.
 * docs/notes/live.md has the categories and the counts.
 */

import type { HostFile } from '../../src/node/live/probe.ts';

/** A host fact: why the answer differs, and on which hosts (read from the host file) it does. */
export interface HostFactDef {
  reason: string;
  applies: (h: HostFile) => boolean;
}

export const HostFacts = {
  memory_attributes_ioctl: {
    applies: (h) => !h.facts.memory_attributes_ioctl,
    reason:
      'KVM_SET_MEMORY_ATTRIBUTES exists only with CONFIG_KVM_GENERIC_MEMORY_ATTRIBUTES, which KVM selects only with KVM_SW_PROTECTED_VM, KVM_INTEL_TDX or KVM_AMD_SEV; without it the VM ioctl is ENOTTY (kvm_vm_ioctl falls through to kvm_arch_vm_ioctl) and KVM_CAP_MEMORY_ATTRIBUTES is 0 on /dev/kvm as well',
  },
  vm_types: {
    applies: (h) => h.vm_types.mask !== 0x3f,
    reason:
      'KVM_CAP_VM_TYPES is kvm_caps.supported_vm_types: DEFAULT always, SW_PROTECTED with CONFIG_KVM_SW_PROTECTED_VM and the TDP MMU, SEV/SEV-ES/SNP and TDX by the vendor module; this host offers 0x1',
  },
  tdp: {
    applies: (h) => !h.facts.tdp,
    reason:
      'KVM_CAP_PRE_FAULT_MEMORY reports tdp_enabled, and without TDP kvm_arch_vcpu_pre_fault_memory refuses a valid range with EOPNOTSUPP (kvm_tdp_map_page needs the TDP MMU); this host has TDP off',
  },
  address_spaces: {
    applies: (h) => h.facts.address_spaces < 2,
    reason:
      'a slot id with bits 16+ set names address space 1, which exists only with SMM (KVM_MAX_NR_ADDRESS_SPACES 2); without it __kvm_set_memory_region refuses as >= kvm_arch_nr_memslot_as_ids: EINVAL',
  },
  mmap_min_addr: {
    applies: (h) => h.facts.cap_sys_rawio || h.facts.mmap_min_addr < 65536,
    reason:
      'cap_mmap_addr refuses an address below vm.mmap_min_addr only without CAP_SYS_RAWIO; the runner here is root (and mmap_min_addr is 4096), the model caller has no CAP_SYS_RAWIO and 65536',
  },
  vendor: {
    applies: (h) => !h.vendor.kvm_modules.includes('kvm_intel'),
    reason:
      'a vCPU KVM_MEMORY_ENCRYPT_OP reaches vt_vcpu_mem_enc_unlocked_ioctl (EINVAL for a vCPU that is not a TD vCPU) only with kvm_intel; without a vCPU hook (AMD, or another vendor module such as kvm_pvm) kvm_arch_vcpu_unlocked_ioctl answers ENOTTY',
  },
  online_cpus: {
    applies: (h) => h.caps.system.KVM_CAP_NR_VCPUS !== 2,
    reason:
      'KVM_CAP_NR_VCPUS is min(num_online_cpus(), KVM_MAX_VCPUS); the model host has 2 online CPUs (so have these machines: the entry applies only elsewhere)',
  },
} satisfies Record<string, HostFactDef>;

export type HostFact = keyof typeof HostFacts;

export interface LiveDifference {
  /** scenario file, relative to the repository root */
  file: string;
  /** step number, from 1 */
  step: number;
  fact: HostFact;
}

const d = (file: string, step: number, fact: HostFact): LiveDifference => ({ file, step, fact });

export const LiveDifferences: LiveDifference[] = [
  // the host facts of the first list (memory attributes, VM types, TDP, address spaces, CAP_SYS_RAWIO,
  // the vendor's vCPU hook) are the model's host configuration now (core/host.ts, --host live): the
  // corpus runs on this machine's, and those 10 differences are gone
  d('test/scenarios/host/default-vm-ioctls.yaml', 2, 'online_cpus'),
];
