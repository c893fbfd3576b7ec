/**
 * The guest at run time: each guest operation is the KVM_RUN during which the guest does it, and the
 * result is what that KVM_RUN returns and leaves in struct kvm_run. The fault path of a guest access
 * (kvm_mmu_page_fault → kvm_mmu_faultin_pfn → kvm_mmu_faultin_pfn_private), the private/shared
 * mismatch that exits with KVM_EXIT_MEMORY_FAULT, the KVM_HC_MAP_GPA_RANGE exit of a guest's
 * conversion request (TDX MapGPA, SNP Page State Change, the SW_PROTECTED hypercall) and its
 * completion on the next KVM_RUN, and the guest's accept (TDX PAGE.ACCEPT, SNP PVALIDATE).
 * Vendor differences are the arch's GuestRuntime (tdx/runtime.ts, snp/runtime.ts).
 */
import { type GuestRuntime, mapGpaSide } from '../arch.ts';
import { getFolio, pageBytes, writePage } from '../guest_memfd/folio.ts';
import type { Kernel } from '../kernel.ts';
import { faultIn, readRef } from '../mm/syscalls.ts';
import { fail, type Out, type Outcome, ok, type RunExit } from '../outcome.ts';
import { Commits, cite, defineRules, type Rule } from '../rule.ts';
import { type GmemInode, type GuestAction, gmemIndex, type Vcpu, type VcpuRun, type Vm } from '../state.ts';
import {
  ExitReason,
  KVM_EXIT_HYPERCALL_LONG_MODE,
  KVM_HC_MAP_GPA_RANGE,
  MemoryExitFlag,
  PAGE_SIZE,
  VmType,
} from '../uapi.ts';

const mmu = (fn: string) => cite.next('arch/x86/kvm/mmu/mmu.c', Commits.NEXT_MMU, fn);

