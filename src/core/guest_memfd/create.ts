/**
 * KVM_CREATE_GUEST_MEMFD (VM ioctl): kvm_gmem_create. Checks flags against the VM's supported
 * set, then the size; no memory is allocated.
 */
import type { Kernel } from '../kernel.ts';
import type { Op } from '../ops.ts';
import { fail, type Outcome, ok } from '../outcome.ts';
import { cite, defineRules } from '../rule.ts';
import { GmemInode, type Vm } from '../state.ts';
import { GuestMemfdFlag, KVM_MEMORY_ATTRIBUTE_PRIVATE } from '../uapi.ts';

export const R = defineRules('gmem.create', 'KVM_CREATE_GUEST_MEMFD', {
  badFlags: {
    errno: 'EINVAL',
    reason: 'flags outside the guest_memfd flags this VM supports (KVM_CAP_GUEST_MEMFD_FLAGS)',
    cite: cite.gmem('kvm_gmem_create'),
  },
  badSize: {
    errno: 'EINVAL',
    reason: 'size is not positive (as loff_t) or not page-aligned',
    cite: cite.gmem('kvm_gmem_create'),
  },
  created: {
    reason: 'new guest_memfd: size fixed, nothing allocated; attributes PRIVATE unless INIT_SHARED',
    cite: cite.gmem('__kvm_gmem_create'),
  },
});

/**
 * kvm_gmem_get_supported_flags: MMAP always; INIT_SHARED iff kvm_arch_supports_gmem_init_shared
 * (x86: !has_private_mem; [SER] or in-place conversion is on, which only the series has).
 */
export function supportedGmemFlags(k: Kernel, vm: Vm): bigint {
  let f = GuestMemfdFlag.GUEST_MEMFD_FLAG_MMAP;
  const initShared = !vm.hasPrivateMem || k.inPlace;
  if (initShared) f |= GuestMemfdFlag.GUEST_MEMFD_FLAG_INIT_SHARED;
  return f;
}

export function createGuestMemfd(k: Kernel, vm: Vm, op: Extract<Op, { op: 'KVM_CREATE_GUEST_MEMFD' }>): Outcome {
  if ((op.flags & ~supportedGmemFlags(k, vm)) !== 0n) return fail(R.badFlags);
  // size is a u64 in the struct and a signed loff_t in kvm_gmem_create
  if (op.size === 0n || op.size >= 1n << 63n || op.size % 4096n !== 0n) return fail(R.badSize);
  const inode = new GmemInode(k.inodes.length, vm, op.size, op.flags);
  const shared = (op.flags & GuestMemfdFlag.GUEST_MEMFD_FLAG_INIT_SHARED) !== 0n;
  inode.attrs.set(0, inode.npages, shared ? 0 : KVM_MEMORY_ATTRIBUTE_PRIVATE);
  inode.refs = 1;
  k.inodes.push(inode);
  const fd = k.installFd({ kind: 'gmem', inode });
  return ok(R.created, fd);
}
