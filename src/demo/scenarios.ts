/**
 * The demo: the June 2026 thread's source-address ABI as the same few VMM sequences run under
 * every kernel profile. Each sequence is a real gmemsim/1 scenario, built with the one builder and
 * written out by the one emitter (examples/demo/*.yaml); where kernels
 * offer different trackers the sequence does what a VMM would do on that kernel (per-gmem
 * KVM_SET_MEMORY_ATTRIBUTES2 with in-place conversion, per-VM KVM_SET_MEMORY_ATTRIBUTES without).
 */
import { KernelNames, type ProfileName, Profiles } from '../core/profiles.ts';
import {
  Cap,
  EncryptCmd,
  GuestMemfdFlag,
  MapFlag,
  MemoryAttribute,
  MemslotFlag,
  Prot,
  TdxFlag,
  VmType,
} from '../core/uapi.ts';
import { cpuidEntry, expectOk, int, ref, ScenarioBuilder, type StepMeta } from '../scenario/build.ts';
import { emitScenario } from '../scenario/emit.ts';
import type { KernelSection, Scenario } from '../scenario/load.ts';
import type { Value } from '../scenario/schema.ts';

export interface DemoRow {
  id: string;
  title: string;
  /** what the row shows, in one line */
  question: string;
  /** the knob the row needs; null = the profile's default */
  inPlace: boolean | null;
  /** 1-based index of the step whose result is the row's cell */
  keyStep?: number;
  /** the sequence as this kernel's VMM would make it, or null where the kernel cannot */
  scenario(profile: ProfileName): Scenario | null;
  /** the same, as gmemsim/1 YAML (the one emitter) */
  yaml(profile: ProfileName): string | null;
  /**
   * which steps make the row's cell (by the op they run), and how one reads: by default the
   * KVM_TDX_INIT_MEM_REGION calls and their results
   */
  cell?: { ops: readonly string[]; label?: (op: string) => string };
}

const P = 0x1000n;
const ok = { expect: expectOk() };
const PRIVATE = MemoryAttribute.KVM_MEMORY_ATTRIBUTE_PRIVATE;
const or = (...f: bigint[]) => f.reduce((a, b) => a | b, 0n);

/** a TD with INIT_VM (GPAW 48), split irqchip, one vCPU with x2APIC, INIT_VCPU */
function tdSetup(b: ScenarioBuilder): void {
  b.add('KVM_CREATE_VM', { type: BigInt(VmType.KVM_X86_TDX_VM) }, { as: 'vm' });
  b.add(
    'KVM_MEMORY_ENCRYPT_OP',
    {
      fd: ref('vm'),
      id: BigInt(EncryptCmd.KVM_TDX_INIT_VM),
      data: {
        attributes: 0n,
        xfam: 3n,
        cpuid: { nent: undefined, padding: 0n, entries: [cpuidEntry({ function: 0x80000008n, eax: 0x303030n })] },
      } as Value,
    },
    ok,
  );
  b.add('KVM_ENABLE_CAP', { fd: ref('vm'), cap: BigInt(Cap.KVM_CAP_SPLIT_IRQCHIP), args: [24n] }, ok);
  b.add('KVM_CREATE_VCPU', { fd: ref('vm'), id: 0n }, { as: 'vcpu' });
  b.add('KVM_SET_CPUID2', { fd: ref('vcpu'), entries: [cpuidEntry({ function: 1n, ecx: 0x200000n })] as Value }, ok);
  b.add('KVM_MEMORY_ENCRYPT_OP', { fd: ref('vcpu'), id: BigInt(EncryptCmd.KVM_TDX_INIT_VCPU), data: 0n }, ok);
}

/** a guest_memfd of `pages` pages bound at GPA 0 (shared memory at userspace_addr, 0 for none) */
function gmemSlot(b: ScenarioBuilder, pages: number, flags = 0n, userspaceAddr: Value = 0n): void {
  b.add(
    'KVM_CREATE_GUEST_MEMFD',
    { fd: ref('vm'), size: BigInt(pages) * P, ...(flags ? { flags } : {}) },
    { as: 'gmem', ...ok },
  );
  b.add(
    'KVM_SET_USER_MEMORY_REGION2',
    {
      fd: ref('vm'),
      slot: 0n,
      flags: MemslotFlag.KVM_MEM_GUEST_MEMFD,
      guest_phys_addr: 0n,
      memory_size: BigInt(pages) * P,
      userspace_addr: userspaceAddr,
      guest_memfd: ref('gmem'),
      guest_memfd_offset: 0n,
    },
    ok,
  );
}

/** make gmem pages [0, n) private the way this kernel allows */
function makePrivate(b: ScenarioBuilder, profile: ProfileName, inPlace: boolean | null, n: number): void {
  const p = Profiles[profile];
  const size = BigInt(n) * P;
  if (p.inPlaceSeries && (inPlace ?? p.inPlaceDefault))
    b.add('KVM_SET_MEMORY_ATTRIBUTES2', { fd: ref('gmem'), offset: 0n, size, attributes: PRIVATE }, ok);
  else b.add('KVM_SET_MEMORY_ATTRIBUTES', { fd: ref('vm'), address: 0n, size, attributes: PRIVATE }, ok);
}

