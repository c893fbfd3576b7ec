/**
 * `gmemsim host`: what the running kernel's KVM offers, measured through the helper and read from
 * /proc and /sys. The result is a host file (docs/host-format.md), format gmemsim-host/1.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { release, version } from 'node:os';
import { Cap, VmType } from '../../core/uapi.ts';
import { Helper } from './helper.ts';
import { errnoName } from './run-live.ts';

export const HOST_FORMAT = 'gmemsim-host/1';

/** Capabilities asked on top of the model's Cap table: they decide host fields. */
export const HostCaps = {
  KVM_CAP_X86_SMM: 117,
  KVM_CAP_MULTI_ADDRESS_SPACE: 118,
} as const;

/** Module parameters that change answers the model gives (docs/host-format.md, "module_params"). */
const PARAMS_OF_INTEREST = [
  'tdp_mmu',
  'npt',
  'ept',
  'sev',
  'sev_es',
  'sev_snp',
  'tdx',
  'nested',
  'enable_virt_at_load',
];

export interface HostFile {
  format: typeof HOST_FORMAT;
  kernel: { release: string; version: string };
  kvm: { api_version: number };
  vendor: {
    /** CPU vendor from /proc/cpuinfo vendor_id: 'AMD', 'Intel' or the raw id */
    cpu: string;
    cpu_vendor_id: string;
    /** the loaded KVM vendor modules (kvm_amd, kvm_intel, or another, e.g. kvm_pvm) */
    kvm_modules: string[];
    /** hardware virtualization flags of the CPU KVM runs on (svm, vmx) */
    cpu_virt_flags: string[];
  };
  vm_types: { mask: number; names: string[] };
  /** KVM_CHECK_EXTENSION of every cap the model knows (and HostCaps), on /dev/kvm and on a VM fd */
  caps: {
    system: Record<string, number>;
    /** per VM type that KVM_CREATE_VM accepted here */
    vm: Record<string, Record<string, number>>;
  };
  guest_memfd: { supported: boolean; flags_system: number; flags_vm: Record<string, number> };
  /** the host fields that change the model's answers; each with how it was measured in `evidence` */
  facts: {
    memory_attributes_ioctl: boolean;
    sw_protected_vm: boolean;
    tdp: boolean;
    pre_fault_memory: boolean;
    address_spaces: number;
    smm: boolean;
    mmap_min_addr: number;
    cap_sys_rawio: boolean;
    tdx: boolean;
    sev: boolean;
    sev_es: boolean;
    sev_snp: boolean;
  };
  evidence: Record<string, string>;
  module_params: Record<string, Record<string, string>>;
}

const read = (p: string): string | undefined => {
  try {
    return readFileSync(p, 'utf8');
  } catch {
    return undefined;
  }
};

function cpuInfo(): { vendorId: string; flags: string[] } {
  const txt = read('/proc/cpuinfo') ?? '';
  const vendorId = /^vendor_id\s*:\s*(\S+)/m.exec(txt)?.[1] ?? 'unknown';
  const flags = (/^flags\s*:\s*(.*)$/m.exec(txt)?.[1] ?? '').split(/\s+/);
  return { vendorId, flags };
}

function moduleParams(): Record<string, Record<string, string>> {
  const out: Record<string, Record<string, string>> = {};
  let mods: string[] = [];
  try {
    mods = readdirSync('/sys/module').filter((m) => m === 'kvm' || m.startsWith('kvm_'));
  } catch {
    return out;
  }
  for (const m of mods.sort()) {
    const dir = `/sys/module/${m}/parameters`;
    if (!existsSync(dir)) {
      out[m] = {};
      continue;
    }
    const ps: Record<string, string> = {};
    for (const p of readdirSync(dir).sort()) {
      const v = read(`${dir}/${p}`);
      if (v !== undefined) ps[p] = v.trim();
    }
    out[m] = ps;
  }
  return out;
}

/** CAP_SYS_RAWIO (bit 17) in the effective set of this process (the helper's parent, same creds). */
function capSysRawio(): boolean {
  const m = /^CapEff:\s*([0-9a-f]+)/m.exec(read('/proc/self/status') ?? '');
  return m ? ((BigInt(`0x${m[1]}`) >> 17n) & 1n) === 1n : false;
}

