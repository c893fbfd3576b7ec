/**
 * The host configuration: what the machine and its kernel's build offer, beside the profile (which
 * kernel source). Each field is a Kconfig option, a module parameter or the caller's credentials
 * that changes an answer, with the kernel code that reads it. Hosts are data; handlers read the
 * fields, never a host's name. A host file (`gmemsim host --json`, docs/host-format.md) becomes one
 * with hostFromFacts.
 */
import { VmType } from './uapi.ts';

export interface HostConfig {
  readonly name: string;
  readonly summary: string;
  /**
   * The vendor module: its vCPU KVM_MEMORY_ENCRYPT_OP hook (Intel: vt_vcpu_mem_enc_unlocked_ioctl,
   * EINVAL for a vCPU that is not a TD's) and where a VM-scope one goes without TDX/SEV; `model`:
   * the model's host of old, Intel and AMD at once.
   */
  readonly vendor: 'intel' | 'amd' | 'model';
  /** KVM_CAP_VM_TYPES (kvm_caps.supported_vm_types): the VM types KVM_CREATE_VM accepts */
  readonly vmTypes: number;
  /** CONFIG_KVM_GENERIC_MEMORY_ATTRIBUTES: KVM_SET_MEMORY_ATTRIBUTES and KVM_CAP_MEMORY_ATTRIBUTES */
  readonly memoryAttributes: boolean;
  /** tdp_enabled (EPT/NPT with the TDP MMU): KVM_CAP_PRE_FAULT_MEMORY, kvm_tdp_map_page */
  readonly tdp: boolean;
  /** kvm_arch_nr_memslot_as_ids: 2 with CONFIG_KVM_SMM (address space 1 is SMM), else 1 */
  readonly addressSpaces: 1 | 2;
  /** the caller has CAP_SYS_RAWIO: cap_mmap_addr lets it map below vm.mmap_min_addr */
  readonly capSysRawio: boolean;
}

const ALL_VM_TYPES = Object.values(VmType).reduce<number>((m, t) => m | (1 << t), 0);

export const HostPresets = {
  model: {
    name: 'model',
    summary: "gmemsim's host of old: every VM type, memory attributes, TDP, SMM; the caller is not privileged",
    vendor: 'model',
    vmTypes: ALL_VM_TYPES,
    memoryAttributes: true,
    tdp: true,
    addressSpaces: 2,
    capSysRawio: false,
  },
  'intel-tdx': {
    name: 'intel-tdx',
    summary: 'an Intel host with TDX: DEFAULT, SW_PROTECTED and TDX VMs, memory attributes, TDP, SMM',
    vendor: 'intel',
    vmTypes: (1 << VmType.KVM_X86_DEFAULT_VM) | (1 << VmType.KVM_X86_SW_PROTECTED_VM) | (1 << VmType.KVM_X86_TDX_VM),
    memoryAttributes: true,
    tdp: true,
    addressSpaces: 2,
    capSysRawio: false,
  },
  'amd-snp': {
    name: 'amd-snp',
    summary: 'an AMD host with SEV-SNP: DEFAULT, SW_PROTECTED, SEV, SEV-ES and SNP VMs, memory attributes, TDP, SMM',
    vendor: 'amd',
    vmTypes: ALL_VM_TYPES & ~(1 << VmType.KVM_X86_TDX_VM),
    memoryAttributes: true,
    tdp: true,
    addressSpaces: 2,
    capSysRawio: false,
  },
} as const satisfies Record<string, HostConfig>;

export type HostPresetName = keyof typeof HostPresets;
export const HostPresetNames = Object.keys(HostPresets) as HostPresetName[];
export const DEFAULT_HOST: HostConfig = HostPresets.model;

export function isHostPreset(s: string): s is HostPresetName {
  return Object.hasOwn(HostPresets, s);
}

/** The facts of a host file (docs/host-format.md `facts`, `vm_types`, `vendor`). */
export interface HostFacts {
  vendor: { cpu: string; kvm_modules: string[] };
  vm_types: { mask: number };
  facts: { memory_attributes_ioctl: boolean; tdp: boolean; address_spaces: number; cap_sys_rawio: boolean };
}

/** A host configuration from a host file's facts (a measured kernel). */
export function hostFromFacts(name: string, f: HostFacts): HostConfig {
  return {
    name,
    summary: `measured: ${name}`,
    // the vCPU hook is kvm_intel's; another vendor module (kvm_amd, kvm_pvm) has none
    vendor: f.vendor.kvm_modules.includes('kvm_intel') ? 'intel' : 'amd',
    vmTypes: f.vm_types.mask,
    memoryAttributes: f.facts.memory_attributes_ioctl,
    tdp: f.facts.tdp,
    addressSpaces: f.facts.address_spaces >= 2 ? 2 : 1,
    capSysRawio: f.facts.cap_sys_rawio,
  };
}

/** the fields a host configuration is compared on, with how a value reads */
const COMPARED: readonly [keyof HostConfig, (v: unknown) => string][] = [
  ['vendor', String],
  ['vmTypes', (v) => `0x${(v as number).toString(16)}`],
  ['memoryAttributes', (v) => (v ? 'yes' : 'no')],
  ['tdp', (v) => (v ? 'yes' : 'no')],
  ['addressSpaces', String],
  ['capSysRawio', (v) => (v ? 'yes' : 'no')],
];

/** where two host configurations differ: field, this host's value, the other's */
export function hostDifferences(h: HostConfig, other: HostConfig): { field: string; host: string; other: string }[] {
  return COMPARED.filter(([f]) => h[f] !== other[f]).map(([f, show]) => ({
    field: f,
    host: show(h[f]),
    other: show(other[f]),
  }));
}

/** the preset nearest a host (fewest differing fields; the first on a tie), with what still differs */
export function nearestPreset(h: HostConfig): {
  preset: HostPresetName;
  differences: ReturnType<typeof hostDifferences>;
} {
  let best: { preset: HostPresetName; differences: ReturnType<typeof hostDifferences> } | undefined;
  for (const name of HostPresetNames) {
    const differences = hostDifferences(h, HostPresets[name]);
    if (!best || differences.length < best.differences.length) best = { preset: name, differences };
  }
  return best!;
}
