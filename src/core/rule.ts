/**
 * Rules: every decision the model makes that userspace can observe is a named rule with one errno
 * (or a signal, or success), a one-line reason and the kernel source that makes it. Results point
 * at the rule that decided them. The catalogue (catalogue.ts) gathers the rule sets of every module.
 */
import type { ErrnoName } from './errno.ts';
import type { ProfileBehaviour } from './profiles.ts';

export const Commits = {
  /** torvalds/linux snapshot with 2a62345b3052 (kvm-uapi-spec.md source 1-4, 8) */
  ML: '01f492e1817e858d1712f2489d0afbaa552f417b',
  /** the v7.1 tag (docs/notes/releases.md summary table) */
  V7_1: '8cd9520d35a6c38db6567e97dd93b1f11f185dc6',
  /** torvalds/linux before 2a62345b3052 (sev.c, source 5) */
  OLD_SEV: '0097f9df996fe9c4a66a9f96a492391a8432affd',
  /** kvm-x86/linux tdx.c with the June-2026 source-0 fix (source 9) */
  KX_TDX: '09c6f74ecb863f76e2486a960431fe6e2b86f2c7',
  /** kvm-x86/linux sev.c (source 10) */
  KX_SEV: '1a27afa0511e404fd87c1a5e643945940ef72f90',
  /** sean-jc/linux in-place conversion: guest_memfd.c, kvm_main.c (sources 14, 15) */
  SER: '10602fa73d539f391ab9143b484798bff827e103',
  /** sean-jc/linux final TDX in-place (source 16) */
  SER_TDX: '07f26358894029ac26441664ce21bd73748903d0',
  /** sean-jc/linux sev.c of the in-place base (docs/notes/kernel-snp.md "S") */
  SER_SEV: '01aed27ff7a40ba6e94de1c86d5664c34100c3f2',
  /** linux-next (sashal) "Merge 'kvm-x86'" on 7.3-rc: mmu.c with kvm-x86/next (releases.md "LX") */
  LX: 'f19943d4e1cc',
  /** linux-next (sashal) "Merge 'kvm-arm'": tdx.c as mainline 7.3-rc (releases.md "L73") */
  L73: '564aa69a2432',
  /** ColinIanKing/linux-next "Merge branch 'next' of kvm.git" 2025-09-12: the v6.18 KVM queue (releases.md "N618") */
  N618: '238e09bd5b10',
  /**
   * Where the stored torvalds/linux copy of a file is too old to answer (its 4.x-era versions), the
   * file as read in a linux-next mirror (ColinIanKing/linux-next) or a recent fork (Kingxukai/linux)
   */
  NEXT_MMU: '1c60d04aac53313a38820ad4e6b8f7092e6f5fc0',
  NEXT_KVM_MAIN: '03b9d3141510e2d2d83eea1f60c18467b01b9ac2',
  NEXT_MMAP: 'f65f92d66188bdbc36b903a0d1fed6821266c555',
  FORK_X86: '9b44fff655e2c6f4cc53cb499dd2c038e99cb013',
} as const;

/**
 * Line numbers of a citation, only where they were determined (docs/notes/releases.md: the search
 * index gives no line numbers; the ones known come from diff hunk headers of patch mails, i.e. the
 * lines of that patch's pre-image blob).
 */
export interface CiteLines {
  readonly from: number;
  readonly to: number;
  /** where the numbers come from, e.g. "blob ffe9d0db58c5, hunk @@ -3198,9 of a 2026-06-23 patch" */
  readonly source: string;
  /** the commit the URL opens, when it is not the cite's own (the tag the blob is believed to belong to) */
  readonly at?: string;
}

export interface Cite {
  readonly repo: string;
  readonly path: string;
  readonly commit: string;
  readonly fn: string;
  readonly lines?: CiteLines;
}

export type Confidence = 'read' | 'inferred' | 'recalled';
export type SignalName = 'SIGBUS' | 'SIGSEGV';

export interface RuleDef {
  /** errno for a failure; absent for success or a signal */
  readonly errno?: ErrnoName;
  readonly signal?: SignalName;
  readonly reason: string;
  readonly cite: Cite;
  /** how the fact was established; 'read' = read in the cited source */
  readonly confidence?: Confidence;
  /** the profiles (eras) the rule belongs to, when not all */
  readonly eras?: string;
  /** profile fields that must have these values for the rule to apply (finer than eras; rules --profile) */
  readonly when?: Partial<ProfileBehaviour>;
  /** the operation, when it differs from the rule set's */
  readonly op?: string;
}

export interface Rule extends RuleDef {
  readonly id: string;
  /** the operation the rule belongs to (ioctl or syscall name, or an internal function) */
  readonly op: string;
  readonly confidence: Confidence;
}

export function defineRules<K extends string>(prefix: string, op: string, defs: Record<K, RuleDef>): Record<K, Rule> {
  const out = {} as Record<K, Rule>;
  for (const key of Object.keys(defs) as K[]) {
    const d = defs[key];
    out[key] = { ...d, id: `${prefix}.${key}`, op: d.op ?? op, confidence: d.confidence ?? 'read' };
  }
  return out;
}

