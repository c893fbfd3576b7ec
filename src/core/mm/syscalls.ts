/** mmap, munmap, loads and stores, pins and madvise on the process address space. */
import { isBorrowed, newPage, pageBytes, setPage, writePage, ZERO_PAGE } from '../guest_memfd/folio.ts';
import { gmemFallocate, gmemFault, gmemMmapCheck, gmemPut } from '../guest_memfd/fops.ts';
import type { Kernel } from '../kernel.ts';
import type { Data, Op } from '../ops.ts';
import { fail, type KResult, kerr, kok, type Outcome, ok, signal } from '../outcome.ts';
import { Commits, cite, defineRules, type Rule } from '../rule.ts';
import type { GmemInode, Vma } from '../state.ts';
import { FallocFlag, LEGACY_MAP_MASK, Madv, MapFlag, PAGE_SIZE, Prot, TASK_SIZE } from '../uapi.ts';
import { type AnonPages, type PageRef, PROT_READ, PROT_WRITE, userAddr } from './mm.ts';

export const R = defineRules('mm', 'mm', {
  mmapOffset: {
    op: 'mmap',
    errno: 'EINVAL',
    reason: 'mmap offset not page-aligned',
    cite: cite.linux('arch/x86/kernel/sys_x86_64.c', 'SYSCALL_DEFINE6(mmap)'),
  },
  mmapBadFd: {
    op: 'mmap',
    errno: 'EBADF',
    reason: 'mmap of an fd that is not open',
    cite: cite.linux('mm/mmap.c', 'ksys_mmap_pgoff'),
  },
  mmapLength: { op: 'mmap', errno: 'EINVAL', reason: 'mmap length is 0', cite: cite.linux('mm/mmap.c', 'do_mmap') },
  mmapNoMem: {
    op: 'mmap',
    errno: 'ENOMEM',
    reason: 'mmap range does not fit the address space',
    cite: cite.linux('mm/mmap.c', 'do_mmap'),
  },
  mmapFixedUnaligned: {
    op: 'mmap',
    errno: 'EINVAL',
    reason: 'MAP_FIXED address not page-aligned',
    cite: cite.linux('mm/mmap.c', '__get_unmapped_area'),
  },
  mmapMinAddr: {
    op: 'mmap',
    errno: 'EPERM',
    reason: 'MAP_FIXED below vm.mmap_min_addr (the process has no CAP_SYS_RAWIO)',
    cite: cite.linux('security/commoncap.c', 'cap_mmap_addr'),
  },
  mmapExists: {
    op: 'mmap',
    errno: 'EEXIST',
    reason: 'MAP_FIXED_NOREPLACE over an existing mapping',
    cite: cite.linux('mm/mmap.c', 'do_mmap'),
  },
  mmapType: {
    op: 'mmap',
    errno: 'EINVAL',
    reason:
      'the mapping type (flags & MAP_TYPE) must be MAP_SHARED or MAP_PRIVATE (or, for a file, MAP_SHARED_VALIDATE)',
    cite: cite.linux('mm/mmap.c', 'do_mmap'),
  },
  mmapValidateFlags: {
    op: 'mmap',
    errno: 'EOPNOTSUPP',
    reason:
      'MAP_SHARED_VALIDATE of a file with a flag outside LEGACY_MAP_MASK that the file does not support (MAP_FIXED_NOREPLACE, MAP_SYNC, unknown bits)',
    cite: cite.next('mm/mmap.c', Commits.NEXT_MMAP, 'do_mmap'),
  },
  mmapNoexec: {
    op: 'mmap',
    errno: 'EPERM',
    reason:
      'PROT_EXEC mapping of a file on a noexec mount: the guest_memfd mount is SB_I_NOEXEC and MNT_NOEXEC (checked after the MAP_SHARED/MAP_PRIVATE type, before the file is asked)',
    cite: cite.next('mm/mmap.c', Commits.NEXT_MMAP, 'do_mmap'),
  },
  mmapNotMappable: {
    op: 'mmap',
    errno: 'ENODEV',
    reason: 'this file has no mmap operation (checked after the MAP_SHARED/MAP_PRIVATE type)',
    cite: cite.next('mm/mmap.c', Commits.NEXT_MMAP, 'do_mmap'),
  },
  mapped: { op: 'mmap', reason: 'mapping created (no page touched)', cite: cite.linux('mm/mmap.c', 'do_mmap') },
  munmapInvalid: {
    op: 'munmap',
    errno: 'EINVAL',
    reason: 'munmap address not page-aligned, length 0, or range outside user space',
    cite: cite.linux('mm/vma.c', 'do_vmi_munmap'),
  },
  unmapped: { op: 'munmap', reason: 'mappings in the range removed', cite: cite.linux('mm/vma.c', 'do_vmi_munmap') },
  segv: {
    op: 'load/store',
    signal: 'SIGSEGV',
    reason: 'no mapping at this address, or the mapping does not allow the access',
    cite: cite.linux('arch/x86/mm/fault.c', 'do_user_addr_fault'),
  },
  accessed: {
    op: 'load/store',
    reason: 'the process accessed the bytes',
    cite: cite.linux('arch/x86/mm/fault.c', 'handle_mm_fault'),
  },
  gupFault: {
    op: 'get_user_pages',
    errno: 'EFAULT',
    reason: 'get_user_pages: no mapping, no permission, or the fault would SIGBUS',
    cite: cite.linux('mm/gup.c', '__get_user_pages'),
  },
  pinned: {
    op: 'pin/unpin',
    reason: 'pages pinned long-term (FOLL_LONGTERM)',
    cite: cite.linux('mm/gup.c', 'pin_user_pages'),
  },
  pinTooMany: {
    op: 'pin/unpin',
    errno: 'ENOMEM',
    reason:
      "more than 1,048,576 pages (4 GiB) to pin in one call: the model's own limit (it keeps a count per pinned page); the kernel has none (__get_user_pages loops until a fault, a signal or the end)",
    cite: cite.linux('mm/gup.c', 'pin_user_pages'),
    confidence: 'inferred',
  },
  notPinned: {
    op: 'pin/unpin',
    errno: 'EINVAL',
    reason: 'unpin of pages this process has not pinned (model check)',
    cite: cite.linux('mm/gup.c', 'unpin_user_pages'),
    confidence: 'inferred',
  },
  unpinned: { op: 'pin/unpin', reason: 'pins dropped', cite: cite.linux('mm/gup.c', 'unpin_user_pages') },
  madviseInvalid: {
    op: 'madvise',
    errno: 'EINVAL',
    reason: 'madvise start not page-aligned, advice unknown, or the range wraps',
    cite: cite.linux('mm/madvise.c', 'do_madvise'),
  },
  madviseUnmapped: {
    op: 'madvise',
    errno: 'ENOMEM',
    reason: 'part of the madvise range is not mapped (the mapped parts were advised)',
    cite: cite.linux('mm/madvise.c', 'madvise_walk_vmas'),
  },
  madviseCollapse: {
    op: 'madvise',
    errno: 'EINVAL',
    reason: 'MADV_COLLAPSE cannot collapse guest_memfd mappings (not anon or shmem/file THP)',
    cite: cite.linux('mm/khugepaged.c', 'madvise_collapse'),
  },
  madvised: { op: 'madvise', reason: 'advice applied', cite: cite.linux('mm/madvise.c', 'madvise_vma_behavior') },
  madviseRemoveNoFile: {
    op: 'madvise',
    errno: 'EINVAL',
    reason: 'MADV_REMOVE on a mapping without a file (private anonymous memory): nothing to punch a hole in',
    cite: cite.linux('mm/madvise.c', 'madvise_remove'),
  },
  madviseRemoveNotShared: {
    op: 'madvise',
    errno: 'EACCES',
    reason: 'MADV_REMOVE on a file mapping that is not shared and writable (vma_is_shared_maywrite)',
    cite: cite.linux('mm/madvise.c', 'madvise_remove'),
  },
  madviseRemoved: {
    op: 'madvise',
    reason:
      'MADV_REMOVE punches the range out of the backing file: vfs_fallocate(PUNCH_HOLE|KEEP_SIZE) (guest_memfd: kvm_gmem_punch_hole; shared anonymous memory: its shmem file); reads give zeros after it',
    cite: cite.linux('mm/madvise.c', 'madvise_remove'),
  },
});

