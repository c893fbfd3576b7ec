/**
 * gmemsim measure snp: the launch digest of an SEV-SNP guest, obtained by running the VMM's KVM
 * sequence through the model (src/measure/snp.ts). Takes virtee/sev-snp-measure's flags with the
 * same names, values, defaults and refusals (cli.md), so that one command can replace the other.
 * Optionally writes the sequence as a scenario file whose attest step expects the same digest.
 */
import { statSync, writeFileSync } from 'node:fs';
import { cpuSignature } from '../core/snp/vmsa.ts';
// static, not lazy: a SnpLaunchError it throws must be this bundle's class (scripts/bundle.mjs)
import { describeSnpLaunch, diagnoseSnp } from '../measure/diagnose.ts';
import { FirmwareError } from '../measure/ovmf.ts';
import { ovmfFromMetadata } from '../measure/ovmf-metadata.ts';
import {
  CPU_SIGS,
  hostSha256,
  measureSnp,
  type SnpImage,
  SnpLaunchError,
  type SnpLaunchInputs,
  type SnpMode,
  SnpModes,
  type SnpVmmType,
  SnpVmmTypes,
  snpLaunchScenario,
  snpVmsaPages,
} from '../measure/snp.ts';
import { nodeHost } from '../node/host.ts';
import { fromHex } from '../util/hex.ts';
import { fsReason, UsageError } from './errors.ts';
import type { ExplainRow } from './explain.ts';
import { aboutImage, firmwareRef, imageFacts, readInput, writeScenario } from './measure-common.ts';
import { expectedMeasurement, printDiagnosis } from './measure-expect.ts';

export interface MeasureSnpOptions {
  mode: string;
  vcpus?: string;
  vcpuType?: string;
  vcpuSig?: string;
  vcpuFamily?: string;
  vcpuModel?: string;
  vcpuStepping?: string;
  vmmType: string;
  ovmf?: string;
  ovmfMetadata?: string;
  kernel?: string;
  initrd?: string;
  append?: string;
  guestFeatures?: string;
  snpOvmfHash?: string;
  dumpVmsa?: boolean;
  verbose?: boolean;
  svsm?: string;
  varsSize?: string;
  varsFile?: string;
  outputFormat: string;
  emitScenario?: string;
  json?: boolean;
  explain?: boolean;
  expect?: string;
  report?: string;
  maxVcpus?: string;
}

/** sev-snp-measure's int(x, 0) (and int(x), with 0x accepted too); non-negative */
function parseNum(flag: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const s = v.trim().replace(/_/g, '');
  if (!/^(0[xX][0-9a-fA-F]+|0[oO][0-7]+|0[bB][01]+|[0-9]+)$/.test(s))
    throw new UsageError(`${flag} ${v}: expected a non-negative integer`);
  const n = Number(s.startsWith('0') && s.length > 1 && /[0-9]/.test(s[1]!) ? Number.parseInt(s, 10) : s);
  if (!Number.isSafeInteger(n)) throw new UsageError(`${flag} ${v}: too large`);
  return n;
}

function parseBig(flag: string, v: string): bigint {
  const s = v.trim().replace(/_/g, '');
  if (!/^(0[xX][0-9a-fA-F]+|0[oO][0-7]+|0[bB][01]+|[0-9]+)$/.test(s))
    throw new UsageError(`${flag} ${v}: expected a non-negative integer`);
  const n = BigInt(/^0[0-9]/.test(s) ? s.replace(/^0+(?=.)/, '') : s);
  if (n >= 1n << 64n) throw new UsageError(`${flag} ${v}: does not fit in 64 bits`);
  return n;
}