/** a measured KVM_TDX_INIT_MEM_REGION */
function imr(b: ScenarioBuilder, src: Value, gpa: bigint, n: number, meta: StepMeta = {}): void {
  b.add(
    'KVM_MEMORY_ENCRYPT_OP',
    {
      fd: ref('vcpu'),
      id: BigInt(EncryptCmd.KVM_TDX_INIT_MEM_REGION),
      flags: TdxFlag.KVM_TDX_MEASURE_MEMORY_REGION,
      data: { source_addr: src, gpa, nr_pages: BigInt(n) },
    },
    meta,
  );
}

function finish(b: ScenarioBuilder): void {
  b.add('KVM_MEMORY_ENCRYPT_OP', { fd: ref('vm'), id: BigInt(EncryptCmd.KVM_TDX_FINALIZE_VM) });
  b.add('attest', { fd: ref('vm') });
}

function build(
  title: string,
  profile: ProfileName,
  inPlace: boolean | null,
  steps: (b: ScenarioBuilder) => void,
  extra: Partial<KernelSection> = {},
): Scenario {
  const b = new ScenarioBuilder();
  tdSetup(b);
  steps(b);
  const kernel: KernelSection = { profile, ...extra };
  if (Profiles[profile].inPlaceSeries && inPlace !== null) kernel.gmem_in_place_conversion = inPlace;
  // key order as the emitter writes it: profile, knobs
  const ordered: KernelSection = { profile };
  if (kernel.gmem_in_place_conversion !== undefined) ordered.gmem_in_place_conversion = kernel.gmem_in_place_conversion;
  if (kernel.mmap_min_addr !== undefined) ordered.mmap_min_addr = kernel.mmap_min_addr;
  return b.scenario({ file: 'demo', name: title, kernel: ordered, files: new Map() });
}

const RW = or(Prot.PROT_READ, Prot.PROT_WRITE);
const ANON = or(MapFlag.MAP_PRIVATE, MapFlag.MAP_ANONYMOUS);
const fill = (byte: number, length: bigint): Value => ({ form: 'fill', fill: byte, length });

