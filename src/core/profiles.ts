/**
 * Kernel profiles: which kernel's behaviour the model follows. Every behavioural difference between
 * kernels is a field here (kvm-uapi-spec.md §1.3 and §4.1); handlers read the field, never the
 * profile's name.
 */

import type { KnobValues } from './decl.ts';

/**
 * The kernels the model follows, newest first: releases (torvalds/linux tags), the kvm-x86 queue,
 * a linux-next day, one tree point, and one what-if (docs/notes/releases.md has the reading).
 */
export const KernelNames = [
  'next-20260923',
  'kvm-x86-next',
  'v7.3',
  'v7.2',
  'v7.1',
  'pre-2a62345b3052',
  'v6.18',
  'yan-proposal',
] as const;
export type KernelName = (typeof KernelNames)[number];

/** The era names the profiles had before issue 12; files in the wild use them. */
export const ProfileAliases = {
  mainline: 'v7.1',
  'kvm-x86': 'kvm-x86-next',
  'in-place': 'next-20260923',
} as const satisfies Record<string, KernelName>;
export type AliasName = keyof typeof ProfileAliases;

/** Every name a file, --profile or rules --profile accepts: the kernels, then the aliases. */
export const ProfileNames = [...KernelNames, ...(Object.keys(ProfileAliases) as AliasName[])] as const;
export type ProfileName = KernelName | AliasName;

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

/** Where a profile comes from: the tree, the commit whose files were read, and what sets it apart. */
export interface ProfileSource {
  /** the tree and tag (or branch/day) the profile stands for */
  readonly tree: string;
  /** the tag's (or head's) commit, when known */
  readonly tag?: string;
  /** release or push date, YYYY-MM-DD (from the notes; `dateNote` says when it is not read) */
  readonly date: string;
  readonly dateNote?: string;
  /** repo@commit whose files were read for this profile (the readable proxy, docs/notes/releases.md) */
  readonly followed: string;
  /** the commits that distinguish it from its predecessor in the list */
  readonly commits: readonly string[];
  /** one line: what changed against the next older profile */
  readonly diff: string;
}

export interface ProfileBehaviour {
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
  /** f13e90059908 (v7.2) may_writeback_src: the SNP CPUID source is GUP-ed with FOLL_WRITE. */
  readonly mayWritebackSrc: boolean;
  /** errno when a guest_memfd index range is bound twice (7ea987a90585, v7.2: EEXIST). */
  readonly gmemBindOverlap: 'EINVAL' | 'EEXIST';
  /**
   * [SER] the index-overlap check moved out of kvm_gmem_bind into kvm_gmem_commit_memory_region,
   * after the arch prepare step (so a GFN-range error wins over it); mainline checks it in the bind.
   */
  readonly gmemBindOverlapAtCommit: boolean;
  /** [SER] __kvm_gmem_get_pfn zeroes a never-used page on the populate path (cb0544296a33). */
  readonly populateZeroesFreshPage: boolean;
  /**
   * March 2026 ("Disallow LAUNCH_FINISH if vCPUs are actively being created"): SNP_LAUNCH_FINISH
   * refuses with -EBUSY while a KVM_CREATE_VCPU is in flight (absent in the older trees and in the
   * in-place series base, docs/notes/kernel-snp.md §5)
   */
  readonly snpFinishBusyOnVcpuCreation: boolean;
  /**
   * 7c9a2e3a4564 (kvm-x86/next): an INIT_MEM_REGION whose byte count `nr_pages << 12` overflows a
   * u64 is refused up front. Before it the shift is unchecked: the wrap and private tests see the
   * truncated end and the loop runs until populate fails (docs/notes/releases.md §4.1).
   */
  readonly tdxImrByteOverflowChecked: boolean;
  /**
   * sev_gmem_post_populate checks "no source" (WARN, -EINVAL) before the per-page RMP lookup
   * (through v7.2; 2abe1ff20151 moved the check up front). Same errno (-EIO) either way.
   */
  readonly snpNoSrcBeforeRmp: boolean;
  /**
   * v6.16–v6.18: tdx_gmem_post_populate maps the GPA (kvm_tdp_map_page; the S-EPT hook only counts
   * nr_premapped) and calls TDH.MEM.PAGE.ADD itself: TDX_OPERAND_BUSY reaches userspace as -EBUSY
   * with the struct written back at the failing page; FINALIZE refuses (-EINVAL) while a mapped
   * page was never added. 6.19 moved PAGE.ADD into the S-EPT hook (busy retried in KVM).
   */
  readonly tdxPageAddInPopulate: boolean;
  /**
   * Before 8622ef05709f (7.0: gmem preparation tracking removed): kvm_gmem_populate refuses a folio
   * already marked prepared with -EEXIST, before the arch callback (a second INIT_MEM_REGION on a
   * GPA → EEXIST).
   */
  readonly populateRefusesPrepared: boolean;
}

