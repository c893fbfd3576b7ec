/**
 * "Why doesn't my digest match?": the launch as given against an expected measurement, and when they
 * differ, the launch variants that could explain it, each measured through the model, and the ones
 * that reach the expected value.
 *
 * SEV-SNP. Everything shares the firmware pages, so they are measured once (the snp:ovmf-hash run),
 * and every other launch starts from that digest (SNP_LAUNCH_START with snp_digest_seed, as
 * --snp-ovmf-hash). Per metadata variant (the VMM's page order and types: QEMU, ec2, gce; kernel
 * hashes on/off) one seeded launch with no vCPUs gives the digest before the VMSAs; then, per VMSA
 * variant (VMM, vCPU type, guest features), the model's PSP measures the BSP and then AP VMSAs one
 * by one, so that every vCPU count 1..N is one PAGE_INFO hash further (the VMSA page digests are
 * computed once per variant). A variant that matches is confirmed by a launch run through the model
 * on its own (firmware pages included).
 *
 * TDX. The MRTD depends on the record order (single- or two-pass) and on which sections get a
 * KVM_TDX_INIT_MEM_REGION: each variant is a launch run through the model; the QEMU versions that
 * launch that way come from the qemu-versions.ts table. vCPU count and type do not reach MRTD.
 */

import type { Sha384Factory } from '../core/ports.ts';
import { Psp } from '../core/snp/psp.ts';
import { BSP_RESET_EIP } from '../core/snp/vmsa.ts';
import type { Host } from '../scenario/run.ts';
import { fromHex, hex0x as hex, toHex } from '../util/hex.ts';
import { QEMU_TDX_VERSIONS } from './qemu-versions.ts';
import { parseSevFirmware, sevEsResetEip } from './sevmeta.ts';
import {
  CPU_SIGS,
  guestFeaturesBeyondKvm,
  KVM_GUEST_FEATURES,
  measureSnp,
  type SnpLaunchInputs,
  type SnpVmmType,
  snpVmsaPages,
} from './snp.ts';
import { TDVF_ATTR_PAGE_AUG } from './tdvf.ts';
import { measureTdx, type TdxLaunchOptions, type TdxMeasureOrder } from './tdx.ts';

/** A launch variant that reaches the expected measurement. */
export interface VariantMatch {
  /** what differs from the launch as given, flag by flag ('--vcpus 4') */
  changes: string[];
  /** the same as one sentence */
  description: string;
  /** the variant run through the model on its own gave the expected value */
  confirmed: boolean;
}

export interface Diagnosis {
  platform: 'snp' | 'tdx';
  expected: string;
  /** the measurement of the launch as given */
  measured: string;
  match: boolean;
  /** launch variants whose measurement was compared (the given one included) */
  tried: number;
  /** what was varied, one line each */
  dimensions: string[];
  /** variants that reach the expected value (empty when the given launch matches, or nothing does) */
  matches: VariantMatch[];
  /** model runs (launch sequences) it took */
  modelRuns: number;
  ms: number;
}

export interface SnpDiagnoseOptions {
  /** vCPU counts tried: 1..maxVcpus (at least the given count); default 64 */
  maxVcpus?: number;
}

/** Psp whose 4 KiB page digests are remembered (the same VMSA page object is measured N times). */
class MemoPsp extends Psp {
  private readonly memo = new Map<Uint8Array, Uint8Array>();
  override digest(b: Uint8Array): Uint8Array {
    if (b.length !== 4096) return super.digest(b);
    let d = this.memo.get(b);
    if (!d) {
      d = super.digest(b);
      this.memo.set(b, d);
    }
    return d;
  }
}

const sameBytes = (a: Uint8Array, b: Uint8Array) => a.length === b.length && a.every((x, i) => x === b[i]);

function sigName(sig: number | undefined): string {
  if (sig === undefined) return 'none';
  const name = Object.entries(CPU_SIGS).find(([, s]) => s === sig)?.[0];
  return name ? `${name} (${hex(sig)})` : hex(sig);
}

/** The distinct signatures of --vcpu-type's table, one name each (the first with that signature). */
function vcpuTypes(): { name: string; sig: number }[] {
  const seen = new Set<number>();
  const out: { name: string; sig: number }[] = [];
  for (const [name, sig] of Object.entries(CPU_SIGS)) {
    if (seen.has(sig)) continue;
    seen.add(sig);
    out.push({ name, sig });
  }
  return out;
}

