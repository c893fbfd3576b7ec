/**
 * A TD at run time: TDG.VP.VMCALL<MapGPA> (tdx_map_gpa, __tdx_map_gpa, tdx_complete_vmcall_map_gpa)
 * and TDG.MEM.PAGE.ACCEPT of a page KVM mapped with TDH.MEM.PAGE.AUG (tdx_sept_set_private_spte on a
 * RUNNABLE TD). The guest's view of a GPA is its shared bit.
 */
import { type GuestRuntime, mapGpaSide } from '../arch.ts';
import { clearFolio } from '../guest_memfd/folio.ts';
import { cite, defineRules } from '../rule.ts';
import { KVM_HC_MAP_GPA_RANGE } from '../uapi.ts';
import { SEPT_ACCEPTED, SEPT_AUGMENTED } from './module.ts';
import { isSharedGfn, tdxOf } from './state.ts';

export const R = defineRules('tdx.run', 'guest_map_gpa', {
  mapGpaNoExit: {
    reason:
      'MapGPA without KVM_CAP_EXIT_HYPERCALL(BIT(KVM_HC_MAP_GPA_RANGE)): no exit, the guest gets TDVMCALL_STATUS_SUBFUNC_UNSUPPORTED',
    cite: cite.kxTdx('tdx_map_gpa'),
  },
  mapGpaOperand: {
    reason:
      'MapGPA range wraps, is beyond the guest physical address width, or crosses the shared bit: the guest gets TDVMCALL_STATUS_INVALID_OPERAND',
    cite: cite.kxTdx('tdx_map_gpa'),
  },
  mapGpaExit: {
    reason:
      'MapGPA → KVM_EXIT_HYPERCALL (nr KVM_HC_MAP_GPA_RANGE, args: GPA without the shared bit, pages (at most 2 MiB per exit), ENCRYPTED or DECRYPTED), hypercall.ret zeroed',
    cite: cite.kxTdx('__tdx_map_gpa'),
  },
  mapGpaNext: {
    op: 'KVM_RUN',
    reason: 'hypercall.ret 0 and more of the range left: the next 2 MiB chunk exits again',
    cite: cite.kxTdx('tdx_complete_vmcall_map_gpa'),
  },
  mapGpaDone: {
    op: 'KVM_RUN',
    reason: 'hypercall.ret 0 for the last chunk: the guest gets TDVMCALL_STATUS_SUCCESS',
    cite: cite.kxTdx('tdx_complete_vmcall_map_gpa'),
  },
  mapGpaRetry: {
    op: 'KVM_RUN',
    reason: 'hypercall.ret EAGAIN: the guest gets TDVMCALL_STATUS_RETRY with the next GPA in R11',
    cite: cite.kxTdx('tdx_complete_vmcall_map_gpa'),
  },
  mapGpaRefused: {
    op: 'KVM_RUN',
    reason: 'hypercall.ret EINVAL: the guest gets TDVMCALL_STATUS_INVALID_OPERAND with the next GPA in R11',
    cite: cite.kxTdx('tdx_complete_vmcall_map_gpa'),
  },
  mapGpaBadRet: {
    op: 'KVM_RUN',
    errno: 'EINVAL',
    reason: 'hypercall.ret neither 0, EAGAIN nor EINVAL: KVM_RUN fails -EINVAL',
    cite: cite.kxTdx('tdx_complete_vmcall_map_gpa'),
  },
  accepted: {
    op: 'guest_accept',
    reason:
      'TDG.MEM.PAGE.ACCEPT of a page KVM added with TDH.MEM.PAGE.AUG: the page becomes accepted, its contents zero',
    cite: {
      repo: 'intel/tdx-module',
      path: 'src/td_dispatcher/vm_exits/tdg_mem_page_accept.c',
      commit: '1666adc494dbea5db99895f37125a338c20bec5a',
      fn: 'tdg_mem_page_accept',
    },
  },
  alreadyAccepted: {
    op: 'guest_accept',
    reason:
      'TDG.MEM.PAGE.ACCEPT of a page already accepted (or added at build time): TDX_PAGE_ALREADY_ACCEPTED to the guest',
    cite: {
      repo: 'intel/tdx-module',
      path: 'src/td_dispatcher/vm_exits/tdg_mem_page_accept.c',
      commit: '1666adc494dbea5db99895f37125a338c20bec5a',
      fn: 'tdg_mem_page_accept',
    },
  },
  pendingVe: {
    op: 'guest_access',
    reason:
      'a private access to a page in the PENDING state (augmented, not accepted): a #VE in the guest, no exit (a TD without ATTRIBUTES.SEPT_VE_DISABLE; with it the TDX module exits to KVM (VMX_EEQ_PENDING_EPT_VIOLATION) and KVM marks the VM dead, tdx_handle_ept_violation, not modelled)',
    cite: {
      repo: 'intel/tdx-module',
      path: 'src/td_dispatcher/vm_exits/td_ept_violation.c',
      commit: '1666adc494dbea5db99895f37125a338c20bec5a',
      fn: 'td_ept_violation_exit',
    },
  },
});