export interface Profile extends ProfileBehaviour {
  /** the profile's own name (a KernelName, or the name of a --profile-file) */
  readonly name: string;
  /** a profile file's base profile (absent for the built-in kernels) */
  readonly base?: ProfileName;
  readonly source: ProfileSource;
}

/** The behaviour fields a profile file may set, with what each is (for messages and docs). */
export const BehaviourFields = [
  'era',
  'summary',
  'inPlaceSeries',
  'inPlaceDefault',
  'tdxSourceZero',
  'snpSourceZero',
  'populateGupsSource',
  'mayWritebackSrc',
  'gmemBindOverlap',
  'gmemBindOverlapAtCommit',
  'populateZeroesFreshPage',
  'snpFinishBusyOnVcpuCreation',
  'tdxImrByteOverflowChecked',
  'snpNoSrcBeforeRmp',
  'tdxPageAddInPopulate',
  'populateRefusesPrepared',
] as const satisfies readonly (keyof ProfileBehaviour)[];

const NEXT_20260923: Profile = {
  name: 'next-20260923',
  era: 'D',
  summary:
    'linux-next with the guest_memfd in-place conversion series; gmem_in_place_conversion selects per-gmem (true) or per-VM (false) attributes',
  source: {
    tree: 'linux-next next-20260923',
    date: '2026-09-23',
    followed: 'sean-jc/linux@07f263588940 (tdx.c), sean-jc/linux@10602fa73d53 (guest_memfd.c, kvm_main.c)',
    commits: ['af602a96f401', 'edcc3f42981e', '799c9fadc639'],
    diff: '+ the in-place series: gmem_in_place_conversion, KVM_SET_MEMORY_ATTRIBUTES2 on the gmem fd, TDX/SNP source 0 = in-place add when it is on (SNP LAUNCH_FINISH EBUSY as in the sean-jc base: absent)',
  },
  inPlaceSeries: true,
  inPlaceDefault: true,
  tdxSourceZero: 'in-place-or-einval',
  snpSourceZero: 'in-place-or-einval',
  populateGupsSource: true,
  mayWritebackSrc: true,
  gmemBindOverlap: 'EEXIST',
  gmemBindOverlapAtCommit: true,
  populateZeroesFreshPage: true,
  snpFinishBusyOnVcpuCreation: false,
  tdxImrByteOverflowChecked: true,
  snpNoSrcBeforeRmp: false,
  tdxPageAddInPopulate: false,
  populateRefusesPrepared: false,
};

const KVM_X86_NEXT: Profile = {
  name: 'kvm-x86-next',
  era: 'C',
  summary: 'kvm-x86/next (7.4 material) on 7.3: source 0 refused up front; INIT_MEM_REGION byte-count overflow refused',
  source: {
    tree: 'kvm-x86/next as merged in linux-next next-20260915',
    tag: 'a7728f5e1fc3',
    date: '2026-09-15',
    followed:
      'kvm-x86/linux@09c6f74ecb86 (tdx.c), kvm-x86/linux@1a27afa0511e (sev.c), kvm-x86/linux@5e38e1bd4e7b (guest_memfd.c)',
    commits: [
      '7c9a2e3a4564',
      '872aae89167c',
      '698b8c88e159',
      '6415d9c4ee19',
      'f7a3be227619',
      '355323a4dc94',
      '18adb02dd2d7',
    ],
    diff: '+ INIT_MEM_REGION nr_pages byte count overflowing a u64 → EINVAL up front (7c9a2e3a4564), end-GPA off-by-one fix, map-private-pfn hardening',
  },
  inPlaceSeries: false,
  inPlaceDefault: false,
  tdxSourceZero: 'einval',
  snpSourceZero: 'einval',
  populateGupsSource: true,
  mayWritebackSrc: true,
  gmemBindOverlap: 'EEXIST',
  gmemBindOverlapAtCommit: false,
  populateZeroesFreshPage: false,
  snpFinishBusyOnVcpuCreation: true,
  tdxImrByteOverflowChecked: true,
  snpNoSrcBeforeRmp: false,
  tdxPageAddInPopulate: false,
  populateRefusesPrepared: false,
};

