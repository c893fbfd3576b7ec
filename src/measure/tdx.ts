/**
 * The KVM sequence QEMU issues to launch a TD on a TDVF firmware (qemu target/i386/kvm/tdx.c at
 * 05caf2690e5a: tdx_kvm_init, tdx_pre_create_vcpu, tdx_finalize_vm, tdx_post_init_vcpus,
 * tdx_init_fw_mem_region), built as gmemsim/1 scenario steps. `gmemsim measure tdx` runs them through
 * the model and reads the MRTD from the `attest` step: the measurement comes from the population
 * sequence, not from a separate calculator. The steps are what loadScenario would return for the
 * scenario file `--emit-scenario` writes (src/scenario/emit.ts), so no YAML is parsed on the way.
 * No I/O: the image arrives as bytes, hashing goes through the host port of the scenario runner.
 */
import { Cap, EncryptCmd, Madv, MapFlag, MemoryAttribute, Prot, TdxFlag, VmType } from '../core/uapi.ts';
import { cpuidEntry, expectOk, fileData, int, ref, ScenarioBuilder } from '../scenario/build.ts';
import type { Scenario } from '../scenario/load.ts';
import { type Host, type RunResult, runScenario } from '../scenario/run.ts';
import type { Expect, Expr } from '../scenario/schema.ts';
import { hex0x as hex } from '../util/hex.ts';
import { addGuestMemory } from './guest-memory.ts';
import { FirmwareError } from './ovmf.ts';
import { launchRefusal } from './refusal.ts';
import {
  describeSection,
  parseTdvf,
  TDVF_ATTR_MR_EXTEND,
  TDVF_ATTR_PAGE_AUG,
  type TdvfMetadata,
  type TdvfSection,
} from './tdvf.ts';

export type TdxMeasureOrder = 'single-pass' | 'two-pass';

export interface TdxLaunchOptions {
  /** the firmware image as the scenario's `{ file: ... }` data names it (relative to the scenario file) */
  firmwareFile: string;
  /** the image's bytes */
  firmware: Uint8Array;
  /** record order of KVM_TDX_INIT_MEM_REGION with MEASURE (kernel knob tdx_measure_order) */
  order: TdxMeasureOrder;
  /** the MRTD the attest step expects (emitted scenarios) */
  mrtd?: string;
  /** one line about the firmware for the description (name, size, sha256) */
  about?: string;
  /**
   * Sections with the PAGE.AUG attribute: 'populate' (every QEMU read, qemu-versions.ts: no attribute
   * but MR.EXTEND is looked at, so they get their KVM_TDX_INIT_MEM_REGION like any other), or 'skip'
   * (no call, no record: how gmemsim measured them before, and a diagnosis variant). Default 'populate'.
   */
  pageAug?: 'populate' | 'skip';
}

/** One KVM_TDX_INIT_MEM_REGION of the sequence. */
export interface TdxPopulateCall {
  section: TdvfSection;
  /** index of its step in the scenario */
  step: number;
  gpa: bigint;
  pages: bigint;
  measured: boolean;
}

export interface TdxLaunchPlan {
  /** the launch as scenario steps (its data file: the image, under `firmwareFile`) */
  scenario: Scenario;
  /** comment lines of the scenario file, by step index (emitScenario's `comments`) */
  comments: Map<number, string[]>;
  calls: TdxPopulateCall[];
  /** index of the attest step */
  attestStep: number;
  /** sections that get no KVM_TDX_INIT_MEM_REGION (PAGE.AUG, with pageAug 'skip') */
  skipped: TdvfSection[];
}

/** QEMU's defaults for `-object tdx-guest`: SEPT_VE_DISABLE (bit 28) */
export const TD_ATTRIBUTES = 1n << 28n;
/** x87 | SSE: the XFAM every TDX module accepts */
export const TD_XFAM = 0x3n;
/** CPUID 0x80000008 EAX: guest physical address width 48 (bits 23:16), MAXPHYADDR 48: shared bit 47 */
export const CPUID_80000008_EAX_GPAW48 = 0x00303030n;
/** CPUID 1 ECX bit 21: x2APIC, which KVM_TDX_INIT_VCPU needs */
export const CPUID_1_ECX_X2APIC = 1n << 21n;
/** QEMU's kernel-irqchip=split with the IOAPIC's 24 pins */
const SPLIT_IRQCHIP_PINS = 24;
const PAGE = 4096n;

