/**
 * KVM_TDX_INIT_MEM_REGION (tdx_vcpu_init_mem_region) and its populate callback
 * (tdx_gmem_post_populate → kvm_tdp_mmu_map_private_pfn → tdx_mem_page_add, then MR.EXTEND).
 * The source-address rule is the profile's (kvm-uapi-spec.md §4): the thread's ABI.
 */
import { borrowPage, isBorrowed, newPage, pageBytes, STALE_PAGE, setPage, ZERO_PAGE } from '../guest_memfd/folio.ts';
import { kvmGmemPopulate, R as PopR, type PopulatePage } from '../guest_memfd/populate.ts';
import type { Kernel } from '../kernel.ts';
import { gup, readRef } from '../mm/syscalls.ts';
import { type Op, structOf } from '../ops.ts';
import { fail, KOK, type KResult, kerr, type Outcome, ok } from '../outcome.ts';
import { type Cite, Commits, cite, defineRules } from '../rule.ts';
import type { Vcpu, Vm } from '../state.ts';
import { TdxFlag } from '../uapi.ts';
import { isSharedGfn, tdxOf } from './state.ts';

/**
 * tdx_vcpu_init_mem_region's one up-front condition at v7.1: lines 3250-3255 of tdx.c blob
 * ffe9d0db58c5 (hunk @@ -3247,8 of Sean Christopherson's 2026-06-23 diff; docs/notes/releases.md Q3)
 */
const upFront: Cite = {
  ...cite.tdx('tdx_vcpu_init_mem_region'),
  lines: {
    from: 3250,
    to: 3255,
    source: 'tdx.c blob ffe9d0db58c5, hunk @@ -3247,8 of the 2026-06-23 source-0 diff; believed v7.1',
    at: Commits.V7_1,
  },
};

export const R = defineRules('tdx.imr', 'KVM_TDX_INIT_MEM_REGION', {
  vcpuState: {
    errno: 'EINVAL',
    reason: 'KVM_TDX_INIT_VCPU was not done on this vCPU',
    cite: cite.tdx('tdx_vcpu_init_mem_region'),
  },
  flags: {
    errno: 'EINVAL',
    reason: 'cmd.flags other than KVM_TDX_MEASURE_MEMORY_REGION',
    cite: cite.tdx('tdx_vcpu_init_mem_region'),
  },
  efault: {
    errno: 'EFAULT',
    reason: 'kvm_tdx_init_mem_region cannot be read from cmd.data',
    cite: cite.tdx('tdx_vcpu_init_mem_region'),
  },
  srcAlign: {
    errno: 'EINVAL',
    reason: 'source_addr not page-aligned',
    cite: upFront,
  },
  srcZeroKx: {
    errno: 'EINVAL',
    reason: 'source address 0 means "no source page", and a source is required (rejected up front)',
    cite: cite.kxTdx('tdx_vcpu_init_mem_region'),
    eras: 'C',
  },
  srcZeroNoInPlace: {
    errno: 'EINVAL',
    reason: 'source address 0 ("no source page") needs guest_memfd in-place conversion; it is off',
    cite: cite.serTdx('tdx_vcpu_init_mem_region'),
    eras: 'D',
  },
  gpaAlign: { errno: 'EINVAL', reason: 'gpa not page-aligned', cite: upFront },
  nrPages: { errno: 'EINVAL', reason: 'nr_pages is 0', cite: upFront },
  wrap: {
    when: { tdxImrByteOverflowChecked: true },
    errno: 'EINVAL',
    reason: 'nr_pages << 12 overflows a u64, or gpa + bytes - 1 does (7c9a2e3a4564, 872aae89167c: checked up front)',
    cite: cite.serTdx('tdx_vcpu_init_mem_region'),
  },
  wrapTruncated: {
    when: { tdxImrByteOverflowChecked: false },
    errno: 'EINVAL',
    reason:
      'gpa + (nr_pages << 12) <= gpa on the truncated u64 shift: a range ending at 2^64 is refused, but an nr_pages whose byte count overflows is not (the loop runs until populate fails)',
    cite: upFront,
  },
  sharedGpa: {
    errno: 'EINVAL',
    reason: 'the first or last GPA has the TDX shared bit set (not a private GPA)',
    cite: upFront,
  },
  interrupted: {
    errno: 'EINTR',
    reason: 'a signal is pending: pages done so far stay added; the written-back struct resumes',
    cite: cite.tdx('tdx_vcpu_init_mem_region'),
  },
  noSourcePage: {
    errno: 'EOPNOTSUPP',
    reason: 'source address 0 reached the callback as "no source page", which it cannot add',
    cite: {
      ...cite.tdx('tdx_gmem_post_populate'),
      lines: {
        from: 3201,
        to: 3202,
        source: 'tdx.c blob ffe9d0db58c5, hunk @@ -3198,9 of the 2026-06-23 source-0 diff; believed v7.1',
        at: Commits.V7_1,
      },
    },
    eras: 'B',
  },
  doubleAdd: {
    when: { tdxPageAddInPopulate: false },
    errno: 'EIO',
    reason:
      'the GPA is already mapped in the S-EPT: a present leaf on a prefetch fault is RET_PF_SPURIOUS (tdp_mmu.c tdp_mmu_map_handle_target_level @1c60d04aac53), and anything but RET_PF_FIXED is -EIO (here); no second PAGE.ADD',
    cite: cite.lxMmu('kvm_tdp_mmu_map_private_pfn'),
  },
  busy: {
    when: { tdxPageAddInPopulate: true },
    op: 'tdx_gmem_post_populate',
    errno: 'EBUSY',
    reason:
      'v6.18: TDH.MEM.PAGE.ADD reported TDX_OPERAND_BUSY in the populate callback: -EBUSY to userspace, the struct written back at this page (resume works); the page stays premapped',
    cite: cite.n618Tdx('tdx_gmem_post_populate'),
    eras: 'A',
  },
  pageAddFailed: {
    when: { tdxPageAddInPopulate: true },
    op: 'tdx_gmem_post_populate',
    errno: 'EIO',
    reason: 'v6.18: TDH.MEM.PAGE.ADD failed (not busy): -EIO, the VM is not bugged',
    cite: cite.n618Tdx('tdx_gmem_post_populate'),
    eras: 'A',
  },
  added: {
    reason: 'pages added (TDH.MEM.PAGE.ADD, and TDH.MR.EXTEND × 16 with MEASURE); struct written back advanced',
    cite: cite.tdx('tdx_vcpu_init_mem_region'),
  },
  addedAfterBusy: {
    when: { tdxPageAddInPopulate: false },
    reason:
      'pages added; a TDX_OPERAND_BUSY from TDH.MEM.PAGE.ADD was retried inside KVM: a failed mirror-SPTE update is RET_PF_RETRY (tdp_mmu.c tdp_mmu_map_handle_target_level @1c60d04aac53) and kvm_tdp_mmu_map_private_pfn loops on it (here), so userspace sees no -EBUSY',
    cite: cite.lxMmu('kvm_tdp_mmu_map_private_pfn'),
  },
  addedInPlace: {
    reason:
      'source_addr 0 with gmem in-place conversion: each page is its own source (page_add_src = the target page), source_addr is not advanced',
    cite: cite.serTdx('tdx_gmem_post_populate'),
    eras: 'D,D*',
  },
});