const V7_3: Profile = {
  ...KVM_X86_NEXT,
  name: 'v7.3',
  summary: 'v7.3: TDX source 0 → EINVAL up front (eb606a243863), SNP non-ZERO uaddr 0 → EINVAL up front (2abe1ff20151)',
  source: {
    tree: 'torvalds/linux v7.3 (rc1 cee9395acd80, rc5 72d3fcf802c4; final tag not seen)',
    tag: 'cee9395acd80',
    date: '2026-08-30',
    dateNote: 'v7.3-rc1',
    followed:
      'kernelorg-mirror/linux_kernel_git_sashal_linux-next@564aa69a2432 (tdx.c, mainline early Oct 2026); kvm-x86/linux@1a27afa0511e (sev.c)',
    commits: ['eb606a243863', '2abe1ff20151'],
    diff: 'TDX source_addr 0 → EINVAL up front (was EOPNOTSUPP from the callback); SNP non-ZERO uaddr 0 → EINVAL up front (was WARN → EIO)',
  },
  tdxImrByteOverflowChecked: false,
};

const V7_2: Profile = {
  ...V7_3,
  name: 'v7.2',
  era: 'B',
  summary: 'v7.2: as v7.1, with gmem bind overlap → EEXIST and the SNP CPUID source pinned for write',
  source: {
    tree: 'torvalds/linux v7.2',
    tag: '8d3ae59288f1',
    date: '2026-08-16',
    followed:
      'torvalds/linux@01f492e1817e (v7.1 files) + the v7.2 KVM pull (c98d767b3457) as subjects; kvm-x86/linux@5e38e1bd4e7b (bind)',
    commits: ['7ea987a90585', 'f13e90059908', '97cd21d57e9b'],
    diff: 'gmem binding overlap → EEXIST (was EINVAL, 7ea987a90585); SNP CPUID source GUP-ed for write (f13e90059908)',
  },
  tdxSourceZero: 'null-rejected-by-callback',
  snpSourceZero: 'null-rejected-by-callback',
  snpNoSrcBeforeRmp: true,
};

const V7_1: Profile = {
  ...V7_2,
  name: 'v7.1',
  summary: 'v7.1: 2a62345b3052 in; TDX source 0 reaches the callback as "no page" → EOPNOTSUPP; SNP → WARN, EIO',
  source: {
    tree: 'torvalds/linux v7.1',
    tag: '8cd9520d35a6',
    date: '2026-06-14',
    followed: 'torvalds/linux@01f492e1817e (the 7.1 KVM pull)',
    commits: ['2a62345b3052', '8622ef05709f', 'dcbcc2323c80'],
    diff: 'since 7.0: source GUP-ed before the gmem lock (2a62345b3052), source 0 = "no page" (TDX EOPNOTSUPP); preparation tracking gone; SNP LAUNCH_FINISH EBUSY while a vCPU is created (inferred in 7.1)',
  },
  mayWritebackSrc: false,
  gmemBindOverlap: 'EINVAL',
};

/** Not a release: the tree the era-A profile was written from (TDX as 6.19+, source 0 a user address) */
const PRE_2A62345B3052: Profile = {
  ...V7_1,
  name: 'pre-2a62345b3052',
  era: 'A',
  summary:
    'Tree point, not a release: kvm-x86 gmem branch just before "KVM: guest_memfd: GUP source pages prior to populating guest memory"; source 0 is an ordinary user address',
  source: {
    tree: 'kvm-x86/linux gmem-6.20 branch at 2a62345b3052^ (7.0 merge window)',
    date: '2026-01-08',
    dateNote: 'date of the 2a62345b3052 posting',
    followed: 'torvalds/linux@0097f9df996f (sev.c, older); torvalds/linux@01f492e1817e (tdx.c, minus 2a62345b3052)',
    commits: ['6b5b71ffabf9', '8622ef05709f'],
    diff: 'vs v6.18: PAGE.ADD in the S-EPT hook (busy retried in KVM, 6.19), nr_premapped gone, double add → EIO, preparation tracking gone (8622ef05709f)',
  },
  tdxSourceZero: 'user-address',
  snpSourceZero: 'null-rejected-by-callback',
  populateGupsSource: false,
  snpFinishBusyOnVcpuCreation: false,
};