const roundUp = (n: bigint) => (n + PAGE - 1n) & ~(PAGE - 1n);
const name = <T extends Record<string, number | bigint>>(table: T, key: keyof T) => BigInt(table[key]!);
/** `expect: { ret: 0, data: { ... } }`: the call succeeded and wrote these struct fields back */
const retData = (data: Record<string, Expr>): Expect => ({ ret: int(0), data });
const _PRIVATE_ATTR = name(MemoryAttribute, 'KVM_MEMORY_ATTRIBUTE_PRIVATE');
const PROT_RW = Prot.PROT_READ | Prot.PROT_WRITE;

/** Page-aligned GPA ranges covering every section, overlapping or adjacent ones merged, ascending. */
export function guestMemoryRanges(sections: TdvfSection[]): { gpa: bigint; size: bigint }[] {
  const rs = sections
    .filter((s) => s.memoryDataSize > 0n)
    .map((s) => ({ gpa: s.memoryAddress, end: s.memoryAddress + s.memoryDataSize }))
    .sort((a, b) => (a.gpa < b.gpa ? -1 : a.gpa > b.gpa ? 1 : 0));
  const out: { gpa: bigint; end: bigint }[] = [];
  for (const r of rs) {
    const last = out.at(-1);
    if (!last || r.gpa > last.end) out.push({ ...r });
    else if (r.end > last.end) last.end = r.end;
  }
  return out.map((r) => ({ gpa: r.gpa, size: r.end - r.gpa }));
}

/** The handle of a section's anonymous source buffer (TD_HOB, TEMP_MEM). */
function bufferName(s: TdvfSection): string {
  return s.type === 'TD_HOB' ? `hob${s.index}` : `temp${s.index}`;
}

