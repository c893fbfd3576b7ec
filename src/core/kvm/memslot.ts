/**
 * KVM_SET_USER_MEMORY_REGION / KVM_SET_USER_MEMORY_REGION2 (VM ioctls): kvm_vm_ioctl dispatch,
 * kvm_set_memory_region, the guest_memfd bind, and x86 kvm_arch_prepare_memory_region.
 */
import { gmemBindCheck, gmemBindCommit, gmemBindOverlap, gmemOnly, gmemUnbind } from '../guest_memfd/bind.ts';
import type { Kernel } from '../kernel.ts';
import type { Op } from '../ops.ts';
import { fail, type Outcome, ok } from '../outcome.ts';
import { cite, defineRules } from '../rule.ts';
import type { GmemInode, Memslot, Vm } from '../state.ts';
import { KVM_MEM_MAX_NR_PAGES, KVM_USER_MEM_SLOTS, MemslotFlag, TASK_SIZE } from '../uapi.ts';

const KVM_MEM_SLOTS_NUM = 32767;
/** host MAXPHYADDR; kvm_mmu_max_gfn() = (1 << (52 - 12)) - 1 */
const MAX_GFN = 2 ** 40 - 1;

export const R = defineRules('memslot', 'KVM_SET_USER_MEMORY_REGION2', {
  legacyFlags: {
    errno: 'EINVAL',
    reason: 'KVM_SET_USER_MEMORY_REGION accepts only LOG_DIRTY_PAGES and READONLY (guest_memfd needs the "2" ioctl)',
    cite: cite.kvm('kvm_vm_ioctl'),
  },
  slotNumber: {
    errno: 'EINVAL',
    reason: '(u16)slot >= KVM_USER_MEM_SLOTS (32764)',
    cite: cite.kvm('kvm_vm_ioctl_set_memory_region'),
  },
  flags: {
    errno: 'EINVAL',
    reason:
      'unknown memslot flags, or GUEST_MEMFD with LOG_DIRTY_PAGES or READONLY, or READONLY on a VM with protected state',
    cite: cite.kvm('check_memory_region_flags'),
  },
  sizeAlign: { errno: 'EINVAL', reason: 'memory_size not page-aligned', cite: cite.kvm('kvm_set_memory_region') },
  gpaAlign: { errno: 'EINVAL', reason: 'guest_phys_addr not page-aligned', cite: cite.kvm('kvm_set_memory_region') },
  hva: {
    errno: 'EINVAL',
    reason: 'userspace_addr not page-aligned, or the range is not in user space (access_ok)',
    cite: cite.kvm('kvm_set_memory_region'),
  },
  gmemOffset: {
    errno: 'EINVAL',
    reason: 'guest_memfd_offset not page-aligned, or guest_memfd_offset + memory_size wraps',
    cite: cite.kvm('kvm_set_memory_region'),
  },
  asId: {
    errno: 'EINVAL',
    reason: 'address space id (slot >> 16) or slot id out of range (private-memory VMs have one address space)',
    cite: cite.kvm('kvm_set_memory_region'),
  },
  gpaWrap: { errno: 'EINVAL', reason: 'guest_phys_addr + memory_size wraps', cite: cite.kvm('kvm_set_memory_region') },
  tooManyPages: {
    errno: 'EINVAL',
    reason: 'memory_size exceeds KVM_MEM_MAX_NR_PAGES pages',
    cite: cite.kvm('kvm_set_memory_region'),
  },
  deleteMissing: {
    errno: 'EINVAL',
    reason: 'delete of a slot that does not exist',
    cite: cite.kvm('kvm_set_memory_region'),
  },
  gmemImmutable: {
    errno: 'EINVAL',
    reason: 'guest_memfd memslots are immutable: only DELETE (memory_size 0) is allowed',
    cite: cite.kvm('kvm_set_memory_region'),
  },
  modifyInvalid: {
    errno: 'EINVAL',
    reason: 'an existing slot cannot change userspace_addr, size, READONLY or GUEST_MEMFD',
    cite: cite.kvm('kvm_set_memory_region'),
  },
  overlap: {
    errno: 'EEXIST',
    reason: 'the GPA range overlaps another memslot in the same address space',
    cite: cite.kvm('kvm_check_memslot_overlap'),
  },
  maxGfn: {
    errno: 'EINVAL',
    reason: "the slot's last gfn is above the host's maximum gfn",
    cite: cite.x86('kvm_arch_prepare_memory_region'),
  },
  created: { reason: 'memslot created', cite: cite.kvm('kvm_set_memslot') },
  deleted: {
    reason:
      'memslot deleted: KVM mappings in its range zapped, guest_memfd unbound (file contents and attributes stay)',
    cite: cite.kvm('kvm_set_memslot'),
  },
  moved: { reason: 'memslot moved to a new base GPA', cite: cite.kvm('kvm_set_memslot') },
  flagsOnly: { reason: 'memslot flags changed', cite: cite.kvm('kvm_set_memslot') },
  unchanged: {
    reason: 'identical request for an existing slot: nothing to do',
    cite: cite.kvm('kvm_set_memory_region'),
  },
});

type RegionOp = Extract<Op, { op: 'KVM_SET_USER_MEMORY_REGION' | 'KVM_SET_USER_MEMORY_REGION2' }>;

