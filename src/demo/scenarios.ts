/**
 * The demo: the June 2026 thread's source-address ABI as the same few VMM sequences run under
 * every kernel profile. Each sequence is a real gmemsim/1 scenario (YAML text); where kernels
 * offer different trackers the sequence does what a VMM would do on that kernel (per-gmem
 * KVM_SET_MEMORY_ATTRIBUTES2 with in-place conversion, per-VM KVM_SET_MEMORY_ATTRIBUTES without).
 */
import { KernelNames, type ProfileName, Profiles } from '../core/profiles.ts';
import { hex0x as hex } from '../util/hex.ts';

export interface DemoRow {
  id: string;
  title: string;
  /** what the row shows, in one line */
  question: string;
  /** the knob the row needs; null = the profile's default */
  inPlace: boolean | null;
  /** 1-based index of the step whose result is the row's cell */
  keyStep?: number;
  yaml(profile: ProfileName): string | null;
}

const TD_SETUP = `  - KVM_CREATE_VM: { type: KVM_X86_TDX_VM }
    as: vm
  - KVM_MEMORY_ENCRYPT_OP:
      fd: vm
      id: KVM_TDX_INIT_VM
      data: { attributes: 0, xfam: 0x3, cpuid: { entries: [{ function: 0x80000008, eax: 0x00303030 }] } }
    expect: ok
  - KVM_ENABLE_CAP: { fd: vm, cap: KVM_CAP_SPLIT_IRQCHIP, args: [24] }
    expect: ok
  - KVM_CREATE_VCPU: { fd: vm, id: 0 }
    as: vcpu
  - KVM_SET_CPUID2: { fd: vcpu, entries: [{ function: 1, ecx: 0x200000 }] }
    expect: ok
  - KVM_MEMORY_ENCRYPT_OP: { fd: vcpu, id: KVM_TDX_INIT_VCPU, data: 0 }
    expect: ok
`;

const SLOT = (pages: number) => `  - KVM_SET_USER_MEMORY_REGION2:
      fd: vm
      slot: 0
      flags: [KVM_MEM_GUEST_MEMFD]
      guest_phys_addr: 0
      memory_size: ${hex(pages * 4096)}
      userspace_addr: 0
      guest_memfd: gmem
      guest_memfd_offset: 0
    expect: ok
`;

function header(title: string, profile: ProfileName, inPlace: boolean | null, extra = ''): string {
  const knob = Profiles[profile].inPlaceSeries && inPlace !== null ? `, gmem_in_place_conversion: ${inPlace}` : '';
  return `format: gmemsim/1
name: "${title}"
kernel: { profile: ${profile}${knob}${extra} }
steps:
`;
}

/** make gmem pages [0, n) private the way this kernel allows */
function makePrivate(profile: ProfileName, inPlace: boolean | null, n: number): string {
  const p = Profiles[profile];
  const onInPlace = p.inPlaceSeries && (inPlace ?? p.inPlaceDefault);
  return onInPlace
    ? `  - KVM_SET_MEMORY_ATTRIBUTES2: { fd: gmem, offset: 0, size: ${hex(n * 4096)}, attributes: [KVM_MEMORY_ATTRIBUTE_PRIVATE] }
    expect: ok
`
    : `  - KVM_SET_MEMORY_ATTRIBUTES: { fd: vm, address: 0, size: ${hex(n * 4096)}, attributes: [KVM_MEMORY_ATTRIBUTE_PRIVATE] }
    expect: ok
`;
}

const IMR = (src: string, gpa: number, n: number, extra = '') => `  - KVM_MEMORY_ENCRYPT_OP:
      fd: vcpu
      id: KVM_TDX_INIT_MEM_REGION
      flags: [KVM_TDX_MEASURE_MEMORY_REGION]
      data: { source_addr: ${src}, gpa: ${hex(gpa)}, nr_pages: ${n} }
${extra}`;

const FINISH = `  - KVM_MEMORY_ENCRYPT_OP: { fd: vm, id: KVM_TDX_FINALIZE_VM }
  - attest: { fd: vm }
`;