export function describeSnpLaunch(inp: SnpLaunchInputs): string {
  if (inp.mode === 'snp:ovmf-hash') return 'the OVMF hash (snp:ovmf-hash)';
  const parts = [
    `${inp.vcpus} vCPU${inp.vcpus === 1 ? '' : 's'}`,
    ...(inp.mode === 'snp:svsm' || inp.vmmType === 'QEMU' ? [`vCPU signature ${sigName(inp.vcpuSig)}`] : []),
    ...(inp.mode === 'snp' ? [`guest features ${hex(inp.guestFeatures)}`, `VMM ${inp.vmmType}`] : ['snp:svsm']),
    ...(inp.mode === 'snp' ? [inp.kernel ? 'kernel hashes' : 'no kernel hashes'] : []),
  ];
  return parts.join(', ');
}

/** The metadata (page order and types) VMMs share: ec2 and ec2_legacy add the same pages. */
const METADATA_GROUPS: { vmm: SnpVmmType; vmsas: SnpVmmType[] }[] = [
  { vmm: 'QEMU', vmsas: ['QEMU'] },
  { vmm: 'ec2', vmsas: ['ec2', 'ec2_legacy'] },
  { vmm: 'gce', vmsas: ['gce'] },
];

export function diagnoseSnp(
  inp: SnpLaunchInputs,
  expectedHex: string,
  host: Host,
  opts: SnpDiagnoseOptions = {},
): Diagnosis {
  const t0 = performance.now();
  const expected = fromHex(expectedHex);
  let runs = 0;
  /** the SHA-384 of the model's kernels (the PSP's) */
  let sha: Sha384Factory | undefined;
  const measure = (i: SnpLaunchInputs) => {
    runs++;
    const m = measureSnp(i, host);
    sha = m.result.kernel.sha384;
    return m;
  };
  // the firmware pages, once: the OVMF hash (or the one given)
  const seed = inp.ovmfHash?.toLowerCase() ?? measure({ ...inp, mode: 'snp:ovmf-hash', vcpus: 0 }).measurement;

  const base: Diagnosis = {
    platform: 'snp',
    expected: expectedHex,
    measured: '',
    match: false,
    tried: 1,
    dimensions: [],
    matches: [],
    modelRuns: 0,
    ms: 0,
  };
  const done = (d: Partial<Diagnosis>): Diagnosis => ({
    ...base,
    ...d,
    modelRuns: runs,
    ms: performance.now() - t0,
  });

  if (inp.mode === 'snp:ovmf-hash') {
    const match = seed === expectedHex;
    return done({ measured: seed, match });
  }

  /** the digest before the VMSAs of a launch (seeded with the firmware pages' digest) */
  const preVmsa = (over: Partial<SnpLaunchInputs>) =>
    fromHex(
      measure({
        ...inp,
        ...(inp.mode === 'snp' ? { ovmfHash: seed } : {}),
        ...over,
        vcpus: 0,
        guestFeatures: 1n,
      }).measurement,
    );
  const apEip = inp.mode === 'snp' ? sevEsResetEip(parseSevFirmware(inp.ovmf.bytes, 'OVMF')) : 0;

  /**
   * LDs after 1..n VMSAs from `ld` (BSP then APs): calls `hit(count)` for each count whose LD is the
   * expected one, returns the LD after `want` VMSAs.
   */
  const chain = (
    ld: Uint8Array,
    v: Pick<SnpLaunchInputs, 'mode' | 'vmmType' | 'vcpuSig' | 'guestFeatures'>,
    eips: [number, number],
    n: number,
    want: number,
    hit: (count: number) => void,
  ): Uint8Array => {
    const [bsp, ap] = snpVmsaPages(v, eips);
    if (!sha) throw new Error('Model invariant violated: no launch ran before the VMSAs');
    const psp = new MemoPsp(sha);
    psp.ld = Uint8Array.from(ld);
    let atWant = psp.ld;
    for (let c = 1; c <= n; c++) {
      psp.launchUpdate(2, 0xfffffffff000n, c === 1 ? bsp! : ap!);
      if (c === want) atWant = psp.ld;
      if (sameBytes(psp.ld, expected)) hit(c);
    }
    return atWant;
  };

  const maxVcpus = Math.max(opts.maxVcpus ?? 64, inp.vcpus);
  const found: { changes: string[]; inputs: SnpLaunchInputs }[] = [];
  let tried = 0;

  // the launch as given
  let bspEip: number;
  let apEipGiven: number;
  if (inp.mode === 'snp:svsm') {
    // every SVSM vCPU starts at the SVSM entry: read it from a 1-vCPU plan
    const one = measure({ ...inp, vcpus: 1 });
    bspEip = one.plan.eips[0]!;
    apEipGiven = bspEip;
  } else {
    bspEip = BSP_RESET_EIP;
    apEipGiven = apEip;
  }
  const givenPre = inp.mode === 'snp' ? preVmsa({}) : fromHex(measure({ ...inp, vcpus: 0 }).measurement);
  const givenLd = chain(givenPre, inp, [bspEip, apEipGiven], inp.vcpus, inp.vcpus, () => {});
  const measured = toHex(givenLd);
  tried++;
  if (measured === expectedHex) return done({ measured, match: true, tried });

  // the OVMF hash itself (a digest taken from snp:ovmf-hash, or a launch finished before any metadata)
  const dims: string[] = [];
  if (inp.mode === 'snp') {
    tried++;
    dims.push('the OVMF hash (snp:ovmf-hash) instead of a launch digest');
    if (seed === expectedHex)
      found.push({
        changes: ['--mode snp:ovmf-hash'],
        inputs: { ...inp, mode: 'snp:ovmf-hash', vcpus: 0 },
      });
  }

  const sigs =
    inp.mode === 'snp:svsm' || inp.vmmType === 'QEMU'
      ? [
          ...(inp.vcpuSig !== undefined ? [{ name: sigName(inp.vcpuSig), sig: inp.vcpuSig }] : []),
          ...vcpuTypes().filter((t) => t.sig !== inp.vcpuSig),
        ]
      : vcpuTypes();
  const gfs =
    inp.mode === 'snp'
      ? [inp.guestFeatures, ...KVM_GUEST_FEATURES.filter((g) => g !== inp.guestFeatures)]
      : [inp.guestFeatures];
  const kernels = inp.mode === 'snp' ? (inp.kernel ? [inp.kernel, undefined] : [undefined]) : [undefined];
  const groups = inp.mode === 'snp' ? METADATA_GROUPS : [{ vmm: 'QEMU' as SnpVmmType, vmsas: ['QEMU' as SnpVmmType] }];

  dims.push(`vCPU count 1..${maxVcpus}`);
  if (inp.mode === 'snp:svsm' || groups.length) dims.push(`vCPU types: ${sigs.map((s) => s.name).join(', ')}`);
  if (inp.mode === 'snp') {
    dims.push(`guest features KVM offers: ${gfs.map(hex).join(', ')}`);
    dims.push(`VMMs: ${groups.flatMap((g) => g.vmsas).join(', ')}`);
    if (inp.kernel) dims.push('kernel hashes on and off');
  }

  for (const kernel of kernels) {
    for (const g of groups) {
      const pre =
        inp.mode === 'snp'
          ? kernel === inp.kernel && g.vmm === (inp.vmmType === 'ec2_legacy' ? 'ec2' : inp.vmmType)
            ? givenPre
            : preVmsa({ vmmType: g.vmm, kernel })
          : givenPre;
      for (const vmm of g.vmsas) {
        const vmmSigs = inp.mode === 'snp:svsm' || vmm === 'QEMU' ? sigs : [{ name: 'none', sig: undefined }];
        for (const s of vmmSigs) {
          for (const gf of gfs) {
            const v = { mode: inp.mode, vmmType: vmm, vcpuSig: s.sig, guestFeatures: gf };
            tried += maxVcpus;
            chain(pre, v, [bspEip, apEipGiven], maxVcpus, 0, (count) => {
              const changes: string[] = [];
              if (count !== inp.vcpus) changes.push(`--vcpus ${count}`);
              if (s.sig !== inp.vcpuSig && s.sig !== undefined)
                changes.push(CPU_SIGS[s.name] !== undefined ? `--vcpu-type ${s.name}` : `--vcpu-sig ${hex(s.sig)}`);
              if (gf !== inp.guestFeatures) changes.push(`--guest-features ${hex(gf)}`);
              if (vmm !== inp.vmmType) changes.push(`--vmm-type ${vmm}`);
              if (kernel !== inp.kernel) changes.push('no --kernel (kernel hashes off)');
              found.push({
                changes,
                inputs: {
                  ...inp,
                  vcpus: count,
                  vmmType: vmm,
                  guestFeatures: gf,
                  ...(s.sig !== undefined ? { vcpuSig: s.sig } : {}),
                  kernel,
                },
              });
            });
          }
        }
      }
    }
  }

  // confirm each match with a launch of its own through the model (firmware pages included)
  const matches: VariantMatch[] = found.slice(0, 8).map((f) => {
    const inputs = { ...f.inputs };
    if (!f.inputs.ovmfHash || inp.ovmfHash === undefined) delete inputs.ovmfHash;
    const m = measure(inputs);
    const beyond = inputs.mode === 'snp' ? guestFeaturesBeyondKvm(inputs.guestFeatures) : undefined;
    return {
      changes: f.changes,
      description: `${describeSnpLaunch(inputs)}${beyond ? ` (${beyond})` : ''}`,
      confirmed: m.measurement === expectedHex,
    };
  });
  return done({ measured, match: false, tried, dimensions: dims, matches });
}

