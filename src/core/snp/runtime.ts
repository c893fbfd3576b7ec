/**
 * An SEV-SNP guest at run time: a Page State Change request through the GHCB (snp_begin_psc,
 * snp_complete_one_psc) and PVALIDATE of a page KVM assigned in the RMP on the nested page fault
 * (kvm_gmem_prepare → sev_gmem_prepare). The guest's view of a GPA is its C-bit.
 */
import { type GuestRuntime, mapGpaSide } from '../arch.ts';
import { cite, defineRules } from '../rule.ts';
import { KVM_HC_MAP_GPA_RANGE, MapGpaRangeAttr } from '../uapi.ts';
import { snpOf, validatedOf } from './state.ts';

const APM = {
  repo: 'AMD APM vol. 3',
  path: 'PVALIDATE; #VC on an unvalidated page',
  commit: '',
  fn: 'PVALIDATE',
};

export const R = defineRules('snp.run', 'guest_map_gpa', {
  pscNoExit: {
    reason:
      'Page State Change without KVM_CAP_EXIT_HYPERCALL(BIT(KVM_HC_MAP_GPA_RANGE)): no exit, the guest gets VMGEXIT_PSC_ERROR_GENERIC (the first check)',
    cite: cite.kxSev('snp_begin_psc'),
  },
  pscOperand: {
    reason:
      'a Page State Change whose entries hold no pages: nothing to forward, no exit; the guest gets 0, success (snp_do_psc: no entry left → snp_complete_psc(svm, 0))',
    cite: cite.kxSev('snp_do_psc'),
  },
  pscExit: {
    reason:
      'Page State Change → KVM_EXIT_HYPERCALL (nr KVM_HC_MAP_GPA_RANGE, args: GPA, pages of the coalesced entries, ENCRYPTED or DECRYPTED | PAGE_SZ_4K: the model makes 4 KiB entries; a 2 MiB entry would say PAGE_SZ_2M)',
    cite: cite.kxSev('snp_do_psc'),
  },
  pscDone: {
    op: 'KVM_RUN',
    reason:
      'hypercall.ret 0: the entries are marked done (cur_page) and the guest resumes (snp_do_psc again: with no range left, success)',
    cite: cite.kxSev('snp_complete_one_psc'),
  },
  pscError: {
    op: 'KVM_RUN',
    reason: 'hypercall.ret EINVAL or EAGAIN: the guest gets VMGEXIT_PSC_ERROR_GENERIC in sw_exit_info_2 and resumes',
    cite: cite.kxSev('snp_complete_one_psc'),
  },
  pscBadRet: {
    op: 'KVM_RUN',
    errno: 'EINVAL',
    reason:
      'hypercall.ret neither 0, EINVAL nor EAGAIN (kvm_is_valid_map_gpa_range_ret): KVM_RUN fails -EINVAL, the request stays pending',
    cite: cite.kxSev('snp_complete_one_psc'),
  },
  validated: {
    op: 'guest_accept',
    reason: 'PVALIDATE of a page assigned to the guest in the RMP: the RMP Validated bit is set; contents unchanged',
    cite: APM,
    confidence: 'inferred',
  },
  unchanged: {
    op: 'guest_accept',
    reason: 'PVALIDATE of a page already validated: FAIL_UNCHANGED (rFLAGS.CF) to the guest',
    cite: APM,
    confidence: 'inferred',
  },
  notValidatedVc: {
    op: 'guest_access',
    reason: 'a private access to an assigned page the guest has not validated: a #VC in the guest, no exit',
    cite: APM,
    confidence: 'inferred',
  },
});

export const snpRuntime: GuestRuntime = {
  view(_vm, gpa, privateBit) {
    return { gfn: Number(gpa / 4096n), private: privateBit };
  },
  mapGpaChunk: Number.MAX_SAFE_INTEGER,
  preservesContents: false,
  exitRule: R.pscExit,
  nextRule: R.pscExit,
  mapGpaAttrs: (toPrivate) => mapGpaSide(toPrivate) | MapGpaRangeAttr.KVM_MAP_GPA_RANGE_PAGE_SZ_4K,
  mapGpaCheck(_k, vm, _gfn, npages) {
    if (!vm.userExitOnHypercall(KVM_HC_MAP_GPA_RANGE))
      return { status: 'VMGEXIT_PSC_ERROR_GENERIC', rule: R.pscNoExit };
    if (npages === 0) return { status: 'PSC_SUCCESS', rule: R.pscOperand };
    return null;
  },
  complete(ret) {
    if (ret === 0n) return { status: 'PSC_SUCCESS', rule: R.pscDone };
    if (ret === 11n || ret === 22n) return { status: 'VMGEXIT_PSC_ERROR_GENERIC', rule: R.pscError };
    return { fail: R.pscBadRet };
  },
  accept(_k, vm, inode, index) {
    const v = validatedOf(snpOf(vm), inode);
    if (v.has(index)) return { status: 'PVALIDATE_FAIL_UNCHANGED', rule: R.unchanged };
    v.add(index);
    return { status: 'PVALIDATE_SUCCESS', rule: R.validated };
  },
  unaccepted(_k, vm, inode, index) {
    return validatedOf(snpOf(vm), inode).has(index) ? null : { status: '#VC', rule: R.notValidatedVc };
  },
};