export const demoRows: DemoRow[] = [
  {
    id: 'in-place-add',
    title: 'source 0 with in-place conversion: the target page is its own source',
    question: 'write the image through the guest_memfd mapping, convert it to private, add it with source 0',
    inPlace: true,
    yaml: (profile) => {
      if (!Profiles[profile].inPlaceSeries) return null;
      return (
        header('source 0 with in-place conversion (in-place add)', profile, true) +
        TD_SETUP +
        `  - KVM_CREATE_GUEST_MEMFD: { fd: vm, size: 0x4000, flags: [GUEST_MEMFD_FLAG_MMAP, GUEST_MEMFD_FLAG_INIT_SHARED] }
    as: gmem
    expect: ok
${SLOT(4)}  - mmap: { fd: gmem, length: 0x4000, prot: [PROT_READ, PROT_WRITE], flags: [MAP_SHARED] }
    as: image
    expect: ok
  - store: { addr: image, data: { fill: 0xaa, length: 0x1000 } }
    expect: ok
${makePrivate(profile, true, 1)}${IMR('0', 0, 1)}${FINISH}`
      );
    },
  },
  {
    id: 'src0-out-of-place',
    title: 'source 0 without in-place conversion (per-VM attributes)',
    question: 'a page made private with per-VM attributes, added with source 0: what does 0 mean?',
    inPlace: false,
    yaml: (profile) =>
      header('source 0 without in-place conversion', profile, false) +
      TD_SETUP +
      `  - KVM_CREATE_GUEST_MEMFD: { fd: vm, size: 0x4000 }
    as: gmem
    expect: ok
${SLOT(4)}${makePrivate(profile, false, 1)}${IMR('0', 0, 1)}${FINISH}`,
  },
  {
    id: 'va0-mapped',
    title: 'source 0 while userspace has a valid mapping at virtual address 0',
    question: 'vm.mmap_min_addr = 0 and the image mapped at VA 0: is 0 an address or "no source"?',
    inPlace: false,
    yaml: (profile) =>
      header('source 0 with a valid mapping at VA 0', profile, false, ', mmap_min_addr: 0') +
      TD_SETUP +
      `  - mmap: { addr: 0, length: 0x1000, prot: [PROT_READ, PROT_WRITE], flags: [MAP_PRIVATE, MAP_ANONYMOUS, MAP_FIXED] }
    expect: { ret: 0 }
  - store: { addr: 0, data: { fill: 0xaa, length: 0x1000 } }
    expect: ok
  - KVM_CREATE_GUEST_MEMFD: { fd: vm, size: 0x4000 }
    as: gmem
    expect: ok
${SLOT(4)}${makePrivate(profile, false, 1)}${IMR('0', 0, 1)}${FINISH}`,
  },
  {
    id: 'double-add',
    title: 'the same page added twice',
    question: "KVM_TDX_INIT_MEM_REGION twice on one GPA (the thread's side topic)",
    inPlace: null,
    keyStep: 0,
    yaml: (profile) =>
      header('the same page added twice', profile, null) +
      TD_SETUP +
      `  - mmap: { length: 0x4000, prot: [PROT_READ, PROT_WRITE], flags: [MAP_PRIVATE, MAP_ANONYMOUS] }
    as: buf
  - store: { addr: buf, data: { fill: 0x42, length: 0x1000 } }
    expect: ok
  - KVM_CREATE_GUEST_MEMFD: { fd: vm, size: 0x4000 }
    as: gmem
    expect: ok
${SLOT(4)}${makePrivate(profile, null, 4)}${IMR('buf', 0, 1, '    expect: ok\n')}${IMR('buf', 0, 1)}${FINISH}`,
  },
  {
    id: 'resume',
    title: 'a signal mid-region, then resume',
    question: 'EINTR after 2 of 4 pages; resume from the written-back struct; then replay the original',
    inPlace: null,
    yaml: (profile) =>
      header('interrupted INIT_MEM_REGION, resumed, then replayed', profile, null) +
      TD_SETUP +
      `  - mmap: { length: 0x4000, prot: [PROT_READ, PROT_WRITE], flags: [MAP_PRIVATE, MAP_ANONYMOUS] }
    as: buf
  - store: { addr: buf, data: { fill: 0x42, length: 0x4000 } }
    expect: ok
  - KVM_CREATE_GUEST_MEMFD: { fd: vm, size: 0x4000 }
    as: gmem
    expect: ok
${SLOT(4)}${makePrivate(profile, null, 4)}${IMR('buf', 0, 4, '    inject: { signal_after_pages: 2 }\n    expect: { errno: EINTR, data: { source_addr: buf+0x2000, gpa: 0x2000, nr_pages: 2 } }\n')}${IMR('buf+0x2000', 0x2000, 2, '    expect: { ret: 0, data: { source_addr: buf+0x4000, gpa: 0x4000, nr_pages: 0 } }\n')}${IMR('buf', 0, 4)}${FINISH}`,
  },
];

/** one column per kernel, newest first (the release profiles, the era-A tree point, the what-if) */
export const demoProfiles: ProfileName[] = [...KernelNames];