type MmapOp = Extract<Op, { op: 'mmap' }>;

export function sysMmap(k: Kernel, op: MmapOp): Outcome {
  if (op.offset % 4096n !== 0n) return fail(R.mmapOffset);
  const anonymous = (op.flags & MapFlag.MAP_ANONYMOUS) !== 0n;
  let inode: GmemInode | undefined;
  let fileKind: string | undefined;
  if (!anonymous) {
    const f = k.file(op.fd);
    if (!f) return fail(R.mmapBadFd);
    fileKind = f.kind;
    if (f.kind === 'gmem') inode = f.inode;
  }
  if (op.length === 0n) return fail(R.mmapLength);
  const len = ((op.length + 4095n) / 4096n) * 4096n;
  if (len > BigInt(TASK_SIZE)) return fail(R.mmapNoMem);
  const fixed = (op.flags & (MapFlag.MAP_FIXED | MapFlag.MAP_FIXED_NOREPLACE)) !== 0n;
  let start: number;
  const n = Number(len);
  if (fixed) {
    if (op.addr > BigInt(TASK_SIZE) - len) return fail(R.mmapNoMem);
    if (op.addr % 4096n !== 0n) return fail(R.mmapFixedUnaligned);
    // cap_mmap_addr: a caller with CAP_SYS_RAWIO may map below vm.mmap_min_addr
    if (!k.host.capSysRawio && op.addr < BigInt(k.knobs.mmap_min_addr)) return fail(R.mmapMinAddr);
    start = Number(op.addr);
    if ((op.flags & MapFlag.MAP_FIXED_NOREPLACE) !== 0n && k.mm.overlaps(start, start + n)) return fail(R.mmapExists);
  } else {
    const s = k.mm.placeTopDown(n, Math.max(k.knobs.mmap_min_addr, PAGE_SIZE));
    if (s === undefined) return fail(R.mmapNoMem);
    start = s;
  }
  // do_mmap: flags & MAP_TYPE; a file also takes MAP_SHARED_VALIDATE (MAP_SHARED that refuses
  // flags the file does not know), anonymous memory only MAP_SHARED or MAP_PRIVATE
  const type = op.flags & 0xfn;
  const validate = !anonymous && type === MapFlag.MAP_SHARED_VALIDATE;
  if (!validate && type !== MapFlag.MAP_SHARED && type !== MapFlag.MAP_PRIVATE) return fail(R.mmapType);
  if (validate && (op.flags & ~LEGACY_MAP_MASK) !== 0n) return fail(R.mmapValidateFlags);
  const shared = validate || type === MapFlag.MAP_SHARED;
  if (!anonymous) {
    // do_mmap: a file on a noexec mount refuses VM_EXEC before its ->mmap is asked
    if (inode && (op.prot & Prot.PROT_EXEC) !== 0n) return fail(R.mmapNoexec);
    if (inode) {
      const r = gmemMmapCheck(inode, shared);
      if (r) return fail(r);
    } else if (fileKind !== 'vcpu') return fail(R.mmapNotMappable);
  }
  if (fixed) releaseMappings(k, k.mm.unmap(start, start + n));
  const vma = { start, end: start + n, prot: Number(op.prot & 7n), shared, pgoff: Number(op.offset / 4096n) };
  if (inode) {
    k.mm.insert({ ...vma, inode });
    inode.refs++;
  } else k.mm.insert(vma);
  return ok(R.mapped, start);
}

