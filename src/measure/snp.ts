/**
 * The KVM sequence QEMU (or the cloud VMM named by the VMM type) issues to launch an SEV-SNP guest
 * on an OVMF firmware, written as a gmemsim/1 scenario (measurement.md §2.2 "QEMU (-bios) order";
 * qemu target/i386/sev.c sev_snp_launch_start, snp_launch_update_data, snp_populate_metadata_pages,
 * sev_snp_launch_finish). `gmemsim measure snp` runs it through the model and reads the launch
 * digest from its `attest` step: the measurement comes from the population sequence the model
 * accepts, not from a separate calculator. The inputs are sev-snp-measure's (v0.0.13), with the same
 * meaning. The steps are what loadScenario would return for the scenario file `--emit-scenario`
 * writes (src/scenario/emit.ts), so no YAML is parsed on the way. No I/O: images arrive as bytes,
 * hashing goes through the scenario runner's host port.
 */

import type { Sha384Factory } from '../core/ports.ts';
import { INITIAL_VMSA_GPA, Psp, SNP_PAGE_TYPE } from '../core/snp/psp.ts';
import { SUPPORTED_VMSA_FEATURES } from '../core/snp/state.ts';
import { BSP_RESET_EIP, buildVmsa, cpuSignature } from '../core/snp/vmsa.ts';
import { EncryptCmd, Prot, SnpPageType, VmType } from '../core/uapi.ts';
import { cpuidEntry, expectOk, fileData, hexData, int, ref, ScenarioBuilder } from '../scenario/build.ts';
import type { Scenario } from '../scenario/load.ts';
import { type Host, type RunResult, runScenario } from '../scenario/run.ts';
import type { Expr } from '../scenario/schema.ts';
import { fromHex, hex0x as hex, toHex } from '../util/hex.ts';
import { addGuestMemory } from './guest-memory.ts';
import { FirmwareError } from './ovmf.ts';
import { launchRefusal } from './refusal.ts';
import { cmdlineBytes, SEV_HASH_TABLE_PADDED_LEN, sevHashTable } from './sevhashes.ts';
import {
  describeSevSection,
  parseSevFirmware,
  type SevFirmware,
  type SevSection,
  sevEsResetEip,
  sevHashTableGpa,
  svsmEntryOffset,
} from './sevmeta.ts';

export const SnpModes = ['snp', 'snp:ovmf-hash', 'snp:svsm'] as const;
export type SnpMode = (typeof SnpModes)[number];
/**
 * sev-snp-measure's VMM types, and ec2_legacy (a gmemsim extension): ec2 as sev-snp-measure before
 * v0.0.13 and sev-snp-measure-go build its VMSA, with RDX 0 instead of 0x600.
 */
export const SnpVmmTypes = ['QEMU', 'ec2', 'gce', 'ec2_legacy'] as const;
export type SnpVmmType = (typeof SnpVmmTypes)[number];
export type SnpPageTypeName = 'NORMAL' | 'ZERO' | 'UNMEASURED' | 'SECRETS' | 'CPUID' | 'VMSA';

/** The -cpu models of QEMU's builtin_x86_defs that sev-snp-measure --vcpu-type names. */
export const CPU_SIGS: Record<string, number> = {
  EPYC: cpuSignature(23, 1, 2),
  'EPYC-v1': cpuSignature(23, 1, 2),
  'EPYC-v2': cpuSignature(23, 1, 2),
  'EPYC-IBPB': cpuSignature(23, 1, 2),
  'EPYC-v3': cpuSignature(23, 1, 2),
  'EPYC-v4': cpuSignature(23, 1, 2),
  'EPYC-Rome': cpuSignature(23, 49, 0),
  'EPYC-Rome-v1': cpuSignature(23, 49, 0),
  'EPYC-Rome-v2': cpuSignature(23, 49, 0),
  'EPYC-Rome-v3': cpuSignature(23, 49, 0),
  'EPYC-Milan': cpuSignature(25, 1, 1),
  'EPYC-Milan-v1': cpuSignature(25, 1, 1),
  'EPYC-Milan-v2': cpuSignature(25, 1, 1),
  'EPYC-Genoa': cpuSignature(25, 17, 0),
  'EPYC-Genoa-v1': cpuSignature(25, 17, 0),
  'EPYC-Turin': cpuSignature(26, 0, 0),
};

export interface SnpImage {
  bytes: Uint8Array;
  /** the image as the scenario's `{ file: ... }` data names it (relative to the scenario file) */
  file: string;
  /** one line about the image for the description (name, size, sha256) */
  about?: string;
}

