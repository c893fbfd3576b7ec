/**
 * Kernel profiles: which kernel's behaviour the model follows. Every behavioural difference between
 * kernels is a field here (kvm-uapi-spec.md §1.3 and §4.1); handlers read the field, never the
 * profile's name.
 */

import type { KnobValues } from './decl.ts';

export const ProfileNames = ['pre-2a62345b3052', 'mainline', 'kvm-x86', 'in-place', 'yan-proposal'] as const;
export type ProfileName = (typeof ProfileNames)[number];

/** What a source address of 0 means to KVM_TDX_INIT_MEM_REGION / non-ZERO SNP LAUNCH_UPDATE. */
export type SourceZeroRule =
  /** Era A: 0 is an ordinary user address; the callback GUPs it (normally -EFAULT). */
  | 'user-address'
  /** Era B: populate passes no page; the arch callback refuses (TDX -EOPNOTSUPP, SNP -EINVAL→-EIO). */
  | 'null-rejected-by-callback'
  /** Era C: the ioctl rejects 0 up front with -EINVAL. */
  | 'einval'
  /** Era D: -EINVAL unless gmem in-place conversion is on; then the target page is its own source. */
  | 'in-place-or-einval'
  /** Yan Zhao's rejected alternative: 0 always means "use the target page". */
  | 'in-place-always';

export interface Profile {
  readonly name: ProfileName;
  readonly era: 'A' | 'B' | 'C' | 'D' | 'D*';
  readonly summary: string;
  /** The guest_memfd in-place conversion series is present (module param, KVM_SET_MEMORY_ATTRIBUTES2, per-gmem attributes). */
  readonly inPlaceSeries: boolean;
  /** Default value of the gmem_in_place_conversion module parameter (only meaningful with inPlaceSeries). */
  readonly inPlaceDefault: boolean;
  readonly tdxSourceZero: SourceZeroRule;
  readonly snpSourceZero: SourceZeroRule;
  /** 2a62345b3052: kvm_gmem_populate GUPs the source before the gmem lock and hands the callback a page. */
  readonly populateGupsSource: boolean;
  /** [KX] may_writeback_src: the SNP CPUID source is GUP-ed with FOLL_WRITE. */
  readonly mayWritebackSrc: boolean;
  /** errno when a guest_memfd index range is bound twice. */
  readonly gmemBindOverlap: 'EINVAL' | 'EEXIST';
  /** [SER] __kvm_gmem_get_pfn zeroes a never-used page on the populate path (cb0544296a33). */
  readonly populateZeroesFreshPage: boolean;
  /**
   * [KX] March 2026 ("Disallow LAUNCH_FINISH if vCPUs are actively being created"): SNP_LAUNCH_FINISH
   * refuses with -EBUSY while a KVM_CREATE_VCPU is in flight (absent in the older trees and in the
   * in-place series base, docs/notes/kernel-snp.md §5)
   */
  readonly snpFinishBusyOnVcpuCreation: boolean;
}

const common = {
  snpFinishBusyOnVcpuCreation: false,
  populateZeroesFreshPage: false,
  gmemBindOverlap: 'EINVAL',
  inPlaceSeries: false,
  inPlaceDefault: false,
} as const;

/** Era D, and the base of the yan-proposal what-if */
const IN_PLACE: Profile = {
  ...common,
  name: 'in-place',
  era: 'D',
  summary:
    'Era D: the guest_memfd in-place conversion series; gmem_in_place_conversion selects per-gmem (true) or per-VM (false) attributes',
  inPlaceSeries: true,
  inPlaceDefault: true,
  tdxSourceZero: 'in-place-or-einval',
  snpSourceZero: 'in-place-or-einval',
  populateGupsSource: true,
  mayWritebackSrc: true,
  gmemBindOverlap: 'EEXIST',
  populateZeroesFreshPage: true,
};

export const Profiles: Record<ProfileName, Profile> = {
  'pre-2a62345b3052': {
    ...common,
    name: 'pre-2a62345b3052',
    era: 'A',
    summary:
      'Era A: before "KVM: guest_memfd: GUP source pages prior to populating guest memory"; source 0 is an ordinary user address',
    tdxSourceZero: 'user-address',
    snpSourceZero: 'null-rejected-by-callback',
    populateGupsSource: false,
    mayWritebackSrc: false,
  },
  mainline: {
    ...common,
    name: 'mainline',
    era: 'B',
    summary: 'Era B: torvalds/linux with 2a62345b3052; TDX source 0 reaches the callback as "no page" → -EOPNOTSUPP',
    tdxSourceZero: 'null-rejected-by-callback',
    snpSourceZero: 'null-rejected-by-callback',
    populateGupsSource: true,
    mayWritebackSrc: false,
  },
  'kvm-x86': {
    ...common,
    name: 'kvm-x86',
    era: 'C',
    summary: 'Era C: kvm-x86 queued fixes (June 2026); source 0 rejected up front with -EINVAL',
    tdxSourceZero: 'einval',
    snpSourceZero: 'einval',
    populateGupsSource: true,
    mayWritebackSrc: true,
    snpFinishBusyOnVcpuCreation: true,
  },
  'in-place': IN_PLACE,
  'yan-proposal': {
    ...IN_PLACE,
    name: 'yan-proposal',
    era: 'D*',
    summary:
      'What-if: like in-place, but source 0 always means "use the target page as its own source" (the alternative rejected in the thread)',
    tdxSourceZero: 'in-place-always',
    snpSourceZero: 'in-place-always',
  },
};

export const DEFAULT_PROFILE: ProfileName = 'in-place';

/** Host settings a scenario (or --set) may choose: the knobs of decl.ts, and the safeguards. */
export interface Knobs extends KnobValues {
  /** Safeguards that can be switched off to show what they protect (explorer). */
  safeguards: Record<string, boolean>;
}

export function isProfileName(s: string): s is ProfileName {
  return (ProfileNames as readonly string[]).includes(s);
}

export function defaultKnobs(p: Profile): Knobs {
  return {
    gmem_in_place_conversion: p.inPlaceSeries && p.inPlaceDefault,
    mmap_min_addr: 65536,
    tdx_measure_order: 'single-pass',
    safeguards: {},
  };
}