export const tdxRuntime: GuestRuntime = {
  view(vm, gpa, privateBit) {
    const td = tdxOf(vm);
    let gfn = Number(gpa / 4096n);
    const shared = isSharedGfn(td, gfn) || !privateBit;
    if (td.sharedGfnBit !== null && isSharedGfn(td, gfn)) gfn -= 2 ** td.sharedGfnBit;
    return { gfn, private: !shared };
  },
  mapGpaChunk: 512,
  preservesContents: false,
  exitRule: R.mapGpaExit,
  nextRule: R.mapGpaNext,
  mapGpaAttrs: mapGpaSide,
  mapGpaCheck(_k, vm, gfn, npages) {
    if (!vm.userExitOnHypercall(KVM_HC_MAP_GPA_RANGE))
      return { status: 'TDVMCALL_STATUS_SUBFUNC_UNSUPPORTED', rule: R.mapGpaNoExit };
    const td = tdxOf(vm);
    const limit = td.sharedGfnBit === null ? Number.MAX_SAFE_INTEGER : 2 ** td.sharedGfnBit;
    if (npages === 0 || gfn + npages > limit || isSharedGfn(td, gfn))
      return { status: 'TDVMCALL_STATUS_INVALID_OPERAND', rule: R.mapGpaOperand };
    return null;
  },
  complete(ret, done) {
    if (ret === 0n) return done ? { status: 'TDVMCALL_STATUS_SUCCESS', rule: R.mapGpaDone } : null;
    if (ret === 11n) return { status: 'TDVMCALL_STATUS_RETRY', rule: R.mapGpaRetry };
    if (ret === 22n) return { status: 'TDVMCALL_STATUS_INVALID_OPERAND', rule: R.mapGpaRefused };
    return { fail: R.mapGpaBadRet };
  },
  accept(_k, vm, inode, index, gfn) {
    const m = tdxOf(vm).module;
    if (m.sept.get(gfn) !== SEPT_AUGMENTED) return { status: 'TDX_PAGE_ALREADY_ACCEPTED', rule: R.alreadyAccepted };
    m.sept.set(gfn, gfn + 1, SEPT_ACCEPTED);
    clearFolio(inode, index);
    inode.guestWritten.delete(index);
    return { status: 'TDX_SUCCESS', rule: R.accepted };
  },
  guestWrote(vm, gfn) {
    // the launch record of the page (measured-equals-guest) is about the host's bytes, not the guest's
    const m = tdxOf(vm).module;
    m.added.delete(gfn);
    if (m.addedZero.runCount) m.addedZero.delete(gfn);
  },
  unaccepted(_k, vm, _inode, _index, gfn) {
    return tdxOf(vm).module.sept.get(gfn) === SEPT_AUGMENTED ? { status: '#VE', rule: R.pendingVe } : null;
  },
};