export interface SnpKernelInputs {
  kernel: Uint8Array;
  initrd?: Uint8Array;
  append?: string;
}

export interface SnpLaunchInputs {
  mode: SnpMode;
  ovmf: SnpImage;
  /** snp:svsm: the Coconut SVSM image and the OVMF_VARS size between it and the firmware */
  svsm?: SnpImage;
  varsSize?: number;
  /** vCPUs (BSP first); ignored by snp:ovmf-hash, which finishes the launch with none */
  vcpus: number;
  /** CPUID 1 EAX of every vCPU; sev-snp-measure lets ec2 and gce omit it (their VMSA does not carry it) */
  vcpuSig?: number | undefined;
  vmmType: SnpVmmType;
  /** sev_features of the VMSAs (bit 0 SNPActive is KVM's; the rest is KVM_SEV_INIT2 vmsa_features) */
  guestFeatures: bigint;
  /** --snp-ovmf-hash: 96 hex digits, the launch digest after the firmware's pages (they are not added) */
  ovmfHash?: string;
  /** measured direct boot: the SEV hash table goes into the SNP_KERNEL_HASHES page */
  kernel?: SnpKernelInputs | undefined;
}

/** One call of the sequence that adds pages to the launch digest. */
export interface SnpCall {
  /** index of its step in the scenario */
  step: number;
  call: 'KVM_SEV_SNP_LAUNCH_UPDATE' | 'KVM_SEV_SNP_LAUNCH_FINISH';
  /** what the pages are: 'OVMF image', 'SVSM image', 'OVMF SEV metadata section 2 (SNP_SECRETS)', 'VMSA' */
  what: string;
  type: SnpPageTypeName;
  gpa: bigint;
  pages: number;
}

export interface SnpLaunchPlan {
  /** the launch as scenario steps (its data files: the images, under their `file` names) */
  scenario: Scenario;
  /** comment lines of the scenario file, by step index (emitScenario's `comments`) */
  comments: Map<number, string[]>;
  calls: SnpCall[];
  /** index of the attest step */
  attestStep: number;
  vcpus: number;
  /** VMSA sev_features (KVM: vmsa_features | SNPActive) */
  sevFeatures: bigint;
  /** the reset EIPs: BSP first */
  eips: number[];
  /** metadata sections that get no call (size 0) */
  skipped: SevSection[];
}

/**
 * Inputs the launch cannot be built from, or a launch the model refuses. `source` says which input
 * is to blame: an image (its path prefixes the message on the command line), or the options and the
 * resulting launch.
 */
export class SnpLaunchError extends FirmwareError {
  readonly source: 'ovmf' | 'svsm' | 'launch';
  constructor(message: string, source: 'ovmf' | 'svsm' | 'launch') {
    super(message);
    this.source = source;
  }
}

/** run `f`, tagging a FirmwareError as coming from `source` */
function blame<T>(source: 'ovmf' | 'svsm', f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof FirmwareError && !(e instanceof SnpLaunchError)) throw new SnpLaunchError(e.message, source);
    throw e;
  }
}
function refuse(message: string): never {
  throw new SnpLaunchError(message, 'launch');
}

const PAGE = 4096;
const FOUR_GIB = 2 ** 32;
/** QEMU's default sev-snp-guest policy: SMT allowed, bit 17 reserved-must-be-one */
export const SNP_POLICY = 0x30000n;

const q = (s: string) => JSON.stringify(s);

interface Region {
  gpa: number;
  size: number;
}

/** Page-aligned GPA ranges covering every populated range, overlapping or adjacent ones merged. */
function mergeRanges(rs: Region[]): Region[] {
  const sorted = rs.filter((r) => r.size > 0).sort((a, b) => a.gpa - b.gpa);
  const out: { gpa: number; end: number }[] = [];
  for (const r of sorted) {
    const last = out.at(-1);
    if (!last || r.gpa > last.end) out.push({ gpa: r.gpa, end: r.gpa + r.size });
    else if (r.gpa + r.size > last.end) last.end = r.gpa + r.size;
  }
  return out.map((r) => ({ gpa: r.gpa, size: r.end - r.gpa }));
}

/** One SNP_LAUNCH_UPDATE to be issued. */
interface Update {
  what: string;
  type: Exclude<SnpPageTypeName, 'VMSA'>;
  gpa: number;
  size: number;
  note?: string;
}

