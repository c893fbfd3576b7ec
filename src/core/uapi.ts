/**
 * uAPI names and values, as in include/uapi/linux/kvm.h and arch/x86/include/uapi/asm/kvm.h
 * (kvm-x86/linux 3cfc1a8e / 01a87185; in-place series values from sean-jc/linux 10602fa7 and the
 * v8 posting). Scenario files use these names; the model uses the numbers.
 */

export const PAGE_SIZE = 4096;
export const PAGE_SHIFT = 12;

/** KVM_CREATE_VM types (KVM_X86_*_VM). */
export const VmType = {
  KVM_X86_DEFAULT_VM: 0,
  KVM_X86_SW_PROTECTED_VM: 1,
  KVM_X86_SEV_VM: 2,
  KVM_X86_SEV_ES_VM: 3,
  KVM_X86_SNP_VM: 4,
  KVM_X86_TDX_VM: 5,
} as const;
export type VmTypeNum = (typeof VmType)[keyof typeof VmType];

export const GuestMemfdFlag = {
  GUEST_MEMFD_FLAG_MMAP: 1n << 0n,
  GUEST_MEMFD_FLAG_INIT_SHARED: 1n << 1n,
} as const;

export const MemslotFlag = {
  KVM_MEM_LOG_DIRTY_PAGES: 1n << 0n,
  KVM_MEM_READONLY: 1n << 1n,
  KVM_MEM_GUEST_MEMFD: 1n << 2n,
} as const;

export const MemoryAttribute = {
  KVM_MEMORY_ATTRIBUTE_PRIVATE: 1n << 3n,
} as const;
export const KVM_MEMORY_ATTRIBUTE_PRIVATE = 8;

export const Cap = {
  KVM_CAP_IRQCHIP: 0,
  KVM_CAP_USER_MEMORY: 3,
  KVM_CAP_NR_VCPUS: 9,
  KVM_CAP_NR_MEMSLOTS: 10,
  KVM_CAP_MAX_VCPUS: 66,
  KVM_CAP_SPLIT_IRQCHIP: 121,
  KVM_CAP_EXIT_HYPERCALL: 201,
  KVM_CAP_MAX_VCPU_ID: 128,
  KVM_CAP_USER_MEMORY2: 231,
  KVM_CAP_MEMORY_FAULT_INFO: 232,
  KVM_CAP_MEMORY_ATTRIBUTES: 233,
  KVM_CAP_GUEST_MEMFD: 234,
  KVM_CAP_VM_TYPES: 235,
  KVM_CAP_PRE_FAULT_MEMORY: 236,
  KVM_CAP_GUEST_MEMFD_FLAGS: 244,
  KVM_CAP_GUEST_MEMFD_MEMORY_ATTRIBUTES: 250,
} as const;

/** TDX sub-commands (enum kvm_tdx_cmd_id). */
export const TdxCmd = {
  KVM_TDX_CAPABILITIES: 0,
  KVM_TDX_INIT_VM: 1,
  KVM_TDX_INIT_VCPU: 2,
  KVM_TDX_INIT_MEM_REGION: 3,
  KVM_TDX_FINALIZE_VM: 4,
  KVM_TDX_GET_CPUID: 5,
} as const;

export const TdxFlag = {
  KVM_TDX_MEASURE_MEMORY_REGION: 1n << 0n,
} as const;

