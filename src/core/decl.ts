/**
 * The one declaration of the uAPI gmemsim models. Every operation a scenario step can name, its
 * fields and their kinds, every KVM_MEMORY_ENCRYPT_OP sub-command with its struct, every knob (the
 * `kernel:` keys of a scenario and `--set` on the command line) and every fault injection, each with
 * a one-line description. Everything else reads this table: the core's `Op` type (ops.ts), the
 * scenario loader and its schemas, the JSON Schema, lowering steps to ops, the emitter, the
 * strace-like report, `--set`, help texts and `gmemsim rules --ioctl`. (In the manner of the
 * TypeScript compiler's optionDeclarations: one declaration drives parsing, help and validation.)
 *
 * Plain data, no imports beyond the uAPI names: the core stays pure and small.
 */

import { BSP_RESET_EIP } from './snp/vmsa.ts';
import {
  Cap,
  EncryptCmd,
  FallocFlag,
  GuestMemfdFlag,
  Madv,
  MapFlag,
  MemoryAttribute,
  MemslotFlag,
  Prot,
  SevCmd,
  SnpPageType,
  TdxCmd,
  TdxFlag,
  VmType,
} from './uapi.ts';

export type NameTable = Readonly<Record<string, number | bigint>>;

/** The kind of one field: how a file writes it and what the core receives. */
export type FieldKind =
  /** an integer, u64 */
  | { readonly t: 'u64' }
  /** a file descriptor: an integer, a handle, `kvm` or `sev` */
  | { readonly t: 'fd' }
  /** an address or value that may be a handle or handle±offset */
  | { readonly t: 'addr' }
  /** a flag set: a list of names or one integer */
  | { readonly t: 'flags'; readonly table: NameTable }
  /** an enumeration: a name or its number */
  | { readonly t: 'enum'; readonly table: NameTable }
  /** a list of integers */
  | { readonly t: 'u64list' }
  /** true or false */
  | { readonly t: 'bool' }
  /** bytes: { hex } | { fill, length } | { text } | { file, offset, length } */
  | { readonly t: 'data' }
  /** CPUID entries (struct kvm_cpuid_entry2): a list, or a struct kvm_cpuid2 { nent, entries } */
  | { readonly t: 'cpuid' }
  /** KVM_MEMORY_ENCRYPT_OP data: the sub-command's struct, or an integer where it takes one */
  | { readonly t: 'encdata' };

/** What an absent field holds. */
export type FieldDefault =
  /** zero (an all-zero struct), the default of every field unless said otherwise */
  | undefined
  /** the /dev/kvm fd */
  | 'kvm'
  /** the /dev/sev fd */
  | 'sev'
  /** -1: no file (an fd field left out) */
  | 'none'
  /** the number of entries of the sibling field named */
  | { readonly lengthOf: string }
  /** this value */
  | bigint;

export interface FieldDecl {
  readonly kind: FieldKind;
  readonly required?: boolean;
  readonly default?: FieldDefault;
  readonly doc: string;
}

export type OpClass =
  /** an ioctl on a KVM file (include/uapi/linux/kvm.h) */
  | 'ioctl'
  /** a system call of the process */
  | 'syscall'
  /** what the process does with its memory (a load or store, a long-term pin) */
  | 'process'
  /** a verifier's view: the launch measurement */
  | 'verifier'
  /** what the guest does, executed as the KVM_RUN it causes (docs/scenario-extensions.md) */
  | 'guest'
  /** gmemsim's own (documented in docs/scenario-extensions.md) */
  | 'extension';

export interface OpDecl {
  readonly class: OpClass;
  /** what it does, one line */
  readonly doc: string;
  /** what it returns on success */
  readonly result: string;
  readonly fields: Readonly<Record<string, FieldDecl>>;
}

// ---- field helpers ---------------------------------------------------------------------------

type Opts = { readonly required?: boolean; readonly default?: FieldDefault };
type Decl<K extends FieldKind> = { readonly kind: K; readonly doc: string } & Opts;