/** Everything the sequence needs, checked: what sev-snp-measure (or QEMU, or KVM up front) refuses is a FirmwareError. */
interface Layout {
  ovmf: SevFirmware;
  ovmfGpa: number;
  svsm?: { fw: SevFirmware; gpa: number; entry: number };
  /** the firmware pages are added (not replaced by --snp-ovmf-hash) */
  addFirmware: boolean;
  updates: Update[];
  skipped: SevSection[];
  /** the SEV hash table and the GPA it is written at */
  hashTable?: { bytes: Uint8Array; gpa: number; about: string };
  vcpus: number;
  eips: number[];
  vmm: SnpVmmType | 'svsm';
  vmsaFeatures: bigint;
}

/** sev-snp-measure's page type for a metadata section (guest.py snp_update_section). */
function sectionUpdate(fw: SevFirmware, s: SevSection, vmm: SnpVmmType, kernelHashes: boolean): Update {
  const what = describeSevSection(fw, s);
  switch (s.type) {
    case 'SNP_SEC_MEM':
      return { what, type: vmm === 'gce' ? 'UNMEASURED' : 'ZERO', gpa: s.gpa, size: s.size };
    case 'SNP_SECRETS':
    case 'CPUID': {
      // one page at the base, whatever the size says (sev-snp-measure update_secrets_page / update_cpuid_page)
      const note = s.size !== PAGE ? `the section says ${hex(s.size)} bytes; one page is added` : undefined;
      return {
        what,
        type: s.type === 'CPUID' ? 'CPUID' : 'SECRETS',
        gpa: s.gpa,
        size: PAGE,
        ...(note ? { note } : {}),
      };
    }
    case 'SNP_KERNEL_HASHES':
      return { what, type: kernelHashes ? 'NORMAL' : 'ZERO', gpa: s.gpa, size: s.size };
    case 'SVSM_CAA':
      return { what, type: 'ZERO', gpa: s.gpa, size: s.size };
  }
}

function metadataUpdates(fw: SevFirmware, vmm: SnpVmmType, kernelHashes: boolean, skipped: SevSection[]): Update[] {
  const out: Update[] = [];
  const cpuid: Update[] = [];
  for (const s of fw.sections) {
    const u = sectionUpdate(fw, s, vmm, kernelHashes);
    if (u.size === 0) {
      skipped.push(s);
      continue;
    }
    // ec2 adds the CPUID page(s) after every other metadata page
    if ((vmm === 'ec2' || vmm === 'ec2_legacy') && s.type === 'CPUID') cpuid.push(u);
    else out.push(u);
  }
  return [...out, ...cpuid];
}