export function tdxLaunchScenario(meta: TdvfMetadata, opts: TdxLaunchOptions): TdxLaunchPlan {
  const b = new ScenarioBuilder();
  const add = b.add.bind(b);
  const skipAug = (s: TdvfSection) => opts.pageAug === 'skip' && (s.attributes & TDVF_ATTR_PAGE_AUG) !== 0;
  const populated = meta.sections.filter((s) => !skipAug(s));
  const skipped = meta.sections.filter(skipAug);
  const firmwareSize = opts.firmware.length;
  const fwLength = roundUp(BigInt(firmwareSize));
  const vm = ref('vm');
  const vcpu0 = ref('vcpu0');
  const ENC = (id: keyof typeof EncryptCmd) => name(EncryptCmd, id);

  const title = `QEMU tdx_finalize_vm on ${opts.firmwareFile.split('/').at(-1)}: ${populated.length} KVM_TDX_INIT_MEM_REGION calls in metadata order, then the MRTD (${opts.order})`;
  const desc = [
    'Generated by `gmemsim measure tdx`. The KVM calls QEMU makes to launch a TD on this firmware',
    '(qemu target/i386/kvm/tdx.c@05caf2690e5a): a split irqchip, KVM_TDX_INIT_VM with GPAW 48, one vCPU',
    'with x2APIC, guest_memfd-backed private memory covering every TDVF section, KVM_TDX_INIT_VCPU with',
    'the TD_HOB address, then one KVM_TDX_INIT_MEM_REGION per TDVF section in metadata order',
    '(tdx_init_fw_mem_region: BFV/CFV from the image at DataOffset, TD_HOB/TEMP_MEM from fresh anonymous',
    'memory; MEASURE iff the section has MR.EXTEND), and KVM_TDX_FINALIZE_VM.',
    opts.order === 'two-pass'
      ? 'Record order two-pass (KVM TDX v19 with QEMU 8.x): each call adds all its pages, then extends them.'
      : 'Record order single-pass (upstream KVM): PAGE.ADD then 16 MR.EXTEND per page.',
    'QEMU writes the HOB list into the TD_HOB buffer; only its GPAs are measured, so it is left zero here.',
  ];
  if (skipped.length)
    desc.push(
      `PAGE.AUG sections get no KVM_TDX_INIT_MEM_REGION here (not QEMU's behaviour; added lazily, not measured): ${skipped.map((s) => `${s.index} (${s.type})`).join(', ')}.`,
    );
  const aug = populated.filter((s) => (s.attributes & TDVF_ATTR_PAGE_AUG) !== 0);
  if (aug.length)
    desc.push(
      `PAGE.AUG sections are populated like the others, as QEMU's tdx_init_fw_mem_region does (it looks only at MR.EXTEND): ${aug.map((s) => `${s.index} (${s.type})`).join(', ')}.`,
    );
  if (opts.about) desc.push(`Firmware: ${opts.about.split(/\s+/).join(' ')}`);

  // kvm_init: the VM, then (kvm_irqchip_create) the split irqchip
  add('KVM_CREATE_VM', { type: name(VmType, 'KVM_X86_TDX_VM') }, { as: 'vm', expect: expectOk() });
  add(
    'KVM_ENABLE_CAP',
    { fd: vm, cap: name(Cap, 'KVM_CAP_SPLIT_IRQCHIP'), args: [BigInt(SPLIT_IRQCHIP_PINS)] },
    { expect: expectOk() },
  );
  // tdx_pre_create_vcpu: KVM_TDX_INIT_VM before the first vCPU
  add(
    'KVM_MEMORY_ENCRYPT_OP',
    {
      fd: vm,
      id: ENC('KVM_TDX_INIT_VM'),
      data: {
        attributes: TD_ATTRIBUTES,
        xfam: TD_XFAM,
        cpuid: { entries: [cpuidEntry({ function: 0x80000008n, eax: CPUID_80000008_EAX_GPAW48 })] },
      },
    },
    { expect: { ret: int(0), hw_error: 0n }, note: 'GPAW 48: GPA bit 47 is the shared bit' },
  );
  add('KVM_CREATE_VCPU', { fd: vm, id: 0n }, { as: 'vcpu0', expect: expectOk() });
  add(
    'KVM_SET_CPUID2',
    { fd: vcpu0, entries: [cpuidEntry({ function: 1n, ecx: CPUID_1_ECX_X2APIC })] },
    { expect: expectOk(), note: 'x2APIC: KVM_TDX_INIT_VCPU needs it' },
  );

  // machine memory: private (guest_memfd) memory with a shared backing, all of it private to start
  b.comment('guest memory covering every TDVF section: guest_memfd, shared backing, memslot, private');
  addGuestMemory(b, vm, guestMemoryRanges(meta.sections));

  // the firmware image in host memory (the pc.bios RAM block QEMU loads -bios into)
  b.comment('the firmware image in anonymous host memory: the source of BFV and CFV');
  add(
    'mmap',
    { length: fwLength, prot: PROT_RW, flags: MapFlag.MAP_PRIVATE | MapFlag.MAP_ANONYMOUS },
    { as: 'fw', expect: expectOk() },
  );
  add(
    'store',
    { addr: ref('fw'), data: fileData(opts.firmwareFile, 0, firmwareSize) },
    { expect: { ret: int(firmwareSize) } },
  );

  // tdx_finalize_vm: fresh anonymous memory for TD_HOB and TEMP_MEM
  b.comment('tdx_finalize_vm: qemu_ram_mmap for each TD_HOB and TEMP_MEM section');
  for (const s of meta.sections) {
    if (s.type !== 'TD_HOB' && s.type !== 'TEMP_MEM') continue;
    if (skipAug(s)) continue;
    add(
      'mmap',
      { length: s.memoryDataSize, prot: PROT_RW, flags: MapFlag.MAP_PRIVATE | MapFlag.MAP_ANONYMOUS },
      { as: bufferName(s), expect: expectOk() },
    );
  }
  // tdx_post_init_vcpus: the HOB address is each vCPU's initial RCX
  add(
    'KVM_MEMORY_ENCRYPT_OP',
    { fd: vcpu0, id: ENC('KVM_TDX_INIT_VCPU'), data: meta.hob.memoryAddress },
    { expect: expectOk(), note: `RCX = the TD_HOB address (TDVF section ${meta.hob.index})` },
  );

  // tdx_init_fw_mem_region: one call per section, metadata order
  b.comment('tdx_init_fw_mem_region: one KVM_TDX_INIT_MEM_REGION per TDVF section, in metadata order');
  const calls: TdxPopulateCall[] = [];
  for (const s of populated) {
    const pages = s.memoryDataSize >> 12n;
    const measured = (s.attributes & TDVF_ATTR_MR_EXTEND) !== 0;
    const fromImage = s.type === 'BFV' || s.type === 'CFV';
    const src = fromImage ? ref('fw', s.dataOffset) : ref(bufferName(s));
    const srcEnd = fromImage
      ? ref('fw', BigInt(s.dataOffset) + s.memoryDataSize)
      : ref(bufferName(s), s.memoryDataSize);
    const step = add(
      'KVM_MEMORY_ENCRYPT_OP',
      {
        fd: vcpu0,
        id: ENC('KVM_TDX_INIT_MEM_REGION'),
        ...(measured ? { flags: TdxFlag.KVM_TDX_MEASURE_MEMORY_REGION } : {}),
        data: { source_addr: src, gpa: int(s.memoryAddress), nr_pages: pages },
      },
      {
        expect: retData({ source_addr: srcEnd, gpa: int(s.memoryAddress + s.memoryDataSize), nr_pages: int(0) }),
        note: `TDVF section ${s.index} (${s.type})${measured ? ', MR.EXTEND' : ''}${fromImage ? `: image bytes ${hex(s.dataOffset)}..${hex(BigInt(s.dataOffset) + s.memoryDataSize)}` : ''}`,
      },
    );
    calls.push({ section: s, step, gpa: s.memoryAddress, pages, measured });
    if (!fromImage) add('munmap', { addr: ref(bufferName(s)), length: s.memoryDataSize }, { expect: expectOk() });
  }
  // the image has been copied into private memory: QEMU discards the RAM block
  add(
    'madvise',
    { addr: ref('fw'), length: fwLength, advice: name(Madv, 'MADV_DONTNEED') },
    { expect: expectOk(), note: 'ram_block_discard_range on the TDVF region' },
  );
  add('KVM_MEMORY_ENCRYPT_OP', { fd: vm, id: ENC('KVM_TDX_FINALIZE_VM') }, { expect: { ret: int(0), hw_error: 0n } });
  const attestStep = add('attest', { fd: vm }, opts.mrtd ? { expect: { mrtd: opts.mrtd.toLowerCase() } } : {});
  const scenario = b.scenario({
    file: GENERATED_SCENARIO,
    name: title,
    description: `${desc.join('\n')}\n`,
    kernel: { profile: 'kvm-x86', tdx_measure_order: opts.order },
    files: new Map([[opts.firmwareFile, opts.firmware]]),
  });
  return { scenario, comments: b.comments, calls, attestStep, skipped };
}