const field = <K extends FieldKind>(kind: K, doc: string, o: Opts = {}): Decl<K> => ({ kind, doc, ...o });
const u64 = (doc: string, o: Opts = {}) => field({ t: 'u64' } as const, doc, o);
const fd = (doc: string, o: Opts = { required: true }) => field({ t: 'fd' } as const, doc, { default: 'none', ...o });
const addr = (doc: string, o: Opts = {}) => field({ t: 'addr' } as const, doc, o);
const flags = (table: NameTable, doc: string, o: Opts = {}) => field({ t: 'flags', table } as const, doc, o);
const en = (table: NameTable, doc: string, o: Opts = {}) => field({ t: 'enum', table } as const, doc, o);
const list = (doc: string) => field({ t: 'u64list' } as const, doc);
const data = (doc: string, o: Opts = {}) => field({ t: 'data' } as const, doc, o);
const bool = (doc: string, o: Opts = {}) => field({ t: 'bool' } as const, doc, o);
const req = <K extends FieldKind>(f: Decl<K>): Decl<K> => ({ ...f, required: true });

const REGION_FIELDS = {
  fd: fd('the VM'),
  slot: u64('address space (bits 16..31) and slot id (bits 0..15)'),
  flags: flags(MemslotFlag, 'KVM_MEM_* flags'),
  guest_phys_addr: addr('first guest physical address of the slot'),
  memory_size: u64('bytes; 0 deletes the slot'),
  userspace_addr: addr('host virtual address backing shared accesses'),
} as const;

/** VMM types of `set_vcpu_reset` (the reset register state a VMM gives a vCPU). */
export const VmmType = { QEMU: 0, ec2: 1, gce: 2, ec2_legacy: 3, svsm: 4 } as const;

/** `guest_map_gpa.to`: the side the guest asks a range to become (MapGPA / Page State Change). */
export const MapGpaTo = { shared: 0, private: 1 } as const;

/**
 * `KVM_RUN.hypercall_ret`: what the VMM leaves in run->hypercall.ret before re-entering after a
 * KVM_EXIT_HYPERCALL (KVM zeroes it at the exit). Positive errno values, as TDX's completion reads them.
 */
export const HypercallRet = { OK: 0, EAGAIN: 11, EINVAL: 22 } as const;

/** Fields of a CPUID entry (struct kvm_cpuid_entry2). */
export const CpuidFields = ['function', 'index', 'flags', 'eax', 'ebx', 'ecx', 'edx'] as const;

// ---- operations ------------------------------------------------------------------------------

