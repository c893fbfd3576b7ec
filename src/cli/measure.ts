// static, not lazy: a FirmwareError it throws must be this bundle's class (scripts/bundle.mjs)
import { diagnoseTdx } from '../measure/diagnose.ts';
import { FirmwareError } from '../measure/ovmf.ts';
import { qemuTdxNames, qemuTdxRow } from '../measure/qemu-versions.ts';
import { measureTdx, type TdxMeasureOrder, tdxLaunchScenario } from '../measure/tdx.ts';
import { nodeHost } from '../node/host.ts';
import { fromHex } from '../util/hex.ts';
import { UsageError } from './errors.ts';
import type { ExplainRow } from './explain.ts';
import { aboutImage, firmwareRef, imageFacts, readInput, writeScenario } from './measure-common.ts';
import { expectedMeasurement, printDiagnosis } from './measure-expect.ts';

export interface MeasureTdxOptions {
  firmware: string;
  twoPassAddPages?: boolean;
  qemuVersion?: string;
  outputFormat: string;
  emitScenario?: string;
  json?: boolean;
  explain?: boolean;
  expect?: string;
  report?: string;
}

export async function measureTdxCommand(opts: MeasureTdxOptions): Promise<number> {
  if (opts.outputFormat !== 'hex' && opts.outputFormat !== 'base64')
    throw new UsageError(`--output-format ${opts.outputFormat}: expected hex or base64`);
  if (opts.explain && opts.json) throw new UsageError('--explain and --json cannot be combined');
  const qemu = opts.qemuVersion === undefined ? undefined : qemuTdxRow(opts.qemuVersion);
  if (opts.qemuVersion !== undefined && !qemu)
    throw new UsageError(
      `--qemu-version ${opts.qemuVersion}: not a QEMU with TDX that gmemsim knows (${qemuTdxNames().join(', ')}, or any release from 10.1 on)`,
    );
  if (qemu && opts.twoPassAddPages && qemu.order !== 'two-pass')
    throw new UsageError(
      `--two-pass-add-pages contradicts --qemu-version ${opts.qemuVersion}, which adds and extends page by page (single-pass)`,
    );
  const image = readInput('--firmware', opts.firmware);
  const order: TdxMeasureOrder = opts.twoPassAddPages ? 'two-pass' : (qemu?.order ?? 'single-pass');
  // the image's SHA-256 only for what shows it (hashing 4 MiB is a tenth of a measurement)
  const firmwareFile = firmwareRef(opts.firmware, opts.emitScenario);
  const expected = expectedMeasurement('tdx', opts);
  if (expected) {
    if (opts.explain || opts.emitScenario !== undefined)
      throw new UsageError('--expect/--report prints a verdict: not with --explain or --emit-scenario');
    try {
      const d = diagnoseTdx(image, { firmwareFile, order }, expected.hex, nodeHost);
      const launch = `${order} record order${qemu ? `, QEMU ${qemu.names[0]}` : ''}`;
      return printDiagnosis(d, expected.from, launch, opts.json);
    } catch (e) {
      if (e instanceof FirmwareError) throw new UsageError(`--firmware ${opts.firmware}: ${e.message}`);
      throw e;
    }
  }
  let m: ReturnType<typeof measureTdx>;
  try {
    m = measureTdx(image, { firmwareFile, order }, nodeHost);
  } catch (e) {
    if (e instanceof FirmwareError) throw new UsageError(`--firmware ${opts.firmware}: ${e.message}`);
    throw e;
  }

  if (opts.emitScenario !== undefined) {
    // the same sequence, now with the MRTD its attest step must give
    const about = aboutImage(opts.firmware, image);
    const plan = tdxLaunchScenario(m.meta, { firmwareFile, firmware: image, order, about, mrtd: m.mrtd });
    await writeScenario(opts.emitScenario, plan);
  }

  const base64 = Buffer.from(fromHex(m.mrtd)).toString('base64');
  const printed = `${opts.outputFormat === 'base64' ? base64 : m.mrtd}\n`;
  if (opts.explain) {
    const rows: ExplainRow[] = m.plan.calls.map((c) => {
      const pages = m.result.steps[c.step]!.outcome.out.pages ?? 0;
      return {
        call: 'KVM_TDX_INIT_MEM_REGION',
        what: `TDVF section ${c.section.index}`,
        type: `${c.section.type}${c.measured ? ' +MR.EXTEND' : ''}`,
        gpa: c.gpa,
        pages,
        records: pages * (c.measured ? 17 : 1),
      };
    });
    const notes = [
      `records: one TDH.MEM.PAGE.ADD per page, 16 TDH.MR.EXTEND per measured page (${order})`,
      ...m.plan.skipped.map((s) => `no call: TDVF section ${s.index} (${s.type}) is PAGE.AUG`),
    ];
    const { explainTable } = await import('./explain.ts');
    process.stdout.write(explainTable(rows, notes) + printed);
    return 0;
  }
  if (!opts.json) {
    process.stdout.write(printed);
    return 0;
  }
  const calls = m.plan.calls.map((c) => {
    const done = m.result.steps[c.step]!.outcome.out.pages ?? 0;
    return {
      call: 'KVM_TDX_INIT_MEM_REGION',
      section: c.section.index,
      type: c.section.type,
      gpa: `0x${c.gpa.toString(16)}`,
      pages: done,
      measured: c.measured,
    };
  });
  const pageAdds = calls.reduce((n, c) => n + c.pages, 0);
  const extendPages = calls.reduce((n, c) => n + (c.measured ? c.pages : 0), 0);
  const doc = {
    format: 'gmemsim-measure/1',
    platform: 'tdx',
    firmware: imageFacts(opts.firmware, image),
    profile: m.result.profile,
    order,
    ...(qemu ? { qemu_version: { row: qemu.names[0], what: qemu.what, source: qemu.source } } : {}),
    mrtd: m.mrtd,
    ...(opts.outputFormat === 'base64' ? { mrtd_base64: base64 } : {}),
    records: { page_add: pageAdds, mr_extend: extendPages * 16 },
    calls,
    page_aug_sections: m.plan.skipped.map((s) => ({ section: s.index, type: s.type })),
    ...(opts.emitScenario !== undefined ? { scenario: opts.emitScenario } : {}),
  };
  process.stdout.write(`${JSON.stringify(doc, null, 2)}\n`);
  return 0;
}