export function setUserMemoryRegion(k: Kernel, vm: Vm, op: RegionOp): Outcome {
  const { LOG_DIRTY_PAGES, READONLY, GUEST_MEMFD } = {
    LOG_DIRTY_PAGES: MemslotFlag.KVM_MEM_LOG_DIRTY_PAGES,
    READONLY: MemslotFlag.KVM_MEM_READONLY,
    GUEST_MEMFD: MemslotFlag.KVM_MEM_GUEST_MEMFD,
  };
  const legacy = op.op === 'KVM_SET_USER_MEMORY_REGION';
  const flags = op.flags & 0xffffffffn; // u32 in the struct
  if (legacy && (flags & ~(LOG_DIRTY_PAGES | READONLY)) !== 0n) return fail(R.legacyFlags);
  const slotField = op.slot & 0xffffffffn;
  if ((slotField & 0xffffn) >= BigInt(KVM_USER_MEM_SLOTS)) return fail(R.slotNumber);

  // check_memory_region_flags
  const isGmem = !legacy && (flags & GUEST_MEMFD) !== 0n;
  let valid = LOG_DIRTY_PAGES | GUEST_MEMFD;
  if (isGmem) valid &= ~LOG_DIRTY_PAGES;
  if (!vm.hasProtectedState && !isGmem) valid |= READONLY;
  if ((flags & ~valid) !== 0n) return fail(R.flags);

  const size = op.memory_size;
  const gpa = op.guest_phys_addr;
  const hva = op.userspace_addr;
  if (size % 4096n !== 0n) return fail(R.sizeAlign);
  if (gpa % 4096n !== 0n) return fail(R.gpaAlign);
  if (hva % 4096n !== 0n || hva > BigInt(TASK_SIZE) || size > BigInt(TASK_SIZE) - hva) return fail(R.hva);
  const gmemOffset = isGmem ? op.guest_memfd_offset : 0n;
  if (isGmem && (gmemOffset % 4096n !== 0n || gmemOffset + size > 0xffffffffffffffffn)) return fail(R.gmemOffset);
  const asId = Number(slotField >> 16n);
  const id = Number(slotField & 0xffffn);
  // kvm_arch_nr_memslot_as_ids: the SMM address space exists with CONFIG_KVM_SMM, not for private memory
  const nrAs = vm.hasPrivateMem ? 1 : k.host.addressSpaces;
  if (asId >= nrAs || id >= KVM_MEM_SLOTS_NUM) return fail(R.asId);
  if (gpa + size > 0xffffffffffffffffn) return fail(R.gpaWrap);
  const npages = Number(size / 4096n);
  if (id < KVM_USER_MEM_SLOTS && npages > KVM_MEM_MAX_NR_PAGES) return fail(R.tooManyPages);

  const old = vm.slotById(asId, id);
  const baseGfn = Number(gpa / 4096n);
  if (size === 0n) {
    if (!old || old.npages === 0) return fail(R.deleteMissing);
    deleteSlot(k, vm, old);
    return ok(R.deleted);
  }
  let change: 'create' | 'move' | 'flags' | 'none' = 'create';
  if (old) {
    if (isGmem) return fail(R.gmemImmutable);
    if (old.userspaceAddr !== hva || old.npages !== npages || ((flags ^ old.flags) & (READONLY | GUEST_MEMFD)) !== 0n)
      return fail(R.modifyInvalid);
    if (old.baseGfn !== baseGfn) change = 'move';
    else if (old.flags !== flags) change = 'flags';
    else return ok(R.unchanged);
  }
  if (change === 'create' || change === 'move') {
    const end = baseGfn + npages;
    if (vm.memslots.some((s) => s !== old && s.asId === asId && s.baseGfn < end && s.baseGfn + s.npages > baseGfn))
      return fail(R.overlap);
  }

  // guest_memfd binding (create only: gmem slots cannot be modified)
  let inode: GmemInode | undefined;
  const pgoff = Number(gmemOffset / 4096n);
  if (isGmem) {
    const t = gmemBindCheck(k, vm, op.guest_memfd, gmemOffset, size);
    if ('rule' in t) return fail(t.rule);
    inode = t.inode;
    if (!k.profile.gmemBindOverlapAtCommit) {
      const r = gmemBindOverlap(k, inode, pgoff, npages);
      if (r) return fail(r);
    }
  }
  if (change === 'create' || change === 'move') {
    if (baseGfn + npages - 1 > MAX_GFN) return fail(R.maxGfn);
    const r = k.arch(vm)?.prepareMemslot?.(k, vm, baseGfn, npages);
    if (r) return fail(r);
  }
  if (inode && k.profile.gmemBindOverlapAtCommit) {
    const r = gmemBindOverlap(k, inode, pgoff, npages);
    if (r) return fail(r);
  }

  if (change === 'move' && old) {
    k.zapGfns(vm, old.baseGfn, old.baseGfn + old.npages, { shared: true, private: true });
    old.baseGfn = baseGfn;
    return ok(R.moved);
  }
  if (change === 'flags' && old) {
    old.flags = flags;
    return ok(R.flagsOnly);
  }
  const slot: Memslot = {
    vm,
    asId,
    id,
    flags,
    baseGfn,
    npages,
    userspaceAddr: hva,
    ...(inode ? { gmem: { inode, pgoff } } : {}),
    gmemOnly: inode ? gmemOnly(k, inode) : false,
  };
  vm.memslots.push(slot);
  vm.memslots.sort((a, b) => a.asId - b.asId || a.baseGfn - b.baseGfn);
  if (inode) gmemBindCommit(inode, slot, pgoff);
  return ok(R.created);
}

export function deleteSlot(k: Kernel, vm: Vm, slot: Memslot): void {
  k.zapGfns(vm, slot.baseGfn, slot.baseGfn + slot.npages, { shared: true, private: true });
  gmemUnbind(slot);
  vm.memslots.splice(vm.memslots.indexOf(slot), 1);
}