export const OpDecls = {
  KVM_CREATE_VM: {
    class: 'ioctl',
    doc: 'create a VM of a type (KVM_X86_*_VM) on /dev/kvm',
    result: 'the VM fd',
    fields: {
      fd: fd('/dev/kvm', { default: 'kvm' }),
      type: en(VmType, 'the VM type (machine type)'),
    },
  },
  KVM_GET_API_VERSION: {
    class: 'ioctl',
    doc: 'the KVM API version of /dev/kvm (the first call a VMM makes)',
    result: 'KVM_API_VERSION (12)',
    fields: {
      fd: fd('/dev/kvm', { default: 'kvm' }),
      arg: u64('the ioctl argument; must be 0'),
    },
  },
  KVM_CHECK_EXTENSION: {
    class: 'ioctl',
    doc: 'ask /dev/kvm or a VM whether a capability is present, and its value',
    result: 'the capability value',
    fields: {
      fd: fd('/dev/kvm or a VM', { default: 'kvm' }),
      cap: req(en(Cap, 'the capability (KVM_CAP_*)')),
    },
  },
  KVM_ENABLE_CAP: {
    class: 'ioctl',
    doc: 'enable a VM capability (struct kvm_enable_cap)',
    result: '0',
    fields: {
      fd: fd('the VM'),
      cap: req(en(Cap, 'the capability (KVM_CAP_*)')),
      flags: u64('kvm_enable_cap.flags'),
      args: list('kvm_enable_cap.args[4]'),
    },
  },
  KVM_CREATE_VCPU: {
    class: 'ioctl',
    doc: 'create a vCPU in a VM',
    result: 'the vCPU fd',
    fields: { fd: fd('the VM'), id: u64('the vCPU id (APIC id)') },
  },
  KVM_SET_CPUID2: {
    class: 'ioctl',
    doc: "set a vCPU's CPUID (struct kvm_cpuid2)",
    result: '0',
    fields: {
      fd: fd('the vCPU'),
      entries: field({ t: 'cpuid' } as const, 'CPUID entries { function, index, flags, eax, ebx, ecx, edx }'),
      nent: u64('number of entries (default: the length of entries)', { default: { lengthOf: 'entries' } }),
    },
  },
  KVM_CREATE_GUEST_MEMFD: {
    class: 'ioctl',
    doc: 'create a guest_memfd for a VM (struct kvm_create_guest_memfd)',
    result: 'the guest_memfd fd',
    fields: {
      fd: fd('the VM'),
      size: req(u64('bytes, a multiple of the page size')),
      flags: flags(GuestMemfdFlag, 'GUEST_MEMFD_FLAG_*'),
    },
  },
  KVM_SET_USER_MEMORY_REGION: {
    class: 'ioctl',
    doc: 'create, move, change or delete a memslot (struct kvm_userspace_memory_region)',
    result: '0',
    fields: REGION_FIELDS,
  },
  KVM_SET_USER_MEMORY_REGION2: {
    class: 'ioctl',
    doc: 'the same with a guest_memfd binding (struct kvm_userspace_memory_region2)',
    result: '0',
    fields: {
      ...REGION_FIELDS,
      guest_memfd: fd('the guest_memfd backing private accesses (with KVM_MEM_GUEST_MEMFD)', { required: false }),
      guest_memfd_offset: u64('offset in the guest_memfd of the first page of the slot'),
    },
  },
  KVM_SET_MEMORY_ATTRIBUTES: {
    class: 'ioctl',
    doc: 'set per-VM memory attributes of a GPA range (struct kvm_memory_attributes)',
    result: '0',
    fields: {
      fd: fd('the VM'),
      address: addr('first GPA, page aligned'),
      size: u64('bytes, page aligned'),
      attributes: flags(MemoryAttribute, 'KVM_MEMORY_ATTRIBUTE_*'),
      flags: u64('must be 0'),
    },
  },
  KVM_SET_MEMORY_ATTRIBUTES2: {
    class: 'ioctl',
    doc: 'set the attributes of a guest_memfd range, in-place conversion (struct kvm_memory_attributes2)',
    result: '0; writes back error_offset',
    fields: {
      fd: fd('the guest_memfd'),
      offset: u64('first byte offset in the file, page aligned'),
      size: u64('bytes, page aligned'),
      attributes: flags(MemoryAttribute, 'KVM_MEMORY_ATTRIBUTE_*'),
      flags: u64('must be 0'),
      reserved: list('reserved words, must be 0'),
      error_offset: u64('written back: where a failed conversion stopped'),
    },
  },
  KVM_MEMORY_ENCRYPT_OP: {
    class: 'ioctl',
    doc: 'a TDX (struct kvm_tdx_cmd) or SEV (struct kvm_sev_cmd) sub-command on a VM or vCPU',
    result: '0; writes back data fields and hw_error / error',
    fields: {
      fd: fd('the VM, or a vCPU for vCPU-scope TDX sub-commands'),
      id: req(en(EncryptCmd, 'the sub-command (KVM_TDX_* or KVM_SEV_*)')),
      flags: flags(TdxFlag, 'kvm_tdx_cmd.flags'),
      data: field({ t: 'encdata' } as const, "the sub-command's struct (omitted fields are 0), or an integer"),
      hw_error: u64('kvm_tdx_cmd.hw_error (TDX; must be 0 on input)'),
      error: u64('kvm_sev_cmd.error (SEV firmware error, written back)'),
      sev_fd: fd('kvm_sev_cmd.sev_fd (SEV)', { default: 'sev', required: false }),
    },
  },
  KVM_RUN: {
    class: 'ioctl',
    doc: 'enter the guest: the checks KVM makes before it runs guest code; after an exit, complete it (complete_userspace_io) and resume what the guest was doing',
    result:
      '0, or -1 EFAULT with a KVM_EXIT_MEMORY_FAULT exit; run->exit_reason and the exit fields are in the outcome',
    fields: {
      fd: fd('the vCPU'),
      hypercall_ret: en(
        HypercallRet,
        'run->hypercall.ret as the VMM leaves it before re-entering after KVM_EXIT_HYPERCALL: 0, EAGAIN (retry) or EINVAL (refuse); KVM zeroed it at the exit',
      ),
    },
  },
  guest_access: {
    class: 'guest',
    doc: 'the guest reads or writes guest memory (the KVM_RUN during which it does)',
    result: '0 and the bytes read; or -1 EFAULT with KVM_EXIT_MEMORY_FAULT; or 0 with another exit',
    fields: {
      fd: fd('the vCPU'),
      gpa: addr('the guest physical address (a TD may set its shared bit to access the shared alias)'),
      size: req(u64('bytes, within one page')),
      write: bool('a write (true) or a read (false)'),
      private: bool(
        'the guest view: TD = the shared bit is clear, SNP = the C-bit is set; ignored for KVM_X86_SW_PROTECTED_VM (the memory attributes decide)',
        { default: 1n },
      ),
      data: data('the bytes a write stores (absent: zeros of size)'),
    },
  },
  guest_map_gpa: {
    class: 'guest',
    doc: 'the guest asks for a GPA range to become private or shared: TDG.VP.VMCALL<MapGPA> (TD), a GHCB Page State Change (SNP), the KVM_HC_MAP_GPA_RANGE hypercall (SW_PROTECTED)',
    result: '0 with KVM_EXIT_HYPERCALL (nr KVM_HC_MAP_GPA_RANGE), or 0 with no exit when KVM answers the guest itself',
    fields: {
      fd: fd('the vCPU'),
      gpa: addr('first GPA (without the TD shared bit: `to` says the side)'),
      npages: req(u64('pages')),
      to: req(en(MapGpaTo, 'private or shared')),
    },
  },
  guest_accept: {
    class: 'guest',
    doc: 'the guest accepts private pages: TDG.MEM.PAGE.ACCEPT (TD; KVM maps the page with TDH.MEM.PAGE.AUG on the EPT violation), PVALIDATE (SNP; KVM assigns the page in the RMP on the nested page fault)',
    result: '0; or -1 EFAULT with KVM_EXIT_MEMORY_FAULT when the page is not private in the attributes',
    fields: {
      fd: fd('the vCPU'),
      gpa: addr('first GPA'),
      npages: u64('pages', { default: 1n }),
    },
  },
  KVM_PRE_FAULT_MEMORY: {
    class: 'ioctl',
    doc: 'map a GPA range ahead of the guest (struct kvm_pre_fault_memory)',
    result: '0; writes back gpa and size',
    fields: {
      fd: fd('the vCPU'),
      gpa: addr('first GPA'),
      size: u64('bytes'),
      flags: u64('must be 0'),
    },
  },
  mmap: {
    class: 'syscall',
    doc: 'map anonymous memory or a file (a guest_memfd) into the process',
    result: 'the mapped address',
    fields: {
      length: req(u64('bytes')),
      prot: flags(Prot, 'PROT_*'),
      flags: flags(MapFlag, 'MAP_*'),
      fd: fd('the file (none for MAP_ANONYMOUS)', { required: false }),
      offset: u64('file offset'),
      addr: addr('the address (a hint, or exact with MAP_FIXED)'),
    },
  },
  munmap: {
    class: 'syscall',
    doc: 'unmap a range of the process',
    result: '0',
    fields: { addr: req(addr('first address')), length: req(u64('bytes')) },
  },
  store: {
    class: 'process',
    doc: 'the process writes bytes (memset/memcpy)',
    result: 'the number of bytes, or a signal',
    fields: { addr: req(addr('first address')), data: req(data('the bytes')) },
  },
  load: {
    class: 'process',
    doc: 'the process reads bytes',
    result: 'the number of bytes and the bytes, or a signal',
    fields: { addr: req(addr('first address')), length: req(u64('bytes')) },
  },
  pin: {
    class: 'process',
    doc: 'a long-term pin of the pages (as a VFIO DMA mapping takes)',
    result: '0',
    fields: { addr: req(addr('first address')), length: req(u64('bytes')) },
  },
  unpin: {
    class: 'process',
    doc: 'drop a long-term pin',
    result: '0',
    fields: { addr: req(addr('first address')), length: req(u64('bytes')) },
  },
  fork: {
    class: 'process',
    doc: "fork(2): a child process with a copy of the mappings (a MAP_SHARED guest_memfd mapping stays the file's); steps run in it with `as_process: HANDLE`",
    result: 'the child pid (1000 + n; the VMM is 1000)',
    fields: {},
  },
  read: {
    class: 'syscall',
    doc: 'read(2) at the file position (0: gmemsim keeps no position)',
    result: 'bytes read',
    fields: { fd: fd('the file'), length: u64('bytes') },
  },
  write: {
    class: 'syscall',
    doc: 'write(2)',
    result: 'bytes written',
    fields: { fd: fd('the file'), data: data('the bytes') },
  },
  pread: {
    class: 'syscall',
    doc: 'pread(2)',
    result: 'bytes read',
    fields: { fd: fd('the file'), length: u64('bytes'), offset: u64('file offset') },
  },
  pwrite: {
    class: 'syscall',
    doc: 'pwrite(2)',
    result: 'bytes written',
    fields: { fd: fd('the file'), data: data('the bytes'), offset: u64('file offset') },
  },
  fallocate: {
    class: 'syscall',
    doc: 'fallocate(2): allocate, or punch a hole',
    result: '0',
    fields: {
      fd: fd('the file'),
      mode: flags(FallocFlag, 'FALLOC_FL_*'),
      offset: u64('first byte'),
      len: u64('bytes'),
    },
  },
  ftruncate: {
    class: 'syscall',
    doc: 'ftruncate(2)',
    result: '0',
    fields: { fd: fd('the file'), length: u64('the new size') },
  },
  fstat: {
    class: 'syscall',
    doc: 'fstat(2)',
    result: 'st_size, st_blksize',
    fields: { fd: fd('the file') },
  },
  madvise: {
    class: 'syscall',
    doc: 'madvise(2)',
    result: '0',
    fields: {
      addr: req(addr('first address')),
      length: req(u64('bytes')),
      advice: req(en(Madv, 'MADV_*')),
    },
  },
  close: { class: 'syscall', doc: 'close(2)', result: '0', fields: { fd: fd('the file') } },
  attest: {
    class: 'verifier',
    doc: 'the launch measurement a verifier would see in an attestation report',
    result: 'mrtd (TDX) or measurement (SEV-SNP)',
    fields: { fd: fd('the VM') },
  },
  set_vcpu_reset: {
    class: 'extension',
    doc: "the VMM's reset register state of a vCPU (KVM_SET_SREGS/REGS/FPU/XCRS), which SNP_LAUNCH_FINISH syncs into its VMSA",
    result: '0',
    fields: {
      fd: fd('the vCPU'),
      vmm_type: en(VmmType, 'whose reset state: QEMU, ec2, gce, ec2_legacy, svsm'),
      eip: u64('the reset EIP', { default: BigInt(BSP_RESET_EIP) }),
    },
  },
} as const satisfies Record<string, OpDecl>;