export interface TdxGiven {
  order: TdxMeasureOrder;
  pageAug?: 'populate' | 'skip';
}

export function diagnoseTdx(
  image: Uint8Array,
  given: TdxGiven & Pick<TdxLaunchOptions, 'firmwareFile'>,
  expectedHex: string,
  host: Host,
): Diagnosis {
  const t0 = performance.now();
  let runs = 0;
  const run = (order: TdxMeasureOrder, pageAug: 'populate' | 'skip') => {
    runs++;
    return measureTdx(image, { firmwareFile: given.firmwareFile, order, pageAug }, host);
  };
  const givenAug = given.pageAug ?? 'populate';
  const first = run(given.order, givenAug);
  const base = { platform: 'tdx' as const, expected: expectedHex, measured: first.mrtd, dimensions: [] as string[] };
  if (first.mrtd === expectedHex)
    return { ...base, match: true, tried: 1, matches: [], modelRuns: runs, ms: performance.now() - t0 };
  const hasAug = first.meta.sections.some((s) => (s.attributes & TDVF_ATTR_PAGE_AUG) !== 0);
  const orders: TdxMeasureOrder[] = ['single-pass', 'two-pass'];
  const augs: ('populate' | 'skip')[] = hasAug ? ['populate', 'skip'] : [givenAug];
  const dims = [
    "record order: single-pass (PAGE.ADD then 16 MR.EXTEND per page) and two-pass (a section's PAGE.ADDs first)",
    `QEMU versions: ${QEMU_TDX_VERSIONS.map((r) => `${r.names[0]} (${r.order})`).join(', ')}`,
    ...(hasAug
      ? [
          'PAGE.AUG sections populated (QEMU) or skipped (the td-shim / dstack-mr convention for PAGE.AUG-only sections)',
        ]
      : []),
  ];
  const matches: VariantMatch[] = [];
  let tried = 1;
  for (const order of orders)
    for (const aug of augs) {
      if (order === given.order && aug === givenAug) continue;
      tried++;
      const m = run(order, aug);
      if (m.mrtd !== expectedHex) continue;
      const changes: string[] = [];
      const qemu = QEMU_TDX_VERSIONS.filter((r) => r.order === order).map((r) => r.names[0]!);
      if (order !== given.order)
        changes.push(order === 'two-pass' ? '--two-pass-add-pages' : 'no --two-pass-add-pages');
      if (aug !== givenAug) changes.push(aug === 'skip' ? 'PAGE.AUG sections skipped' : 'PAGE.AUG sections populated');
      matches.push({
        changes,
        description: `${order} record order${aug === 'skip' ? ', PAGE.AUG sections skipped (not what QEMU does)' : ''}; QEMU: ${qemu.join(', ')}`,
        confirmed: true,
      });
    }
  return { ...base, match: false, tried, dimensions: dims, matches, modelRuns: runs, ms: performance.now() - t0 };
}
