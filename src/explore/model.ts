/**
 * What the explorer explores: a small VM set up once, and an alphabet of single operations on
 * its pages. Every action is a scenario step built with the one builder (scenario/build.ts); the
 * core operation is that step lowered (scenario/lower.ts), and a counterexample is those steps
 * written by the one emitter (scenario/emit.ts), so what `gmemsim run` replays is what was run.
 */
import type { Kernel } from '../core/kernel.ts';
import type { Op } from '../core/ops.ts';
import {
  Cap,
  EncryptCmd,
  FallocFlag,
  GuestMemfdFlag,
  MapFlag,
  MemoryAttribute,
  MemslotFlag,
  Prot,
  SnpPageType,
  TdxFlag,
  VmType,
} from '../core/uapi.ts';
import { cpuidEntry, ref, ScenarioBuilder } from '../scenario/build.ts';
import type { Step } from '../scenario/load.ts';
import { type Handles as HandleMap, lowerStep } from '../scenario/lower.ts';
import type { Value } from '../scenario/schema.ts';

export type VmKind = 'tdx' | 'snp' | 'sw-protected';

export interface Action {
  /** short label for traces */
  readonly label: string;
  /** the scenario step */
  readonly step: Step;
  /** the step lowered with the set-up's handles (computed once: the handles never change) */
  op(h: Handles): Op;
}

/** The handles the set-up binds: vm, vcpu, gmem, map (the guest_memfd mapping), buf (an anonymous source buffer holding a distinct byte per page) */
export type Handles = HandleMap;

export interface Setup {
  readonly steps: Step[];
}

const P = 4096n;
/** an address nothing is mapped at */
const UNMAPPED = 0x200000n;
const NO_FILES = { files: new Map<string, Uint8Array>() };
const or = (...flags: bigint[]) => flags.reduce((a, b) => a | b, 0n);
const RW = or(Prot.PROT_READ, Prot.PROT_WRITE);

/** The VM the explorer starts from: ready to populate `pages` pages at GPA 0, all shared where the kernel allows. */
export function setup(vm: VmKind, pages: number, inPlace: boolean): Setup {
  const size = BigInt(pages) * P;
  const b = new ScenarioBuilder();
  const type =
    vm === 'tdx' ? VmType.KVM_X86_TDX_VM : vm === 'snp' ? VmType.KVM_X86_SNP_VM : VmType.KVM_X86_SW_PROTECTED_VM;
  b.add('KVM_CREATE_VM', { type: BigInt(type) }, { as: 'vm' });
  const enc = (fd: string, id: number, data?: Value) =>
    b.add('KVM_MEMORY_ENCRYPT_OP', { fd: ref(fd), id: BigInt(id), ...(data === undefined ? {} : { data }) });
  if (vm === 'tdx') {
    enc('vm', EncryptCmd.KVM_TDX_INIT_VM, {
      cpuid: { nent: undefined, padding: 0n, entries: [cpuidEntry({ function: 0x80000008n, eax: 0x303030n })] },
    } as Value);
    b.add('KVM_ENABLE_CAP', { fd: ref('vm'), cap: 121n, args: [24n] });
    b.add('KVM_CREATE_VCPU', { fd: ref('vm'), id: 0n }, { as: 'vcpu' });
    b.add('KVM_SET_CPUID2', { fd: ref('vcpu'), entries: [cpuidEntry({ function: 1n, ecx: 0x200000n })] as Value });
    enc('vcpu', EncryptCmd.KVM_TDX_INIT_VCPU, 0n);
  }
  if (vm === 'snp') {
    enc('vm', EncryptCmd.KVM_SEV_INIT2, { vmsa_features: 0n });
    b.add('KVM_CREATE_VCPU', { fd: ref('vm'), id: 0n }, { as: 'vcpu' });
    enc('vm', EncryptCmd.KVM_SEV_SNP_LAUNCH_START, { policy: 0x30000n });
  }
  if (vm === 'sw-protected') b.add('KVM_CREATE_VCPU', { fd: ref('vm'), id: 0n }, { as: 'vcpu' });
  // the VMM handles the guest's conversion requests (KVM_HC_MAP_GPA_RANGE exits)
  b.add('KVM_ENABLE_CAP', { fd: ref('vm'), cap: BigInt(Cap.KVM_CAP_EXIT_HYPERCALL), args: [1n << 12n] });
  // INIT_SHARED exists for private-memory VMs only with in-place conversion
  const gmemFlags =
    vm === 'sw-protected' || inPlace
      ? or(GuestMemfdFlag.GUEST_MEMFD_FLAG_MMAP, GuestMemfdFlag.GUEST_MEMFD_FLAG_INIT_SHARED)
      : GuestMemfdFlag.GUEST_MEMFD_FLAG_MMAP;
  b.add('KVM_CREATE_GUEST_MEMFD', { fd: ref('vm'), size, flags: gmemFlags }, { as: 'gmem' });
  b.add('KVM_SET_USER_MEMORY_REGION2', {
    fd: ref('vm'),
    slot: 0n,
    flags: MemslotFlag.KVM_MEM_GUEST_MEMFD,
    guest_phys_addr: 0n,
    memory_size: size,
    guest_memfd: ref('gmem'),
  });
  b.add('mmap', { fd: ref('gmem'), length: size, prot: RW, flags: MapFlag.MAP_SHARED }, { as: 'map' });
  b.add('mmap', { length: size, prot: RW, flags: or(MapFlag.MAP_PRIVATE, MapFlag.MAP_ANONYMOUS) }, { as: 'buf' });
  for (let i = 0; i < pages; i++)
    b.add('store', { addr: ref('buf', BigInt(i) * P), data: { form: 'fill', fill: 0xb0 + i, length: P } });
  return { steps: b.steps };
}