export type OpName = keyof typeof OpDecls;
export const OpNames = Object.keys(OpDecls) as OpName[];

// ---- KVM_MEMORY_ENCRYPT_OP sub-commands ------------------------------------------------------

export interface SubCmdDecl {
  readonly id: number;
  readonly arch: 'tdx' | 'sev';
  /** the file it is issued on */
  readonly scope: 'vm' | 'vcpu';
  readonly doc: string;
  /** the struct cmd.data points at, if any */
  readonly struct?: { readonly name: string; readonly fields: Readonly<Record<string, FieldDecl>> };
  /** the rule group (Rule.op) of the dispatcher's checks that come before the sub-command's own */
  readonly dispatch: string;
  /**
   * the sub-command's own rules inside the dispatch group, by rule-id prefix (`gmemsim rules
   * --ioctl KVM_TDX_INIT_VM`); rules whose op is the sub-command's name belong to it anyway
   */
  readonly rules?: readonly string[];
}

const cpuid2 = (doc: string) => field({ t: 'cpuid' } as const, doc);
const TDX_VM = 'KVM_MEMORY_ENCRYPT_OP (TDX VM)';
const TDX_VCPU = 'KVM_MEMORY_ENCRYPT_OP (TDX vCPU)';
const SEV = 'KVM_MEMORY_ENCRYPT_OP (SEV)';