function releaseMappings(k: Kernel, changes: { inode: GmemInode; delta: number }[]): void {
  for (const c of changes) gmemPut(k, c.inode, c.delta);
}

export function sysMunmap(k: Kernel, op: Extract<Op, { op: 'munmap' }>): Outcome {
  if (
    op.addr % 4096n !== 0n ||
    op.length === 0n ||
    op.addr > BigInt(TASK_SIZE) ||
    op.length > BigInt(TASK_SIZE) - op.addr
  )
    return fail(R.munmapInvalid);
  const start = Number(op.addr);
  const end = start + Number(((op.length + 4095n) / 4096n) * 4096n);
  releaseMappings(k, k.mm.unmap(start, end));
  return ok(R.unmapped);
}

/**
 * Resolve the page at a user address for an access (fault path). Returns the page, or the rule
 * that refused it (SIGSEGV, or a guest_memfd SIGBUS rule).
 */
export function faultIn(k: Kernel, addr: number, write: boolean): PageRef | Rule {
  return faultInVma(k, k.mm.find(addr), addr, write);
}

/** faultIn with the mapping at addr already looked up (`v` = k.mm.find(addr)) */
function faultInVma(k: Kernel, v: Vma | undefined, addr: number, write: boolean): PageRef | Rule {
  if (!v) return R.segv;
  if (write ? (v.prot & PROT_WRITE) === 0 : (v.prot & (PROT_READ | PROT_WRITE)) === 0) return R.segv;
  const vpn = Math.floor(addr / PAGE_SIZE);
  if (!v.inode) return { kind: 'anon', vpn };
  const index = v.pgoff + (vpn - v.start / PAGE_SIZE);
  const r = gmemFault(k, v.inode, index);
  if (r) return r;
  return { kind: 'gmem', inode: v.inode, index };
}

