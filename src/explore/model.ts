/**
 * What the explorer explores: a small VM set up once, and an alphabet of single operations on
 * its pages. Every action is both a core operation (to run) and a scenario step (to print a
 * counterexample that `gmemsim run` replays).
 */
import type { Kernel } from '../core/kernel.ts';
import type { Op } from '../core/ops.ts';
import { hex0x as hex } from '../util/hex.ts';

export type VmKind = 'tdx' | 'snp' | 'sw-protected';

export interface Action {
  /** short label for traces */
  readonly label: string;
  /** the scenario step (YAML, two-space indented under `steps:`) */
  readonly yaml: string;
  op(h: Handles): Op;
}

export interface Handles {
  vm: bigint;
  vcpu: bigint;
  gmem: bigint;
  /** the guest_memfd mapping */
  map: bigint;
  /** an anonymous source buffer holding a distinct byte per page */
  buf: bigint;
}

export interface Setup {
  readonly yaml: string;
  readonly ops: (h: Partial<Handles>) => { op: Op; bind?: keyof Handles }[];
}

const P = 4096n;
/** an address nothing is mapped at */
const UNMAPPED = 0x200000n;
const NO_FD = (1n << 64n) - 1n;

function enc(fd: bigint, id: bigint, data: unknown, flags = 0n): Op {
  return { op: 'KVM_MEMORY_ENCRYPT_OP', fd, id, flags, data: data as never, hw_error: 0n, error: 0n, sev_fd: 4n };
}

/** The VM the explorer starts from: ready to populate `pages` pages at GPA 0, all shared where the kernel allows. */
export function setup(vm: VmKind, pages: number, inPlace: boolean): Setup {
  const size = BigInt(pages) * P;
  const type = vm === 'tdx' ? 'KVM_X86_TDX_VM' : vm === 'snp' ? 'KVM_X86_SNP_VM' : 'KVM_X86_SW_PROTECTED_VM';
  const typeNum = vm === 'tdx' ? 5n : vm === 'snp' ? 4n : 1n;
  // INIT_SHARED exists for private-memory VMs only with in-place conversion
  const flags = vm === 'sw-protected' || inPlace ? 3n : 1n;
  const flagYaml = flags === 3n ? '[GUEST_MEMFD_FLAG_MMAP, GUEST_MEMFD_FLAG_INIT_SHARED]' : '[GUEST_MEMFD_FLAG_MMAP]';
  const y: string[] = [`  - KVM_CREATE_VM: { type: ${type} }\n    as: vm`];
  if (vm === 'tdx') {
    y.push(
      '  - KVM_MEMORY_ENCRYPT_OP: { fd: vm, id: KVM_TDX_INIT_VM, data: { cpuid: { entries: [{ function: 0x80000008, eax: 0x303030 }] } } }',
      '  - KVM_ENABLE_CAP: { fd: vm, cap: KVM_CAP_SPLIT_IRQCHIP, args: [24] }',
      '  - KVM_CREATE_VCPU: { fd: vm, id: 0 }\n    as: vcpu',
      '  - KVM_SET_CPUID2: { fd: vcpu, entries: [{ function: 1, ecx: 0x200000 }] }',
      '  - KVM_MEMORY_ENCRYPT_OP: { fd: vcpu, id: KVM_TDX_INIT_VCPU, data: 0 }',
    );
  }
  if (vm === 'snp') {
    y.push(
      '  - KVM_MEMORY_ENCRYPT_OP: { fd: vm, id: KVM_SEV_INIT2, data: { vmsa_features: 0 } }',
      '  - KVM_CREATE_VCPU: { fd: vm, id: 0 }\n    as: vcpu',
      '  - KVM_MEMORY_ENCRYPT_OP: { fd: vm, id: KVM_SEV_SNP_LAUNCH_START, data: { policy: 0x30000 } }',
    );
  }
  y.push(
    `  - KVM_CREATE_GUEST_MEMFD: { fd: vm, size: ${hex(size)}, flags: ${flagYaml} }\n    as: gmem`,
    `  - KVM_SET_USER_MEMORY_REGION2: { fd: vm, slot: 0, flags: [KVM_MEM_GUEST_MEMFD], guest_phys_addr: 0, memory_size: ${hex(size)}, guest_memfd: gmem }`,
    `  - mmap: { fd: gmem, length: ${hex(size)}, prot: [PROT_READ, PROT_WRITE], flags: [MAP_SHARED] }\n    as: map`,
    `  - mmap: { length: ${hex(size)}, prot: [PROT_READ, PROT_WRITE], flags: [MAP_PRIVATE, MAP_ANONYMOUS] }\n    as: buf`,
  );
  for (let i = 0; i < pages; i++)
    y.push(`  - store: { addr: buf+${hex(BigInt(i) * P)}, data: { fill: ${hex(0xb0 + i)}, length: 0x1000 } }`);
  const yaml = `${y.join('\n')}\n`;
  const ops = (_h: Partial<Handles>): { op: Op; bind?: keyof Handles }[] => {
    const o: { op: Op; bind?: keyof Handles }[] = [{ op: { op: 'KVM_CREATE_VM', fd: 3n, type: typeNum }, bind: 'vm' }];
    if (vm === 'tdx') {
      o.push(
        {
          op: enc(0n, 1n, {
            cpuid: { nent: 1n, padding: 0n, entries: [{ function: 0x80000008n, index: 0n, eax: 0x303030n }] },
          }),
        },
        { op: { op: 'KVM_ENABLE_CAP', fd: 0n, cap: 121n, flags: 0n, args: [24n] } },
        { op: { op: 'KVM_CREATE_VCPU', fd: 0n, id: 0n }, bind: 'vcpu' },
        {
          op: {
            op: 'KVM_SET_CPUID2',
            fd: 0n,
            nent: 1n,
            entries: [{ function: 1n, index: 0n, flags: 0n, eax: 0n, ebx: 0n, ecx: 0x200000n, edx: 0n }],
          },
        },
        { op: enc(0n, 2n, 0n) },
      );
    }
    if (vm === 'snp') {
      o.push(
        { op: enc(0n, 22n, { vmsa_features: 0n }) },
        { op: { op: 'KVM_CREATE_VCPU', fd: 0n, id: 0n }, bind: 'vcpu' },
        { op: enc(0n, 100n, { policy: 0x30000n }) },
      );
    }
    o.push(
      { op: { op: 'KVM_CREATE_GUEST_MEMFD', fd: 0n, size, flags }, bind: 'gmem' },
      {
        op: {
          op: 'KVM_SET_USER_MEMORY_REGION2',
          fd: 0n,
          slot: 0n,
          flags: 4n,
          guest_phys_addr: 0n,
          memory_size: size,
          userspace_addr: 0n,
          guest_memfd: 0n,
          guest_memfd_offset: 0n,
        },
      },
      { op: { op: 'mmap', addr: 0n, length: size, prot: 3n, flags: 1n, fd: 0n, offset: 0n }, bind: 'map' },
      { op: { op: 'mmap', addr: 0n, length: size, prot: 3n, flags: 0x22n, fd: NO_FD, offset: 0n }, bind: 'buf' },
    );
    for (let i = 0; i < pages; i++)
      o.push({ op: { op: 'store', addr: BigInt(i) * P, data: { kind: 'fill', byte: 0xb0 + i, length: P } } });
    return o;
  };
  return { yaml, ops };
}