/** Sub-commands with their structs (arch/x86/include/uapi/asm/kvm.h). */
export const SubCmdDecls = {
  KVM_TDX_CAPABILITIES: {
    id: TdxCmd.KVM_TDX_CAPABILITIES,
    arch: 'tdx',
    scope: 'vm',
    doc: 'the TD attributes, XFAM and configurable CPUID KVM and the TDX module support',
    dispatch: TDX_VM,
    rules: ['tdx.vm.cap'],
    struct: {
      name: 'kvm_tdx_capabilities',
      fields: {
        supported_attrs: u64('written back'),
        supported_xfam: u64('written back'),
        reserved: list('reserved, 0'),
        cpuid: cpuid2('in: nent, the room for entries; out: the configurable CPUID'),
      },
    },
  },
  KVM_TDX_INIT_VM: {
    id: TdxCmd.KVM_TDX_INIT_VM,
    arch: 'tdx',
    scope: 'vm',
    doc: 'initialize the TD: attributes, XFAM, measurement registers, CPUID (GPAW → shared bit)',
    dispatch: TDX_VM,
    rules: ['tdx.vm.init'],
    struct: {
      name: 'kvm_tdx_init_vm',
      fields: {
        attributes: u64('TD attributes'),
        xfam: u64('extended features allowed'),
        mrconfigid: list('MRCONFIGID (6 × u64)'),
        mrowner: list('MROWNER (6 × u64)'),
        mrownerconfig: list('MROWNERCONFIG (6 × u64)'),
        reserved: list('reserved, 0'),
        cpuid: cpuid2('struct kvm_cpuid2: the TD CPUID (0x80000008 EAX[23:16] is the GPAW)'),
      },
    },
  },
  KVM_TDX_INIT_VCPU: {
    id: TdxCmd.KVM_TDX_INIT_VCPU,
    arch: 'tdx',
    scope: 'vcpu',
    doc: 'create the TD vCPU in the TDX module; data is the initial RCX',
    dispatch: TDX_VCPU,
    rules: ['tdx.vcpu.initVcpu', 'tdx.vcpu.vcpuInitialized'],
  },
  KVM_TDX_INIT_MEM_REGION: {
    id: TdxCmd.KVM_TDX_INIT_MEM_REGION,
    arch: 'tdx',
    scope: 'vcpu',
    doc: 'add initial pages to the TD (TDH.MEM.PAGE.ADD, TDH.MR.EXTEND with KVM_TDX_MEASURE_MEMORY_REGION)',
    dispatch: TDX_VCPU,
    struct: {
      name: 'kvm_tdx_init_mem_region',
      fields: {
        source_addr: addr('user address of the source pages; 0: no source page (the thread)'),
        gpa: addr('first GPA, page aligned'),
        nr_pages: u64('pages'),
      },
    },
  },
  KVM_TDX_FINALIZE_VM: {
    id: TdxCmd.KVM_TDX_FINALIZE_VM,
    arch: 'tdx',
    scope: 'vm',
    doc: 'TDH.MR.FINALIZE: seal the MRTD, the TD becomes runnable',
    dispatch: TDX_VM,
    rules: ['tdx.vm.finaliz'],
  },
  KVM_TDX_GET_CPUID: {
    id: TdxCmd.KVM_TDX_GET_CPUID,
    arch: 'tdx',
    scope: 'vcpu',
    doc: "the TD vCPU's CPUID as the TDX module reports it",
    dispatch: TDX_VCPU,
    rules: ['tdx.vcpu.getCpuid'],
    struct: {
      name: 'kvm_cpuid2',
      fields: { nent: u64('in: room for entries; out: entries written'), entries: cpuid2('written back') },
    },
  },
  KVM_SEV_INIT: { id: SevCmd.KVM_SEV_INIT, arch: 'sev', scope: 'vm', doc: 'legacy SEV init', dispatch: SEV },
  KVM_SEV_ES_INIT: { id: SevCmd.KVM_SEV_ES_INIT, arch: 'sev', scope: 'vm', doc: 'legacy SEV-ES init', dispatch: SEV },
  KVM_SEV_INIT2: {
    id: SevCmd.KVM_SEV_INIT2,
    arch: 'sev',
    scope: 'vm',
    doc: 'initialize an SEV, SEV-ES or SNP VM with VMSA features',
    dispatch: SEV,
    struct: {
      name: 'kvm_sev_init',
      fields: {
        vmsa_features: u64('SEV_ES VMSA features'),
        flags: u64('must be 0'),
        ghcb_version: u64('GHCB protocol version'),
        pad1: u64('padding, 0'),
        pad2: list('padding, 0'),
      },
    },
  },
  KVM_SEV_SNP_LAUNCH_START: {
    id: SevCmd.KVM_SEV_SNP_LAUNCH_START,
    arch: 'sev',
    scope: 'vm',
    doc: 'SNP_LAUNCH_START: the guest policy; the launch digest starts',
    dispatch: SEV,
    struct: {
      name: 'kvm_sev_snp_launch_start',
      fields: {
        policy: u64('the guest policy'),
        gosvw: list('guest OS visible workarounds (16 bytes)'),
        flags: u64('must be 0'),
        pad0: list('padding, 0'),
        pad1: list('padding, 0'),
      },
    },
  },
  KVM_SEV_SNP_LAUNCH_UPDATE: {
    id: SevCmd.KVM_SEV_SNP_LAUNCH_UPDATE,
    arch: 'sev',
    scope: 'vm',
    doc: 'SNP_LAUNCH_UPDATE: encrypt and measure pages into the guest (PAGE_INFO per page)',
    dispatch: SEV,
    struct: {
      name: 'kvm_sev_snp_launch_update',
      fields: {
        gfn_start: u64('first GFN'),
        uaddr: addr('user address of the source pages'),
        len: u64('bytes'),
        type: en(SnpPageType, 'KVM_SEV_SNP_PAGE_TYPE_*'),
        pad0: u64('padding, 0'),
        flags: u64('must be 0'),
        pad1: u64('padding, 0'),
        pad2: list('padding, 0'),
      },
    },
  },
  KVM_SEV_SNP_LAUNCH_FINISH: {
    id: SevCmd.KVM_SEV_SNP_LAUNCH_FINISH,
    arch: 'sev',
    scope: 'vm',
    doc: 'SNP_LAUNCH_FINISH: the vCPUs’ VMSAs are measured, the ID block checked, the launch digest sealed',
    dispatch: SEV,
    struct: {
      name: 'kvm_sev_snp_launch_finish',
      fields: {
        id_block_uaddr: addr('user address of the ID block'),
        id_auth_uaddr: addr('user address of the ID authentication'),
        id_block_en: u64('the ID block is present'),
        auth_key_en: u64('the author key is present'),
        vcek_disabled: u64('VCEK disabled'),
        host_data: list('host data (32 bytes)'),
        pad0: list('padding, 0'),
        flags: u64('must be 0'),
        pad1: list('padding, 0'),
      },
    },
  },
  KVM_SEV_SNP_ENABLE_REQ_CERTS: {
    id: SevCmd.KVM_SEV_SNP_ENABLE_REQ_CERTS,
    arch: 'sev',
    scope: 'vm',
    doc: 'enable certificate requests from the guest',
    dispatch: SEV,
  },
} as const satisfies Record<string, SubCmdDecl>;