/** a fault's result is the page, or the rule that refused it */
const refused = (r: PageRef | Rule): r is Rule => !('kind' in r);

/** get_user_pages of one page (FOLL_WRITE when write): the page, or -EFAULT */
export function gup(k: Kernel, va: bigint, write: boolean): KResult<PageRef> {
  const a = userAddr(va);
  if (a === undefined) return kerr(R.gupFault);
  const r = faultIn(k, a, write);
  if (refused(r)) return kerr(R.gupFault, r);
  return kok(r);
}

/**
 * get_user_pages over the pages of one kernel call (kvm_gmem_populate's sources): what gup() does
 * page by page, with the address as a number (any value; outside user space it is -EFAULT) and the
 * last mapping remembered, since nothing changes the mappings while one call runs
 */
export class UserPageWalk {
  private readonly k: Kernel;
  private readonly write: boolean;
  private vma: Vma | undefined;
  constructor(k: Kernel, write: boolean) {
    this.k = k;
    this.write = write;
  }
  gup(addr: number): KResult<PageRef> {
    if (!(addr >= 0 && addr < TASK_SIZE)) return kerr(R.gupFault);
    let v = this.vma;
    if (v === undefined || addr < v.start || addr >= v.end) v = this.vma = this.k.mm.find(addr);
    const r = faultInVma(this.k, v, addr, this.write);
    if (refused(r)) return kerr(R.gupFault, r);
    return kok(r);
  }
}

/** The 4 KiB a page reference holds. */
export function readRef(ref: PageRef, mm = undefined as undefined | { anon: AnonPages }): Uint8Array {
  if (ref.kind === 'gmem') return pageBytes(ref.inode, ref.index);
  return mm?.anon.get(ref.vpn) ?? ZERO_PAGE;
}

/** Overwrite a whole page behind a reference (firmware write-back into a source page). */
export function writeRef(k: Kernel, ref: PageRef, bytes: Uint8Array): void {
  if (ref.kind === 'gmem') setPage(ref.inode, ref.index, newPage(bytes));
  else k.mm.anon.set(ref.vpn, newPage(bytes));
}

/** Store `len` bytes at `off` in the page: `src` bytes from index `at`, or `src` repeated. */
function storeToPage(k: Kernel, ref: PageRef, off: number, src: Uint8Array | number, at: number, len: number): void {
  if (ref.kind === 'gmem') {
    writePage(ref.inode, ref.index, off, typeof src === 'number' ? src : src.subarray(at, at + len), len);
    return;
  }
  let page = k.mm.anon.get(ref.vpn);
  if (!page) {
    if (typeof src === 'number' && src === 0) return;
    page = newPage();
    k.mm.anon.set(ref.vpn, page);
  } else if (isBorrowed(page)) {
    page = newPage(page);
    k.mm.anon.set(ref.vpn, page);
  }
  if (typeof src === 'number') page.fill(src, off, off + len);
  else page.set(src.subarray(at, at + len), off);
}

export function sysStore(k: Kernel, op: Extract<Op, { op: 'store' }>): Outcome {
  const d: Data = op.data;
  const total = d.kind === 'bytes' ? d.bytes.length : Number(d.length);
  // the address of byte `done` is base + done (exact: user addresses are below 2^47)
  const base = userAddr(op.addr);
  const src = d.kind === 'bytes' ? d.bytes : d.byte;
  let done = 0;
  // the mapping of the last page (a store does not change the mappings; addresses only grow)
  let v: Vma | undefined;
  while (done < total) {
    const a = base !== undefined && base + done < TASK_SIZE ? base + done : undefined;
    if (a === undefined) return signal(R.segv);
    const off = a % PAGE_SIZE;
    const len = Math.min(PAGE_SIZE - off, total - done);
    if (v === undefined || a >= v.end) v = k.mm.find(a);
    const r = faultInVma(k, v, a, true);
    if (refused(r)) return signal(r);
    // whole pages of bytes into anonymous memory: the pages are views of them (AnonPages.borrow),
    // copied only if written again; every page to the end of the mapping faults in alike
    if (r.kind === 'anon' && typeof src !== 'number' && off === 0 && total - done >= PAGE_SIZE) {
      const whole = Math.floor(Math.min(total - done, v!.end - a) / PAGE_SIZE);
      k.mm.anon.borrow(r.vpn, whole, src, done);
      done += whole * PAGE_SIZE;
      continue;
    }
    storeToPage(k, r, off, src, done, len);
    done += len;
  }
  return ok(R.accessed, total);
}

