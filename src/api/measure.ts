/**
 * The measurement library API: `import { measureSnp, measureTdx } from 'gmemsim'`. Images arrive as
 * bytes; the launch is built and run through the model exactly as `gmemsim measure snp|tdx` does
 * (with node:crypto for SHA-384), and the digest comes back as 96 hex digits. Bad inputs throw a
 * MeasureError with the one line the command line would print. `checkSnp` / `checkTdx` are
 * `--expect`: the verdict and, on a mismatch, the launch variants that reach the expected value.
 */
import { type Diagnosis, diagnoseSnp, diagnoseTdx } from '../measure/diagnose.ts';
import { FirmwareError } from '../measure/ovmf.ts';
import { qemuTdxNames, qemuTdxRow } from '../measure/qemu-versions.ts';
import {
  CPU_SIGS,
  measureSnp as measureSnpLaunch,
  type SnpLaunchInputs,
  type SnpMode,
  SnpModes,
  type SnpVmmType,
  SnpVmmTypes,
} from '../measure/snp.ts';
import { measureTdx as measureTdxLaunch, type TdxMeasureOrder } from '../measure/tdx.ts';
import { nodeHost } from '../node/host.ts';

export type { Diagnosis, VariantMatch } from '../measure/diagnose.ts';
export { QEMU_TDX_VERSIONS, type QemuTdxRow } from '../measure/qemu-versions.ts';
export { snpReportMeasurement, tdxReportMeasurement } from '../measure/report.ts';
export type { SnpMode, SnpVmmType, TdxMeasureOrder };

/** Inputs that cannot be measured: `message` is one line. */
export class MeasureError extends Error {}

export interface SnpOptions {
  /** default 'snp' */
  mode?: SnpMode;
  /** the OVMF image, as QEMU -bios takes it */
  ovmf: Uint8Array;
  /** vCPUs (not for snp:ovmf-hash) */
  vcpus?: number;
  /** a QEMU -cpu model of sev-snp-measure's table (EPYC-v4, EPYC-Milan, ...) */
  vcpuType?: string;
  /** CPUID 1 EAX; wins over vcpuType */
  vcpuSig?: number;
  /** default 'QEMU' */
  vmmType?: SnpVmmType;
  /** VMSA sev_features; default 0x1. Values KVM would not take are measured, with a warning. */
  guestFeatures?: bigint | number;
  /** measured direct boot: the SEV hash table of these */
  kernel?: Uint8Array;
  initrd?: Uint8Array;
  append?: string;
  /** the launch digest after the firmware pages (snp:ovmf-hash output): those pages are not added */
  snpOvmfHash?: string;
  /** snp:svsm */
  svsm?: Uint8Array;
  varsSize?: number;
}

export interface SnpResult {
  /** 96 hex digits */
  measurement: string;
  /** what sev-snp-measure computes but KVM would not launch (e.g. guest features it does not offer) */
  warnings: string[];
}

export interface TdxOptions {
  /** the QEMU that launches the TD (QEMU_TDX_VERSIONS names, or any release from 10.1 on) */
  qemuVersion?: string;
  /** the record order of QEMU 8.2 TDX builds; wins over qemuVersion */
  twoPassAddPages?: boolean;
}

export interface TdxResult {
  /** 96 hex digits */
  mrtd: string;
  order: TdxMeasureOrder;
}

