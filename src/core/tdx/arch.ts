/** TDX's arch hooks (vt_* for a TD in arch/x86/kvm/vmx/main.c): the core's arch table holds them for KVM_X86_TDX_VM. */

import { toHex } from '../../util/hex.ts';
import type { ArchOps } from '../arch.ts';
import { clearFolios } from '../guest_memfd/folio.ts';
import { fail, ok } from '../outcome.ts';
import { cite, defineRules } from '../rule.ts';
import { gmemIndex, type Vm } from '../state.ts';
import { R as ImrR } from './init_mem_region.ts';
import { R as RunR, tdxRuntime } from './runtime.ts';
import { isSharedGfn, newTdx, tdxOf } from './state.ts';
import { tdxVcpuIoctl, R as VcpuR } from './vcpu.ts';
import { tdxVmIoctl, R as VmR } from './vm.ts';

export const R = defineRules('tdx', 'TDX', {
  gfnAlias: {
    op: 'KVM_SET_USER_MEMORY_REGION2',
    errno: 'EINVAL',
    reason: "a TD memslot may not cover GFNs with the shared bit set (kvm_is_gfn_alias on the slot's last gfn)",
    cite: cite.x86('kvm_arch_prepare_memory_region'),
  },
  notFinalized: {
    op: 'attest',
    errno: 'EINVAL',
    reason:
      "the MRTD exists only after KVM_TDX_FINALIZE_VM (TDH.MR.FINALIZE finalises it); the errno is gmemsim's own (attest is not a KVM ioctl)",
    cite: cite.tdx('tdx_td_finalize'),
    confidence: 'inferred',
  },
  mrtd: {
    op: 'attest',
    reason: 'the MRTD a TD quote reports: SHA-384 over the PAGE.ADD and MR.EXTEND records',
    cite: {
      repo: 'intel/tdx-module',
      path: 'src/vmm_dispatcher/api_calls/tdh_mr_finalize.c',
      commit: '1666adc494dbea5db99895f37125a338c20bec5a',
      fn: 'tdh_mr_finalize',
    },
  },
});

/** every TDX rule set (the catalogue lists them) */
export const tdxRuleSets = [R, VmR, VcpuR, ImrR, RunR];

const isGfnAlias = (vm: Vm, gfn: number): boolean => isSharedGfn(tdxOf(vm), gfn);

export const tdxArch: ArchOps = {
  initVm(k, vm) {
    vm.arch = newTdx(k);
  },
  createVcpu(_k, vm, vcpu) {
    const td = tdxOf(vm);
    if (td.state !== 'INITIALIZED') return VcpuR.createState;
    if (vm.irqchip !== 'split') return VcpuR.createIrqchip;
    vcpu.tdx = { state: 'UNINITIALIZED' };
    return null;
  },
  memEncOp(k, op, vm, vcpu) {
    return vcpu ? tdxVcpuIoctl(k, op, vm, vcpu) : tdxVmIoctl(k, op, vm);
  },
  zap(k, vm, start, end, filter) {
    if (!filter.private) return;
    const td = tdxOf(vm);
    // [v6.18] zapping a mapped-but-never-added page drops it from nr_premapped
    for (const gfn of td.premapped) if (gfn >= start && gfn < end) td.premapped.delete(gfn);
    for (const [s, e] of td.module.remove(start, end)) {
      // TDH.MEM.PAGE.REMOVE: what the host sees in the page afterwards is not defined
      for (let gfn = s; gfn < e; ) {
        const slot = vm.slotForGfn(gfn);
        const stop = slot ? Math.min(e, slot.baseGfn + slot.npages) : gfn + 1;
        const inode = slot?.gmem?.inode;
        if (slot && inode) {
          const i0 = gmemIndex(slot, gfn);
          // tdx_quirk_reset_paddr after TDH.MEM.PAGE.REMOVE (tdx_sept_remove_leaf_spte): what the guest wrote at run time is gone
          if (k.safeguard('clear-on-remove'))
            for (const [a, b] of [...inode.guestWritten.within(i0, i0 + (stop - gfn))]) clearFolios(inode, a, b);
          inode.undefinedContent.add(i0, i0 + (stop - gfn));
        }
        gfn = stop;
      }
    }
  },
  prepareMemslot(_k, vm, baseGfn, npages) {
    return isGfnAlias(vm, baseGfn + npages - 1) ? R.gfnAlias : null;
  },
  gfnAlias: isGfnAlias,
  runtime: tdxRuntime,
  privateMapped: (vm, _inode, _index, gfn) => tdxOf(vm).module.mapped(gfn),
  mapPrivate(_k, vm, _inode, gfn, end) {
    // tdx_sept_set_private_spte on a RUNNABLE TD: TDH.MEM.PAGE.AUG for what the S-EPT does not map yet
    tdxOf(vm).module.pageAug(gfn, end);
  },
  preRun(_k, vcpu) {
    const td = tdxOf(vcpu.vm);
    if (vcpu.tdx?.state !== 'INITIALIZED' || td.state !== 'RUNNABLE') return VcpuR.runState;
    return null;
  },
  attest(_k, vm) {
    const td = tdxOf(vm);
    if (!td.module.finalized || !td.module.mrtd) return fail(R.notFinalized);
    return ok(R.mrtd, 0, { mrtd: toHex(td.module.mrtd) });
  },
  describe(vm) {
    const td = tdxOf(vm);
    return {
      state: td.state,
      pageAdds: td.module.pageAdds,
      extends: td.module.extends,
      mrtd: toHex(td.module.peek()),
    };
  },
};
