/** The model's state: VMs, vCPUs, memslots, guest_memfd inodes, the process address space. */
import type { CpuidEntry } from './ops.ts';
import { RangeMap, RangeSet } from './ranges.ts';
import type { VmTypeNum } from './uapi.ts';

export interface Binding {
  readonly slot: Memslot;
  /** guest_memfd page indices [start, end) */
  readonly start: number;
  readonly end: number;
}

/** A guest_memfd inode: size fixed at creation, pages allocated lazily, contents by written page. */
export class GmemInode {
  /** per-index attributes ([SER], in-place on): KVM_MEMORY_ATTRIBUTE_PRIVATE or 0 */
  readonly attrs = new RangeMap<number>();
  /** indices that have a folio */
  readonly allocated = new RangeSet();
  /** allocated folios that were cleared or written (folio uptodate) */
  readonly uptodate = new RangeSet();
  /** page contents; an uptodate page without an entry holds zeros */
  readonly content = new Map<number, Uint8Array>();
  /** pages whose host-visible bytes are firmware-dependent (after the guest used them privately) */
  readonly undefinedContent = new RangeSet();
  /** pages whose bytes the guest reads are not defined (SNP: host plaintext read through the guest's key) */
  readonly guestUndefined = new RangeSet();
  /** indices the guest wrote while private (their contents are the guest's secret) */
  readonly guestWritten = new RangeSet();
  /** long-term pins (GUP) of the folio at each index */
  readonly pins = new Map<number, number>();
  /** pins of folios that were truncated out of the file (the host still holds those pages) */
  readonly detachedPins = new Map<number, number>();
  /** indices currently mapped into host page tables */
  readonly hostMapped = new RangeSet();
  readonly bindings: Binding[] = [];
  /** open fds + mappings referring to the file */
  refs = 0;
  released = false;

  readonly id: number;
  readonly vm: Vm;
  readonly sizeBytes: bigint;
  readonly flags: bigint;
  constructor(id: number, vm: Vm, sizeBytes: bigint, flags: bigint) {
    this.id = id;
    this.vm = vm;
    this.sizeBytes = sizeBytes;
    this.flags = flags;
  }

  get npages(): number {
    return Number(this.sizeBytes / 4096n);
  }
}

export interface GmemBindingOfSlot {
  /** null once the file was released (closed for the last time) */
  inode: GmemInode | null;
  /** page offset of the slot's first gfn in the file */
  readonly pgoff: number;
}

export interface Memslot {
  readonly vm: Vm;
  readonly asId: number;
  readonly id: number;
  flags: bigint;
  baseGfn: number;
  readonly npages: number;
  readonly userspaceAddr: bigint;
  readonly gmem?: GmemBindingOfSlot;
  /** KVM_MEMSLOT_GMEM_ONLY: all guest faults, shared and private, come from guest_memfd */
  readonly gmemOnly: boolean;
}

/** The guest_memfd index behind a GFN of a guest_memfd memslot (kvm_gmem_get_index). */
export function gmemIndex(slot: Memslot, gfn: number): number {
  return gfn - slot.baseGfn + slot.gmem!.pgoff;
}

/** a CPUID entry as KVM_SET_CPUID2 stores it: the u32 registers of a CpuidEntry, without flags */
export type VcpuCpuidEntry = { [F in Exclude<keyof CpuidEntry, 'flags'>]: number };

export interface Vcpu {
  readonly fd: number;
  readonly vm: Vm;
  readonly id: number;
  /** guest CPUID set by KVM_SET_CPUID2 */
  cpuid: VcpuCpuidEntry[];
  hasRun: boolean;
  /** arch state (TDX vCPU state) */
  tdx?: { state: 'UNINITIALIZED' | 'INITIALIZED' };
  /** the VMM's reset register state, as KVM will sync it into an SEV-ES/SNP VMSA (set_vcpu_reset) */
  reset?: { vmm: 'QEMU' | 'ec2' | 'gce' | 'ec2_legacy' | 'svsm'; eip: number };
  /** SEV-ES/SNP: the VMSA was measured and encrypted (guest_state_protected) */
  guestStateProtected?: boolean;
  /** run time (core/kvm/run.ts): the exit KVM_RUN last left in struct kvm_run, and what re-entry completes */
  run?: VcpuRun;
}

