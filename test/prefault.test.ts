/**
 * KVM_PRE_FAULT_MEMORY of a private GPA maps it: kvm_gmem_get_pfn allocates and clears the folio, and
 * the arch maps it (TDX after finalize: TDH.MEM.PAGE.AUG, unmeasured; SNP after LAUNCH_FINISH: the RMP
 * entry is assigned). Userspace sees only the return value; the state is what `run --json` and
 * `gmemsim view` show, so it is checked here on the model.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SEPT_ADDED, SEPT_AUGMENTED } from '../src/core/tdx/module.ts';
import type { TdxVm } from '../src/core/tdx/state.ts';
import { nodeHost } from '../src/node/host.ts';
import { runScenario } from '../src/scenario/run.ts';
import { load, loadText, ROOT } from './support/scenarios.ts';

describe('KVM_PRE_FAULT_MEMORY of private GPAs', () => {
  it('AUGs a finalized TD page once, leaves the added ones, and does not measure', () => {
    const r = runScenario(load(join(ROOT, 'test/scenarios/tdx/prefault.yaml')), nodeHost);
    expect(r.steps.every((s) => s.ok)).toBe(true);
    const vm = r.kernel.vms[0]!;
    const td = vm.arch as TdxVm;
    // the last step pre-faulted GPA 0 (private, in the memslot, never added)
    expect(td.module.sept.get(0)).toBe(SEPT_AUGMENTED);
    expect(td.module.sept.get(1)).toBeUndefined();
    expect(td.module.pageAdds).toBe(0);
    const inode = vm.memslots[0]!.gmem!.inode!;
    expect([inode.allocated.has(0), inode.uptodate.has(0), inode.allocated.has(1)]).toEqual([true, true, false]);
  });

  it('gives an already added TD page no second mapping', () => {
    const e48 = readFileSync(join(ROOT, 'test/scenarios/tdx/e48-after-finalize.yaml'), 'utf8');
    // e48's set-up (a TD, a vCPU, 4 private pages, a source buffer), then its own ending replaced
    const setup = e48.slice(0, e48.indexOf('  - KVM_MEMORY_ENCRYPT_OP: { fd: vm, id: KVM_TDX_FINALIZE_VM }'));
    const text = `${setup}  - KVM_MEMORY_ENCRYPT_OP:
      fd: vcpu
      id: KVM_TDX_INIT_MEM_REGION
      flags: [KVM_TDX_MEASURE_MEMORY_REGION]
      data: { source_addr: buf, gpa: 0, nr_pages: 1 }
    expect: ok
  - KVM_MEMORY_ENCRYPT_OP: { fd: vm, id: KVM_TDX_FINALIZE_VM }
    expect: { ret: 0, hw_error: 0 }
  - KVM_PRE_FAULT_MEMORY: { fd: vcpu, gpa: 0, size: 0x2000 }
    expect: { ret: 0, data: { gpa: 0x2000, size: 0 } }
`;
    const r = runScenario(loadText('inline.yaml', text), nodeHost);
    expect(r.steps.every((x) => x.ok)).toBe(true);
    const td = r.kernel.vms[0]!.arch as TdxVm;
    expect([td.module.sept.get(0), td.module.sept.get(1), td.module.sept.get(2)]).toEqual([
      SEPT_ADDED,
      SEPT_AUGMENTED,
      undefined,
    ]);
    expect([td.module.pageAdds, td.module.extends]).toEqual([1, 16]);
  });

  it('assigns the RMP entry of an SNP page after LAUNCH_FINISH, without measuring it', () => {
    const text = `format: gmemsim/1
name: SNP pre-fault after finish
kernel: { profile: kvm-x86 }
steps:
  - KVM_CREATE_VM: { type: KVM_X86_SNP_VM }
    as: vm
  - KVM_MEMORY_ENCRYPT_OP: { fd: vm, id: KVM_SEV_INIT2, data: { vmsa_features: 0 } }
  - KVM_CREATE_VCPU: { fd: vm, id: 0 }
    as: vcpu0
  - KVM_CREATE_GUEST_MEMFD: { fd: vm, size: 0x4000 }
    as: gmem
  - KVM_SET_USER_MEMORY_REGION2: { fd: vm, slot: 0, flags: [KVM_MEM_GUEST_MEMFD], guest_phys_addr: 0x100000, memory_size: 0x4000, guest_memfd: gmem }
  - KVM_SET_MEMORY_ATTRIBUTES: { fd: vm, address: 0x100000, size: 0x2000, attributes: [KVM_MEMORY_ATTRIBUTE_PRIVATE] }
  - KVM_MEMORY_ENCRYPT_OP: { fd: vm, id: KVM_SEV_SNP_LAUNCH_START, data: { policy: 0x30000 } }
  - KVM_MEMORY_ENCRYPT_OP: { fd: vm, id: KVM_SEV_SNP_LAUNCH_FINISH }
  - attest: { fd: vm }
    as: before
  - KVM_PRE_FAULT_MEMORY: { fd: vcpu0, gpa: 0x100000, size: 0x4000 }
    expect: { ret: 0, data: { gpa: 0x104000, size: 0 } }
  - attest: { fd: vm }
`;
    const r = runScenario(loadText('inline.yaml', text), nodeHost);
    expect(r.steps.every((s) => s.ok)).toBe(true);
    const snp = r.kernel.vms[0]!.arch as import('../src/core/snp/state.ts').SnpVm;
    const inode = r.kernel.vms[0]!.memslots[0]!.gmem!.inode!;
    const rmp = snp.rmp.get(inode.id)!;
    // the two private pages are assigned, the two shared ones are not
    expect([rmp.has(0), rmp.has(1), rmp.has(2), rmp.has(3)]).toEqual([true, true, false, false]);
    expect(r.steps.at(-1)!.outcome.out.measurement).toBe(r.steps.at(-3)!.outcome.out.measurement);
  });
});