type EncOp = Extract<Op, { op: 'KVM_MEMORY_ENCRYPT_OP' }>;

const U64_MAX = (1n << 64n) - 1n;

export function initMemRegion(k: Kernel, op: EncOp, vm: Vm, vcpu: Vcpu): Outcome {
  const td = tdxOf(vm);
  if (vcpu.tdx?.state !== 'INITIALIZED') return fail(R.vcpuState);
  if ((op.flags & ~TdxFlag.KVM_TDX_MEASURE_MEMORY_REGION) !== 0n) return fail(R.flags);
  if (k.inject.efault) return fail(R.efault);
  const d = structOf(op, 'KVM_TDX_INIT_MEM_REGION');
  let src = d.source_addr;
  let gpa = d.gpa;
  let nr = d.nr_pages;
  const rule = k.profile.tdxSourceZero;
  if (src % 4096n !== 0n) return fail(R.srcAlign);
  if (src === 0n && rule === 'einval') return fail(R.srcZeroKx);
  if (src === 0n && rule === 'in-place-or-einval' && !k.inPlace) return fail(R.srcZeroNoInPlace);
  if (gpa % 4096n !== 0n) return fail(R.gpaAlign);
  if (nr === 0n) return fail(R.nrPages);
  // before 7c9a2e3a4564 the byte count is `nr_pages << PAGE_SHIFT` in a u64: high bits are lost
  const bytes = (nr << 12n) & U64_MAX;
  if (k.profile.tdxImrByteOverflowChecked) {
    if (nr > U64_MAX >> 12n || gpa + bytes - 1n > U64_MAX) return fail(R.wrap);
  } else if (((gpa + bytes) & U64_MAX) <= gpa) return fail(R.wrapTruncated);
  const last = (gpa + bytes - 1n) & U64_MAX;
  if (isSharedGfn(td, Number(gpa >> 12n)) || isSharedGfn(td, Number(last >> 12n))) return fail(R.sharedGpa);

  const measure = (op.flags & TdxFlag.KVM_TDX_MEASURE_MEMORY_REGION) !== 0n;
  // Era A hands the callback the user address as is (0 included); later eras pass "no page" for 0
  const noSource = src === 0n && rule !== 'user-address';
  let failRule: Outcome | undefined;
  const twoPass = measure && k.knobs.tdx_measure_order === 'two-pass';
  const deferred: PopulatePage[] = [];
  const extendNow = measure && !twoPass;
  const post = (p: PopulatePage) => {
    const r = postPopulate(k, vm, p, extendNow);
    if (r.ok && twoPass) deferred.push(p);
    return r;
  };
  // tdx_vcpu_init_mem_region calls kvm_gmem_populate one page at a time; populating the rest of the
  // memslot in one call is equivalent (populate checks signals and stops at the first error per
  // page, and reports the pages done), and keeps the per-page cost down
  while (nr > 0n) {
    if (k.signalPending()) {
      failRule = fail(R.interrupted);
      break;
    }
    const want = nr > 0x40000000n ? 0x40000000 : Number(nr);
    const res = kvmGmemPopulate(k, vm, Number(gpa >> 12n), noSource ? null : src, want, false, post);
    const done = BigInt(res.count);
    // [SER] source_addr advances only when a source was given
    if (!(noSource && k.profile.inPlaceSeries)) src += done * 4096n;
    gpa += done * 4096n;
    nr -= done;
    if (res.error) {
      failRule = res.error.rule === PopR.interrupted ? fail(R.interrupted) : fail(res.error.rule, {}, res.error.cause);
      break;
    }
    if (res.count === 0) {
      failRule = fail(R.doubleAdd);
      break;
    }
  }
  // two-pass (KVM TDX v19): the MR.EXTENDs of the call follow all of its PAGE.ADDs
  for (const p of deferred) td.module.extendPage(p.gfn, pageBytes(p.inode, p.index));
  td.module.endBatch();
  const data = { source_addr: src, gpa, nr_pages: nr };
  if (failRule) return { ...failRule, out: { ...failRule.out, data, pages: k.stepPages } };
  const busy =
    !k.profile.tdxPageAddInPopulate &&
    k.inject.tdx_busy_at_page !== undefined &&
    k.inject.tdx_busy_at_page < k.stepPages;
  return ok(busy ? R.addedAfterBusy : noSource ? R.addedInPlace : R.added, 0, { data, pages: k.stepPages });
}

