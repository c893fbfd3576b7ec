/**
 * guest_memfd file operations: mmap and the user-mapping fault, fallocate (incl. punch hole),
 * read/write (absent), setattr (size is immutable), fstat, release.
 */
import type { Kernel } from '../kernel.ts';
import { fail, type Outcome, ok } from '../outcome.ts';
import { cite, defineRules, type Rule } from '../rule.ts';
import type { GmemInode } from '../state.ts';
import { FallocFlag, GuestMemfdFlag } from '../uapi.ts';
import { getFolio, truncatePages } from './folio.ts';

export const R = defineRules('gmem.fops', 'guest_memfd file', {
  mmapNoFlag: {
    op: 'mmap',
    errno: 'ENODEV',
    reason: 'mmap of a guest_memfd created without GUEST_MEMFD_FLAG_MMAP',
    cite: cite.gmem('kvm_gmem_mmap'),
  },
  mmapPrivate: {
    op: 'mmap',
    errno: 'EINVAL',
    reason: 'guest_memfd can only be mapped MAP_SHARED (no copy-on-write mappings)',
    cite: cite.gmem('kvm_gmem_mmap'),
  },
  faultBeyondEof: {
    op: 'load/store',
    signal: 'SIGBUS',
    reason: 'user fault at a file offset at or beyond the guest_memfd size',
    cite: cite.gmem('kvm_gmem_fault_user_mapping'),
  },
  faultNotShared: {
    op: 'load/store',
    signal: 'SIGBUS',
    reason: 'user fault on a guest_memfd without GUEST_MEMFD_FLAG_INIT_SHARED: the host never maps private memory',
    cite: cite.gmem('kvm_gmem_fault_user_mapping'),
  },
  faultPrivate: {
    op: 'load/store',
    signal: 'SIGBUS',
    reason: 'user fault on an index whose guest_memfd attribute is PRIVATE',
    cite: cite.serGmem('kvm_gmem_fault_user_mapping'),
  },
  readWrite: {
    op: 'read/write/pread/pwrite',
    errno: 'EINVAL',
    reason: 'guest_memfd has no read/write file operations (VFS: no FMODE_CAN_READ/FMODE_CAN_WRITE)',
    cite: cite.linux('fs/read_write.c', 'vfs_read'),
  },
  preadNegative: {
    op: 'read/write/pread/pwrite',
    errno: 'EINVAL',
    reason: 'pread/pwrite with a negative position',
    cite: cite.linux('fs/read_write.c', 'ksys_pread64'),
  },
  preadNoPos: {
    op: 'read/write/pread/pwrite',
    errno: 'ESPIPE',
    reason: 'guest_memfd is an anonymous-inode file without FMODE_PREAD/FMODE_PWRITE',
    cite: cite.linux('fs/read_write.c', 'ksys_pread64'),
  },
  truncate: {
    op: 'ftruncate',
    errno: 'EINVAL',
    reason: 'the size of a guest_memfd is immutable',
    cite: cite.gmem('kvm_gmem_setattr'),
  },
  fstat: {
    op: 'fstat',
    reason: 'st_size is the guest_memfd size, st_blksize the page size',
    cite: cite.gmem('__kvm_gmem_create'),
  },
  fallocateRange: {
    op: 'fallocate',
    errno: 'EINVAL',
    reason: 'offset negative or len not positive (as loff_t)',
    cite: cite.linux('fs/open.c', 'vfs_fallocate'),
  },
  fallocateVfsMode: {
    op: 'fallocate',
    errno: 'EOPNOTSUPP',
    reason: 'a mode bit no filesystem supports, or PUNCH_HOLE without KEEP_SIZE',
    cite: cite.linux('fs/open.c', 'vfs_fallocate'),
  },
  fallocateTooBig: {
    op: 'fallocate',
    errno: 'EFBIG',
    reason: 'offset + len overflows the maximum file size',
    cite: cite.linux('fs/open.c', 'vfs_fallocate'),
  },
  fallocateNoKeepSize: {
    op: 'fallocate',
    errno: 'EOPNOTSUPP',
    reason: 'guest_memfd fallocate requires FALLOC_FL_KEEP_SIZE',
    cite: cite.gmem('kvm_gmem_fallocate'),
  },
  fallocateMode: {
    op: 'fallocate',
    errno: 'EOPNOTSUPP',
    reason: 'guest_memfd fallocate supports only KEEP_SIZE and PUNCH_HOLE',
    cite: cite.gmem('kvm_gmem_fallocate'),
  },
  fallocateUnaligned: {
    op: 'fallocate',
    errno: 'EINVAL',
    reason: 'fallocate offset or len not page-aligned',
    cite: cite.gmem('kvm_gmem_fallocate'),
  },
  fallocateBeyondEof: {
    op: 'fallocate',
    errno: 'EINVAL',
    reason: 'allocation beyond the guest_memfd size',
    cite: cite.gmem('kvm_gmem_allocate'),
  },
  fallocateInterrupted: {
    op: 'fallocate',
    errno: 'EINTR',
    reason: 'signal while allocating; pages allocated so far are kept',
    cite: cite.gmem('kvm_gmem_allocate'),
  },
  allocated: {
    op: 'fallocate',
    reason: 'pages allocated (not cleared until first use)',
    cite: cite.gmem('kvm_gmem_allocate'),
  },
  punched: {
    op: 'fallocate',
    reason: 'punch hole: KVM mappings zapped, pages freed (contents lost, attributes kept); beyond EOF is a no-op',
    cite: cite.gmem('kvm_gmem_punch_hole'),
  },
});

