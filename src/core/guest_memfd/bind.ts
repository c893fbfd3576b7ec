/**
 * Binding a guest_memfd range to a memslot: [ML] kvm_gmem_bind before the memslot is committed;
 * [SER] kvm_gmem_prepare_memory_region (same checks) and kvm_gmem_commit_memory_region (overlap,
 * -EEXIST) after the arch prepare step.
 */
import type { Kernel } from '../kernel.ts';
import { cite, defineRules, type Rule } from '../rule.ts';
import type { GmemInode, Memslot, Vm } from '../state.ts';
import { GuestMemfdFlag } from '../uapi.ts';

export const R = defineRules('gmem.bind', 'KVM_SET_USER_MEMORY_REGION2', {
  badFd: {
    errno: 'EBADF',
    reason: 'guest_memfd is not an open file descriptor',
    cite: cite.gmem('kvm_gmem_bind'),
  },
  notGmem: {
    errno: 'EINVAL',
    reason: 'guest_memfd does not refer to a guest_memfd file',
    cite: cite.gmem('kvm_gmem_bind'),
  },
  otherVm: {
    errno: 'EINVAL',
    reason: 'the guest_memfd belongs to another VM',
    cite: cite.gmem('kvm_gmem_bind'),
  },
  range: {
    errno: 'EINVAL',
    reason: 'guest_memfd_offset + memory_size is beyond the guest_memfd size',
    cite: cite.gmem('kvm_gmem_bind'),
  },
  overlapMl: {
    when: { gmemBindOverlap: 'EINVAL' },
    errno: 'EINVAL',
    reason: 'part of the guest_memfd range is already bound to another memslot (through v7.1)',
    cite: cite.gmem('kvm_gmem_bind'),
  },
  overlapKx: {
    when: { gmemBindOverlap: 'EEXIST', gmemBindOverlapAtCommit: false },
    errno: 'EEXIST',
    reason: 'part of the guest_memfd range is already bound to another memslot (7ea987a90585, v7.2)',
    cite: {
      repo: 'kvm-x86/linux',
      path: 'virt/kvm/guest_memfd.c',
      commit: '5e38e1bd4e7bbed05481fd358ed47396930b7d1a',
      fn: 'kvm_gmem_bind',
    },
  },
  overlapSer: {
    when: { gmemBindOverlapAtCommit: true },
    errno: 'EEXIST',
    reason: 'part of the guest_memfd range is already bound to another memslot',
    cite: cite.serGmem('kvm_gmem_commit_memory_region'),
  },
});

export type BindTarget = { inode: GmemInode } | { rule: Rule };

/** fget + file type + owner + range checks (both eras) */
export function gmemBindCheck(k: Kernel, vm: Vm, fd: bigint, offset: bigint, size: bigint): BindTarget {
  const f = k.file(fd);
  if (!f) return { rule: R.badFd };
  if (f.kind !== 'gmem') return { rule: R.notGmem };
  if (f.inode.vm !== vm) return { rule: R.otherVm };
  if (offset % 4096n !== 0n || offset + size > f.inode.sizeBytes) return { rule: R.range };
  return { inode: f.inode };
}

/** the index-overlap check; its place in the order and its errno depend on the era */
export function gmemBindOverlap(k: Kernel, inode: GmemInode, start: number, npages: number): Rule | null {
  const end = start + npages;
  if (inode.bindings.some((b) => b.start < end && b.end > start))
    return k.profile.gmemBindOverlap === 'EINVAL'
      ? R.overlapMl
      : k.profile.gmemBindOverlapAtCommit
        ? R.overlapSer
        : R.overlapKx;
  return null;
}

export function gmemBindCommit(inode: GmemInode, slot: Memslot, start: number): void {
  inode.bindings.push({ slot, start, end: start + slot.npages });
}

export function gmemUnbind(slot: Memslot): void {
  const inode = slot.gmem?.inode;
  if (!inode) return;
  const i = inode.bindings.findIndex((b) => b.slot === slot);
  if (i >= 0) inode.bindings.splice(i, 1);
}

/** KVM_MEMSLOT_GMEM_ONLY: [ML] the file has MMAP; [SER] or in-place conversion is on */
export function gmemOnly(k: Kernel, inode: GmemInode): boolean {
  return (inode.flags & GuestMemfdFlag.GUEST_MEMFD_FLAG_MMAP) !== 0n || k.inPlace;
}
