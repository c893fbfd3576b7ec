/**
 * Built-in setup fragments (docs/scenario-extensions.md, "Fragments"): the preambles that most
 * TDX and SEV-SNP scenarios start with, written in the fragment form a file fragment uses, so that
 * both kinds load through the same code. `$NAME` is replaced by the parameter NAME.
 */

/** the steps both fragments end their set-up with: a guest_memfd, its memslot at gpa, and PRIVATE */
const GMEM_SLOT_STEPS = `  - KVM_CREATE_GUEST_MEMFD: { fd: $vm, size: $gmem_size, flags: $gmem_flags }
    as: $gmem
    expect: ok
  - KVM_SET_USER_MEMORY_REGION2:
      fd: $vm
      slot: 0
      flags: [KVM_MEM_GUEST_MEMFD]
      guest_phys_addr: $gpa
      memory_size: $gmem_size
      userspace_addr: 0
      guest_memfd: $gmem
      guest_memfd_offset: 0
    expect: ok
  - KVM_SET_MEMORY_ATTRIBUTES: { fd: $vm, address: $gpa, size: $private_size, attributes: [KVM_MEMORY_ATTRIBUTE_PRIVATE] }
    only: $private
    expect: ok
`;

const TDX_TD_READY = `format: gmemsim/1-fragment
name: tdx-td-ready
description: |
  A TD ready for KVM_TDX_INIT_MEM_REGION: KVM_TDX_INIT_VM (GPAW 48), the split irqchip a TD vCPU
  needs, one vCPU with x2APIC in its CPUID and KVM_TDX_INIT_VCPU, and a guest_memfd bound by one
  memslot at gpa, optionally made PRIVATE with KVM_SET_MEMORY_ATTRIBUTES.
params:
  vm: vm                  # handle of the VM fd
  vcpu: vcpu0             # handle of the vCPU fd
  gmem: gmem              # handle of the guest_memfd
  gmem_size: 0x4000       # size of the guest_memfd and of the memslot
  gmem_flags: []          # KVM_CREATE_GUEST_MEMFD flags
  gpa: 0                  # guest_phys_addr of the memslot
  private: true           # when KVM_SET_MEMORY_ATTRIBUTES runs: true, false, or profile selectors
  private_size: $gmem_size # size of the range made PRIVATE, from gpa
steps:
  - KVM_CREATE_VM: { type: KVM_X86_TDX_VM }
    as: $vm
    expect: ok
  - KVM_ENABLE_CAP: { fd: $vm, cap: KVM_CAP_SPLIT_IRQCHIP, args: [24] }
    expect: ok
  - KVM_MEMORY_ENCRYPT_OP:
      fd: $vm
      id: KVM_TDX_INIT_VM
      data: { attributes: 0, xfam: 0x3, cpuid: { entries: [{ function: 0x80000008, eax: 0x00303030 }] } }
    expect: { ret: 0, hw_error: 0 }
    note: "GPAW 48 (CPUID 0x80000008 EAX[23:16] = 48), so GPA bit 47 is the shared bit"
  - KVM_CREATE_VCPU: { fd: $vm, id: 0 }
    as: $vcpu
    expect: ok
  - KVM_SET_CPUID2: { fd: $vcpu, entries: [{ function: 1, ecx: 0x200000 }] }
    expect: ok
  - KVM_MEMORY_ENCRYPT_OP: { fd: $vcpu, id: KVM_TDX_INIT_VCPU, data: 0 }
    expect: ok
${GMEM_SLOT_STEPS}`;

const SNP_LAUNCH_STARTED = `format: gmemsim/1-fragment
name: snp-launch-started
description: |
  An SEV-SNP VM after KVM_SEV_INIT2 and KVM_SEV_SNP_LAUNCH_START: one vCPU with CPUID (family 0x19)
  and QEMU's reset state, and a guest_memfd bound by one memslot at gpa, optionally made PRIVATE
  with KVM_SET_MEMORY_ATTRIBUTES before LAUNCH_START.
params:
  vm: vm                  # handle of the VM fd
  vcpu: vcpu0             # handle of the vCPU fd
  gmem: gmem              # handle of the guest_memfd
  gmem_size: 0x4000       # size of the guest_memfd and of the memslot
  gmem_flags: []          # KVM_CREATE_GUEST_MEMFD flags
  gpa: 0x100000           # guest_phys_addr of the memslot
  private: true           # when KVM_SET_MEMORY_ATTRIBUTES runs: true, false, or profile selectors
  private_size: $gmem_size # size of the range made PRIVATE, from gpa
  policy: 0x30000         # kvm_sev_snp_launch_start.policy
steps:
  - KVM_CREATE_VM: { type: KVM_X86_SNP_VM }
    as: $vm
    expect: ok
  - KVM_MEMORY_ENCRYPT_OP: { fd: $vm, id: KVM_SEV_INIT2, data: { vmsa_features: 0 } }
    expect: { ret: 0, error: 0 }
  - KVM_CREATE_VCPU: { fd: $vm, id: 0 }
    as: $vcpu
    expect: ok
  - KVM_SET_CPUID2: { fd: $vcpu, entries: [{ function: 1, eax: 0x800f12 }] }
    expect: ok
  - set_vcpu_reset: { fd: $vcpu, vmm_type: QEMU, eip: 0xfffffff0 }
    expect: ok
${GMEM_SLOT_STEPS}  - KVM_MEMORY_ENCRYPT_OP: { fd: $vm, id: KVM_SEV_SNP_LAUNCH_START, data: { policy: $policy } }
    expect: { ret: 0, error: 0 }
`;

/** Built-in fragments by name: the YAML text of each. */
export const BuiltinFragments: Record<string, string> = {
  'tdx-td-ready': TDX_TD_READY,
  'snp-launch-started': SNP_LAUNCH_STARTED,
};

/** The pseudo file name diagnostics give for a built-in fragment. */
export const builtinFile = (name: string) => `<fragment ${name}>`;