/** Run the setup on a fresh kernel; returns the handles it bound. */
export function runSetup(k: Kernel, s: Setup): Handles {
  const h: Handles = new Map();
  for (const step of s.steps) {
    const o = k.step(lowerStep(step, h, NO_FILES));
    if (o.ret < 0n && step.as)
      throw new Error(`explore setup: ${step.op} failed with ${o.errno ?? o.signal} (${o.rule.id})`);
    if (step.as) h.set(step.as, o.ret);
  }
  return h;
}

export interface AlphabetOptions {
  vm: VmKind;
  pages: number;
  inPlace: boolean;
}

/**
 * The actions: conversions, stores, loads, punch-hole, pins, pre-fault, populate with each source
 * kind, finalize, close; and the guest's (each the KVM_RUN it causes): a private write, an accept, a
 * request to make a page shared, and the VMM's re-entry answering a request.
 */
export function alphabet(o: AlphabetOptions): Action[] {
  const a: Action[] = [];
  const b = new ScenarioBuilder();
  const act = (label: string, op: Step['op'], args: Record<string, Value>) => {
    const step = b.steps[b.add(op, args)]!;
    let lowered: { h: Handles; op: Op } | undefined;
    a.push({
      label,
      step,
      op: (h) => {
        if (lowered?.h !== h) lowered = { h, op: lowerStep(step, h, NO_FILES) };
        return lowered.op;
      },
    });
  };
  const PRIVATE = MemoryAttribute.KVM_MEMORY_ATTRIBUTE_PRIVATE;
  for (let i = 0; i < o.pages; i++) {
    const off = BigInt(i) * P;
    for (const priv of [true, false]) {
      const label = `p${i}:to-${priv ? 'private' : 'shared'}`;
      const attributes = priv ? PRIVATE : 0n;
      if (o.inPlace) act(label, 'KVM_SET_MEMORY_ATTRIBUTES2', { fd: ref('gmem'), offset: off, size: P, attributes });
      else act(label, 'KVM_SET_MEMORY_ATTRIBUTES', { fd: ref('vm'), address: off, size: P, attributes });
    }
    act(`p${i}:store`, 'store', { addr: ref('map', off), data: { form: 'fill', fill: 0xa0 + i, length: P } });
    act(`p${i}:load`, 'load', { addr: ref('map', off), length: 16n });
    act(`p${i}:punch`, 'fallocate', {
      fd: ref('gmem'),
      mode: or(FallocFlag.FALLOC_FL_KEEP_SIZE, FallocFlag.FALLOC_FL_PUNCH_HOLE),
      offset: off,
      len: P,
    });
    act(`p${i}:pin`, 'pin', { addr: ref('map', off), length: P });
    act(`p${i}:unpin`, 'unpin', { addr: ref('map', off), length: P });
    act(`p${i}:guest-write`, 'guest_access', {
      fd: ref('vcpu'),
      gpa: off,
      size: 16n,
      write: true,
      private: true,
      data: { form: 'fill', fill: 0xc0 + i, length: 16n },
    });
    if (o.vm !== 'sw-protected') act(`p${i}:guest-accept`, 'guest_accept', { fd: ref('vcpu'), gpa: off, npages: 1n });
    act(`p${i}:guest-map-shared`, 'guest_map_gpa', { fd: ref('vcpu'), gpa: off, npages: 1n, to: 0n });
    if (o.vm === 'sw-protected') continue;
    act(`p${i}:prefault`, 'KVM_PRE_FAULT_MEMORY', { fd: ref('vcpu'), gpa: off, size: P });
    const sources: [string, Value][] = [
      ['0', 0n],
      ['anon', ref('buf', off)],
      ['self', ref('map', off)],
      ['unmapped', UNMAPPED],
    ];
    for (const [kind, src] of sources) {
      if (o.vm === 'tdx') {
        for (const measure of [false, true])
          act(`p${i}:add(${kind}${measure ? ',measure' : ''})`, 'KVM_MEMORY_ENCRYPT_OP', {
            fd: ref('vcpu'),
            id: BigInt(EncryptCmd.KVM_TDX_INIT_MEM_REGION),
            ...(measure ? { flags: TdxFlag.KVM_TDX_MEASURE_MEMORY_REGION } : {}),
            data: { source_addr: src, gpa: off, nr_pages: 1n },
          });
      } else
        act(`p${i}:update(${kind})`, 'KVM_MEMORY_ENCRYPT_OP', {
          fd: ref('vm'),
          id: BigInt(EncryptCmd.KVM_SEV_SNP_LAUNCH_UPDATE),
          data: { gfn_start: BigInt(i), uaddr: src, len: P, type: BigInt(SnpPageType.KVM_SEV_SNP_PAGE_TYPE_NORMAL) },
        });
    }
  }
  if (o.vm === 'tdx')
    act('finalize', 'KVM_MEMORY_ENCRYPT_OP', { fd: ref('vm'), id: BigInt(EncryptCmd.KVM_TDX_FINALIZE_VM) });
  if (o.vm === 'snp')
    act('finish', 'KVM_MEMORY_ENCRYPT_OP', { fd: ref('vm'), id: BigInt(EncryptCmd.KVM_SEV_SNP_LAUNCH_FINISH) });
  act('run', 'KVM_RUN', { fd: ref('vcpu'), hypercall_ret: 0n });
  act('close(gmem)', 'close', { fd: ref('gmem') });
  return a;
}