export function sysLoad(k: Kernel, op: Extract<Op, { op: 'load' }>): Outcome {
  const total = Number(op.length);
  const out = new Uint8Array(total);
  let done = 0;
  let undefinedBytes = false;
  while (done < total) {
    const a = userAddr(op.addr + BigInt(done));
    if (a === undefined) return signal(R.segv);
    const off = a % PAGE_SIZE;
    const len = Math.min(PAGE_SIZE - off, total - done);
    const ref = faultIn(k, a, false);
    if (refused(ref)) return signal(ref);
    if (ref.kind === 'gmem' && ref.inode.undefinedContent.has(ref.index)) undefinedBytes = true;
    out.set(readRef(ref, k.mm).subarray(off, off + len), done);
    done += len;
  }
  return ok(R.accessed, total, undefinedBytes ? { bytes: out, undefinedBytes } : { bytes: out });
}

/**
 * copy_from_user of `len` bytes at `addr` by the kernel: the bytes, or undefined when any of them
 * cannot be read (unmapped, not readable, or a guest_memfd page the host may not fault in) - EFAULT
 */
export function copyFromUser(k: Kernel, addr: bigint, len: number): Uint8Array | undefined {
  const out = new Uint8Array(len);
  for (let done = 0; done < len; ) {
    const a = userAddr(addr + BigInt(done));
    if (a === undefined) return undefined;
    const off = a % PAGE_SIZE;
    const n = Math.min(PAGE_SIZE - off, len - done);
    const ref = faultIn(k, a, false);
    if (refused(ref)) return undefined;
    out.set(readRef(ref, k.mm).subarray(off, off + n), done);
    done += n;
  }
  return out;
}

function pageRange(addr: bigint, length: bigint): { first: bigint; count: number } {
  const first = addr / 4096n;
  const last = (addr + length + 4095n) / 4096n;
  return { first, count: Number(last - first) };
}

/** pages one pin call may pin (R.pinTooMany) */
const MAX_PIN_PAGES = 1 << 20;
const U64_MAX = (1n << 64n) - 1n;

export function sysPin(k: Kernel, op: Extract<Op, { op: 'pin' }>): Outcome {
  const { first, count } = pageRange(op.addr, op.length);
  const refs: PageRef[] = [];
  for (let i = 0; i < count; i++) {
    // an absurd range that is mapped: refuse before holding a pin per page of it
    if (i === MAX_PIN_PAGES) return fail(R.pinTooMany);
    const r = gup(k, (first + BigInt(i)) * 4096n, true);
    if (!r.ok) return fail(r.rule, {}, r.cause);
    refs.push(r.value);
  }
  for (const ref of refs) {
    if (ref.kind === 'gmem') ref.inode.pins.set(ref.index, (ref.inode.pins.get(ref.index) ?? 0) + 1);
    else k.mm.anonPins.set(ref.vpn, (k.mm.anonPins.get(ref.vpn) ?? 0) + 1);
  }
  return ok(R.pinned);
}

export function sysUnpin(k: Kernel, op: Extract<Op, { op: 'unpin' }>): Outcome {
  const { first, count } = pageRange(op.addr, op.length);
  const refs: PageRef[] = [];
  for (let i = 0; i < count; i++) {
    const a = userAddr((first + BigInt(i)) * 4096n);
    const v = a === undefined ? undefined : k.mm.find(a);
    if (a === undefined || !v) return fail(R.notPinned);
    const vpn = a / PAGE_SIZE;
    const ref: PageRef = v.inode
      ? { kind: 'gmem', inode: v.inode, index: v.pgoff + (vpn - v.start / PAGE_SIZE) }
      : { kind: 'anon', vpn };
    const n =
      ref.kind === 'gmem'
        ? (ref.inode.pins.get(ref.index) ?? 0) + (ref.inode.detachedPins.get(ref.index) ?? 0)
        : (k.mm.anonPins.get(ref.vpn) ?? 0);
    if (n === 0) return fail(R.notPinned);
    refs.push(ref);
  }
  for (const ref of refs) {
    const m: Map<number, number> =
      ref.kind === 'gmem'
        ? ref.inode.detachedPins.has(ref.index)
          ? ref.inode.detachedPins
          : ref.inode.pins
        : k.mm.anonPins;
    const key = ref.kind === 'gmem' ? ref.index : ref.vpn;
    const n = m.get(key)! - 1;
    if (n === 0) m.delete(key);
    else m.set(key, n);
  }
  return ok(R.unpinned);
}