export type SubCmdName = keyof typeof SubCmdDecls;

/** The declaration of the sub-command with this id that has a struct (TDX and SEV ids overlap). */
export function subCmdById(id: bigint | number): (SubCmdDecl & { name: SubCmdName }) | undefined {
  const n = Number(id);
  let first: (SubCmdDecl & { name: SubCmdName }) | undefined;
  for (const [name, d] of Object.entries(SubCmdDecls) as [SubCmdName, SubCmdDecl][]) {
    if (d.id !== n) continue;
    if (d.struct) return { ...d, name };
    first ??= { ...d, name };
  }
  return first;
}

// ---- knobs: the `kernel:` section of a scenario and `--set KEY=VALUE` -------------------------

export type KnobKind =
  | { readonly t: 'bool' }
  | { readonly t: 'u64'; readonly max: bigint }
  | { readonly t: 'enum'; readonly values: readonly string[] };

export interface KnobDecl {
  readonly kind: KnobKind;
  readonly doc: string;
  /** the profile field that must be true for the knob to exist (else: an error naming the profiles that have it) */
  readonly requires?: 'inPlaceSeries';
}

export const KnobDecls = {
  gmem_in_place_conversion: {
    kind: { t: 'bool' },
    doc: 'kvm.gmem_in_place_conversion: per-guest_memfd attributes (true) or per-VM attributes (false)',
    requires: 'inPlaceSeries',
  },
  mmap_min_addr: {
    kind: { t: 'u64', max: (1n << 47n) - 1n },
    doc: 'vm.mmap_min_addr: the lowest address a fixed mmap may use',
  },
  tdx_measure_order: {
    kind: { t: 'enum', values: ['single-pass', 'two-pass'] },
    doc: 'record order of KVM_TDX_INIT_MEM_REGION with MEASURE: upstream single-pass, or KVM TDX v19 with QEMU 8.x two-pass',
  },
} as const satisfies Record<string, KnobDecl>;