export const cite = {
  ml: (path: string, fn: string): Cite => ({ repo: 'torvalds/linux', path, commit: Commits.ML, fn }),
  old: (path: string, fn: string): Cite => ({ repo: 'torvalds/linux', path, commit: Commits.OLD_SEV, fn }),
  kxTdx: (fn: string): Cite => ({ repo: 'kvm-x86/linux', path: 'arch/x86/kvm/vmx/tdx.c', commit: Commits.KX_TDX, fn }),
  kxSev: (fn: string): Cite => ({ repo: 'kvm-x86/linux', path: 'arch/x86/kvm/svm/sev.c', commit: Commits.KX_SEV, fn }),
  ser: (path: string, fn: string): Cite => ({ repo: 'sean-jc/linux', path, commit: Commits.SER, fn }),
  serTdx: (fn: string): Cite => ({
    repo: 'sean-jc/linux',
    path: 'arch/x86/kvm/vmx/tdx.c',
    commit: Commits.SER_TDX,
    fn,
  }),
  gmem: (fn: string): Cite => cite.ml('virt/kvm/guest_memfd.c', fn),
  serGmem: (fn: string): Cite => cite.ser('virt/kvm/guest_memfd.c', fn),
  kvm: (fn: string): Cite => cite.ml('virt/kvm/kvm_main.c', fn),
  x86: (fn: string): Cite => cite.ml('arch/x86/kvm/x86.c', fn),
  tdx: (fn: string): Cite => cite.ml('arch/x86/kvm/vmx/tdx.c', fn),
  linux: (path: string, fn: string): Cite => cite.ml(path, fn),
  /** a file read in the linux-next mirror (Commits.NEXT_*) */
  next: (path: string, commit: string, fn: string): Cite => ({ repo: 'ColinIanKing/linux-next', path, commit, fn }),
  serSev: (fn: string): Cite => ({
    repo: 'sean-jc/linux',
    path: 'arch/x86/kvm/svm/sev.c',
    commit: Commits.SER_SEV,
    fn,
  }),
  /** mmu.c as kvm-x86/next on 7.3-rc (linux-next, sashal) */
  lxMmu: (fn: string): Cite => ({
    repo: 'kernelorg-mirror/linux_kernel_git_sashal_linux-next',
    path: 'arch/x86/kvm/mmu/mmu.c',
    commit: Commits.LX,
    fn,
  }),
  /** tdx.c as the v6.18 KVM queue (linux-next 2025-09-12) */
  n618Tdx: (fn: string): Cite => ({
    repo: 'ColinIanKing/linux-next',
    path: 'arch/x86/kvm/vmx/tdx.c',
    commit: Commits.N618,
    fn,
  }),
  /** a file read in a recent fork (Commits.FORK_X86) */
  fork: (path: string, fn: string): Cite => ({ repo: 'Kingxukai/linux', path, commit: Commits.FORK_X86, fn }),
};

export function formatCite(c: Cite): string {
  const at = c.commit ? `@${c.commit.slice(0, 12)}` : '';
  return `${c.repo}:${c.path}${at} ${c.fn}()`;
}

/** A link a person can follow: https://github.com/OWNER/REPO/blob/COMMIT/PATH, with #Lx-Ly where known. */
export function citeUrl(c: Cite): string {
  const commit = c.lines?.at ?? c.commit;
  const anchor = c.lines ? `#L${c.lines.from}${c.lines.to !== c.lines.from ? `-L${c.lines.to}` : ''}` : '';
  return `https://github.com/${c.repo}/blob/${commit}/${c.path}${anchor}`;
}

/** The line part of a citation, for listings ("L3201-3202 (blob …)"), or '' */
export function formatLines(c: Cite): string {
  if (!c.lines) return '';
  const l = c.lines;
  return `L${l.from}${l.to !== l.from ? `-${l.to}` : ''} (${l.source}${l.at ? `; URL at ${l.at.slice(0, 12)}` : ''})`;
}

/** Does the rule apply under a profile with these fields? (its eras, then its `when` fields) */
export function ruleApplies(r: Rule, p: ProfileBehaviour): boolean {
  if (r.eras && !r.eras.split(',').includes(p.era)) return false;
  if (!r.when) return true;
  return Object.entries(r.when).every(([k, v]) => (p as unknown as Record<string, unknown>)[k] === v);
}

/** "era A; when tdxPageAddInPopulate" for listings, or '' */
export function formatScope(r: Rule): string {
  const parts: string[] = [];
  if (r.eras) parts.push(`era ${r.eras}`);
  if (r.when)
    parts.push(
      `when ${Object.entries(r.when)
        .map(([k, v]) => (v === true ? k : v === false ? `!${k}` : `${k}=${String(v)}`))
        .join(', ')}`,
    );
  return parts.length ? ` (${parts.join('; ')})` : '';
}