/** the vCPU signature as sev-snp-measure's get_vcpu_sig picks it (family, then sig, then type) */
function vcpuSignature(opts: MeasureSnpOptions, mode: SnpMode, vmm: SnpVmmType): number | undefined {
  const family = parseNum('--vcpu-family', opts.vcpuFamily);
  const model = parseNum('--vcpu-model', opts.vcpuModel);
  const stepping = parseNum('--vcpu-stepping', opts.vcpuStepping);
  const sig = parseNum('--vcpu-sig', opts.vcpuSig);
  // 0 is a value (sev-snp-measure 8f2b337e: `is not None`), not a missing flag
  if (family !== undefined) {
    if (model === undefined || stepping === undefined)
      throw new UsageError('--vcpu-family needs --vcpu-model and --vcpu-stepping');
    return cpuSignature(family, model, stepping);
  }
  if (sig !== undefined) {
    if (sig > 0xffffffff) throw new UsageError(`--vcpu-sig ${opts.vcpuSig}: a CPUID signature is 32 bits`);
    return sig;
  }
  if (opts.vcpuType) return CPU_SIGS[opts.vcpuType];
  if (vmm === 'QEMU')
    throw new UsageError(`missing --vcpu-type or --vcpu-sig or --vcpu-family in guest mode '${mode}'`);
  return undefined;
}

const ovmfFlag = (o: MeasureSnpOptions) =>
  o.ovmf !== undefined ? `--ovmf ${o.ovmf}` : `--ovmf-metadata ${o.ovmfMetadata}`;

/** What the command line's options make of a launch: its inputs and what is warned about. */
export interface SnpCommandInputs {
  inputs: SnpLaunchInputs;
  mode: SnpMode;
  vcpus: number;
  vmm: SnpVmmType;
  vcpuSig: number | undefined;
  varsSize: number | undefined;
  guestFeatures: bigint;
  ovmfBytes: Uint8Array;
  svsm: SnpImage | undefined;
  warnings: string[];
}

