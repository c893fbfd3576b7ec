/**
 * The measured-equals-guest invariant can fail: with the host mapping left in place
 * (unmap-on-private off), a host write into an added page changes what the guest has after it
 * was measured, and the check sees it.
 */
import { describe, expect, it } from 'vitest';
import { checkInvariants } from '../src/core/invariants.ts';
import { nodeHost } from '../src/node/host.ts';
import { runScenario } from '../src/scenario/run.ts';
import { loadText } from './support/scenarios.ts';

const scenario = `format: gmemsim/1
name: host write into a measured TD page through a stale mapping
kernel: { profile: in-place, gmem_in_place_conversion: true, safeguards: { unmap-on-private: off } }
steps:
  - KVM_CREATE_VM: { type: KVM_X86_TDX_VM }
    as: vm
  - KVM_MEMORY_ENCRYPT_OP: { fd: vm, id: KVM_TDX_INIT_VM, data: { cpuid: { entries: [{ function: 0x80000008, eax: 0x303030 }] } } }
  - KVM_ENABLE_CAP: { fd: vm, cap: KVM_CAP_SPLIT_IRQCHIP, args: [24] }
  - KVM_CREATE_VCPU: { fd: vm, id: 0 }
    as: vcpu
  - KVM_SET_CPUID2: { fd: vcpu, entries: [{ function: 1, ecx: 0x200000 }] }
  - KVM_MEMORY_ENCRYPT_OP: { fd: vcpu, id: KVM_TDX_INIT_VCPU, data: 0 }
  - KVM_CREATE_GUEST_MEMFD: { fd: vm, size: 0x1000, flags: [GUEST_MEMFD_FLAG_MMAP, GUEST_MEMFD_FLAG_INIT_SHARED] }
    as: gmem
  - KVM_SET_USER_MEMORY_REGION2: { fd: vm, slot: 0, flags: [KVM_MEM_GUEST_MEMFD], guest_phys_addr: 0, memory_size: 0x1000, guest_memfd: gmem }
  - mmap: { fd: gmem, length: 0x1000, prot: [PROT_READ, PROT_WRITE], flags: [MAP_SHARED] }
    as: map
  - store: { addr: map, data: { fill: 0x11, length: 0x1000 } }
  - KVM_SET_MEMORY_ATTRIBUTES2: { fd: gmem, offset: 0, size: 0x1000, attributes: [KVM_MEMORY_ATTRIBUTE_PRIVATE] }
  - KVM_MEMORY_ENCRYPT_OP: { fd: vcpu, id: KVM_TDX_INIT_MEM_REGION, flags: [KVM_TDX_MEASURE_MEMORY_REGION], data: { source_addr: 0, gpa: 0, nr_pages: 1 } }
    expect: ok
  - store: { addr: map, data: { fill: 0x22, length: 0x1000 } }
    expect: { violates: measured-equals-guest }
`;

/** the host faults the page in by reading it instead of writing 0x11 */
const ZERO_FIRST = [
  '  - store: { addr: map, data: { fill: 0x11, length: 0x1000 } }\n',
  '  - load: { addr: map, length: 1 }\n',
] as const;

describe('measured-equals-guest', () => {
  it('has a zero-page variant (the replacement finds its line)', () => {
    expect(scenario).toContain(ZERO_FIRST[0]);
  });

  it.each([
    ['an added page', scenario],
    // the page was never written when added (the host mapped it by reading it): the module keeps
    // such zero pages as ranges, not one by one
    ['a page added as zeros', scenario.replace(ZERO_FIRST[0], ZERO_FIRST[1])],
  ])('breaks when the host rewrites %s through a mapping it kept', (_what, text) => {
    const r = runScenario(loadText('inline.yaml', text), nodeHost);
    const last = r.steps.at(-1)!;
    expect(last.outcome.ret).toBe(4096n);
    expect(
      last.checks.every((c) => c.ok),
      JSON.stringify(last.checks),
    ).toBe(true);
    expect(checkInvariants(r.kernel).map((v) => v.invariant)).toContain('measured-equals-guest');
  });

  it('holds for a page added as zeros that nobody wrote after', () => {
    const text = scenario
      .replace(ZERO_FIRST[0], ZERO_FIRST[1])
      .replace(/ {2}- store: \{ addr: map, data: \{ fill: 0x22.*\n.*\n/, '');
    const r = runScenario(loadText('inline.yaml', text), nodeHost);
    // (the mapping kept over a private page breaks another invariant, host-never-maps-private)
    expect(checkInvariants(r.kernel).map((v) => v.invariant)).not.toContain('measured-equals-guest');
  });
});