/** The result of running the launch sequence through the model. */
export interface TdxMeasurement {
  /** 96 hex digits */
  mrtd: string;
  meta: TdvfMetadata;
  plan: TdxLaunchPlan;
  result: RunResult;
}

/** The name the generated scenario runs under (its `{ file }` data is relative to it). */
export const GENERATED_SCENARIO = 'gmemsim-measure-tdx.yaml';

/**
 * Parse the firmware, build QEMU's launch sequence as scenario steps, run them through the model,
 * and read the MRTD from the attest step. A firmware QEMU or KVM would refuse is a FirmwareError
 * naming the reason (a section, or the refused call with its rule).
 */
export function measureTdx(
  image: Uint8Array,
  opts: Omit<TdxLaunchOptions, 'firmware' | 'mrtd'>,
  host: Host,
): TdxMeasurement {
  const meta = parseTdvf(image);
  const plan = tdxLaunchScenario(meta, { ...opts, firmware: image });
  const result = runScenario(plan.scenario, host);
  const refusal = launchRefusal(result, (step) => {
    const call = plan.calls.find((c) => c.step === step);
    return (
      call &&
      `KVM_TDX_INIT_MEM_REGION of ${describeSection(call.section)} at GPA ${hex(call.gpa)}, ${call.pages} page${call.pages === 1n ? '' : 's'}`
    );
  });
  if (refusal) throw new FirmwareError(refusal);
  const mrtd = result.steps[plan.attestStep]?.outcome.out.mrtd;
  if (!mrtd) throw new Error('Model invariant violated: the attest step gave no MRTD');
  return { mrtd, meta, plan, result };
}