/** SEV sub-commands (enum sev_cmd_id). */
export const SevCmd = {
  KVM_SEV_INIT: 0,
  KVM_SEV_ES_INIT: 1,
  KVM_SEV_LAUNCH_START: 2,
  KVM_SEV_LAUNCH_UPDATE_DATA: 3,
  KVM_SEV_LAUNCH_UPDATE_VMSA: 4,
  KVM_SEV_LAUNCH_SECRET: 5,
  KVM_SEV_LAUNCH_MEASURE: 6,
  KVM_SEV_LAUNCH_FINISH: 7,
  KVM_SEV_SEND_START: 8,
  KVM_SEV_SEND_UPDATE_DATA: 9,
  KVM_SEV_SEND_UPDATE_VMSA: 10,
  KVM_SEV_SEND_FINISH: 11,
  KVM_SEV_RECEIVE_START: 12,
  KVM_SEV_RECEIVE_UPDATE_DATA: 13,
  KVM_SEV_RECEIVE_UPDATE_VMSA: 14,
  KVM_SEV_RECEIVE_FINISH: 15,
  KVM_SEV_GUEST_STATUS: 16,
  KVM_SEV_DBG_DECRYPT: 17,
  KVM_SEV_DBG_ENCRYPT: 18,
  KVM_SEV_CERT_EXPORT: 19,
  KVM_SEV_GET_ATTESTATION_REPORT: 20,
  KVM_SEV_SEND_CANCEL: 21,
  KVM_SEV_INIT2: 22,
  KVM_SEV_SNP_LAUNCH_START: 100,
  KVM_SEV_SNP_LAUNCH_UPDATE: 101,
  KVM_SEV_SNP_LAUNCH_FINISH: 102,
  KVM_SEV_SNP_ENABLE_REQ_CERTS: 103,
} as const;

export const SnpPageType = {
  KVM_SEV_SNP_PAGE_TYPE_NORMAL: 0x1,
  KVM_SEV_SNP_PAGE_TYPE_VMSA: 0x2,
  KVM_SEV_SNP_PAGE_TYPE_ZERO: 0x3,
  KVM_SEV_SNP_PAGE_TYPE_UNMEASURED: 0x4,
  KVM_SEV_SNP_PAGE_TYPE_SECRETS: 0x5,
  KVM_SEV_SNP_PAGE_TYPE_CPUID: 0x6,
} as const;

/** Memory-encrypt sub-command ids by name, for scenario files (TDX and SEV names do not collide). */
export const EncryptCmd = { ...TdxCmd, ...SevCmd } as const;

export const Prot = { PROT_NONE: 0n, PROT_READ: 1n, PROT_WRITE: 2n, PROT_EXEC: 4n } as const;
export const MapFlag = {
  MAP_SHARED: 0x01n,
  MAP_PRIVATE: 0x02n,
  MAP_SHARED_VALIDATE: 0x03n,
  MAP_FIXED: 0x10n,
  MAP_ANONYMOUS: 0x20n,
  MAP_POPULATE: 0x8000n,
  MAP_FIXED_NOREPLACE: 0x100000n,
} as const;

/**
 * LEGACY_MAP_MASK (include/linux/mman.h, x86): the flags every file accepts with MAP_SHARED_VALIDATE
 * when its file_operations add none (guest_memfd adds none): SHARED, PRIVATE, FIXED, ANONYMOUS,
 * 32BIT, GROWSDOWN, DENYWRITE, EXECUTABLE, LOCKED, NORESERVE, POPULATE, NONBLOCK, STACK, HUGETLB,
 * UNINITIALIZED, HUGE_2MB, HUGE_1GB. Not in it: MAP_FIXED_NOREPLACE, MAP_SYNC.
 */
export const LEGACY_MAP_MASK =
  0x01n |
  0x02n |
  0x10n |
  0x20n |
  0x40n |
  0x100n |
  0x800n |
  0x1000n |
  0x2000n |
  0x4000n |
  0x8000n |
  0x10000n |
  0x20000n |
  0x40000n |
  0x4000000n |
  (21n << 26n) |
  (30n << 26n);

export const FallocFlag = {
  FALLOC_FL_KEEP_SIZE: 0x01n,
  FALLOC_FL_PUNCH_HOLE: 0x02n,
  FALLOC_FL_COLLAPSE_RANGE: 0x08n,
  FALLOC_FL_ZERO_RANGE: 0x10n,
  FALLOC_FL_INSERT_RANGE: 0x20n,
  FALLOC_FL_UNSHARE_RANGE: 0x40n,
} as const;

export const Madv = {
  MADV_NORMAL: 0,
  MADV_RANDOM: 1,
  MADV_SEQUENTIAL: 2,
  MADV_WILLNEED: 3,
  MADV_DONTNEED: 4,
  MADV_REMOVE: 9,
  MADV_HUGEPAGE: 14,
  MADV_NOHUGEPAGE: 15,
  MADV_COLLAPSE: 25,
} as const;

