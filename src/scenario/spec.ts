/**
 * The argument spec of every scenario operation (scenario-format.md "Steps"): field name → kind.
 * One table drives the zod schema, the JSON Schema, handle resolution and the strace-like trace.
 */
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
  SnpPageType,
  TdxFlag,
  VmType,
} from '../core/uapi.ts';

export type NameTable = Record<string, number | bigint>;

export type FieldKind =
  | { t: 'u64' }
  /** an fd: integer, a handle, `kvm`, or `sev` */
  | { t: 'fd' }
  /** an address or value that may be a handle or handle+offset */
  | { t: 'addr' }
  | { t: 'flags'; table: NameTable }
  | { t: 'enum'; table: NameTable }
  | { t: 'u64list' }
  | { t: 'data' }
  | { t: 'cpuid' }
  /** KVM_MEMORY_ENCRYPT_OP data: a struct (by cmd id) or an integer */
  | { t: 'encdata' };

export interface FieldSpec {
  kind: FieldKind;
  required?: boolean;
}

const u64: FieldSpec = { kind: { t: 'u64' } };
const fd: FieldSpec = { kind: { t: 'fd' }, required: true };
const addr: FieldSpec = { kind: { t: 'addr' } };
const req = (f: FieldSpec): FieldSpec => ({ ...f, required: true });
const flags = (table: NameTable): FieldSpec => ({ kind: { t: 'flags', table } });
const en = (table: NameTable): FieldSpec => ({ kind: { t: 'enum', table } });

export const OpSpecs = {
  KVM_CREATE_VM: { fd: { kind: { t: 'fd' } }, type: en(VmType) },
  KVM_CHECK_EXTENSION: { fd: { kind: { t: 'fd' } }, cap: req(en(Cap)) },
  KVM_ENABLE_CAP: { fd, cap: req(en(Cap)), flags: u64, args: { kind: { t: 'u64list' } } },
  KVM_CREATE_VCPU: { fd, id: u64 },
  KVM_SET_CPUID2: { fd, entries: { kind: { t: 'cpuid' } }, nent: u64 },
  KVM_CREATE_GUEST_MEMFD: { fd, size: req(u64), flags: flags(GuestMemfdFlag) },
  KVM_SET_USER_MEMORY_REGION: {
    fd,
    slot: u64,
    flags: flags(MemslotFlag),
    guest_phys_addr: addr,
    memory_size: u64,
    userspace_addr: addr,
  },
  KVM_SET_USER_MEMORY_REGION2: {
    fd,
    slot: u64,
    flags: flags(MemslotFlag),
    guest_phys_addr: addr,
    memory_size: u64,
    userspace_addr: addr,
    guest_memfd: { kind: { t: 'fd' } },
    guest_memfd_offset: u64,
  },
  KVM_SET_MEMORY_ATTRIBUTES: { fd, address: addr, size: u64, attributes: flags(MemoryAttribute), flags: u64 },
  KVM_SET_MEMORY_ATTRIBUTES2: {
    fd,
    offset: u64,
    size: u64,
    attributes: flags(MemoryAttribute),
    flags: u64,
    reserved: { kind: { t: 'u64list' } },
    error_offset: u64,
  },
  KVM_MEMORY_ENCRYPT_OP: {
    fd,
    id: req(en(EncryptCmd)),
    flags: flags(TdxFlag),
    data: { kind: { t: 'encdata' } },
    hw_error: u64,
    error: u64,
    sev_fd: { kind: { t: 'fd' } },
  },
  KVM_RUN: { fd },
  KVM_PRE_FAULT_MEMORY: { fd, gpa: addr, size: u64, flags: u64 },
  mmap: {
    length: req(u64),
    prot: flags(Prot),
    flags: flags(MapFlag),
    fd: { kind: { t: 'fd' } },
    offset: u64,
    addr,
  },
  munmap: { addr: req(addr), length: req(u64) },
  store: { addr: req(addr), data: req({ kind: { t: 'data' } }) },
  load: { addr: req(addr), length: req(u64) },
  pin: { addr: req(addr), length: req(u64) },
  unpin: { addr: req(addr), length: req(u64) },
  read: { fd, length: u64 },
  write: { fd, data: { kind: { t: 'data' } } },
  pread: { fd, length: u64, offset: u64 },
  pwrite: { fd, data: { kind: { t: 'data' } }, offset: u64 },
  fallocate: { fd, mode: flags(FallocFlag), offset: u64, len: u64 },
  ftruncate: { fd, length: u64 },
  fstat: { fd },
  madvise: { addr: req(addr), length: req(u64), advice: req(en(Madv)) },
  close: { fd },
  attest: { fd },
  set_vcpu_reset: { fd, vmm_type: en({ QEMU: 0, ec2: 1, gce: 2, ec2_legacy: 3, svsm: 4 }), eip: u64 },
} as const satisfies Record<string, Record<string, FieldSpec>>;

