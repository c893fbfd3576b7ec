/**
 * The kernel model: one host (KVM configured by a profile and its knobs) and one userspace process.
 * `step(op)` applies one system call and returns what userspace observes plus the deciding rule.
 * Pure: no I/O, no clock, no randomness; hashing comes through the Sha384 port.
 */
import type { ArchOps, ZapFilter } from './arch.ts';
import { deepClone } from './clone.ts';
import { DEFAULT_HOST, type HostConfig } from './host.ts';
import { AddressSpace } from './mm/mm.ts';
import type { Inject, Op, OpName } from './ops.ts';
import type { Outcome } from './outcome.ts';
import type { Sha384Factory } from './ports.ts';
import { defaultKnobs, type Knobs, type Profile } from './profiles.ts';
import type { RangeMap } from './ranges.ts';
import { type FileObject, type GmemInode, gmemIndex, type Vm } from './state.ts';
import { GuestMemfdFlag, KVM_MEMORY_ATTRIBUTE_PRIVATE } from './uapi.ts';

export const KVM_FD = 3;
export const SEV_FD = 4;

export type Handler<K extends OpName> = (k: Kernel, op: Extract<Op, { op: K }>) => Outcome;
export type HandlerTable = { [K in OpName]: Handler<K> };

export interface KernelOptions {
  profile: Profile;
  knobs?: Partial<Knobs>;
  sha384: Sha384Factory;
  handlers: HandlerTable;
  arch: Partial<Record<number, ArchOps>>;
  /** the machine and kernel build (host.ts); the model's host of old when absent */
  host?: HostConfig;
}

export class Kernel {
  readonly profile: Profile;
  readonly knobs: Knobs;
  readonly host: HostConfig;
  readonly sha384: Sha384Factory;
  /** the processes (fork): index 0 is the VMM; `current` is the one the step runs in */
  readonly procs: AddressSpace[] = [];
  current = 0;
  readonly vms: Vm[] = [];
  readonly inodes: GmemInode[] = [];
  private readonly fds = new Map<number, FileObject>();
  private readonly handlers: HandlerTable;
  private readonly archOps: Partial<Record<number, ArchOps>>;
  /** fault injection for the current step */
  inject: Inject = {};
  /** pages completed by the current step's populate loop (for signal/busy injection) */
  stepPages = 0;
  /** guest_memfd pages the host touched in the current step (checked by the invariants) */
  hostAccessed: { inode: GmemInode; index: number }[] = [];

  constructor(opts: KernelOptions) {
    this.profile = opts.profile;
    this.knobs = { ...defaultKnobs(opts.profile), ...opts.knobs };
    this.host = opts.host ?? DEFAULT_HOST;
    if (!this.profile.inPlaceSeries) this.knobs.gmem_in_place_conversion = false;
    this.sha384 = opts.sha384;
    this.handlers = opts.handlers;
    this.archOps = opts.arch;
    this.procs.push(new AddressSpace());
    this.fds.set(KVM_FD, { kind: 'kvm' });
    this.fds.set(SEV_FD, { kind: 'sev' });
  }

  /** the address space of the current process */
  get mm(): AddressSpace {
    return this.procs[this.current]!;
  }

  /** fork(2): a copy of the current process's mappings (guest_memfd mappings stay the same file); its index */
  fork(): number {
    const child = deepClone(this.mm, new Map(), new Set<unknown>(this.inodes));
    child.anonPins.clear();
    for (const v of child.vmas) if (v.inode) v.inode.refs++;
    this.procs.push(child);
    return this.procs.length - 1;
  }

  /** An independent copy of the whole state (the explorer branches with it). */
  clone(): Kernel {
    const frozen = new Set<unknown>([this.profile, this.handlers, this.archOps, this.knobs, this.host]);
    return deepClone(this, new Map(), frozen);
  }

  /** Apply one operation. */
  step(op: Op, inject: Inject = {}): Outcome {
    this.inject = inject;
    this.stepPages = 0;
    this.hostAccessed = [];
    const h = this.handlers[op.op] as Handler<typeof op.op>;
    return h(this, op as never);
  }

  /** gmem in-place conversion is in force (the series is present and the module param is on) */
  get inPlace(): boolean {
    return this.profile.inPlaceSeries && this.knobs.gmem_in_place_conversion;
  }