/** What a value of this kind looks like, for messages. */
export function describeKind(kind: KnobKind): string {
  switch (kind.t) {
    case 'bool':
      return 'true or false';
    case 'u64':
      return `an integer from 0 to 0x${kind.max.toString(16)}`;
    case 'enum':
      return kind.values.join(' or ');
  }
}

export type KnobName = keyof typeof KnobDecls;
export const KnobNames = Object.keys(KnobDecls) as KnobName[];

type KnobValueOf<K extends KnobKind> = K extends { t: 'bool' }
  ? boolean
  : K extends { t: 'u64' }
    ? number
    : K extends { t: 'enum'; values: readonly (infer V)[] }
      ? V
      : never;

/** The value of each knob as the core holds it. */
export type KnobValues = { -readonly [N in KnobName]: KnobValueOf<(typeof KnobDecls)[N]['kind']> };

/** The prefix of the knob family that switches a safeguard (`safeguard.NAME=on|off`, `safeguards: { NAME: off }`). */
export const SAFEGUARD_PREFIX = 'safeguard.';

// ---- fault injection -------------------------------------------------------------------------

export type InjectKind =
  /** a page count */
  | { readonly t: 'count' }
  | { readonly t: 'true' }
  | { readonly t: 'literal'; readonly value: string }
  /** a launch digest, 96 hex digits */
  | { readonly t: 'digest' }
  /** { page, error }: error is a firmware error name or number */
  | { readonly t: 'fwError' };