function layout(inp: SnpLaunchInputs, sha256: (b: Uint8Array) => Uint8Array): Layout {
  const ovmf = blame('ovmf', () => parseSevFirmware(inp.ovmf.bytes, 'OVMF'));
  const ovmfGpa = FOUR_GIB - ovmf.size;
  const skipped: SevSection[] = [];
  const base = { ovmf, ovmfGpa, skipped };
  if (inp.mode === 'snp:ovmf-hash')
    return {
      ...base,
      addFirmware: true,
      updates: [],
      vcpus: 0,
      eips: [],
      vmm: 'QEMU',
      vmsaFeatures: 0n,
    };

  if (inp.mode === 'snp:svsm') {
    if (!inp.svsm) return refuse('snp:svsm mode requires the SVSM image (--svsm)');
    if (inp.vmmType !== 'QEMU') refuse(`SVSM mode is only implemented for QEMU, not ${inp.vmmType}`);
    if (inp.ovmfHash) refuse('SNP OVMF hash only works with SNP (--snp-ovmf-hash needs --mode snp)');
    if (inp.kernel) refuse('snp:svsm mode measures no kernel hashes: --kernel would be ignored');
    const svsmImage = inp.svsm;
    const fw = blame('svsm', () => parseSevFirmware(svsmImage.bytes, 'SVSM'));
    const varsSize = inp.varsSize ?? 0;
    const endAt = ovmfGpa - varsSize;
    const gpa = endAt - fw.size;
    if (gpa < 0)
      refuse(
        `the ${hex(fw.size)}-byte SVSM image does not fit below ${hex(endAt)} (OVMF at ${hex(ovmfGpa)} less the ${hex(varsSize)}-byte variable store)`,
      );
    if (gpa % PAGE !== 0)
      refuse(
        `the SVSM image would start at GPA ${hex(gpa)} (OVMF at ${hex(ovmfGpa)}, vars size ${hex(varsSize)}), which is not 4 KiB aligned`,
      );
    const entry = gpa + blame('svsm', () => svsmEntryOffset(fw));
    if (entry >= FOUR_GIB)
      throw new SnpLaunchError(`the SVSM entry ${hex(entry)} is beyond 4 GiB (entry offset too large)`, 'svsm');
    const vcpus = inp.vcpus;
    return {
      ...base,
      svsm: { fw, gpa, entry },
      addFirmware: true,
      // the SVSM's own metadata, as QEMU adds it for a guest that boots the SVSM (not the firmware's)
      updates: metadataUpdates(fw, 'QEMU', false, skipped),
      vcpus,
      eips: Array.from({ length: vcpus }, () => entry),
      vmm: 'svsm',
      vmsaFeatures: 0n,
    };
  }

  // snp
  if (inp.ovmfHash !== undefined && !/^[0-9a-fA-F]{96}$/.test(inp.ovmfHash))
    refuse(`--snp-ovmf-hash ${inp.ovmfHash}: a launch digest is 96 hex digits`);
  const resetEip = blame('ovmf', () => sevEsResetEip(ovmf));
  if (inp.vcpus > 1 && resetEip === 0)
    throw new SnpLaunchError(`the OVMF SEV-ES reset block gives AP reset EIP 0: ${inp.vcpus} vCPUs need one`, 'ovmf');
  let hashTable: Layout['hashTable'];
  if (inp.kernel) {
    const ks = ovmf.sections.find((s) => s.type === 'SNP_KERNEL_HASHES');
    if (!ks)
      throw new SnpLaunchError("Kernel specified but OVMF metadata doesn't include SNP_KERNEL_HASHES section", 'ovmf');
    if (ks.size !== PAGE)
      throw new SnpLaunchError(
        `${describeSevSection(ovmf, ks)}: size ${hex(ks.size)}, but the SEV hash table page is one 4 KiB page`,
        'ovmf',
      );
    const tableGpa = blame('ovmf', () => sevHashTableGpa(ovmf));
    const inPage = tableGpa & (PAGE - 1);
    if (inPage + SEV_HASH_TABLE_PADDED_LEN > PAGE)
      throw new SnpLaunchError(
        `the SEV hash table at ${hex(tableGpa)} (page offset ${hex(inPage)}) does not fit in its page with its ${SEV_HASH_TABLE_PADDED_LEN} bytes`,
        'ovmf',
      );
    const k = inp.kernel;
    const h = {
      kernel: sha256(k.kernel),
      initrd: sha256(k.initrd ?? new Uint8Array(0)),
      cmdline: sha256(cmdlineBytes(k.append)),
    };
    hashTable = {
      bytes: sevHashTable(h),
      gpa: ks.gpa + inPage,
      about: `kernel sha256 ${toHex(h.kernel)}, initrd sha256 ${toHex(h.initrd)}, cmdline ${q(k.append ?? '')} + NUL sha256 ${toHex(h.cmdline)}`,
    };
  }
  return {
    ...base,
    addFirmware: inp.ovmfHash === undefined,
    updates: metadataUpdates(ovmf, inp.vmmType, Boolean(inp.kernel), skipped),
    ...(hashTable ? { hashTable } : {}),
    vcpus: inp.vcpus,
    eips: Array.from({ length: inp.vcpus }, (_, i) => (i === 0 ? BSP_RESET_EIP : resetEip)),
    vmm: inp.vmmType,
    vmsaFeatures: inp.guestFeatures & ~1n,
  };
}

export interface SnpScenarioOptions {
  /** the launch digest the attest step expects (emitted scenarios) */
  measurement?: string;
}