/** Run the setup on a fresh kernel; returns the handles it bound. */
export function runSetup(k: Kernel, s: Setup): Handles {
  const h: Partial<Handles> = {};
  for (const { op, bind } of s.ops(h)) {
    const fixed = fixFds(op, h);
    const o = k.step(fixed);
    if (o.ret < 0n && bind)
      throw new Error(`explore setup: ${op.op} failed with ${o.errno ?? o.signal} (${o.rule.id})`);
    if (bind) h[bind] = o.ret;
  }
  return h as Handles;
}

/** the setup ops are written with fd 0 / addr offsets; fill in the bound handles */
function fixFds(op: Op, h: Partial<Handles>): Op {
  switch (op.op) {
    case 'KVM_ENABLE_CAP':
    case 'KVM_CREATE_VCPU':
    case 'KVM_CREATE_GUEST_MEMFD':
      return { ...op, fd: h.vm! };
    case 'KVM_SET_USER_MEMORY_REGION2':
      return { ...op, fd: h.vm!, guest_memfd: h.gmem! };
    case 'KVM_SET_CPUID2':
      return { ...op, fd: h.vcpu! };
    case 'KVM_MEMORY_ENCRYPT_OP':
      return { ...op, fd: op.id === 2n ? h.vcpu! : h.vm! };
    case 'mmap':
      return op.fd === 0n ? { ...op, fd: h.gmem! } : op;
    case 'store':
      return { ...op, addr: h.buf! + op.addr };
    default:
      return op;
  }
}

export interface AlphabetOptions {
  vm: VmKind;
  pages: number;
  inPlace: boolean;
}

