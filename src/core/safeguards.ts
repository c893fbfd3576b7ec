/**
 * Safeguards: the kernel checks that uphold the invariants of kvm-uapi-spec.md §6. Each can be
 * switched off (`--set safeguard.NAME=off`) to show what it protects: the explorer must then find
 * the invariant it names broken. A checker that cannot fail proves nothing.
 */
import { type Cite, cite } from './rule.ts';

export interface Safeguard {
  readonly name: string;
  /** where the explorer finds it broken when not at its default bounds (VM kind, depth) */
  readonly explore?: { readonly vm?: 'tdx' | 'snp' | 'sw-protected'; readonly depth?: number; readonly pages?: number };
  /** the invariant that breaks without it */
  readonly protects: string;
  readonly description: string;
  readonly cite: Cite;
}

export const safeguards: readonly Safeguard[] = [
  {
    name: 'double-add',
    protects: 'at-most-one-add',
    description:
      'a GPA already in the S-EPT (RET_PF_SPURIOUS → -EIO) or a page already assigned in the RMP (-EEXIST) is not added again',
    cite: cite.linux('arch/x86/kvm/mmu/mmu.c', 'kvm_tdp_mmu_map_private_pfn'),
  },
  {
    name: 'private-only-populate',
    protects: 'private-mappings-are-backed',
    description: 'kvm_gmem_populate refuses a gfn that is not private in the tracker in force',
    cite: cite.gmem('__kvm_gmem_populate'),
  },
  {
    name: 'zero-fresh-pages',
    protects: 'no-host-data-to-guest',
    description: '__kvm_gmem_get_pfn clears a never-used page before populate may add it in place (cb0544296a33)',
    cite: cite.serGmem('__kvm_gmem_get_pfn'),
  },
  {
    name: 'unmap-on-private',
    protects: 'host-never-maps-private',
    description: 'converting to private first unmaps the range from every host page table',
    cite: cite.serGmem('__kvm_gmem_set_attributes'),
  },
  {
    name: 'pin-check',
    protects: 'no-pinned-private',
    description: 'converting to private fails -EAGAIN while a page in the range is pinned or otherwise referenced',
    cite: cite.serGmem('kvm_gmem_has_outstanding_references'),
  },
  {
    name: 'finalized-lock',
    protects: 'nothing-added-after-finalize',
    description:
      'population commands fail once the launch is sealed (TDX RUNNABLE → -EINVAL; SNP firmware past LAUNCH)',
    cite: cite.tdx('tdx_vcpu_unlocked_ioctl'),
  },
  {
    name: 'clear-on-remove',
    protects: 'converted-contents-stay-private',
    description:
      'a private page removed from a TD (TDH.MEM.PAGE.REMOVE on a conversion to shared or a punch) is reset before the host gets it back (tdx_quirk_reset_paddr)',
    cite: cite.kxTdx('tdx_sept_remove_leaf_spte'),
    explore: { vm: 'tdx', depth: 5, pages: 1 },
  },
  {
    name: 'rmp-reclaim',
    protects: 'accepted-stays-accepted',
    description:
      'a guest_memfd page freed from an SNP guest (punch hole, release) returns to the hypervisor in the RMP, which clears its Validated bit (sev_gmem_invalidate)',
    cite: cite.kxSev('sev_gmem_invalidate'),
    explore: { vm: 'snp', depth: 4 },
  },
];

export function isSafeguard(name: string): boolean {
  return safeguards.some((s) => s.name === name);
}
