/**
 * A TD with two memslots over two guest_memfds: 64 KiB at GPA 1 MiB (offset 0), and 192 KiB at
 * 4 GiB - 256 KiB (offset 64 KiB); a step that names a TDVF section over the first 16 KiB.
 */
export const TWO_SLOTS = `format: gmemsim/1
name: two memslots
kernel: { profile: kvm-x86 }
steps:
  - KVM_CREATE_VM: { type: KVM_X86_TDX_VM }
    as: vm
  - KVM_CREATE_GUEST_MEMFD: { fd: vm, size: 0x10000 }
    as: g0
  - KVM_CREATE_GUEST_MEMFD: { fd: vm, size: 0x40000 }
    as: g1
  - KVM_SET_USER_MEMORY_REGION2:
      { fd: vm, slot: 0, flags: [KVM_MEM_GUEST_MEMFD], guest_phys_addr: 0x100000, memory_size: 0x10000, userspace_addr: 0x7f0000000000, guest_memfd: g0, guest_memfd_offset: 0 }
  - KVM_SET_USER_MEMORY_REGION2:
      { fd: vm, slot: 1, flags: [KVM_MEM_GUEST_MEMFD], guest_phys_addr: 0xfffc0000, memory_size: 0x30000, userspace_addr: 0x7f1000000000, guest_memfd: g1, guest_memfd_offset: 0x10000 }
  - KVM_SET_MEMORY_ATTRIBUTES: { fd: vm, address: 0x100000, size: 0x4000, attributes: [KVM_MEMORY_ATTRIBUTE_PRIVATE] }
    note: "TDVF section 0 (BFV)"
`;