const V6_18: Profile = {
  ...PRE_2A62345B3052,
  name: 'v6.18',
  summary:
    'v6.18: tdx_gmem_post_populate GUPs the user source and calls TDH.MEM.PAGE.ADD itself (busy → EBUSY, resumable; nr_premapped); populate refuses a prepared folio (EEXIST)',
  source: {
    tree: 'torvalds/linux v6.18',
    tag: '7d0a66e4bb90',
    date: '2025-11-30',
    dateNote: 'recalled, not read',
    followed: 'ColinIanKing/linux-next@238e09bd5b10 (tdx.c: the KVM queue for the 6.18 merge window)',
    commits: [],
    diff: 'baseline: TDX PAGE.ADD in tdx_gmem_post_populate (busy → EBUSY, written back), nr_premapped (FINALIZE EINVAL while pending), populate EEXIST on a prepared folio',
  },
  tdxPageAddInPopulate: true,
  populateRefusesPrepared: true,
};

/** Yan Zhao's alternative from the June 2026 thread; profiles/yan-proposal.yaml says the same as a file. */
const YAN_PROPOSAL: Profile = {
  ...NEXT_20260923,
  name: 'yan-proposal',
  era: 'D*',
  summary:
    'What-if: like next-20260923, but source 0 always means "use the target page as its own source" (the alternative rejected in the thread)',
  source: {
    tree: 'what-if on next-20260923 (profiles/yan-proposal.yaml)',
    date: '2026-06-23',
    dateNote: 'date of the thread',
    followed: 'sean-jc/linux@07f263588940 with the proposal applied (not a tree)',
    commits: [],
    diff: 'source 0 always = in-place add, whatever gmem_in_place_conversion says',
  },
  tdxSourceZero: 'in-place-always',
  snpSourceZero: 'in-place-always',
};

export const Kernels: Readonly<Record<KernelName, Profile>> = {
  'next-20260923': NEXT_20260923,
  'kvm-x86-next': KVM_X86_NEXT,
  'v7.3': V7_3,
  'v7.2': V7_2,
  'v7.1': V7_1,
  'pre-2a62345b3052': PRE_2A62345B3052,
  'v6.18': V6_18,
  'yan-proposal': YAN_PROPOSAL,
};

/** Every accepted name → its profile (an alias gives its kernel's profile, whose name is the kernel's). */
export const Profiles: Readonly<Record<ProfileName, Profile>> = {
  ...Kernels,
  ...(Object.fromEntries(Object.entries(ProfileAliases).map(([a, k]) => [a, Kernels[k]])) as Record<
    AliasName,
    Profile
  >),
};

/** The newest real kernel whose files could be read (README "Kernel profiles"). */
export const DEFAULT_PROFILE: ProfileName = 'next-20260923';

/** The aliases of a kernel name (for listings). */
export function aliasesOf(name: string): AliasName[] {
  return (Object.keys(ProfileAliases) as AliasName[]).filter((a) => ProfileAliases[a] === name);
}

/** Host settings a scenario (or --set) may choose: the knobs of decl.ts, and the safeguards. */
export interface Knobs extends KnobValues {
  /** Safeguards that can be switched off to show what they protect (explorer). */
  safeguards: Record<string, boolean>;
}

export function isProfileName(s: string): s is ProfileName {
  return (ProfileNames as readonly string[]).includes(s);
}

/** The canonical kernel name of a profile name (an alias resolves to its kernel). */
export function canonicalName(n: ProfileName): KernelName {
  return Object.hasOwn(ProfileAliases, n) ? ProfileAliases[n as AliasName] : (n as KernelName);
}

export function defaultKnobs(p: Profile): Knobs {
  return {
    gmem_in_place_conversion: p.inPlaceSeries && p.inPlaceDefault,
    mmap_min_addr: 65536,
    tdx_measure_order: 'single-pass',
    safeguards: {},
  };
}

/**
 * The release profile of a running kernel's release string (uname -r, e.g. "6.18.44-fc-v1147"):
 * the profile of its major.minor when there is one, else the newest release profile before it (or
 * the oldest, for a kernel older than every profile); null when the string names no release.
 */
export function profileForRelease(release: string): { profile: KernelName; exact: boolean } | null {
  const m = /^(\d+)\.(\d+)/.exec(release);
  if (!m) return null;
  const key = (maj: number, min: number) => maj * 1000 + min;
  const want = key(Number(m[1]), Number(m[2]));
  const releases = KernelNames.flatMap((n) => {
    const r = /^v(\d+)\.(\d+)$/.exec(n);
    return r ? [{ name: n, key: key(Number(r[1]), Number(r[2])) }] : [];
  }).sort((a, b) => a.key - b.key);
  if (releases.length === 0) return null;
  const exact = releases.find((r) => r.key === want);
  if (exact) return { profile: exact.name, exact: true };
  const before = releases.filter((r) => r.key < want).at(-1) ?? releases[0]!;
  return { profile: before.name, exact: false };
}