export const R = defineRules('run', 'KVM_RUN', {
  mismatch: {
    op: 'guest_access',
    errno: 'EFAULT',
    reason:
      "the guest's private/shared view of the GFN differs from the memory attributes: KVM_EXIT_MEMORY_FAULT (gpa, PAGE_SIZE, PRIVATE if the access was private), KVM_RUN -1 EFAULT",
    cite: mmu('kvm_mmu_faultin_pfn'),
  },
  privateNoGmem: {
    op: 'guest_access',
    errno: 'EFAULT',
    reason: 'a private fault on a memslot without guest_memfd: KVM_EXIT_MEMORY_FAULT (PRIVATE), -1 EFAULT',
    cite: mmu('kvm_mmu_faultin_pfn_private'),
  },
  privateGmemGone: {
    op: 'guest_access',
    errno: 'EFAULT',
    reason:
      "a private fault whose memslot's guest_memfd was closed (kvm_gmem_get_pfn fails): KVM_EXIT_MEMORY_FAULT (PRIVATE), -1 EFAULT",
    cite: mmu('kvm_mmu_faultin_pfn_private'),
  },
  privateNoSlot: {
    op: 'guest_access',
    errno: 'EFAULT',
    reason:
      'a private fault on a GFN with no memslot: emulation of private memory is refused, KVM_EXIT_MEMORY_FAULT (PRIVATE), -1 EFAULT',
    cite: mmu('kvm_handle_noslot_fault'),
  },
  sharedNoSlot: {
    op: 'guest_access',
    reason:
      'a shared access to a GFN with no memslot: emulated MMIO (RET_PF_EMULATE), KVM_EXIT_MMIO when no in-kernel device claims the address',
    cite: mmu('kvm_handle_noslot_fault'),
  },
  sharedHvaFault: {
    op: 'guest_access',
    errno: 'EFAULT',
    reason:
      'a shared fault whose host address cannot be faulted in (unmapped, or a guest_memfd page that is private to the host): a plain -1 EFAULT, exit_reason not set (no KVM_EXIT_MEMORY_FAULT: that is for a private/shared mismatch); KVM_RUN re-executes the access',
    cite: mmu('kvm_handle_error_pfn'),
  },
  swAttributesDecide: {
    op: 'guest_access',
    reason:
      'KVM_X86_SW_PROTECTED_VM: the fault is private exactly when the memory attributes say the GFN is (they are the source of truth), so the guest view never mismatches',
    cite: mmu('kvm_mmu_page_fault'),
  },
  accessed: {
    op: 'guest_access',
    reason: 'the access completed (the page was faulted in and mapped); a read returns the bytes the guest sees',
    cite: mmu('kvm_tdp_page_fault'),
  },
  capExitHypercall: {
    op: 'KVM_ENABLE_CAP',
    reason:
      'KVM_CAP_EXIT_HYPERCALL: args[0] (a subset of BIT(KVM_HC_MAP_GPA_RANGE)) is stored; those hypercalls now exit',
    cite: cite.x86('kvm_vm_ioctl_enable_cap'),
  },
  capExitHypercallMask: {
    op: 'KVM_ENABLE_CAP',
    errno: 'EINVAL',
    reason:
      'KVM_CAP_EXIT_HYPERCALL: args[0] has bits outside KVM_EXIT_HYPERCALL_VALID_MASK (BIT(KVM_HC_MAP_GPA_RANGE))',
    cite: cite.x86('kvm_vm_ioctl_enable_cap'),
  },
  hcNoExit: {
    op: 'guest_map_gpa',
    reason: 'KVM_HC_MAP_GPA_RANGE without KVM_CAP_EXIT_HYPERCALL: no exit, the guest gets -KVM_ENOSYS',
    cite: cite.x86('____kvm_emulate_hypercall'),
  },
  hcInvalid: {
    op: 'guest_map_gpa',
    reason:
      'KVM_HC_MAP_GPA_RANGE with an unaligned GPA, no pages, or a wrapping range: the guest gets -KVM_EINVAL (checked after the capability: without it, -KVM_ENOSYS whatever the arguments)',
    cite: cite.x86('____kvm_emulate_hypercall'),
  },
  hcExit: {
    op: 'guest_map_gpa',
    reason: 'KVM_HC_MAP_GPA_RANGE → KVM_EXIT_HYPERCALL (nr, args: GPA, pages, attributes)',
    cite: cite.x86('____kvm_emulate_hypercall'),
  },
  hcComplete: {
    reason:
      'complete_hypercall_exit: hypercall.ret becomes the hypercall result in the guest (RAX; cut to 32 bits for a 32-bit hypercall)',
    cite: cite.x86('complete_hypercall_exit'),
  },
  retried: {
    reason:
      'KVM_RUN after a KVM_EXIT_MEMORY_FAULT: the guest re-executes the faulting access (what the VMM changed decides it now)',
    cite: mmu('kvm_mmu_page_fault'),
  },
  noAccept: {
    op: 'guest_accept',
    reason: 'KVM_X86_SW_PROTECTED_VM has no accept instruction: the page is faulted in privately, nothing else',
    cite: mmu('kvm_mmu_page_fault'),
  },
  notRunnable: {
    op: 'guest_access',
    errno: 'EINVAL',
    reason: 'a guest operation on a VM type without private memory (the model has no guest for it)',
    cite: cite.x86('kvm_arch_vcpu_ioctl_run'),
    confidence: 'inferred',
  },
});

const EXIT_NONE = null;

function runOf(v: Vcpu): VcpuRun {
  v.run ??= { exit: EXIT_NONE, pending: null };
  return v.run;
}

/** KVM_X86_SW_PROTECTED_VM: the attributes decide; the hypercall carries the range as given */
const swRuntime: GuestRuntime = {
  view(_vm, gpa) {
    return { gfn: Number(gpa / 4096n), private: false };
  },
  mapGpaChunk: Number.MAX_SAFE_INTEGER,
  preservesContents: true,
  exitRule: R.hcExit,
  nextRule: R.hcExit,
  mapGpaAttrs: mapGpaSide,
  mapGpaCheck(_k, vm, gfn, npages) {
    if (!vm.userExitOnHypercall(KVM_HC_MAP_GPA_RANGE)) return { status: '-KVM_ENOSYS', rule: R.hcNoExit };
    if (npages === 0 || gfn + npages <= gfn) return { status: '-KVM_EINVAL', rule: R.hcInvalid };
    return null;
  },
  complete(ret) {
    return { status: `ret ${BigInt.asIntN(64, -ret)}`.replace('ret -0', 'ret 0'), rule: R.hcComplete };
  },
  accept() {
    return { status: 'n/a', rule: R.noAccept };
  },
  unaccepted() {
    return null;
  },
};