  safeguard(name: string): boolean {
    return this.knobs.safeguards[name] !== false;
  }

  arch(vm: Vm): ArchOps | undefined {
    return this.archOps[vm.type];
  }

  // ---- file descriptors -------------------------------------------------------------------
  file(fd: bigint): FileObject | undefined {
    if (fd < 0n || fd > 0x7fffffffn) return undefined;
    return this.fds.get(Number(fd));
  }

  /** get_unused_fd_flags: the lowest free descriptor */
  installFd(f: FileObject): number {
    let fd = 0;
    while (fd < 3 || this.fds.has(fd)) fd++;
    this.fds.set(fd, f);
    return fd;
  }

  removeFd(fd: number): FileObject | undefined {
    const f = this.fds.get(fd);
    this.fds.delete(fd);
    return f;
  }

  openFds(): [number, FileObject][] {
    return [...this.fds.entries()].sort((a, b) => a[0] - b[0]);
  }

  // ---- memory attributes ------------------------------------------------------------------
  /** kvm_is_private_gfn / kvm_mem_is_private: the tracker the host uses says gfn is private */
  isPrivateGfn(vm: Vm, gfn: number): boolean {
    if (this.inPlace) {
      const slot = vm.slotForGfn(gfn);
      if (!slot?.gmem?.inode) return false;
      const index = gmemIndex(slot, gfn);
      return slot.gmem.inode.attrs.get(index) === KVM_MEMORY_ATTRIBUTE_PRIVATE;
    }
    return ((vm.memAttrs.get(gfn) ?? 0) & KVM_MEMORY_ATTRIBUTE_PRIVATE) !== 0;
  }

  /** The first GFN in (gfn, end) whose private-ness differs from gfn's, or end. */
  privateRunEnd(vm: Vm, gfn: number, end: number): number {
    const first = (m: RangeMap<number>, start: number, stop: number, shift: number) => {
      const want = this.isPrivateGfn(vm, gfn);
      for (const [s, , v] of m.segments(start, stop))
        if ((((v ?? 0) & KVM_MEMORY_ATTRIBUTE_PRIVATE) !== 0) !== want) return s + shift;
      return end;
    };
    if (!this.inPlace) return first(vm.memAttrs, gfn, end, 0);
    const slot = vm.slotForGfn(gfn);
    if (!slot?.gmem?.inode) return Math.min(end, slot ? slot.baseGfn + slot.npages : gfn + 1);
    const stop = Math.min(end, slot.baseGfn + slot.npages);
    const shift = slot.baseGfn - slot.gmem.pgoff;
    return Math.min(first(slot.gmem.inode.attrs, gfn - shift, stop - shift, shift), stop);
  }

  /** Is guest_memfd index shared from the host's point of view (may it be faulted into a host mapping)? */
  gmemIndexShared(inode: GmemInode, index: number): boolean {
    if (this.inPlace) return inode.attrs.get(index) !== KVM_MEMORY_ATTRIBUTE_PRIVATE;
    return (inode.flags & GuestMemfdFlag.GUEST_MEMFD_FLAG_INIT_SHARED) !== 0n;
  }

  // ---- invalidation -----------------------------------------------------------------------
  /** kvm_mmu_unmap_gfn_range / kvm_gmem_invalidate_begin: zap KVM mappings of a gfn range */
  zapGfns(vm: Vm, gfnStart: number, gfnEnd: number, filter: ZapFilter): void {
    if (gfnStart >= gfnEnd) return;
    this.arch(vm)?.zap?.(this, vm, gfnStart, gfnEnd, filter);
  }

  /** Zap the KVM mappings of guest_memfd indices [start, end) through every binding of the file. */
  zapGmemIndices(inode: GmemInode, start: number, end: number, filter: ZapFilter): void {
    for (const b of inode.bindings) {
      const s = Math.max(start, b.start);
      const e = Math.min(end, b.end);
      if (s >= e) continue;
      const gfn = b.slot.baseGfn + (s - b.start);
      this.zapGfns(inode.vm, gfn, gfn + (e - s), filter);
    }
  }

  // ---- fault injection --------------------------------------------------------------------
  /** signal_pending(current) inside a populate loop */
  signalPending(): boolean {
    const n = this.inject.signal_after_pages;
    return n !== undefined && this.stepPages >= n;
  }
}