/** The scenario steps and their call records, from checked inputs. */
export function snpLaunchScenario(
  inp: SnpLaunchInputs,
  sha256: (b: Uint8Array) => Uint8Array,
  opts: SnpScenarioOptions = {},
): SnpLaunchPlan {
  const L = layout(inp, sha256);
  const b = new ScenarioBuilder();
  const add = b.add.bind(b);
  const vm = ref('vm');
  const ENC = (id: keyof typeof EncryptCmd) => BigInt(EncryptCmd[id]);
  const _PROT_RW = Prot.PROT_READ | Prot.PROT_WRITE;

  // the private memory every update lands in
  const populated: Region[] = [];
  if (L.addFirmware) populated.push({ gpa: L.ovmfGpa, size: L.ovmf.size });
  if (L.svsm) populated.push({ gpa: L.svsm.gpa, size: L.svsm.fw.size });
  for (const u of L.updates) populated.push({ gpa: u.gpa, size: u.size });
  const regions = mergeRanges(populated);
  /** the host address of a GPA: the memslot's shared backing (QEMU's RAM block hva) */
  const hva = (gpa: number, plus = 0): Expr => {
    const i = regions.findIndex((r) => gpa >= r.gpa && gpa < r.gpa + r.size);
    if (i < 0) throw new Error(`Model invariant violated: GPA ${hex(gpa)} outside the guest memory`);
    return ref(`ram${i}`, gpa - regions[i]!.gpa + plus);
  };

  const ovmfName = inp.ovmf.file.split('/').at(-1);
  const modeText =
    inp.mode === 'snp:ovmf-hash'
      ? 'the launch digest after the firmware pages (snp:ovmf-hash)'
      : inp.mode === 'snp:svsm'
        ? `${L.vcpus} vCPUs booting the Coconut SVSM (snp:svsm)`
        : `${L.vcpus} vCPU${L.vcpus === 1 ? '' : 's'}, vmm ${inp.vmmType}, guest features ${hex(inp.guestFeatures)}${inp.kernel ? ', kernel hashes' : ''}${inp.ovmfHash ? ', seeded with the OVMF hash' : ''}`;
  const desc: string[] = [
    'Generated by `gmemsim measure snp`. The KVM calls that launch an SEV-SNP guest on this firmware',
    '(qemu target/i386/sev.c: KVM_SEV_INIT2, SNP_LAUNCH_START, then at sev_snp_launch_finish every queued',
    'SNP_LAUNCH_UPDATE in order, the vCPU register state, and SNP_LAUNCH_FINISH, which measures one VMSA',
    'per vCPU). Each update reads its source from the shared backing of its memslot, as QEMU passes its',
    'RAM block address.',
  ];
  if (inp.mode === 'snp:ovmf-hash')
    desc.push(
      'Only the firmware image is added (NORMAL pages at 4 GiB minus its size), and the launch is finished',
      'with no vCPUs: no VMSA is measured, so the attested digest is the running digest after the firmware',
      'pages, which sev-snp-measure --mode snp:ovmf-hash prints and --snp-ovmf-hash takes.',
    );
  else if (inp.mode === 'snp:svsm')
    desc.push(
      'snp:svsm (coconut QEMU): the firmware as NORMAL pages, the SVSM image as NORMAL pages ending at the',
      `firmware GPA less the ${hex(inp.varsSize ?? 0)}-byte variable store, the SVSM's own SEV metadata pages,`,
      `then one SVSM VMSA per vCPU (64-bit, RIP = SVSM entry ${hex(L.svsm!.entry)}).`,
    );
  else {
    desc.push(
      L.addFirmware
        ? 'The firmware image as NORMAL pages (GPA 4 GiB minus its size), then the OVMF SEV metadata pages in'
        : "SNP_LAUNCH_START starts from the given digest of the firmware's pages (inject snp_digest_seed, as",
    );
    if (!L.addFirmware) desc.push('sev-snp-measure --snp-ovmf-hash); then the OVMF SEV metadata pages in');
    desc.push(
      `table order${inp.vmmType.startsWith('ec2') ? ' (ec2: CPUID pages last)' : ''}${inp.vmmType === 'gce' ? ' (gce: SNP_SEC_MEM as UNMEASURED)' : ''}: SNP_SEC_MEM ZERO, SNP_SECRETS SECRETS, CPUID CPUID, SVSM_CAA ZERO,`,
      `SNP_KERNEL_HASHES ${inp.kernel ? 'NORMAL holding the SEV hash table' : 'ZERO (no kernel)'}. The CPUID page is left zero: its`,
      'contents are not measured. BSP reset EIP 0xfffffff0, APs the SEV-ES reset block EIP.',
    );
  }
  if (L.skipped.length)
    desc.push(`Metadata sections of size 0 get no call: ${L.skipped.map((s) => `${s.index} (${s.type})`).join(', ')}.`);
  if (L.hashTable) desc.push(`Kernel hashes: ${L.hashTable.about}.`);
  if (inp.ovmf.about) desc.push(`Firmware: ${inp.ovmf.about}`);
  if (inp.svsm?.about && inp.mode === 'snp:svsm') desc.push(`SVSM: ${inp.svsm.about}`);

  // sev_common_kvm_init: the VM, KVM_SEV_INIT2, SNP_LAUNCH_START
  add('KVM_CREATE_VM', { type: BigInt(VmType.KVM_X86_SNP_VM) }, { as: 'vm', expect: expectOk() });
  add(
    'KVM_MEMORY_ENCRYPT_OP',
    { fd: vm, id: ENC('KVM_SEV_INIT2'), data: { vmsa_features: L.vmsaFeatures } },
    {
      expect: expectOk(),
      note:
        L.vmm === 'svsm'
          ? 'the SVSM VMSAs have sev_features 0x1 (SNPActive only)'
          : `VMSA sev_features = vmsa_features | SNPActive = ${hex(L.vmsaFeatures | 1n)}`,
    },
  );
  add(
    'KVM_MEMORY_ENCRYPT_OP',
    { fd: vm, id: ENC('KVM_SEV_SNP_LAUNCH_START'), data: { policy: SNP_POLICY }, sev_fd: ref('sev') },
    {
      expect: expectOk(),
      ...(L.addFirmware || !inp.ovmfHash
        ? {}
        : {
            inject: { snp_digest_seed: inp.ovmfHash.toLowerCase() },
            note: "the launch digest starts from the firmware pages' digest (--snp-ovmf-hash): they are not added again",
          }),
    },
  );

  // the vCPUs with their CPUID signature
  const sig = inp.vcpuSig;
  for (let i = 0; i < L.vcpus; i++) {
    add('KVM_CREATE_VCPU', { fd: vm, id: BigInt(i) }, { as: `vcpu${i}`, expect: expectOk() });
    add(
      'KVM_SET_CPUID2',
      { fd: ref(`vcpu${i}`), entries: [cpuidEntry({ function: 1n, eax: BigInt(sig ?? 0) })] },
      {
        expect: expectOk(),
        ...(i === 0
          ? {
              note:
                sig === undefined
                  ? `no vCPU signature given: CPUID 1 EAX 0 (the ${inp.vmmType} VMSA does not carry it)`
                  : `CPUID 1 EAX: the vCPU signature, which the VMSA carries in RDX`,
            }
          : {}),
      },
    );
  }

  // guest memory: guest_memfd with a shared backing, private from the start
  b.comment('guest memory covering every page the launch adds: guest_memfd, shared backing, memslot, private');
  addGuestMemory(b, vm, regions);

  // what QEMU writes into the RAM blocks before the launch finishes
  const files = new Map<string, Uint8Array>();
  if (L.addFirmware || L.svsm || L.hashTable) b.comment('the images and the hash table in the shared backing');
  if (L.addFirmware) {
    files.set(inp.ovmf.file, inp.ovmf.bytes);
    add(
      'store',
      { addr: hva(L.ovmfGpa), data: fileData(inp.ovmf.file, 0, L.ovmf.size) },
      { expect: { ret: int(L.ovmf.size) }, note: `the firmware at GPA ${hex(L.ovmfGpa)}` },
    );
  }
  if (L.svsm && inp.svsm) {
    files.set(inp.svsm.file, inp.svsm.bytes);
    add(
      'store',
      { addr: hva(L.svsm.gpa), data: fileData(inp.svsm.file, 0, L.svsm.fw.size) },
      { expect: { ret: int(L.svsm.fw.size) }, note: `the SVSM at GPA ${hex(L.svsm.gpa)}` },
    );
  }
  if (L.hashTable) {
    const h = Array.from(L.hashTable.bytes, (x) => x.toString(16).padStart(2, '0')).join('');
    add(
      'store',
      { addr: hva(L.hashTable.gpa), data: hexData(h) },
      {
        expect: { ret: int(L.hashTable.bytes.length) },
        note: `the SEV hash table at GPA ${hex(L.hashTable.gpa)} (cmdline, initrd, kernel SHA-256)`,
      },
    );
  }

  const calls: SnpCall[] = [];
  const update = (u: Update) => {
    const end = u.gpa + u.size;
    // ZERO pages never advance uaddr (KVM ignores it for them)
    const after: Record<string, Expr> = u.type === 'ZERO' ? {} : { uaddr: hva(u.gpa, u.size) };
    const step = add(
      'KVM_MEMORY_ENCRYPT_OP',
      {
        fd: vm,
        id: ENC('KVM_SEV_SNP_LAUNCH_UPDATE'),
        data: {
          gfn_start: BigInt(u.gpa / PAGE),
          uaddr: hva(u.gpa),
          len: BigInt(u.size),
          type: BigInt(SnpPageType[`KVM_SEV_SNP_PAGE_TYPE_${u.type}`]),
        },
      },
      {
        expect: { ret: int(0), data: { gfn_start: int(end / PAGE), ...after, len: int(0) } },
        note: `${u.what}${u.note ? `: ${u.note}` : ''}`,
      },
    );
    calls.push({
      step,
      call: 'KVM_SEV_SNP_LAUNCH_UPDATE',
      what: u.what,
      type: u.type,
      gpa: BigInt(u.gpa),
      pages: u.size / PAGE,
    });
  };

  b.comment('sev_snp_launch_finish: every queued SNP_LAUNCH_UPDATE, in the order QEMU queued it');
  if (L.addFirmware) update({ what: 'OVMF image', type: 'NORMAL', gpa: L.ovmfGpa, size: L.ovmf.size });
  if (L.svsm) update({ what: 'SVSM image', type: 'NORMAL', gpa: L.svsm.gpa, size: L.svsm.fw.size });
  for (const u of L.updates) update(u);

  // cpu_synchronize_all_post_init: the register state KVM syncs into each VMSA
  if (L.vcpus) b.comment("the vCPUs' reset state, which SNP_LAUNCH_FINISH syncs into their VMSAs");
  const VMM_TYPE = { QEMU: 0n, ec2: 1n, gce: 2n, ec2_legacy: 3n, svsm: 4n } as const;
  for (let i = 0; i < L.vcpus; i++) {
    add(
      'set_vcpu_reset',
      { fd: ref(`vcpu${i}`), vmm_type: VMM_TYPE[L.vmm], eip: BigInt(L.eips[i]!) },
      { expect: expectOk() },
    );
  }
  const finish = add(
    'KVM_MEMORY_ENCRYPT_OP',
    { fd: vm, id: ENC('KVM_SEV_SNP_LAUNCH_FINISH') },
    {
      expect: expectOk(),
      note: L.vcpus ? `${L.vcpus} VMSA${L.vcpus === 1 ? '' : 's'}, vCPU order` : 'no vCPUs: no VMSA is measured',
    },
  );
  calls.push({
    step: finish,
    call: 'KVM_SEV_SNP_LAUNCH_FINISH',
    what: 'VMSA',
    type: 'VMSA',
    gpa: INITIAL_VMSA_GPA,
    pages: L.vcpus,
  });
  const attestStep = add(
    'attest',
    { fd: vm },
    opts.measurement ? { expect: { measurement: opts.measurement.toLowerCase() } } : {},
  );
  const scenario = b.scenario({
    file: GENERATED_SNP_SCENARIO,
    name: `SEV-SNP launch on ${ovmfName}: ${modeText}`,
    description: `${desc.join('\n')}\n`,
    kernel: { profile: 'kvm-x86' },
    files,
  });
  return {
    scenario,
    comments: b.comments,
    calls,
    attestStep,
    vcpus: L.vcpus,
    sevFeatures: L.vmsaFeatures | 1n,
    eips: L.eips,
    skipped: L.skipped,
  };
}

