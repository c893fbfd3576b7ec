/** Per-VM SEV-SNP state (struct kvm_sev_info, SNP parts) and the RMP of its guest_memfd pages. */
import type { Kernel } from '../kernel.ts';
import { RangeSet } from '../ranges.ts';
import type { ArchVm, GmemInode, Vm } from '../state.ts';
import { Psp } from './psp.ts';
import type { VmmType } from './vmsa.ts';

export interface SnpVm extends ArchVm {
  readonly kind: 'snp';
  /** KVM_SEV_INIT2 done: sev_snp_guest() */
  active: boolean;
  /** VMSA sev_features: SNP_ACTIVE | vmsa_features from INIT2 */
  sevFeatures: bigint;
  /** snp_context exists (SNP_LAUNCH_START done) */
  context: boolean;
  psp: Psp;
  /** RMP "assigned" (guest-owned) pages, per guest_memfd inode id */
  readonly rmp: Map<number, RangeSet>;
  /** pages whose contents went into the launch digest (NORMAL), per inode id */
  readonly measured: Map<number, RangeSet>;
  /** RMP Validated bit: pages the guest PVALIDATEd (or SNP_LAUNCH_UPDATE added), per inode id */
  readonly validated: Map<number, RangeSet>;
}

/** the VMM's reset state of a vCPU, which KVM syncs into the VMSA (set_vcpu_reset) */
export interface SnpVcpuReset {
  vmm: VmmType;
  eip: number;
}

export const SVM_SEV_FEAT_SNP_ACTIVE = 1n << 0n;
export const SVM_SEV_FEAT_DEBUG_SWAP = 1n << 5n;
export const SVM_SEV_FEAT_SECURE_TSC = 1n << 9n;
/** vmsa_features KVM accepts from KVM_SEV_INIT2 on the modelled host */
export const SUPPORTED_VMSA_FEATURES = SVM_SEV_FEAT_DEBUG_SWAP | SVM_SEV_FEAT_SECURE_TSC;

export function snpOf(vm: Vm): SnpVm {
  const s = vm.arch;
  if (s?.kind !== 'snp') throw new Error('Model invariant violated: not an SNP VM');
  return s as SnpVm;
}

export function newSnp(k: Kernel): SnpVm {
  return {
    kind: 'snp',
    active: false,
    sevFeatures: 0n,
    context: false,
    psp: new Psp(k.sha384),
    rmp: new Map(),
    measured: new Map(),
    validated: new Map(),
  };
}

export function rmpOf(snp: SnpVm, inode: GmemInode): RangeSet {
  return setOf(snp.rmp, inode.id);
}

export function validatedOf(snp: SnpVm, inode: GmemInode): RangeSet {
  return setOf(snp.validated, inode.id);
}

export function measuredOf(snp: SnpVm, inode: GmemInode): RangeSet {
  return setOf(snp.measured, inode.id);
}

function setOf(m: Map<number, RangeSet>, id: number): RangeSet {
  let r = m.get(id);
  if (!r) {
    r = new RangeSet();
    m.set(id, r);
  }
  return r;
}