const KNOWN_ADVICE = new Set<bigint>(Object.values(Madv).map((v) => BigInt(v)));

export function sysMadvise(k: Kernel, op: Extract<Op, { op: 'madvise' }>): Outcome {
  if (op.addr % 4096n !== 0n || !KNOWN_ADVICE.has(op.advice)) return fail(R.madviseInvalid);
  if (op.length === 0n) return ok(R.madvised);
  // do_madvise: the page-aligned length may not overflow, nor the range wrap
  const endB = op.addr + ((op.length + 4095n) / 4096n) * 4096n;
  if (endB > U64_MAX) return fail(R.madviseInvalid);
  // madvise_walk_vmas: the advice goes to every mapping in the range; a hole makes the result
  // -ENOMEM, after the mappings around it were advised (nothing is mapped at or above TASK_SIZE)
  const a = Math.min(Number(op.addr), TASK_SIZE);
  const end = Math.min(Number(endB), TASK_SIZE);
  let hole = Number(endB) > TASK_SIZE;
  let pos = a;
  const vmas = [];
  while (pos < end) {
    const v = k.mm.find(pos) ?? k.mm.vmas.find((x) => x.start > pos && x.start < end);
    if (!v) {
      hole = true;
      break;
    }
    if (v.start > pos) hole = true;
    vmas.push(v);
    pos = v.end;
  }
  const advice = Number(op.advice);
  if (advice === Madv.MADV_REMOVE) return madviseRemove(k, vmas, a, end, hole);
  if (advice === Madv.MADV_COLLAPSE && vmas.some((v) => v.inode)) return fail(R.madviseCollapse);
  if (advice === Madv.MADV_DONTNEED) {
    for (const v of vmas) {
      const s = Math.max(v.start, a);
      const e = Math.min(v.end, end);
      if (v.inode) {
        const i0 = v.pgoff + (s - v.start) / PAGE_SIZE;
        v.inode.hostMapped.delete(i0, i0 + (e - s) / PAGE_SIZE);
      } else if (!v.shared) k.mm.dropAnon(s, e);
    }
  }
  return hole ? fail(R.madviseUnmapped) : ok(R.madvised);
}

/**
 * MADV_REMOVE (madvise_walk_vmas + madvise_remove, docs/notes/kernel-generic.md §10): each mapping
 * in the range in address order; the first one that refuses ends the call with its errno (the ones
 * before it were punched); a hole gives ENOMEM at the end.
 */
function madviseRemove(k: Kernel, vmas: Vma[], a: number, end: number, hole: boolean): Outcome {
  for (const v of vmas) {
    const s = Math.max(v.start, a);
    const e = Math.min(v.end, end);
    if (v.inode) {
      // a guest_memfd mapping is always MAP_SHARED of an O_RDWR file: shared and may write
      const offset = BigInt(v.pgoff * PAGE_SIZE + (s - v.start));
      const mode = FallocFlag.FALLOC_FL_PUNCH_HOLE | FallocFlag.FALLOC_FL_KEEP_SIZE;
      const r = gmemFallocate(k, v.inode, mode, offset, BigInt(e - s));
      if (r.errno) return r;
      // the host page tables of the punched range are gone with the pages
      const i0 = v.pgoff + (s - v.start) / PAGE_SIZE;
      v.inode.hostMapped.delete(i0, i0 + (e - s) / PAGE_SIZE);
    } else if (v.shared) {
      // shared anonymous memory is a shmem file: the hole reads as zeros
      k.mm.dropAnon(s, e);
    } else return fail(R.madviseRemoveNoFile);
  }
  return hole ? fail(R.madviseUnmapped) : ok(R.madviseRemoved);
}
