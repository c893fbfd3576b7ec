/**
 * Guest memory as QEMU sets it up for a confidential VM, shared by the TDX and SNP launch builders:
 * per RAM region a guest_memfd, a shared anonymous backing (the RAM block, used as userspace_addr
 * and as the populate source), the memslot binding them, and the range made private (per-VM
 * attributes, as the kvm-x86 kernel the builders target tracks them).
 */
import { MapFlag, MemoryAttribute, MemslotFlag, Prot } from '../core/uapi.ts';
import { expectOk, int, ref, type ScenarioBuilder } from '../scenario/build.ts';
import type { Expr } from '../scenario/schema.ts';

export interface RamRegion {
  gpa: bigint | number;
  size: bigint | number;
}

/** Adds the steps for each region i, binding handles gmem{i} and ram{i}. */
export function addGuestMemory(b: ScenarioBuilder, vm: Expr, regions: readonly RamRegion[]): void {
  const add = b.add.bind(b);
  regions.forEach((r, i) => {
    const size = BigInt(r.size);
    const gpa = int(BigInt(r.gpa));
    add('KVM_CREATE_GUEST_MEMFD', { fd: vm, size }, { as: `gmem${i}`, expect: expectOk() });
    add(
      'mmap',
      { length: size, prot: Prot.PROT_READ | Prot.PROT_WRITE, flags: MapFlag.MAP_SHARED | MapFlag.MAP_ANONYMOUS },
      { as: `ram${i}`, expect: expectOk() },
    );
    add(
      'KVM_SET_USER_MEMORY_REGION2',
      {
        fd: vm,
        slot: BigInt(i),
        flags: MemslotFlag.KVM_MEM_GUEST_MEMFD,
        guest_phys_addr: gpa,
        memory_size: size,
        userspace_addr: ref(`ram${i}`),
        guest_memfd: ref(`gmem${i}`),
        guest_memfd_offset: 0n,
      },
      { expect: expectOk() },
    );
    add(
      'KVM_SET_MEMORY_ATTRIBUTES',
      { fd: vm, address: gpa, size, attributes: MemoryAttribute.KVM_MEMORY_ATTRIBUTE_PRIVATE },
      { expect: expectOk() },
    );
  });
}