/**
 * Why KVM would not launch a guest with these VMSA sev_features (undefined when it would): KVM sets
 * SNPActive (bit 0) in every SNP guest's VMSA, and KVM_SEV_INIT2 takes only the vmsa_features the
 * host offers (snp.init2Features: DebugSwap 0x20, Secure TSC 0x200). sev-snp-measure puts any value
 * in the VMSA.
 */
export function guestFeaturesBeyondKvm(gf: bigint): string | undefined {
  if ((gf & 1n) === 0n)
    return `guest features ${hex(gf)} lack bit 0 (SNPActive), which KVM sets in every SNP guest's VMSA`;
  const extra = gf & ~(1n | SUPPORTED_VMSA_FEATURES);
  if (extra)
    return `guest features ${hex(gf)} carry ${hex(extra)}, which KVM_SEV_INIT2 refuses as vmsa_features (snp.init2Features: the host offers DebugSwap 0x20 and Secure TSC 0x200)`;
  return undefined;
}

/** The guest features KVM offers: SNPActive with any of DebugSwap and Secure TSC. */
export const KVM_GUEST_FEATURES: readonly bigint[] = [0x1n, 0x21n, 0x201n, 0x221n];

/** One VMSA page per vCPU as KVM's SNP_LAUNCH_FINISH measures it (the model's buildVmsa), BSP first. */
export function snpVmsaPages(
  inp: Pick<SnpLaunchInputs, 'mode' | 'vmmType' | 'vcpuSig' | 'guestFeatures'>,
  eips: readonly number[],
): Uint8Array[] {
  const svsm = inp.mode === 'snp:svsm';
  return eips.map((eip) =>
    buildVmsa({
      eip,
      signature: inp.vcpuSig ?? 0,
      sevFeatures: svsm ? 1n : inp.guestFeatures,
      vmm: svsm ? 'svsm' : inp.vmmType === 'ec2_legacy' ? 'ec2' : inp.vmmType,
      ec2LegacyRdx: !svsm && inp.vmmType === 'ec2_legacy',
    }),
  );
}