export type ScenarioOpName = keyof typeof OpSpecs;
export const OpNames = Object.keys(OpSpecs) as ScenarioOpName[];

/** The struct of each KVM_MEMORY_ENCRYPT_OP sub-command: field → kind (arch/x86/include/uapi/asm/kvm.h). */
export const EncStructs: Record<number, { struct: string; fields: Record<string, FieldKind> }> = {
  [EncryptCmd.KVM_TDX_CAPABILITIES]: {
    struct: 'kvm_tdx_capabilities',
    fields: {
      supported_attrs: { t: 'u64' },
      supported_xfam: { t: 'u64' },
      reserved: { t: 'u64list' },
      cpuid: { t: 'cpuid' },
    },
  },
  [EncryptCmd.KVM_TDX_INIT_VM]: {
    struct: 'kvm_tdx_init_vm',
    fields: {
      attributes: { t: 'u64' },
      xfam: { t: 'u64' },
      mrconfigid: { t: 'u64list' },
      mrowner: { t: 'u64list' },
      mrownerconfig: { t: 'u64list' },
      reserved: { t: 'u64list' },
      cpuid: { t: 'cpuid' },
    },
  },
  [EncryptCmd.KVM_TDX_INIT_MEM_REGION]: {
    struct: 'kvm_tdx_init_mem_region',
    fields: { source_addr: { t: 'addr' }, gpa: { t: 'addr' }, nr_pages: { t: 'u64' } },
  },
  [EncryptCmd.KVM_TDX_GET_CPUID]: { struct: 'kvm_cpuid2', fields: { nent: { t: 'u64' }, entries: { t: 'cpuid' } } },
  [EncryptCmd.KVM_SEV_INIT2]: {
    struct: 'kvm_sev_init',
    fields: {
      vmsa_features: { t: 'u64' },
      flags: { t: 'u64' },
      ghcb_version: { t: 'u64' },
      pad1: { t: 'u64' },
      pad2: { t: 'u64list' },
    },
  },
  [EncryptCmd.KVM_SEV_SNP_LAUNCH_START]: {
    struct: 'kvm_sev_snp_launch_start',
    fields: {
      policy: { t: 'u64' },
      gosvw: { t: 'u64list' },
      flags: { t: 'u64' },
      pad0: { t: 'u64list' },
      pad1: { t: 'u64list' },
    },
  },
  [EncryptCmd.KVM_SEV_SNP_LAUNCH_UPDATE]: {
    struct: 'kvm_sev_snp_launch_update',
    fields: {
      gfn_start: { t: 'u64' },
      uaddr: { t: 'addr' },
      len: { t: 'u64' },
      type: { t: 'enum', table: SnpPageType },
      pad0: { t: 'u64' },
      flags: { t: 'u64' },
      pad1: { t: 'u64' },
      pad2: { t: 'u64list' },
    },
  },
  [EncryptCmd.KVM_SEV_SNP_LAUNCH_FINISH]: {
    struct: 'kvm_sev_snp_launch_finish',
    fields: {
      id_block_uaddr: { t: 'addr' },
      id_auth_uaddr: { t: 'addr' },
      id_block_en: { t: 'u64' },
      auth_key_en: { t: 'u64' },
      vcek_disabled: { t: 'u64' },
      host_data: { t: 'u64list' },
      pad0: { t: 'u64list' },
      flags: { t: 'u64' },
      pad1: { t: 'u64list' },
    },
  },
};

/** Fields of a CPUID entry (struct kvm_cpuid_entry2). */
export const CpuidFields = ['function', 'index', 'flags', 'eax', 'ebx', 'ecx', 'edx'] as const;

export const StepMetaKeys = ['as', 'expect', 'inject', 'note'] as const;