/** the vendor's run-time behaviour of a VM (SW_PROTECTED: the generic one) */
export function runtimeOf(k: Kernel, vm: Vm): GuestRuntime | null {
  return k.arch(vm)?.runtime ?? (vm.type === VmType.KVM_X86_SW_PROTECTED_VM ? swRuntime : null);
}

/** The exit is left in struct kvm_run and returned in the outcome. */
function exitOut(v: Vcpu, exit: RunExit | null, extra: Out = {}): Out {
  runOf(v).exit = exit;
  return exit ? { ...extra, exit } : extra;
}

function memoryFault(v: Vcpu, rule: Rule, gfn: number, isPrivate: boolean, action: GuestAction): Outcome {
  runOf(v).pending = { kind: 'retry', action };
  const exit: RunExit = {
    reason: ExitReason.KVM_EXIT_MEMORY_FAULT,
    flags: isPrivate ? MemoryExitFlag.KVM_MEMORY_EXIT_FLAG_PRIVATE : 0n,
    gpa: BigInt(gfn) * 4096n,
    size: BigInt(PAGE_SIZE),
  };
  return fail(rule, exitOut(v, exit));
}

type Backing =
  | { kind: 'gmem'; inode: GmemInode; index: number }
  | { kind: 'hva'; addr: number }
  | { kind: 'exit'; outcome: Outcome };

/**
 * The KVM fault path for one GFN (kvm_mmu_faultin_pfn): the backing page, or the exit. A private
 * fault allocates and clears the guest_memfd folio and lets the arch map it (TDX PAGE.AUG, SNP RMP).
 */
function faultGfn(k: Kernel, v: Vcpu, gfn: number, isPrivate: boolean, write: boolean, action: GuestAction): Backing {
  const vm = v.vm;
  if (isPrivate !== k.isPrivateGfn(vm, gfn))
    return { kind: 'exit', outcome: memoryFault(v, R.mismatch, gfn, isPrivate, action) };
  const slot = vm.slotForGfn(gfn);
  if (!slot) {
    if (isPrivate) return { kind: 'exit', outcome: memoryFault(v, R.privateNoSlot, gfn, true, action) };
    const exit: RunExit = { reason: ExitReason.KVM_EXIT_MMIO, gpa: BigInt(gfn) * 4096n };
    return { kind: 'exit', outcome: ok(R.sharedNoSlot, 0, exitOut(v, exit)) };
  }
  if (isPrivate || slot.gmemOnly) {
    if (!slot.gmem) return { kind: 'exit', outcome: memoryFault(v, R.privateNoGmem, gfn, isPrivate, action) };
    const inode = slot.gmem.inode;
    if (!inode) return { kind: 'exit', outcome: memoryFault(v, R.privateGmemGone, gfn, isPrivate, action) };
    const index = gmemIndex(slot, gfn);
    getFolio(inode, index, true);
    const arch = k.arch(vm);
    if (isPrivate && !arch?.privateMapped?.(vm, inode, index, gfn))
      arch?.mapPrivate?.(k, vm, inode, gfn, gfn + 1, index);
    return { kind: 'gmem', inode, index };
  }
  const addr = Number(slot.userspaceAddr) + (gfn - slot.baseGfn) * PAGE_SIZE;
  const r = faultIn(k, addr, write);
  if (!('kind' in r)) {
    // kvm_handle_error_pfn: a plain -EFAULT, no KVM_EXIT_MEMORY_FAULT; the access is re-executed next time
    runOf(v).pending = { kind: 'retry', action };
    return { kind: 'exit', outcome: fail(R.sharedHvaFault, exitOut(v, null)) };
  }
  return { kind: 'hva', addr };
}