/** tdx_gmem_post_populate for one page */
function postPopulate(k: Kernel, vm: Vm, p: PopulatePage, measure: boolean): KResult<void> {
  const td = tdxOf(vm);
  let source: Uint8Array;
  if (!k.profile.populateGupsSource) {
    // Era A: the callback GUPs the user address itself
    const g = gup(k, p.srcVa ?? 0n, false);
    if (!g.ok) return g.cause ? kerr(g.rule, g.cause) : kerr(g.rule);
    source = readRef(g.value, k.mm);
  } else if (p.srcPage) source = readRef(p.srcPage, k.mm);
  else {
    if (k.profile.tdxSourceZero === 'null-rejected-by-callback') return kerr(R.noSourcePage);
    // in-place add: the target page is its own source (R8 == R9)
    source = pageBytes(p.inode, p.index);
  }
  if (k.profile.tdxPageAddInPopulate) return pageAddInPopulate(k, vm, p, source, measure);
  // kvm_tdp_mmu_map_private_pfn: a present leaf SPTE means RET_PF_SPURIOUS → -EIO
  const mapped = td.module.mapped(p.gfn);
  if (mapped && k.safeguard('double-add')) return kerr(R.doubleAdd);
  // TDX_OPERAND_BUSY is transient: tdx_mem_page_add returns -EBUSY, the TDP MMU turns it into
  // RET_PF_RETRY, and kvm_tdp_mmu_map_private_pfn loops (checking signals) until PAGE.ADD succeeds
  // TDH.MEM.PAGE.ADD copies the source into the private page and records the add
  // a borrowed (copy-on-write, never written in place) source can be shared; anything else is copied
  const shared = source === ZERO_PAGE || source === STALE_PAGE || isBorrowed(source);
  const bytes = shared ? source : newPage(source);
  // the file holds a copy-on-write view: anything that later writes the page gets its own copy, so
  // the measured bytes (module.added) stay what was measured and the invariants can compare them
  setPage(p.inode, p.index, shared ? bytes : borrowPage(bytes));
  td.module.pageAdd(p.gfn, bytes, mapped);
  if (measure) td.module.extendPage(p.gfn, bytes);
  return KOK;
}

/**
 * [v6.18] the rest of tdx_gmem_post_populate when it issues TDH.MEM.PAGE.ADD itself (N618, read;
 * docs/notes/releases.md §2.3): kvm_tdp_map_page maps the GPA in the mirror EPT, where the S-EPT hook
 * only counts nr_premapped (a retry finds the mirror SPTE present: spurious, 0, not counted again);
 * then PAGE.ADD: busy → -EBUSY, any other error → -EIO, both leaving the page premapped; success
 * un-counts it; MEASURE extends.
 */
function pageAddInPopulate(k: Kernel, vm: Vm, p: PopulatePage, source: Uint8Array, measure: boolean): KResult<void> {
  const td = tdxOf(vm);
  if (td.module.mapped(p.gfn) && !td.premapped.has(p.gfn)) return kerr(R.pageAddFailed);
  td.premapped.add(p.gfn);
  if (k.inject.tdx_busy_at_page === k.stepPages) return kerr(R.busy);
  const shared = source === ZERO_PAGE || source === STALE_PAGE || isBorrowed(source);
  const bytes = shared ? source : newPage(source);
  setPage(p.inode, p.index, shared ? bytes : borrowPage(bytes));
  td.module.pageAdd(p.gfn, bytes, false);
  td.premapped.delete(p.gfn);
  if (measure) td.module.extendPage(p.gfn, bytes);
  return KOK;
}