/** The ioctls the model knows, with the file they are issued on. */
export const Ioctls = [
  'KVM_CREATE_VM',
  'KVM_CHECK_EXTENSION',
  'KVM_ENABLE_CAP',
  'KVM_CREATE_VCPU',
  'KVM_SET_CPUID2',
  'KVM_CREATE_GUEST_MEMFD',
  'KVM_SET_USER_MEMORY_REGION',
  'KVM_SET_USER_MEMORY_REGION2',
  'KVM_SET_MEMORY_ATTRIBUTES',
  'KVM_SET_MEMORY_ATTRIBUTES2',
  'KVM_MEMORY_ENCRYPT_OP',
  'KVM_RUN',
  'KVM_PRE_FAULT_MEMORY',
] as const;
export type IoctlName = (typeof Ioctls)[number];

/** include/uapi/linux/kvm.h: the API version KVM_GET_API_VERSION returns */
export const KVM_API_VERSION = 12;

/** Limits (x86). */
export const KVM_MAX_VCPUS = 1024;
export const KVM_MAX_VCPU_IDS = 4096;
export const KVM_USER_MEM_SLOTS = 32764;
export const KVM_MAX_CPUID_ENTRIES = 256;
export const KVM_MEM_MAX_NR_PAGES = 2 ** 31 - 1;
/** Highest user address + 1 with 4-level paging (TASK_SIZE_MAX = (1<<47) - PAGE_SIZE). */
export const TASK_SIZE = 2 ** 47 - PAGE_SIZE;
export const IOAPIC_NUM_PINS = 24;
export const KVM_MAX_IRQ_ROUTES = 4096;

export function nameOf(table: Record<string, number | bigint>, value: number | bigint): string | undefined {
  for (const [k, v] of Object.entries(table)) if (BigInt(v) === BigInt(value)) return k;
  return undefined;
}

/** Render a flag set as NAME|NAME|0x.. for traces. */
export function flagNames(table: Record<string, bigint>, value: bigint, strip = ''): string {
  if (value === 0n) return '0';
  const parts: string[] = [];
  let rest = value;
  for (const [k, v] of Object.entries(table)) {
    if (v !== 0n && (rest & v) === v) {
      parts.push(strip ? k.replace(strip, '') : k);
      rest &= ~v;
    }
  }
  if (rest !== 0n) parts.push(`0x${rest.toString(16)}`);
  return parts.join('|');
}

/** struct kvm_run exit reasons (KVM_EXIT_*) the run-time model produces. */
export const ExitReason = {
  KVM_EXIT_HYPERCALL: 3,
  KVM_EXIT_MMIO: 6,
  KVM_EXIT_SHUTDOWN: 8,
  KVM_EXIT_SYSTEM_EVENT: 24,
  KVM_EXIT_MEMORY_FAULT: 39,
} as const;

/** exit reasons a scenario may name: the uAPI's, and KVM_EXIT_NONE for "no exit" */
export const ExitReasonNames = { KVM_EXIT_NONE: 0, ...ExitReason } as const;

/** run->memory_fault.flags */
export const MemoryExitFlag = {
  KVM_MEMORY_EXIT_FLAG_PRIVATE: 1n << 3n,
} as const;

/** hypercall numbers (include/uapi/linux/kvm_para.h) */
export const HypercallNr = {
  KVM_HC_MAP_GPA_RANGE: 12,
} as const;
export const KVM_HC_MAP_GPA_RANGE = 12;
/** KVM_EXIT_HYPERCALL_VALID_MASK: the hypercalls KVM_CAP_EXIT_HYPERCALL may route to userspace */
export const KVM_EXIT_HYPERCALL_VALID_MASK = 1n << 12n;

/** KVM_HC_MAP_GPA_RANGE attributes (args[2]) */
export const MapGpaRangeAttr = {
  KVM_MAP_GPA_RANGE_PAGE_SZ_4K: 0n,
  KVM_MAP_GPA_RANGE_PAGE_SZ_2M: 1n,
  KVM_MAP_GPA_RANGE_PAGE_SZ_1G: 2n,
  KVM_MAP_GPA_RANGE_DECRYPTED: 0n,
  KVM_MAP_GPA_RANGE_ENCRYPTED: 1n << 4n,
} as const;

/** run->hypercall.flags */
export const KVM_EXIT_HYPERCALL_LONG_MODE = 1n;