/** checks before entering the guest (KVM_RUN's own) */
function enter(k: Kernel, v: Vcpu): Rule | null {
  const r = k.arch(v.vm)?.preRun?.(k, v);
  if (r) return r;
  v.hasRun = true;
  return null;
}

function doAccess(k: Kernel, v: Vcpu, a: Extract<GuestAction, { kind: 'access' }>): Outcome {
  const rt = runtimeOf(k, v.vm);
  if (!rt) return fail(R.notRunnable);
  const swp = v.vm.type === VmType.KVM_X86_SW_PROTECTED_VM;
  const view = rt.view(v.vm, a.gpa, a.private);
  const isPrivate = swp ? k.isPrivateGfn(v.vm, view.gfn) : view.private;
  const b = faultGfn(k, v, view.gfn, isPrivate, a.write, a);
  if (b.kind === 'exit') return b.outcome;
  runOf(v).pending = null;
  const off = Number(a.gpa % 4096n);
  const len = Math.min(a.size, PAGE_SIZE - off);
  if (b.kind === 'gmem' && isPrivate) {
    const no = rt.unaccepted(k, v.vm, b.inode, b.index, view.gfn);
    if (no) return ok(no.rule, 0, exitOut(v, EXIT_NONE, { guest: no.status }));
  }
  if (a.write) {
    const src = a.data ?? new Uint8Array(len);
    if (b.kind === 'gmem') {
      writePage(b.inode, b.index, off, src, len);
      if (len === PAGE_SIZE) b.inode.guestUndefined.delete(b.index);
      if (isPrivate) {
        b.inode.guestWritten.add(b.index);
        rt.guestWrote?.(v.vm, view.gfn);
      } else b.inode.guestWritten.delete(b.index);
    } else {
      const ref = faultIn(k, b.addr, true);
      if ('kind' in ref && ref.kind === 'anon') {
        const page = readRef(ref, k.mm).slice();
        page.set(src.subarray(0, len), off);
        k.mm.anon.set(ref.vpn, page);
      }
    }
    return ok(swp ? R.swAttributesDecide : R.accessed, 0, exitOut(v, EXIT_NONE));
  }
  let bytes: Uint8Array;
  let undefinedBytes = false;
  if (b.kind === 'gmem') {
    bytes = pageBytes(b.inode, b.index).slice(off, off + len);
    // the guest's view: private pages read as the guest wrote them; a shared page as the host does
    undefinedBytes = isPrivate ? b.inode.guestUndefined.has(b.index) : b.inode.undefinedContent.has(b.index);
  } else {
    const ref = faultIn(k, b.addr, false);
    bytes = 'kind' in ref ? readRef(ref, k.mm).slice(off, off + len) : new Uint8Array(len);
  }
  const out: Out = undefinedBytes ? { bytes, undefinedBytes } : { bytes };
  return ok(swp ? R.swAttributesDecide : R.accessed, 0, exitOut(v, EXIT_NONE, out));
}

function doAccept(k: Kernel, v: Vcpu, a: Extract<GuestAction, { kind: 'accept' }>): Outcome {
  const rt = runtimeOf(k, v.vm);
  if (!rt) return fail(R.notRunnable);
  const first = rt.view(v.vm, a.gpa, true).gfn;
  let last: { status: string; rule: Rule } | null = null;
  const statuses: string[] = [];
  for (let i = 0; i < a.npages; i++) {
    const gfn = first + i;
    // the accept is a private access: the rest of the request is re-executed after an exit
    const rest: GuestAction = { kind: 'accept', gpa: BigInt(gfn) * 4096n, npages: a.npages - i };
    const b = faultGfn(k, v, gfn, true, true, rest);
    if (b.kind === 'exit') return b.outcome;
    if (b.kind !== 'gmem') continue;
    last = rt.accept(k, v.vm, b.inode, b.index, gfn);
    if (!statuses.includes(last.status)) statuses.push(last.status);
  }
  runOf(v).pending = null;
  return ok(last?.rule ?? R.noAccept, 0, exitOut(v, EXIT_NONE, { guest: statuses.join(',') || 'none' }));
}