function snpInputs(o: SnpOptions): SnpLaunchInputs {
  const mode = o.mode ?? 'snp';
  if (!SnpModes.includes(mode)) throw new MeasureError(`mode ${mode}: expected ${SnpModes.join(', ')}`);
  const vmmType = o.vmmType ?? 'QEMU';
  if (!SnpVmmTypes.includes(vmmType)) throw new MeasureError(`vmmType ${vmmType}: expected ${SnpVmmTypes.join(', ')}`);
  const vcpus = o.vcpus ?? 0;
  if (mode !== 'snp:ovmf-hash' && (!Number.isSafeInteger(vcpus) || vcpus < 1 || vcpus > 1024))
    throw new MeasureError(`vcpus ${o.vcpus}: 1 to 1024 vCPUs`);
  let vcpuSig = o.vcpuSig;
  if (vcpuSig === undefined && o.vcpuType !== undefined) {
    vcpuSig = CPU_SIGS[o.vcpuType];
    if (vcpuSig === undefined)
      throw new MeasureError(`vcpuType ${o.vcpuType}: expected ${Object.keys(CPU_SIGS).join(', ')}`);
  }
  if (mode !== 'snp:ovmf-hash' && vcpuSig === undefined && vmmType === 'QEMU')
    throw new MeasureError('a QEMU guest needs vcpuType or vcpuSig');
  if (mode !== 'snp:ovmf-hash' && o.kernel === undefined && (o.initrd !== undefined || o.append !== undefined))
    throw new MeasureError('initrd and append need kernel');
  if (mode === 'snp:svsm' && (!o.svsm || !o.varsSize)) throw new MeasureError('snp:svsm needs svsm and varsSize');
  return {
    mode,
    ovmf: { bytes: o.ovmf, file: 'ovmf.fd' },
    ...(o.svsm && mode === 'snp:svsm' ? { svsm: { bytes: o.svsm, file: 'svsm.bin' } } : {}),
    ...(o.varsSize !== undefined ? { varsSize: o.varsSize } : {}),
    vcpus: mode === 'snp:ovmf-hash' ? 0 : vcpus,
    ...(vcpuSig !== undefined ? { vcpuSig } : {}),
    vmmType,
    guestFeatures: BigInt(o.guestFeatures ?? 1),
    ...(o.snpOvmfHash !== undefined && mode === 'snp' ? { ovmfHash: o.snpOvmfHash } : {}),
    ...(o.kernel && mode === 'snp'
      ? {
          kernel: {
            kernel: o.kernel,
            ...(o.initrd ? { initrd: o.initrd } : {}),
            ...(o.append !== undefined ? { append: o.append } : {}),
          },
        }
      : {}),
  };
}

function rethrow(e: unknown): never {
  if (e instanceof FirmwareError) throw new MeasureError(e.message);
  throw e;
}

/** The SEV-SNP launch digest (sev-snp-measure's inputs and result). */
export function measureSnp(opts: SnpOptions): SnpResult {
  const inputs = snpInputs(opts);
  try {
    const m = measureSnpLaunch(inputs, nodeHost);
    return { measurement: m.measurement, warnings: m.beyondKvm ? [m.beyondKvm] : [] };
  } catch (e) {
    rethrow(e);
  }
}

function tdxOrder(o: TdxOptions): TdxMeasureOrder {
  if (o.twoPassAddPages) return 'two-pass';
  if (o.qemuVersion === undefined) return 'single-pass';
  const row = qemuTdxRow(o.qemuVersion);
  if (!row)
    throw new MeasureError(
      `qemuVersion ${o.qemuVersion}: expected ${qemuTdxNames().join(', ')} or a release from 10.1 on`,
    );
  return row.order;
}

/** The MRTD of a TD that QEMU launches on this TDVF firmware. */
export function measureTdx(firmware: Uint8Array, opts: TdxOptions = {}): TdxResult {
  const order = tdxOrder(opts);
  try {
    return { mrtd: measureTdxLaunch(firmware, { firmwareFile: 'firmware.fd', order }, nodeHost).mrtd, order };
  } catch (e) {
    rethrow(e);
  }
}

const expected = (hex: string): string => {
  const h = hex.trim().toLowerCase();
  if (!/^[0-9a-f]{96}$/.test(h)) throw new MeasureError(`expected ${hex}: 96 hex digits`);
  return h;
};

/** `--expect`: the verdict for this launch, and on a mismatch the variants that reach `expectedHex`. */
export function checkSnp(opts: SnpOptions, expectedHex: string, maxVcpus?: number): Diagnosis {
  const inputs = snpInputs(opts);
  try {
    return diagnoseSnp(inputs, expected(expectedHex), nodeHost, maxVcpus ? { maxVcpus } : {});
  } catch (e) {
    rethrow(e);
  }
}

/** `--expect` for TDX. */
export function checkTdx(firmware: Uint8Array, expectedHex: string, opts: TdxOptions = {}): Diagnosis {
  const order = tdxOrder(opts);
  try {
    return diagnoseTdx(firmware, { firmwareFile: 'firmware.fd', order }, expected(expectedHex), nodeHost);
  } catch (e) {
    rethrow(e);
  }
}