export interface InjectDecl {
  readonly kind: InjectKind;
  readonly doc: string;
  /** documented in docs/scenario-extensions.md rather than the contract */
  readonly extension?: boolean;
}

export const InjectDecls = {
  signal_after_pages: {
    kind: { t: 'count' },
    doc: 'a signal is pending after N pages of a populate loop completed (→ EINTR with progress written back)',
  },
  tdx_busy_at_page: {
    kind: { t: 'count' },
    doc: "the TDX module reports operand busy on the TDH.MEM.PAGE.ADD of the call's page N (from 0)",
  },
  snp_fw_error_at_page: {
    kind: { t: 'fwError' },
    doc: "the PSP fails SNP_LAUNCH_UPDATE on the call's page N with this firmware error",
  },
  efault: {
    kind: { t: 'literal', value: 'data' },
    doc: "the ioctl's struct pointer is bad (copy_from_user fails → EFAULT)",
  },
  vcpu_creation_in_progress: {
    kind: { t: 'true' },
    doc: "another thread's KVM_CREATE_VCPU is in flight during this call",
    extension: true,
  },
  snp_digest_seed: {
    kind: { t: 'digest' },
    doc: "SNP_LAUNCH_START's launch digest starts from this value (a measured prefix)",
    extension: true,
  },
} as const satisfies Record<string, InjectDecl>;

export type InjectName = keyof typeof InjectDecls;
export const InjectNames = Object.keys(InjectDecls) as InjectName[];