function hypercallExit(rt: GuestRuntime, next: number, end: number, toPrivate: boolean): RunExit {
  const n = Math.min(end - next, rt.mapGpaChunk);
  return {
    reason: ExitReason.KVM_EXIT_HYPERCALL,
    nr: BigInt(KVM_HC_MAP_GPA_RANGE),
    args: [BigInt(next) * 4096n, BigInt(n), rt.mapGpaAttrs(toPrivate)],
    ret: 0n,
    flags: KVM_EXIT_HYPERCALL_LONG_MODE,
  };
}

export function guestMapGpa(k: Kernel, v: Vcpu, gpa: bigint, npages: number, toPrivate: boolean): Outcome {
  const pre = beforeGuest(k, v);
  if (pre) return pre;
  const rt = runtimeOf(k, v.vm);
  if (!rt) return fail(R.notRunnable);
  const gfn = rt.view(v.vm, gpa, true).gfn;
  const refused = rt.mapGpaCheck(k, v.vm, gfn, npages);
  if (refused) return ok(refused.rule, 0, exitOut(v, EXIT_NONE, { guest: refused.status }));
  runOf(v).pending = { kind: 'map_gpa', next: gfn, end: gfn + npages, toPrivate, chunk: rt.mapGpaChunk };
  return ok(rt.exitRule, 0, exitOut(v, hypercallExit(rt, gfn, gfn + npages, toPrivate)));
}

/**
 * KVM_RUN: complete what the last exit left pending (complete_userspace_io), then the guest goes on;
 * with nothing pending, the entry checks only.
 */
export function kvmRunGuest(k: Kernel, v: Vcpu, hypercallRet: bigint, fallback: () => Outcome): Outcome {
  const p = v.run?.pending;
  if (!p) {
    if (v.run) v.run.exit = EXIT_NONE;
    return fallback();
  }
  const r = enter(k, v);
  if (r) return fail(r);
  if (p.kind === 'retry') {
    const o = p.action.kind === 'access' ? doAccess(k, v, p.action) : doAccept(k, v, p.action);
    return o;
  }
  const rt = runtimeOf(k, v.vm)!;
  const next = p.next + Math.min(p.end - p.next, p.chunk);
  const done = next >= p.end;
  const c = rt.complete(hypercallRet, done);
  if (c && 'fail' in c) return fail(c.fail, exitOut(v, v.run!.exit));
  if (c) {
    v.run!.pending = null;
    return ok(c.rule, 0, exitOut(v, EXIT_NONE, { guest: c.status }));
  }
  p.next = next;
  return ok(rt.nextRule, 0, exitOut(v, hypercallExit(rt, next, p.end, p.toPrivate)));
}

/** a guest operation first completes what KVM_RUN would (a pending exit answered with ret 0) */
function beforeGuest(k: Kernel, v: Vcpu): Outcome | null {
  const r = enter(k, v);
  if (r) return fail(r);
  const p = v.run?.pending;
  if (p?.kind === 'map_gpa') {
    const o = kvmRunGuest(k, v, 0n, () => ok(R.retried));
    if (v.run?.pending) return o;
  } else if (p) v.run!.pending = null;
  return null;
}

export function guestAccess(
  k: Kernel,
  v: Vcpu,
  op: { gpa: bigint; size: bigint; write: boolean; private: boolean; data: { kind: string } & Record<string, unknown> },
): Outcome {
  const pre = beforeGuest(k, v);
  if (pre) return pre;
  const d = op.data as { kind: 'bytes'; bytes: Uint8Array } | { kind: 'fill'; byte: number; length: bigint };
  const size = Number(op.size);
  let data: Uint8Array | null = null;
  if (op.write) {
    data = new Uint8Array(size);
    if (d.kind === 'bytes') data.set(d.bytes.subarray(0, size));
    else data.fill(d.byte, 0, Math.min(size, Number(d.length)));
  }
  return doAccess(k, v, { kind: 'access', gpa: op.gpa, size, write: op.write, private: op.private, data });
}

export function guestAccept(k: Kernel, v: Vcpu, gpa: bigint, npages: number): Outcome {
  const pre = beforeGuest(k, v);
  if (pre) return pre;
  return doAccept(k, v, { kind: 'accept', gpa, npages });
}