/** A guest operation the vCPU re-executes on the next KVM_RUN (after a KVM_EXIT_MEMORY_FAULT). */
export type GuestAction =
  | { kind: 'access'; gpa: bigint; size: number; write: boolean; private: boolean; data: Uint8Array | null }
  | { kind: 'accept'; gpa: bigint; npages: number };

export interface VcpuRun {
  /** run->exit_reason etc. of the last exit, null when the last KVM_RUN left none */
  exit: import('./outcome.ts').RunExit | null;
  /** what the next KVM_RUN completes: a MapGPA/PSC the VMM is answering, or an access to retry */
  pending:
    | { kind: 'map_gpa'; next: number; end: number; toPrivate: boolean; chunk: number }
    | { kind: 'retry'; action: GuestAction }
    | null;
}

/** Arch-specific per-VM state; the TDX and SNP modules extend it. */
export interface ArchVm {
  readonly kind: 'tdx' | 'snp' | 'sev';
}

export class Vm {
  readonly memslots: Memslot[] = [];
  /** per-VM memory attributes by gfn (out-of-place) */
  readonly memAttrs = new RangeMap<number>();
  readonly vcpus: Vcpu[] = [];
  irqchip: 'none' | 'split' | 'kernel' = 'none';
  preFaultAllowed: boolean;
  /** KVM_BUG_ON fired: most ioctls now fail -EIO */
  bugged = false;
  /** the process that created the VM (kvm->mm): VM and vCPU ioctls from another are EIO */
  ownerProc = 0;
  /** KVM_CAP_EXIT_HYPERCALL: the hypercalls that exit to userspace (kvm->arch.hypercall_exit_enabled) */
  hypercallExitEnabled = 0n;

  /** user_exit_on_hypercall(kvm, nr): the hypercall exits to userspace (KVM_CAP_EXIT_HYPERCALL set its bit) */
  userExitOnHypercall(nr: number): boolean {
    return (this.hypercallExitEnabled & (1n << BigInt(nr))) !== 0n;
  }
  arch: ArchVm | null = null;

  readonly id: number;
  readonly type: VmTypeNum;
  constructor(id: number, type: VmTypeNum) {
    this.id = id;
    this.type = type;
    // kvm_arch_init_vm: DEFAULT and SW_PROTECTED may pre-fault; SEV/SEV-ES via sev_vm_init (!has_private_mem);
    // SNP and TDX only once the launch is sealed
    this.preFaultAllowed = type !== 4 && type !== 5;
  }

  get hasPrivateMem(): boolean {
    return this.type === 1 || this.type === 4 || this.type === 5;
  }

  /** kvm->arch.has_protected_state: SEV-ES, SNP and TDX guests' register state is not KVM's to read */
  get hasProtectedState(): boolean {
    return this.type === 3 || this.type === 4 || this.type === 5;
  }

  slotForGfn(gfn: number, asId = 0): Memslot | undefined {
    for (const s of this.memslots) if (s.asId === asId && gfn >= s.baseGfn && gfn < s.baseGfn + s.npages) return s;
    return undefined;
  }

  slotById(asId: number, id: number): Memslot | undefined {
    return this.memslots.find((s) => s.asId === asId && s.id === id);
  }
}

export interface Vma {
  start: number;
  end: number;
  prot: number;
  shared: boolean;
  /** file-backed mappings: the guest_memfd and the page offset of `start` */
  inode?: GmemInode;
  pgoff: number;
}

export type FileObject =
  | { kind: 'kvm' }
  | { kind: 'sev' }
  | { kind: 'vm'; vm: Vm }
  | { kind: 'vcpu'; vcpu: Vcpu }
  | { kind: 'gmem'; inode: GmemInode };