const rows: Omit<DemoRow, 'yaml'>[] = [
  {
    id: 'in-place-add',
    title: 'source 0 with in-place conversion: the target page is its own source',
    question: 'write the image through the guest_memfd mapping, convert it to private, add it with source 0',
    inPlace: true,
    scenario: (profile) =>
      Profiles[profile].inPlaceSeries
        ? build('source 0 with in-place conversion (in-place add)', profile, true, (b) => {
            gmemSlot(b, 4, or(GuestMemfdFlag.GUEST_MEMFD_FLAG_MMAP, GuestMemfdFlag.GUEST_MEMFD_FLAG_INIT_SHARED));
            b.add(
              'mmap',
              { fd: ref('gmem'), length: 4n * P, prot: RW, flags: MapFlag.MAP_SHARED },
              { as: 'image', ...ok },
            );
            b.add('store', { addr: ref('image'), data: fill(0xaa, P) }, ok);
            makePrivate(b, profile, true, 1);
            imr(b, 0n, 0n, 1);
            finish(b);
          })
        : null,
  },
  {
    id: 'src0-out-of-place',
    title: 'source 0 without in-place conversion (per-VM attributes)',
    question: 'a page made private with per-VM attributes, added with source 0: what does 0 mean?',
    inPlace: false,
    scenario: (profile) =>
      build('source 0 without in-place conversion', profile, false, (b) => {
        gmemSlot(b, 4);
        makePrivate(b, profile, false, 1);
        imr(b, 0n, 0n, 1);
        finish(b);
      }),
  },
  {
    id: 'va0-mapped',
    title: 'source 0 while userspace has a valid mapping at virtual address 0',
    question: 'vm.mmap_min_addr = 0 and the image mapped at VA 0: is 0 an address or "no source"?',
    inPlace: false,
    scenario: (profile) =>
      build(
        'source 0 with a valid mapping at VA 0',
        profile,
        false,
        (b) => {
          b.add(
            'mmap',
            { addr: 0n, length: P, prot: RW, flags: or(ANON, MapFlag.MAP_FIXED) },
            { expect: { ret: int(0) } },
          );
          b.add('store', { addr: 0n, data: fill(0xaa, P) }, ok);
          gmemSlot(b, 4);
          makePrivate(b, profile, false, 1);
          imr(b, 0n, 0n, 1);
          finish(b);
        },
        { mmap_min_addr: 0 },
      ),
  },
  {
    id: 'double-add',
    title: 'the same page added twice',
    question: "KVM_TDX_INIT_MEM_REGION twice on one GPA (the thread's side topic)",
    inPlace: null,
    keyStep: 0,
    scenario: (profile) =>
      build('the same page added twice', profile, null, (b) => {
        b.add('mmap', { length: 4n * P, prot: RW, flags: ANON }, { as: 'buf' });
        b.add('store', { addr: ref('buf'), data: fill(0x42, P) }, ok);
        gmemSlot(b, 4);
        makePrivate(b, profile, null, 4);
        imr(b, ref('buf'), 0n, 1, ok);
        imr(b, ref('buf'), 0n, 1);
        finish(b);
      }),
  },
  {
    id: 'resume',
    title: 'a signal mid-region, then resume',
    question: 'EINTR after 2 of 4 pages; resume from the written-back struct; then replay the original',
    inPlace: null,
    scenario: (profile) =>
      build('interrupted INIT_MEM_REGION, resumed, then replayed', profile, null, (b) => {
        b.add('mmap', { length: 4n * P, prot: RW, flags: ANON }, { as: 'buf' });
        b.add('store', { addr: ref('buf'), data: fill(0x42, 4n * P) }, ok);
        gmemSlot(b, 4);
        makePrivate(b, profile, null, 4);
        imr(b, ref('buf'), 0n, 4, {
          inject: { signal_after_pages: 2 },
          expect: { errno: 'EINTR', data: { source_addr: ref('buf', 0x2000), gpa: int(0x2000), nr_pages: int(2) } },
        });
        imr(b, ref('buf', 0x2000), 0x2000n, 2, {
          expect: { ret: int(0), data: { source_addr: ref('buf', 0x4000), gpa: int(0x4000), nr_pages: int(0) } },
        });
        imr(b, ref('buf'), 0n, 4);
        finish(b);
      }),
  },
  ...(['per-vm', 'in-place'] as const).map(
    (how): Omit<DemoRow, 'yaml'> => ({
      id: `runtime-${how}`,
      title:
        how === 'in-place'
          ? 'run time: the guest asks for a private page back as shared, in-place conversion'
          : 'run time: the guest asks for a private page back as shared, per-VM attributes',
      question:
        'the guest wrote a secret to an accepted private page and asks (MapGPA) for it shared; the VMM converts ' +
        `with ${how === 'in-place' ? 'KVM_SET_MEMORY_ATTRIBUTES2 on the guest_memfd' : 'KVM_SET_MEMORY_ATTRIBUTES on the VM'} and re-enters; what does the guest read through the shared alias?`,
      inPlace: how === 'in-place',
      cell: {
        ops: ['guest_map_gpa', 'KVM_SET_MEMORY_ATTRIBUTES', 'KVM_SET_MEMORY_ATTRIBUTES2', 'KVM_RUN', 'guest_access'],
      },
      scenario: (profile) => {
        if (how === 'in-place' && !Profiles[profile].inPlaceSeries) return null;
        return build(`run-time conversion to shared (${how})`, profile, how === 'in-place', (b) => {
          b.add('KVM_ENABLE_CAP', { fd: ref('vm'), cap: BigInt(Cap.KVM_CAP_EXIT_HYPERCALL), args: [0x1000n] }, ok);
          b.add('mmap', { length: P, prot: RW, flags: ANON }, { as: 'buf' });
          b.add('store', { addr: ref('buf'), data: fill(0x11, P) }, ok);
          // shared memory: the guest_memfd itself (in place), or anonymous memory at userspace_addr
          if (how === 'in-place') gmemSlot(b, 4, GuestMemfdFlag.GUEST_MEMFD_FLAG_MMAP);
          else {
            b.add('mmap', { length: 4n * P, prot: RW, flags: ANON }, { as: 'shared', ...ok });
            gmemSlot(b, 4, 0n, ref('shared'));
          }
          makePrivate(b, profile, how === 'in-place', 4);
          imr(b, ref('buf'), 0n, 1, ok);
          finish(b);
          // page 0 was added at build time: accepted; the guest writes its secret there
          b.add('guest_access', {
            fd: ref('vcpu'),
            gpa: 0n,
            size: 6n,
            write: true,
            data: { form: 'text', text: 'secret' } as Value,
          });
          b.add('guest_map_gpa', { fd: ref('vcpu'), gpa: 0n, npages: 1n, to: 0n });
          if (how === 'in-place')
            b.add('KVM_SET_MEMORY_ATTRIBUTES2', { fd: ref('gmem'), offset: 0n, size: P, attributes: 0n });
          else b.add('KVM_SET_MEMORY_ATTRIBUTES', { fd: ref('vm'), address: 0n, size: P, attributes: 0n });
          b.add('KVM_RUN', { fd: ref('vcpu'), hypercall_ret: 0n });
          // the shared alias of GPA 0 (GPAW 48: bit 47)
          b.add('guest_access', { fd: ref('vcpu'), gpa: 1n << 47n, size: 6n, write: false });
        });
      },
    }),
  ),
];

export const demoRows: DemoRow[] = rows.map((r) => ({
  ...r,
  yaml: (profile) => {
    const s = r.scenario(profile);
    return s ? emitScenario(s) : null;
  },
}));

/** one column per kernel, newest first (the release profiles, the era-A tree point, the what-if) */
export const demoProfiles: ProfileName[] = [...KernelNames];