/** kvm_gmem_mmap's checks; null when the mapping may be made */
export function gmemMmapCheck(inode: GmemInode, shared: boolean): Rule | null {
  if ((inode.flags & GuestMemfdFlag.GUEST_MEMFD_FLAG_MMAP) === 0n) return R.mmapNoFlag;
  if (!shared) return R.mmapPrivate;
  return null;
}

/** kvm_gmem_fault_user_mapping: map index into the host, or the SIGBUS rule */
export function gmemFault(k: Kernel, inode: GmemInode, index: number): Rule | null {
  if (index >= inode.npages) return R.faultBeyondEof;
  // a page still mapped in the host page tables is accessed without a fault
  const stale = inode.hostMapped.has(index);
  if (!stale && !k.gmemIndexShared(inode, index)) return k.inPlace ? R.faultPrivate : R.faultNotShared;
  k.hostAccessed.push({ inode, index });
  getFolio(inode, index, true);
  inode.hostMapped.add(index);
  return null;
}

export function gmemFstat(inode: GmemInode): Outcome {
  return ok(R.fstat, 0, { st_size: inode.sizeBytes, st_blksize: 4096n });
}

export function gmemReadWrite(positional: boolean, pos: bigint): Outcome {
  if (!positional) return fail(R.readWrite);
  return fail(pos >= 1n << 63n ? R.preadNegative : R.preadNoPos);
}

export function gmemTruncate(): Outcome {
  return fail(R.truncate);
}

const LOFF_MAX = (1n << 63n) - 1n;

/** FALLOC_FL_SUPPORTED_MASK: the mode bits vfs_fallocate lets through to a filesystem */
const FALLOC_SUPPORTED = Object.values(FallocFlag).reduce((a, b) => a | b, 0n);

/**
 * vfs_fallocate's checks before it looks at the file (docs/notes/kernel-guest_memfd.md Q6): offset
 * and len as loff_t, then the mode; the refusing rule, or undefined
 */
export function vfsFallocateChecks(mode: bigint, offset: bigint, len: bigint): Rule | undefined {
  if (offset > LOFF_MAX || len === 0n || len > LOFF_MAX) return R.fallocateRange;
  if ((mode & ~FALLOC_SUPPORTED) !== 0n) return R.fallocateVfsMode;
  const punch = (mode & FallocFlag.FALLOC_FL_PUNCH_HOLE) !== 0n;
  if (punch && (mode & FallocFlag.FALLOC_FL_KEEP_SIZE) === 0n) return R.fallocateVfsMode;
  return undefined;
}

/** kvm_gmem_fallocate, after vfsFallocateChecks passed (and vfs_fallocate's size check) */
export function gmemFallocate(k: Kernel, inode: GmemInode, mode: bigint, offset: bigint, len: bigint): Outcome {
  if (offset + len > LOFF_MAX) return fail(R.fallocateTooBig);
  if ((mode & FallocFlag.FALLOC_FL_KEEP_SIZE) === 0n) return fail(R.fallocateNoKeepSize);
  if ((mode & ~(FallocFlag.FALLOC_FL_KEEP_SIZE | FallocFlag.FALLOC_FL_PUNCH_HOLE)) !== 0n) return fail(R.fallocateMode);
  if (offset % 4096n !== 0n || len % 4096n !== 0n) return fail(R.fallocateUnaligned);
  const start = offset / 4096n;
  const end = (offset + len) / 4096n;
  if ((mode & FallocFlag.FALLOC_FL_PUNCH_HOLE) !== 0n) {
    const n = BigInt(inode.npages);
    const s = Number(start < n ? start : n);
    const e = Number(end < n ? end : n);
    if (s < e) punchHole(k, inode, s, e);
    return ok(R.punched);
  }
  if (offset + len > inode.sizeBytes) return fail(R.fallocateBeyondEof);
  const s = Number(start);
  const e = Number(end);
  const limit = k.inject.signal_after_pages;
  if (limit !== undefined && limit < e - s) {
    if (limit > 0) inode.allocated.add(s, s + limit);
    return fail(R.fallocateInterrupted);
  }
  inode.allocated.add(s, e);
  return ok(R.allocated);
}

/**
 * kvm_gmem_punch_hole: invalidate KVM mappings ([ML] SHARED for an INIT_SHARED file else PRIVATE;
 * [SER] both), then truncate the page cache range.
 */
export function punchHole(k: Kernel, inode: GmemInode, start: number, end: number): void {
  const initShared = (inode.flags & GuestMemfdFlag.GUEST_MEMFD_FLAG_INIT_SHARED) !== 0n;
  const filter = k.inPlace ? { shared: true, private: true } : { shared: initShared, private: !initShared };
  k.zapGmemIndices(inode, start, end, filter);
  const vm = inode.vm;
  k.arch(vm)?.gmemInvalidate?.(k, inode, start, end);
  truncatePages(inode, start, end);
}

/** Drop one reference (fd or mapping); the last one releases the file (kvm_gmem_release). */
export function gmemPut(k: Kernel, inode: GmemInode, delta = -1): void {
  inode.refs += delta;
  if (inode.refs > 0 || inode.released) return;
  inode.released = true;
  // zap every KVM mapping of the file's bindings, then detach the memslots from it
  k.zapGmemIndices(inode, 0, inode.npages, { shared: true, private: true });
  for (const b of inode.bindings) if (b.slot.gmem) b.slot.gmem.inode = null;
  inode.bindings.length = 0;
}