/** sev-snp-measure's checks, in its order (cli.py main), and the launch inputs (measure snp, measure diff) */
export function snpCommandInputs(opts: MeasureSnpOptions): SnpCommandInputs {
  if (!(SnpModes as readonly string[]).includes(opts.mode))
    throw new UsageError(`--mode ${opts.mode}: expected ${SnpModes.join(', ')} (gmemsim models SEV-SNP launches only)`);
  const mode = opts.mode as SnpMode;
  let vcpus = 0;
  let vmm: SnpVmmType = 'QEMU';
  let vcpuSig: number | undefined;
  let varsSize: number | undefined;
  const kernelPath = opts.kernel || undefined;
  if (mode !== 'snp:ovmf-hash') {
    if (opts.initrd && !kernelPath) throw new UsageError('--kernel required when using --initrd');
    if (opts.append && !kernelPath) throw new UsageError('--kernel required when using --append');
    const n = parseNum('--vcpus', opts.vcpus);
    if (n === undefined) throw new UsageError(`missing --vcpus N in guest mode '${mode}'`);
    if (n === 0) throw new UsageError(`--vcpus ${opts.vcpus}: a guest has at least one vCPU`);
    if (n > 1024) throw new UsageError(`--vcpus ${opts.vcpus}: at most 1024 vCPUs`);
    vcpus = n;
    if (!(SnpVmmTypes as readonly string[]).includes(opts.vmmType))
      throw new UsageError(`unknown VMM type '${opts.vmmType}' (expected ${SnpVmmTypes.join(', ')})`);
    vmm = opts.vmmType as SnpVmmType;
    vcpuSig = vcpuSignature(opts, mode, vmm);
    if (mode === 'snp:svsm') {
      if (opts.varsFile !== undefined && opts.varsSize !== undefined)
        throw new UsageError('--vars-size and --vars-file cannot be combined');
      if (opts.varsFile) {
        try {
          varsSize = statSync(opts.varsFile).size;
        } catch (e) {
          throw new UsageError(`--vars-file ${opts.varsFile}: cannot read file: ${fsReason(e)}`);
        }
      } else varsSize = parseNum('--vars-size', opts.varsSize) || undefined;
      if (!varsSize) throw new UsageError('snp:svsm mode requires --vars-size or --vars-file');
      if (!opts.svsm) throw new UsageError('snp:svsm mode requires --svsm');
    }
  }
  const guestFeatures = parseBig('--guest-features', opts.guestFeatures ?? '0x1');
  const warnings: string[] = [];
  // what sev-snp-measure ignores in snp:svsm (its SVSM VMSAs carry 0x1, no kernel hashes): a warning
  let kernelGiven = kernelPath;
  if (mode === 'snp:svsm') {
    if (opts.guestFeatures !== undefined)
      warnings.push(`snp:svsm ignores --guest-features ${opts.guestFeatures}: the SVSM VMSAs carry sev_features 0x1`);
    if (kernelPath)
      warnings.push(
        `snp:svsm ignores --kernel${opts.initrd ? ', --initrd' : ''}${opts.append !== undefined ? ', --append' : ''}: the SVSM launch measures no kernel hashes`,
      );
    kernelGiven = undefined;
  }
  if (mode === 'snp:ovmf-hash' && opts.dumpVmsa)
    warnings.push('snp:ovmf-hash measures no VMSA: --dump-vmsa writes nothing');

  // the images' SHA-256 (in the emitted description) only when emitting: hashing them costs a tenth of a measurement
  const emitting = opts.emitScenario !== undefined;
  let ovmfBytes: Uint8Array;
  let ovmf: SnpImage;
  let snpOvmfHash = opts.snpOvmfHash;
  if (opts.ovmf !== undefined) {
    if (opts.ovmfMetadata !== undefined) throw new UsageError('--ovmf and --ovmf-metadata cannot be combined');
    ovmfBytes = readInput('--ovmf', opts.ovmf);
    ovmf = {
      bytes: ovmfBytes,
      file: firmwareRef(opts.ovmf, opts.emitScenario),
      ...(emitting ? { about: aboutImage(opts.ovmf, ovmfBytes) } : {}),
    };
  } else if (opts.ovmfMetadata !== undefined) {
    // --snp-ovmf-hash without the image: its metadata as sev-snp-measure-go keeps it (ovmf-metadata.ts)
    const flag = `--ovmf-metadata ${opts.ovmfMetadata}`;
    if (mode !== 'snp') throw new UsageError(`${flag}: for --mode snp (${mode} measures the image itself)`);
    if (kernelGiven) throw new UsageError(`${flag}: --kernel needs the OVMF image (its SEV hash table address)`);
    if (emitting) throw new UsageError(`${flag}: --emit-scenario needs the OVMF image`);
    let doc: ReturnType<typeof ovmfFromMetadata>;
    try {
      doc = ovmfFromMetadata(new TextDecoder().decode(readInput('--ovmf-metadata', opts.ovmfMetadata)));
    } catch (e) {
      if (e instanceof FirmwareError) throw new UsageError(`${flag}: ${e.message}`);
      throw e;
    }
    snpOvmfHash ??= doc.ovmfHash;
    if (snpOvmfHash === undefined)
      throw new UsageError(`${flag}: no OVMFHash in it and no --snp-ovmf-hash: the firmware pages' digest is needed`);
    ovmfBytes = doc.image;
    ovmf = { bytes: doc.image, file: 'ovmf-metadata-stand-in.fd' };
  } else
    throw new UsageError(
      opts.snpOvmfHash !== undefined
        ? "--snp-ovmf-hash without --ovmf needs --ovmf-metadata FILE: the SEV metadata pages and the APs' reset EIP come from the firmware"
        : "required option '--ovmf <path>' not specified",
    );
  let svsm: SnpImage | undefined;
  if (mode === 'snp:svsm' && opts.svsm) {
    const b = readInput('--svsm', opts.svsm);
    svsm = {
      bytes: b,
      file: firmwareRef(opts.svsm, opts.emitScenario),
      ...(emitting ? { about: aboutImage(opts.svsm, b) } : {}),
    };
  }
  const inputs: SnpLaunchInputs = {
    mode,
    ovmf,
    ...(svsm ? { svsm } : {}),
    ...(varsSize !== undefined ? { varsSize } : {}),
    vcpus,
    ...(vcpuSig !== undefined ? { vcpuSig } : {}),
    vmmType: vmm,
    guestFeatures,
    ...(mode !== 'snp:ovmf-hash' && snpOvmfHash !== undefined ? { ovmfHash: snpOvmfHash } : {}),
  };
  if (mode !== 'snp:ovmf-hash' && kernelGiven) {
    inputs.kernel = {
      kernel: readInput('--kernel', kernelGiven),
      ...(opts.initrd ? { initrd: readInput('--initrd', opts.initrd) } : {}),
      ...(opts.append !== undefined ? { append: opts.append } : {}),
    };
  }

  return { inputs, mode, vcpus, vmm, vcpuSig, varsSize, guestFeatures, ovmfBytes, svsm, warnings };
}

