/**
 * What each QEMU release (or TDX development branch) does when it populates a TD from TDVF
 * firmware, as data: the order its KVM_TDX_INIT_MEM_REGION (or predecessor) calls give the MRTD
 * records, whether PAGE.AUG sections are populated, which TDVF section types it takes. Every row
 * cites the QEMU source it was read from (repository, path, commit). `gmemsim measure tdx
 * --qemu-version V` and the --expect diagnosis read this table; nothing else in the launch
 * builder depends on a version.
 *
 * What was read, per row: target/i386/kvm/tdx.c (the populate loop of tdx_finalize_vm /
 * tdx_init_fw_mem_region) and hw/i386/tdvf.c (tdvf_parse_and_check_section_entry). In every
 * version read, the only section attribute looked at is MR.EXTEND (bit 0): PAGE.AUG (bit 1) is
 * never tested, so a PAGE.AUG section is populated (PAGE.ADD, and MR.EXTEND if bit 0 is set) like
 * any other; and the section types taken are BFV, CFV, TD_HOB and TEMP_MEM ("Unsupported TDVF
 * section" otherwise).
 */
import type { TdxMeasureOrder } from './tdx.ts';

export interface QemuSource {
  repo: string;
  path: string;
  commit: string;
  /** the branch or tag the commit was reached from, and the VERSION file there */
  ref: string;
}

export interface QemuTdxRow {
  /** what --qemu-version matches: the first name is the row's id */
  names: readonly string[];
  /** who shipped it */
  what: string;
  order: TdxMeasureOrder;
  /** how the records come out, from the calls read */
  calls: string;
  pageAug: 'populate';
  sectionTypes: readonly string[];
  source: readonly QemuSource[];
}

const QEMU_TDX = 'intel-staging/qemu-tdx';
const TDX_C = 'target/i386/kvm/tdx.c';
const TYPES = ['BFV', 'CFV', 'TD_HOB', 'TEMP_MEM'] as const;