/** The actions: conversions, stores, loads, punch-hole, pins, pre-fault, populate with each source kind, finalize, close. */
export function alphabet(o: AlphabetOptions): Action[] {
  const a: Action[] = [];
  for (let i = 0; i < o.pages; i++) {
    const off = BigInt(i) * P;
    for (const priv of [true, false]) {
      const attrs = priv ? 8n : 0n;
      const name = priv ? '[KVM_MEMORY_ATTRIBUTE_PRIVATE]' : '0';
      if (o.inPlace)
        a.push({
          label: `p${i}:to-${priv ? 'private' : 'shared'}`,
          yaml: `  - KVM_SET_MEMORY_ATTRIBUTES2: { fd: gmem, offset: ${hex(off)}, size: 0x1000, attributes: ${name} }`,
          op: (h) => ({
            op: 'KVM_SET_MEMORY_ATTRIBUTES2',
            fd: h.gmem,
            offset: off,
            size: P,
            attributes: attrs,
            flags: 0n,
            reserved: [],
            error_offset: 0n,
          }),
        });
      else
        a.push({
          label: `p${i}:to-${priv ? 'private' : 'shared'}`,
          yaml: `  - KVM_SET_MEMORY_ATTRIBUTES: { fd: vm, address: ${hex(off)}, size: 0x1000, attributes: ${name} }`,
          op: (h) => ({
            op: 'KVM_SET_MEMORY_ATTRIBUTES',
            fd: h.vm,
            address: off,
            size: P,
            attributes: attrs,
            flags: 0n,
          }),
        });
    }
    a.push({
      label: `p${i}:store`,
      yaml: `  - store: { addr: map+${hex(off)}, data: { fill: ${hex(0xa0 + i)}, length: 0x1000 } }`,
      op: (h) => ({ op: 'store', addr: h.map + off, data: { kind: 'fill', byte: 0xa0 + i, length: P } }),
    });
    a.push({
      label: `p${i}:load`,
      yaml: `  - load: { addr: map+${hex(off)}, length: 16 }`,
      op: (h) => ({ op: 'load', addr: h.map + off, length: 16n }),
    });
    a.push({
      label: `p${i}:punch`,
      yaml: `  - fallocate: { fd: gmem, mode: [FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE], offset: ${hex(off)}, len: 0x1000 }`,
      op: (h) => ({ op: 'fallocate', fd: h.gmem, mode: 3n, offset: off, len: P }),
    });
    a.push({
      label: `p${i}:pin`,
      yaml: `  - pin: { addr: map+${hex(off)}, length: 0x1000 }`,
      op: (h) => ({ op: 'pin', addr: h.map + off, length: P }),
    });
    a.push({
      label: `p${i}:unpin`,
      yaml: `  - unpin: { addr: map+${hex(off)}, length: 0x1000 }`,
      op: (h) => ({ op: 'unpin', addr: h.map + off, length: P }),
    });
    if (o.vm === 'sw-protected') continue;
    a.push({
      label: `p${i}:prefault`,
      yaml: `  - KVM_PRE_FAULT_MEMORY: { fd: vcpu, gpa: ${hex(off)}, size: 0x1000 }`,
      op: (h) => ({ op: 'KVM_PRE_FAULT_MEMORY', fd: h.vcpu, gpa: off, size: P, flags: 0n }),
    });
    const sources: [string, string, (h: Handles) => bigint][] = [
      ['0', '0', () => 0n],
      ['anon', `buf+${hex(off)}`, (h) => h.buf + off],
      ['self', `map+${hex(off)}`, (h) => h.map + off],
      ['unmapped', hex(UNMAPPED), () => UNMAPPED],
    ];
    for (const [kind, yamlSrc, src] of sources) {
      if (o.vm === 'tdx') {
        for (const measure of [false, true]) {
          a.push({
            label: `p${i}:add(${kind}${measure ? ',measure' : ''})`,
            yaml: `  - KVM_MEMORY_ENCRYPT_OP: { fd: vcpu, id: KVM_TDX_INIT_MEM_REGION${measure ? ', flags: [KVM_TDX_MEASURE_MEMORY_REGION]' : ''}, data: { source_addr: ${yamlSrc}, gpa: ${hex(off)}, nr_pages: 1 } }`,
            op: (h) => enc(h.vcpu, 3n, { source_addr: src(h), gpa: off, nr_pages: 1n }, measure ? 1n : 0n),
          });
        }
      } else {
        a.push({
          label: `p${i}:update(${kind})`,
          yaml: `  - KVM_MEMORY_ENCRYPT_OP: { fd: vm, id: KVM_SEV_SNP_LAUNCH_UPDATE, data: { gfn_start: ${i}, uaddr: ${yamlSrc}, len: 0x1000, type: KVM_SEV_SNP_PAGE_TYPE_NORMAL } }`,
          op: (h) => enc(h.vm, 101n, { gfn_start: BigInt(i), uaddr: src(h), len: P, type: 1n }),
        });
      }
    }
  }
  if (o.vm === 'tdx')
    a.push({
      label: 'finalize',
      yaml: '  - KVM_MEMORY_ENCRYPT_OP: { fd: vm, id: KVM_TDX_FINALIZE_VM }',
      op: (h) => enc(h.vm, 4n, {}),
    });
  if (o.vm === 'snp')
    a.push({
      label: 'finish',
      yaml: '  - KVM_MEMORY_ENCRYPT_OP: { fd: vm, id: KVM_SEV_SNP_LAUNCH_FINISH }',
      op: (h) => enc(h.vm, 102n, {}),
    });
  a.push({ label: 'close(gmem)', yaml: '  - close: { fd: gmem }', op: (h) => ({ op: 'close', fd: h.gmem }) });
  return a;
}