export async function measureSnpCommand(opts: MeasureSnpOptions): Promise<number> {
  if (opts.outputFormat !== 'hex' && opts.outputFormat !== 'base64')
    throw new UsageError(`--output-format ${opts.outputFormat}: expected hex or base64`);
  if (opts.explain && opts.json) throw new UsageError('--explain and --json cannot be combined');

  const { inputs, mode, vcpus, vmm, vcpuSig, varsSize, guestFeatures, ovmfBytes, svsm, warnings } =
    snpCommandInputs(opts);
  const expected = expectedMeasurement('snp', opts);
  if (expected) {
    if (opts.explain || opts.emitScenario !== undefined || opts.dumpVmsa)
      throw new UsageError('--expect/--report prints a verdict: not with --explain, --emit-scenario or --dump-vmsa');
    for (const w of warnings) process.stderr.write(`gmemsim: warning: ${w}\n`);
    const maxVcpus = parseNum('--max-vcpus', opts.maxVcpus);
    if (maxVcpus !== undefined && (maxVcpus < 1 || maxVcpus > 1024))
      throw new UsageError(`--max-vcpus ${opts.maxVcpus}: 1 to 1024`);
    try {
      const d = diagnoseSnp(inputs, expected.hex, nodeHost, maxVcpus ? { maxVcpus } : {});
      return printDiagnosis(d, expected.from, describeSnpLaunch(inputs), opts.json);
    } catch (e) {
      if (e instanceof SnpLaunchError) {
        const prefix = e.source === 'ovmf' ? `${ovmfFlag(opts)}: ` : e.source === 'svsm' ? `--svsm ${opts.svsm}: ` : '';
        throw new UsageError(`${prefix}${e.message}`);
      }
      throw e;
    }
  }

  let m: ReturnType<typeof measureSnp>;
  try {
    m = measureSnp(inputs, nodeHost);
  } catch (e) {
    if (e instanceof SnpLaunchError) {
      const prefix = e.source === 'ovmf' ? `${ovmfFlag(opts)}: ` : e.source === 'svsm' ? `--svsm ${opts.svsm}: ` : '';
      throw new UsageError(`${prefix}${e.message}`);
    }
    throw e;
  }

  if (m.beyondKvm) {
    warnings.push(
      `${m.beyondKvm}; measured as sev-snp-measure does: the model ran the launch KVM takes up to the VMSAs, then its PSP measured ${vcpus} VMSA${vcpus === 1 ? '' : 's'} with sev_features ${`0x${guestFeatures.toString(16)}`}`,
    );
    if (opts.emitScenario !== undefined)
      throw new UsageError(
        `--emit-scenario ${opts.emitScenario}: ${m.beyondKvm}; the launch cannot be written as a scenario KVM would run`,
      );
  }
  for (const w of warnings) process.stderr.write(`gmemsim: warning: ${w}\n`);
  if (opts.dumpVmsa && m.plan.vcpus) {
    const pages = snpVmsaPages(inputs, m.plan.eips);
    pages.forEach((p, i) => {
      try {
        writeFileSync(`vmsa${i}.bin`, p);
      } catch (e) {
        throw new UsageError(`--dump-vmsa: cannot write vmsa${i}.bin: ${fsReason(e)}`);
      }
    });
  }

  if (opts.emitScenario !== undefined) {
    // the same sequence, now with the digest its attest step must give
    await writeScenario(
      opts.emitScenario,
      snpLaunchScenario(inputs, hostSha256(nodeHost), { measurement: m.measurement }),
    );
  }

  const base64 = Buffer.from(fromHex(m.measurement)).toString('base64');
  // sev-snp-measure prints the OVMF hash in hex whatever --output-format says (the form --snp-ovmf-hash takes)
  const shown = opts.outputFormat === 'base64' && mode !== 'snp:ovmf-hash' ? base64 : m.measurement;
  // sev-snp-measure -v names the mode (SevMode.name); snp:ovmf-hash prints the bare hash either way
  const printed = `${opts.verbose && mode !== 'snp:ovmf-hash' ? `Calculated ${mode === 'snp' ? 'SEV_SNP' : 'SEV_SNP_SVSM'} guest measurement: ` : ''}${shown}\n`;

  // records per call, from the model: pages each SNP_LAUNCH_UPDATE took; the VMSAs are the rest of the PSP's updates
  const updatePages = m.plan.calls.map((c) =>
    c.call === 'KVM_SEV_SNP_LAUNCH_UPDATE' ? (m.result.steps[c.step]!.outcome.out.pages ?? 0) : 0,
  );
  const vmsas = m.pspUpdates - updatePages.reduce((a, b) => a + b, 0);
  const records = m.plan.calls.map((c, i) => (c.call === 'KVM_SEV_SNP_LAUNCH_UPDATE' ? updatePages[i]! : vmsas));

  if (opts.explain) {
    const rows: ExplainRow[] = m.plan.calls.map((c, i) => ({
      call: c.call,
      what: c.what,
      type: c.type,
      gpa: c.gpa,
      pages: records[i]!,
      records: records[i]!,
      sameGpa: c.type === 'VMSA',
    }));
    const notes = [
      inputs.ovmfHash && mode === 'snp'
        ? `records: one PAGE_INFO per page, after the firmware pages' digest ${inputs.ovmfHash.toLowerCase()}`
        : 'records: one PAGE_INFO per page (launch digest = SHA-384 chain from 48 zero bytes)',
      ...(m.plan.vcpus
        ? [
            `VMSAs: ${vmm === 'QEMU' || mode === 'snp:svsm' ? `signature ${`0x${(vcpuSig ?? 0).toString(16)}`}, ` : ''}sev_features 0x${m.plan.sevFeatures.toString(16)}, eip ${[...new Set(m.plan.eips)].map((e) => `0x${e.toString(16)}`).join(' then ')}, ${mode === 'snp:svsm' ? 'svsm' : vmm}`,
          ]
        : []),
      ...m.plan.skipped.map((s) => `no call: OVMF SEV metadata section ${s.index} (${s.type}) has size 0`),
    ];
    const { explainTable } = await import('./explain.ts');
    process.stdout.write(explainTable(rows, notes) + printed);
    return 0;
  }
  if (!opts.json) {
    process.stdout.write(printed);
    return 0;
  }
  const doc = {
    format: 'gmemsim-measure/1',
    platform: 'snp',
    mode,
    ...(opts.ovmf !== undefined
      ? { firmware: imageFacts(opts.ovmf, ovmfBytes) }
      : { ovmf_metadata: opts.ovmfMetadata }),
    ...(svsm && opts.svsm ? { svsm: { ...imageFacts(opts.svsm, svsm.bytes), vars_size: varsSize } } : {}),
    profile: m.result.profile,
    ...(mode === 'snp:ovmf-hash'
      ? {}
      : {
          vmm_type: mode === 'snp:svsm' ? 'svsm' : vmm,
          vcpus: m.plan.vcpus,
          ...(vcpuSig !== undefined ? { vcpu_sig: `0x${vcpuSig.toString(16)}` } : {}),
          guest_features: `0x${m.plan.sevFeatures.toString(16)}`,
        }),
    ...(inputs.ovmfHash ? { snp_ovmf_hash: inputs.ovmfHash.toLowerCase() } : {}),
    measurement: m.measurement,
    ...(opts.outputFormat === 'base64' ? { measurement_base64: base64 } : {}),
    records: m.pspUpdates,
    calls: m.plan.calls.map((c, i) => ({
      call: c.call,
      what: c.what,
      type: c.type,
      gpa: `0x${c.gpa.toString(16)}`,
      pages: records[i],
    })),
    skipped_sections: m.plan.skipped.map((s) => ({ section: s.index, type: s.type })),
    ...(opts.emitScenario !== undefined ? { scenario: opts.emitScenario } : {}),
  };
  process.stdout.write(`${JSON.stringify(doc, null, 2)}\n`);
  return 0;
}
