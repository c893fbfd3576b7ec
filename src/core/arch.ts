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
  /** the GFN is an alias of another (TDX: the shared bit set), kvm_is_gfn_alias */
  gfnAlias?(vm: Vm, gfn: number): boolean;
  /** checks before entering the guest (KVM_RUN) */
  preRun?(k: Kernel, vcpu: Vcpu): Rule | null;
  /** the launch measurement, for `attest` (none: the VM type has no modelled launch measurement) */
  attest?(k: Kernel, vm: Vm): Outcome;
  /** state that the explorer and the view show */
  describe?(vm: Vm): Record<string, unknown>;
}
