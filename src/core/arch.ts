/**
 * Arch hooks: what differs by VM type below the generic KVM code (kvm_x86_ops in the kernel).
 * The TDX and SNP modules define one each, and the core's index holds them in a table by VM type;
 * other VM types use none.
 */
import type { Kernel } from './kernel.ts';
import type { Op } from './ops.ts';
import type { Outcome } from './outcome.ts';
import type { Rule } from './rule.ts';
import type { GmemInode, Vcpu, Vm } from './state.ts';
import { MapGpaRangeAttr } from './uapi.ts';

export interface ZapFilter {
  shared: boolean;
  private: boolean;
}

export interface ArchOps {
  /** arch part of KVM_CREATE_VM */
  initVm(k: Kernel, vm: Vm): void;
  /** arch part of KVM_CREATE_VCPU; an error rule refuses the vCPU */
  createVcpu?(k: Kernel, vm: Vm, vcpu: Vcpu): Rule | null;
  /** KVM_MEMORY_ENCRYPT_OP on the VM fd or (TDX) a vCPU fd */
  memEncOp(k: Kernel, op: Extract<Op, { op: 'KVM_MEMORY_ENCRYPT_OP' }>, vm: Vm, vcpu: Vcpu | null): Outcome;
  /** KVM invalidates mappings of [gfnStart, gfnEnd) (attribute change, punch hole, close, slot delete) */
  zap?(k: Kernel, vm: Vm, gfnStart: number, gfnEnd: number, filter: ZapFilter): void;
  /** [SER] kvm_arch_gmem_make_shared on present pages of a to-shared conversion */
  makeShared?(k: Kernel, inode: GmemInode, start: number, end: number): void;
  /** pages of [start, end) leave the file (punch hole, release): kvm_arch_gmem_invalidate */
  gmemInvalidate?(k: Kernel, inode: GmemInode, start: number, end: number): void;
  /** arch checks of a new or moved memslot (x86 kvm_arch_prepare_memory_region) */
  prepareMemslot?(k: Kernel, vm: Vm, baseGfn: number, npages: number): Rule | null;
  /**
   * a private fault maps [gfn, end) of one memslot (KVM_PRE_FAULT_MEMORY), the guest_memfd pages from
   * index `index`, already allocated and cleared
   */
  mapPrivate?(k: Kernel, vm: Vm, inode: GmemInode, gfn: number, end: number, index: number): void;
  /** a private GFN is already mapped for the guest (TDX: in the S-EPT; SNP: assigned in the RMP) */
  privateMapped?(vm: Vm, inode: GmemInode, index: number, gfn: number): boolean;
  /** the GFN is an alias of another (TDX: the shared bit set), kvm_is_gfn_alias */
  gfnAlias?(vm: Vm, gfn: number): boolean;
  /** checks before entering the guest (KVM_RUN) */
  preRun?(k: Kernel, vcpu: Vcpu): Rule | null;
  /** the launch measurement, for `attest` (none: the VM type has no modelled launch measurement) */
  attest?(k: Kernel, vm: Vm): Outcome;
  /** the guest side at run time (core/kvm/run.ts): how the guest's requests reach KVM */
  runtime?: GuestRuntime;
  /** state that the explorer and the view show */
  describe?(vm: Vm): Record<string, unknown>;
}

/** What a vendor does with the guest's run-time requests (MapGPA / Page State Change, accept). */
export interface GuestRuntime {
  /** the guest's view of a GPA: the GFN without alias bits, and whether the access is private */
  view(vm: Vm, gpa: bigint, privateBit: boolean): { gfn: number; private: boolean };
  /** the most pages one KVM_EXIT_HYPERCALL covers (TDX splits MapGPA into 2 MiB chunks) */
  readonly mapGpaChunk: number;
  /** the guest's private contents stay readable across a conversion by design (SW_PROTECTED in place) */
  readonly preservesContents: boolean;
  /** the rules of the first exit of a request and of each further chunk */
  readonly exitRule: Rule;
  readonly nextRule: Rule;
  /** hypercall.args[2]: the KVM_MAP_GPA_RANGE_* attributes of the exit */
  mapGpaAttrs(toPrivate: boolean): bigint;
  /** KVM's checks of the request before it exits; a guest-visible status when it answers the guest itself */
  mapGpaCheck(k: Kernel, vm: Vm, gfn: number, npages: number): { status: string; rule: Rule } | null;
  /** the VMM's hypercall.ret: resume the next chunk (null), finish, or fail KVM_RUN */
  complete(ret: bigint, done: boolean): { status: string; rule: Rule } | { fail: Rule } | null;
  /** the guest accepts one private page that KVM has mapped: its status, and whether it was newly accepted */
  accept(k: Kernel, vm: Vm, inode: GmemInode, index: number, gfn: number): { status: string; rule: Rule };
  /** the guest wrote a private page: what was recorded of it at launch no longer describes it (legitimately) */
  guestWrote?(vm: Vm, gfn: number): void;
  /** a private access to a mapped page the guest has not accepted: what the guest gets instead */
  unaccepted(k: Kernel, vm: Vm, inode: GmemInode, index: number, gfn: number): { status: string; rule: Rule } | null;
}

/** KVM_HC_MAP_GPA_RANGE args[2]: the side a range is asked to become (the page-size bits apart) */
export const mapGpaSide = (toPrivate: boolean): bigint =>
  toPrivate ? MapGpaRangeAttr.KVM_MAP_GPA_RANGE_ENCRYPTED : MapGpaRangeAttr.KVM_MAP_GPA_RANGE_DECRYPTED;