/** LD after `pages` VMSAs from `ld`, by the model's PSP (PAGE_INFO type VMSA at KVM's INITIAL_VMSA_GPA). */
export function measureVmsas(ld: Uint8Array, pages: readonly Uint8Array[], sha: Sha384Factory): Uint8Array {
  const psp = new Psp(sha);
  psp.ld = Uint8Array.from(ld);
  for (const p of pages) psp.launchUpdate(SNP_PAGE_TYPE.VMSA, INITIAL_VMSA_GPA, p);
  return psp.ld;
}

/** The result of running the launch sequence through the model. */
export interface SnpMeasurement {
  /** 96 hex digits */
  measurement: string;
  plan: SnpLaunchPlan;
  result: RunResult;
  /** PAGE_INFO records the model's PSP took (SNP_LAUNCH_UPDATE pages and VMSAs) */
  pspUpdates: number;
  /**
   * Set when KVM would not launch the guest with these guest features (guestFeaturesBeyondKvm):
   * the model ran the launch KVM takes, up to the VMSAs, and the VMSAs with the given sev_features
   * were measured after it by the model's PSP, as sev-snp-measure computes them.
   */
  beyondKvm?: string;
}

/** The name the generated scenario runs under (its `{ file }` data is relative to it). */
export const GENERATED_SNP_SCENARIO = 'gmemsim-measure-snp.yaml';