export const QEMU_TDX_VERSIONS: readonly QemuTdxRow[] = [
  {
    names: ['8.1-tdx', '7.2-tdx', '8.0-tdx', '8.2-tdx-v4'],
    what: 'Intel TDX QEMU branches up to tdx-qemu-upstream-v4 (QEMU 7.2 to 8.2.50, with KVM TDX up to v18/v19)',
    order: 'single-pass',
    calls:
      'one VM-scope KVM_TDX_INIT_MEM_REGION per section, MEASURE iff MR.EXTEND; the KVM of that time adds then extends page by page (intel-staging/qemu-tdx issue 1: "Before v5, 4k page is first ADD and then EXTEND page by page")',
    pageAug: 'populate',
    sectionTypes: TYPES,
    source: [
      {
        repo: QEMU_TDX,
        path: TDX_C,
        commit: '29ad7b09e190afa5a13c6ce5320c7baa26caf1e0',
        ref: 'tag tdx-qemu-upstream-2023.9.21-v8.1.0, VERSION 8.1.0',
      },
      {
        repo: QEMU_TDX,
        path: TDX_C,
        commit: '51d758531d63341497b72c7bd13bf4916fa48d54',
        ref: 'tag tdx-qemu-upstream-v4, VERSION 8.2.50',
      },
    ],
  },
  {
    names: ['8.2', '8.2-tdx-v5', '8.2.2', '9.0-rc0-tdx'],
    what: 'Intel tdx-qemu-upstream-v5 (QEMU 8.2.50) and its 9.0-rc0 rebase; Ubuntu 24.04 QEMU 8.2.2+tdx (two-pass by td-shim PR #781, not read here); dstack-mr: QEMU 8.x',
    order: 'two-pass',
    calls:
      'per section, KVM_MEMORY_MAPPING of all its pages (TDH.MEM.PAGE.ADD), then, iff MR.EXTEND, KVM_TDX_EXTEND_MEMORY of all of them (TDH.MR.EXTEND)',
    pageAug: 'populate',
    sectionTypes: TYPES,
    source: [
      {
        repo: QEMU_TDX,
        path: TDX_C,
        commit: '97d7eee4450ca607d36acd2bb1d6137d193687cc',
        ref: 'tag tdx-qemu-upstream-v5, VERSION 8.2.50',
      },
      {
        repo: QEMU_TDX,
        path: TDX_C,
        commit: 'af75bca23e66ebf3404f929b5a499abdbf93363a',
        ref: 'tag tdx-qemu-upstream-2024.03.27-v9.0.0-rc0, VERSION 8.2.90',
      },
    ],
  },
  {
    names: ['9.0-tdx'],
    what: 'Intel tdx-qemu-wip 2024.06.19 (QEMU 9.0.50)',
    order: 'single-pass',
    calls:
      'per section, KVM_PRE_FAULT_MEMORY of its range, then one vCPU-scope KVM_TDX_INIT_MEM_REGION, MEASURE iff MR.EXTEND (KVM adds and extends page by page)',
    pageAug: 'populate',
    sectionTypes: TYPES,
    source: [
      {
        repo: QEMU_TDX,
        path: TDX_C,
        commit: '8f20ae25ae44f351a1a082d0c44003929f1c1238',
        ref: 'tag tdx-qemu-wip-2024.06.19-v9.0.0, VERSION 9.0.50',
      },
    ],
  },
  {
    names: ['9.2-tdx', '9.1-tdx'],
    what: 'Intel tdx-qemu-upstream-v6.1 and v7 (QEMU 9.1.50, 9.2.50): the series that was merged',
    order: 'single-pass',
    calls: 'one vCPU-scope KVM_TDX_INIT_MEM_REGION per section, MEASURE iff MR.EXTEND',
    pageAug: 'populate',
    sectionTypes: TYPES,
    source: [
      {
        repo: QEMU_TDX,
        path: TDX_C,
        commit: '27d644c40fca13d0e45cbc65d32f0f195096df12',
        ref: 'tag tdx-qemu-upstream-v6.1, VERSION 9.1.50',
      },
      {
        repo: QEMU_TDX,
        path: TDX_C,
        commit: '359b65e69aa996d3a624c9c0a48162f6e6e2300c',
        ref: 'tag tdx-qemu-upstream-v7, VERSION 9.2.50',
      },
    ],
  },
  {
    names: ['10.1', 'upstream'],
    what: 'upstream QEMU with TDX (measurement.md: QEMU >= 10.1 with KVM >= 6.16)',
    order: 'single-pass',
    calls:
      'tdx_init_fw_mem_region: one vCPU-scope KVM_TDX_INIT_MEM_REGION per section on first_cpu, MEASURE iff MR.EXTEND, retried on -EAGAIN/-EINTR',
    pageAug: 'populate',
    sectionTypes: TYPES,
    source: [
      {
        repo: 'qemu/qemu',
        path: TDX_C,
        commit: '05caf2690e5a29a25928c6717c4204ea3c0bfee3',
        ref: 'upstream master (the commit measurement.md pins)',
      },
      {
        repo: 'qemu/qemu',
        path: 'hw/i386/tdvf.c',
        commit: '6f1035fc65406c4e72e1dbd76e64924415edd616',
        ref: 'upstream master',
      },
    ],
  },
];

/**
 * The row --qemu-version names: one of its names, or any upstream release from 10.1 on (10.2,
 * 11.0.1...); undefined for anything else (upstream QEMU before 10.1 has no TDX).
 */
export function qemuTdxRow(version: string): QemuTdxRow | undefined {
  const v = version.trim().toLowerCase();
  const named = QEMU_TDX_VERSIONS.find((r) => r.names.some((n) => n.toLowerCase() === v));
  if (named) return named;
  const m = /^(\d+)\.(\d+)(?:\.\d+)?$/.exec(v);
  if (m && (Number(m[1]) > 10 || (Number(m[1]) === 10 && Number(m[2]) >= 1))) return QEMU_TDX_VERSIONS.at(-1);
  return undefined;
}

/** every name --qemu-version takes, for messages */
export const qemuTdxNames = (): string[] => QEMU_TDX_VERSIONS.flatMap((r) => r.names);