const yes = (v: string | undefined) => v !== undefined && /^(Y|y|1)$/.test(v);

export async function probeHost(h?: Helper): Promise<HostFile> {
  const helper = h ?? (await Helper.start());
  try {
    const kvm = helper.kvmFd;
    const ask = async (req: string) => helper.call(req);
    const api = await ask(`api_version ${kvm}`);
    const allCaps: Record<string, number> = { ...Cap, ...HostCaps };
    const capNames = Object.keys(allCaps).sort((a, b) => allCaps[a]! - allCaps[b]!);
    const system: Record<string, number> = {};
    for (const n of capNames) system[n] = Number((await ask(`check_extension ${kvm} ${allCaps[n]}`)).ret);
    const mask = system.KVM_CAP_VM_TYPES ?? 0;
    const names = Object.entries(VmType)
      .filter(([, v]) => (mask >> v) & 1)
      .map(([k]) => k);
    const vmCaps: Record<string, Record<string, number>> = {};
    const flagsVm: Record<string, number> = {};
    let memAttrIoctl = false;
    let memAttrErrno = 0;
    let preFaultErrno: number | undefined;
    for (const [name, t] of Object.entries(VmType)) {
      if (!((mask >> t) & 1)) continue;
      const vm = await ask(`create_vm ${kvm} ${t}`);
      if (vm.ret < 0n) continue;
      const caps: Record<string, number> = {};
      for (const n of capNames) caps[n] = Number((await ask(`check_extension ${vm.ret} ${allCaps[n]}`)).ret);
      vmCaps[name] = caps;
      flagsVm[name] = caps.KVM_CAP_GUEST_MEMFD_FLAGS ?? 0;
      if (t === VmType.KVM_X86_DEFAULT_VM) {
        // ENOTTY probe: attributes 0 over an empty range; with the ioctl present, size 0 is EINVAL
        const r = await ask(`set_attributes ${vm.ret} 0 0 0 0`);
        memAttrErrno = r.errno;
        memAttrIoctl = r.errno !== 25;
        // a valid pre-fault of a GPA without a memslot (ENOENT with TDP; recorded as the host answers:
        // 6.18 with kvm_pvm says ENOSPC here, EOPNOTSUPP once a memslot exists)
        const vcpu = await ask(`create_vcpu ${vm.ret} 0`);
        if (vcpu.ret >= 0n) {
          preFaultErrno = (await ask(`pre_fault ${vcpu.ret} 0 4096 0`)).errno;
          await ask(`close ${vcpu.ret}`);
        }
      }
      await ask(`close ${vm.ret}`);
    }
    const params = moduleParams();
    const cpu = cpuInfo();
    const vendorModules = Object.keys(params).filter((m) => m !== 'kvm');
    const p = (m: string, k: string) => params[m]?.[k];
    const mmapMin = Number((read('/proc/sys/vm/mmap_min_addr') ?? '0').trim());
    const tdp = system.KVM_CAP_PRE_FAULT_MEMORY === 1;
    const facts: HostFile['facts'] = {
      memory_attributes_ioctl: memAttrIoctl,
      sw_protected_vm: ((mask >> VmType.KVM_X86_SW_PROTECTED_VM) & 1) === 1,
      tdp,
      pre_fault_memory: system.KVM_CAP_PRE_FAULT_MEMORY === 1,
      address_spaces: system.KVM_CAP_MULTI_ADDRESS_SPACE || 1,
      smm: (system.KVM_CAP_X86_SMM ?? 0) !== 0,
      mmap_min_addr: mmapMin,
      cap_sys_rawio: capSysRawio(),
      tdx: ((mask >> VmType.KVM_X86_TDX_VM) & 1) === 1 || yes(p('kvm_intel', 'tdx')),
      sev: ((mask >> VmType.KVM_X86_SEV_VM) & 1) === 1 || yes(p('kvm_amd', 'sev')),
      sev_es: ((mask >> VmType.KVM_X86_SEV_ES_VM) & 1) === 1 || yes(p('kvm_amd', 'sev_es')),
      sev_snp: ((mask >> VmType.KVM_X86_SNP_VM) & 1) === 1 || yes(p('kvm_amd', 'sev_snp')),
    };
    const evidence: Record<string, string> = {
      memory_attributes_ioctl: `KVM_SET_MEMORY_ATTRIBUTES {0,0,0,0} on a DEFAULT VM: errno ${memAttrErrno}${memAttrErrno === 25 ? ' (ENOTTY: not compiled in)' : ''}`,
      sw_protected_vm: `KVM_CAP_VM_TYPES = 0x${mask.toString(16)}, bit 1`,
      tdp: `KVM_CAP_PRE_FAULT_MEMORY = ${system.KVM_CAP_PRE_FAULT_MEMORY} (x86 reports tdp_enabled)${
        p('kvm_amd', 'npt') !== undefined ? `; kvm_amd.npt=${p('kvm_amd', 'npt')}` : ''
      }${p('kvm_intel', 'ept') !== undefined ? `; kvm_intel.ept=${p('kvm_intel', 'ept')}` : ''}${
        p('kvm', 'tdp_mmu') !== undefined ? `; kvm.tdp_mmu=${p('kvm', 'tdp_mmu')}` : ''
      }`,
      pre_fault_memory: `KVM_CAP_PRE_FAULT_MEMORY = ${system.KVM_CAP_PRE_FAULT_MEMORY}${
        preFaultErrno === undefined
          ? ''
          : `; a pre-fault of an unbacked GPA on a DEFAULT VM's vCPU: ${preFaultErrno ? errnoName(preFaultErrno) : 'ok'}`
      }`,
      address_spaces: `KVM_CAP_MULTI_ADDRESS_SPACE = ${system.KVM_CAP_MULTI_ADDRESS_SPACE} (0: the cap is absent, one address space)`,
      smm: `KVM_CAP_X86_SMM = ${system.KVM_CAP_X86_SMM}`,
      mmap_min_addr: '/proc/sys/vm/mmap_min_addr',
      cap_sys_rawio: 'CapEff bit 17 in /proc/self/status',
      tdx: `KVM_CAP_VM_TYPES bit 5; kvm_intel.tdx=${p('kvm_intel', 'tdx') ?? '(no kvm_intel)'}`,
      sev: `KVM_CAP_VM_TYPES bit 2; kvm_amd.sev=${p('kvm_amd', 'sev') ?? '(no kvm_amd)'}`,
      sev_es: `KVM_CAP_VM_TYPES bit 3; kvm_amd.sev_es=${p('kvm_amd', 'sev_es') ?? '(no kvm_amd)'}`,
      sev_snp: `KVM_CAP_VM_TYPES bit 4; kvm_amd.sev_snp=${p('kvm_amd', 'sev_snp') ?? '(no kvm_amd)'}`,
    };
    const interesting: Record<string, Record<string, string>> = {};
    for (const [m, ps] of Object.entries(params)) {
      const keep: Record<string, string> = {};
      for (const [k, v] of Object.entries(ps)) if (PARAMS_OF_INTEREST.includes(k)) keep[k] = v;
      interesting[m] = keep;
    }
    return {
      format: HOST_FORMAT,
      kernel: { release: release(), version: version() },
      kvm: { api_version: Number(api.ret) },
      vendor: {
        cpu: cpu.vendorId === 'AuthenticAMD' ? 'AMD' : cpu.vendorId === 'GenuineIntel' ? 'Intel' : cpu.vendorId,
        cpu_vendor_id: cpu.vendorId,
        kvm_modules: vendorModules,
        cpu_virt_flags: cpu.flags.filter((f) => f === 'svm' || f === 'vmx'),
      },
      vm_types: { mask, names },
      caps: { system, vm: vmCaps },
      guest_memfd: {
        supported: (system.KVM_CAP_GUEST_MEMFD ?? 0) !== 0,
        flags_system: system.KVM_CAP_GUEST_MEMFD_FLAGS ?? 0,
        flags_vm: flagsVm,
      },
      facts,
      evidence,
      module_params: interesting,
    };
  } finally {
    if (!h) helper.kill();
  }
}