export function hostSha256(host: Host): (b: Uint8Array) => Uint8Array {
  return (b) => fromHex(host.sha256(b));
}

/**
 * Check the inputs, build the launch sequence as scenario steps, run them through the model, and
 * read the launch digest from the attest step. Inputs sev-snp-measure, QEMU or KVM would refuse are
 * a FirmwareError naming the reason (an image, a section, or the refused call with its rule).
 * Guest features KVM would not take (guestFeaturesBeyondKvm) are measured as sev-snp-measure does,
 * and the result says why KVM would not launch it (`beyondKvm`).
 */
export function measureSnp(inp: SnpLaunchInputs, host: Host): SnpMeasurement {
  const beyond = inp.mode === 'snp' ? guestFeaturesBeyondKvm(inp.guestFeatures) : undefined;
  if (!beyond) return runLaunch(inp, host);
  // the launch KVM takes, finished with no vCPUs: its digest is the one before the VMSAs
  const pre = runLaunch({ ...inp, vcpus: 0, guestFeatures: 1n }, host);
  const resetEip = blame('ovmf', () => sevEsResetEip(parseSevFirmware(inp.ovmf.bytes, 'OVMF')));
  if (inp.vcpus > 1 && resetEip === 0)
    throw new SnpLaunchError(`the OVMF SEV-ES reset block gives AP reset EIP 0: ${inp.vcpus} vCPUs need one`, 'ovmf');
  const eips = Array.from({ length: inp.vcpus }, (_, i) => (i === 0 ? BSP_RESET_EIP : resetEip));
  const ld = measureVmsas(fromHex(pre.measurement), snpVmsaPages(inp, eips), pre.result.kernel.sha384);
  const plan: SnpLaunchPlan = {
    ...pre.plan,
    vcpus: inp.vcpus,
    eips,
    sevFeatures: inp.guestFeatures,
    calls: pre.plan.calls.map((c) => (c.call === 'KVM_SEV_SNP_LAUNCH_FINISH' ? { ...c, pages: inp.vcpus } : c)),
  };
  return {
    measurement: toHex(ld),
    plan,
    result: pre.result,
    pspUpdates: pre.pspUpdates + inp.vcpus,
    beyondKvm: beyond,
  };
}

function runLaunch(inp: SnpLaunchInputs, host: Host): SnpMeasurement {
  const plan = snpLaunchScenario(inp, hostSha256(host));
  const result = runScenario(plan.scenario, host);
  const refusal = launchRefusal(result, (step) => {
    const call = plan.calls.find((c) => c.step === step);
    return (
      call && `${call.call} of ${call.what} at GPA ${hex(call.gpa)}, ${call.pages} page${call.pages === 1 ? '' : 's'}`
    );
  });
  if (refusal) throw new SnpLaunchError(refusal, 'launch');
  const measurement = result.steps[plan.attestStep]?.outcome.out.measurement;
  if (typeof measurement !== 'string') throw new Error('Model invariant violated: the attest step gave no measurement');
  const vm = result.kernel.vms[0];
  const updates = vm ? result.kernel.arch(vm)?.describe?.(vm).updates : undefined;
  if (typeof updates !== 'number') throw new Error('Model invariant violated: no SNP launch state');
  return { measurement, plan, result, pspUpdates: updates };
}
