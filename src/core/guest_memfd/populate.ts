/**
 * kvm_gmem_populate: the internal service behind KVM_TDX_INIT_MEM_REGION and
 * KVM_SEV_SNP_LAUNCH_UPDATE. Per page: signal check, GUP of the source (since 2a62345b3052,
 * before the gmem lock), get the target folio, require the gfn to be private, call the arch
 * callback. Returns the pages done, or the first page's error.
 */
import type { Kernel } from '../kernel.ts';
import { type PageRef, userAddr } from '../mm/mm.ts';
import { UserPageWalk } from '../mm/syscalls.ts';
import { KOK, type KResult, kerr } from '../outcome.ts';
import { cite, defineRules, type Rule } from '../rule.ts';
import { type GmemInode, gmemIndex, type Memslot, type Vm } from '../state.ts';
import { PAGE_SIZE } from '../uapi.ts';
import { getFolio } from './folio.ts';

export const R = defineRules('gmem.populate', 'kvm_gmem_populate', {
  npages: { errno: 'EINVAL', reason: 'npages <= 0 (WARN)', cite: cite.gmem('kvm_gmem_populate') },
  srcAlign: { errno: 'EINVAL', reason: 'source address not page-aligned (WARN)', cite: cite.gmem('kvm_gmem_populate') },
  noSlot: {
    errno: 'EINVAL',
    reason: 'no memslot at this gfn, or the memslot is not bound to a guest_memfd',
    cite: cite.gmem('kvm_gmem_populate'),
  },
  fileClosed: {
    errno: 'EFAULT',
    reason: "the memslot's guest_memfd was closed (last reference dropped)",
    cite: cite.gmem('kvm_gmem_populate'),
  },
  interrupted: {
    errno: 'EINTR',
    reason: 'a signal is pending: the loop stops, pages done so far stay done',
    cite: cite.gmem('kvm_gmem_populate'),
  },
  bindingMismatch: {
    errno: 'EIO',
    reason: 'the guest_memfd index is bound to another memslot',
    cite: cite.gmem('__kvm_gmem_get_pfn'),
  },
  prepared: {
    when: { populateRefusesPrepared: true },
    errno: 'EEXIST',
    reason:
      'v6.18: the folio is already prepared (uptodate: populated, faulted or written before); preparation tracking was removed in 7.0 (8622ef05709f); -EEXIST only when the first page is prepared, else the pages done (read in a fork with the 6.18-era code: v6.18 itself is not stored)',
    cite: {
      repo: 'kalyazin/linux',
      path: 'virt/kvm/guest_memfd.c',
      commit: '07a2ee4ca452',
      fn: 'kvm_gmem_populate',
    },
    eras: 'A',
  },
  notPrivate: {
    errno: 'EINVAL',
    reason:
      'the gfn is not private in the tracker in force (per-VM attributes, or guest_memfd attributes with in-place conversion)',
    cite: cite.gmem('__kvm_gmem_populate'),
  },
});

/** What the arch callback (post_populate) receives for one page. */
export interface PopulatePage {
  readonly gfn: number;
  readonly inode: GmemInode;
  readonly index: number;
  readonly slot: Memslot;
  /** the GUP-ed source page; null = no source page ([B..D]) */
  readonly srcPage: PageRef | null;
  /** [A] the user source address handed to the callback, which GUPs or copies it itself */
  readonly srcVa: bigint | null;
}

export type PostPopulate = (p: PopulatePage) => KResult<void>;

export interface PopulateResult {
  /** pages done */
  readonly count: number;
  /** the error that stopped the loop (after `count` pages); with count 0 it is the call's result */
  readonly error?: { rule: Rule; cause?: Rule };
}

/**
 * @param src user source address, or null for "no source page" (a NULL src)
 */
export function kvmGmemPopulate(
  k: Kernel,
  vm: Vm,
  startGfn: number,
  src: bigint | null,
  npages: number,
  mayWritebackSrc: boolean,
  cb: PostPopulate,
): PopulateResult {
  if (npages <= 0) return { count: 0, error: { rule: R.npages } };
  if (src !== null && src % 4096n !== 0n) return { count: 0, error: { rule: R.srcAlign } };
  const slot = vm.slotForGfn(startGfn);
  if (!slot?.gmem) return { count: 0, error: { rule: R.noSlot } };
  const inode = slot.gmem.inode;
  if (!inode) return { count: 0, error: { rule: R.fileClosed } };
  const n = Math.min(npages, slot.baseGfn + slot.npages - startGfn);
  const gupsSource = k.profile.populateGupsSource;
  // the sources, GUP-ed page by page (their addresses as numbers: beyond user space is -EFAULT)
  const sources = gupsSource && src !== null ? new UserPageWalk(k, mayWritebackSrc) : null;
  const srcAddr = src === null ? 0 : (userAddr(src) ?? Number.POSITIVE_INFINITY);
  let i = 0;
  let error: { rule: Rule; cause?: Rule } | undefined;
  for (; i < n; i++) {
    if (k.signalPending()) {
      error = { rule: R.interrupted };
      break;
    }
    let srcPage: PageRef | null = null;
    if (sources) {
      const g = sources.gup(srcAddr + i * PAGE_SIZE);
      if (!g.ok) {
        error = g.cause ? { rule: g.rule, cause: g.cause } : { rule: g.rule };
        break;
      }
      srcPage = g.value;
    }
    // [A] the callback gets the user address itself
    const srcVa = src === null || gupsSource ? null : src + BigInt(i) * 4096n;
    const r = populateOne(k, vm, slot, inode, startGfn + i, srcPage, srcVa, cb);
    if (!r.ok) {
      error = r.cause ? { rule: r.rule, cause: r.cause } : { rule: r.rule };
      break;
    }
    k.stepPages++;
  }
  if (error && i === 0) return { count: 0, error };
  return error ? { count: i, error } : { count: i };
}

/** __kvm_gmem_populate for one page, under the file's invalidate lock */
function populateOne(
  k: Kernel,
  vm: Vm,
  slot: Memslot,
  inode: GmemInode,
  gfn: number,
  srcPage: PageRef | null,
  srcVa: bigint | null,
  cb: PostPopulate,
): KResult<void> {
  const index = gmemIndex(slot, gfn);
  for (const b of inode.bindings)
    if (index >= b.start && index < b.end && b.slot !== slot) return kerr(R.bindingMismatch);
  // [v6.18] __kvm_gmem_get_pfn reports a prepared (uptodate) folio, and populate refuses it
  if (k.profile.populateRefusesPrepared && inode.uptodate.has(index)) return kerr(R.prepared);
  // [SER] __kvm_gmem_get_pfn clears a never-used folio; mainline leaves it to the arch, which overwrites it
  getFolio(inode, index, k.profile.populateZeroesFreshPage && k.safeguard('zero-fresh-pages'));
  if (!k.isPrivateGfn(vm, gfn) && k.safeguard('private-only-populate')) return kerr(R.notPrivate);
  const r = cb({ gfn, inode, index, slot, srcPage, srcVa });
  if (!r.ok) return r;
  inode.uptodate.add(index);
  return KOK;
}
