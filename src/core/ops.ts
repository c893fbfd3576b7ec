/**
 * Operations: one system call (or process action) with its arguments resolved to values. u64
 * struct fields are bigint, exactly as userspace passes them.
 */

export type Data = { kind: 'bytes'; bytes: Uint8Array } | { kind: 'fill'; byte: number; length: bigint };

export interface CpuidEntry {
  function: bigint;
  index: bigint;
  flags: bigint;
  eax: bigint;
  ebx: bigint;
  ecx: bigint;
  edx: bigint;
}

/** A sub-command's struct, field name → value (nested structs as objects, arrays as lists). */
export type StructValue = { [k: string]: bigint | bigint[] | StructValue | StructValue[] };

/** An integer field of a struct; an absent field is 0 (what an all-zero struct holds) */
export const u64Field = (d: StructValue, name: string): bigint => {
  const v = d[name];
  return typeof v === 'bigint' ? v : 0n;
};

export interface Inject {
  signal_after_pages?: number;
  tdx_busy_at_page?: number;
  snp_fw_error_at_page?: { page: number; error: string };
  efault?: 'data';
  /** gmemsim extension: another thread's KVM_CREATE_VCPU is in flight during this call */
  vcpu_creation_in_progress?: boolean;
  /** gmemsim extension: start SNP_LAUNCH_START's launch digest from this value (a measured prefix) */
  snp_digest_seed?: Uint8Array;
}

export interface RegionArgs {
  fd: bigint;
  slot: bigint;
  flags: bigint;
  guest_phys_addr: bigint;
  memory_size: bigint;
  userspace_addr: bigint;
  guest_memfd: bigint;
  guest_memfd_offset: bigint;
}

export type Op =
  | { op: 'KVM_CREATE_VM'; fd: bigint; type: bigint }
  | { op: 'KVM_CHECK_EXTENSION'; fd: bigint; cap: bigint }
  | { op: 'KVM_ENABLE_CAP'; fd: bigint; cap: bigint; flags: bigint; args: bigint[] }
  | { op: 'KVM_CREATE_VCPU'; fd: bigint; id: bigint }
  | { op: 'KVM_SET_CPUID2'; fd: bigint; entries: CpuidEntry[]; nent: bigint }
  | { op: 'KVM_CREATE_GUEST_MEMFD'; fd: bigint; size: bigint; flags: bigint }
  | ({ op: 'KVM_SET_USER_MEMORY_REGION' } & RegionArgs)
  | ({ op: 'KVM_SET_USER_MEMORY_REGION2' } & RegionArgs)
  | { op: 'KVM_SET_MEMORY_ATTRIBUTES'; fd: bigint; address: bigint; size: bigint; attributes: bigint; flags: bigint }
  | {
      op: 'KVM_SET_MEMORY_ATTRIBUTES2';
      fd: bigint;
      offset: bigint;
      size: bigint;
      attributes: bigint;
      flags: bigint;
      reserved: bigint[];
      error_offset: bigint;
    }
  | {
      op: 'KVM_MEMORY_ENCRYPT_OP';
      fd: bigint;
      id: bigint;
      flags: bigint;
      data: bigint | StructValue;
      hw_error: bigint;
      error: bigint;
      sev_fd: bigint;
    }
  | { op: 'KVM_RUN'; fd: bigint }
  | { op: 'KVM_PRE_FAULT_MEMORY'; fd: bigint; gpa: bigint; size: bigint; flags: bigint }
  | { op: 'mmap'; addr: bigint; length: bigint; prot: bigint; flags: bigint; fd: bigint; offset: bigint }
  | { op: 'munmap'; addr: bigint; length: bigint }
  | { op: 'store'; addr: bigint; data: Data }
  | { op: 'load'; addr: bigint; length: bigint }
  | { op: 'pin'; addr: bigint; length: bigint }
  | { op: 'unpin'; addr: bigint; length: bigint }
  | { op: 'read'; fd: bigint; length: bigint; offset: bigint }
  | { op: 'pread'; fd: bigint; length: bigint; offset: bigint }
  | { op: 'write'; fd: bigint; data: Data; offset: bigint }
  | { op: 'pwrite'; fd: bigint; data: Data; offset: bigint }
  | { op: 'fallocate'; fd: bigint; mode: bigint; offset: bigint; len: bigint }
  | { op: 'ftruncate'; fd: bigint; length: bigint }
  | { op: 'fstat'; fd: bigint }
  | { op: 'madvise'; addr: bigint; length: bigint; advice: bigint }
  | { op: 'close'; fd: bigint }
  | { op: 'attest'; fd: bigint }
  /** gmemsim extension: the reset state a VMM gives a vCPU (KVM_SET_SREGS/REGS/FPU/XCRS), summarised */
  | { op: 'set_vcpu_reset'; fd: bigint; vmm_type: bigint; eip: bigint };

export type OpName = Op['op'];

export function dataLength(d: Data): bigint {
  return d.kind === 'bytes' ? BigInt(d.bytes.length) : d.length;
}
