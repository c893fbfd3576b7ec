/**
 * gmemsim measure diff tdx|snp [options of A] --vs [options of B]: two launches (two images, or one
 * image with two option sets; B takes A's options and overrides those it gives) → the first record
 * where the measured sequences part, the call that produced it, and what follows.
 */

import { describeSnpLaunch } from '../measure/diagnose.ts';
import {
  describeRecord,
  diffLaunches,
  type MeasuredLaunch,
  scenarioLaunchRecords,
  snpLaunchRecords,
  tdxLaunchRecords,
} from '../measure/diff.ts';
import { FirmwareError } from '../measure/ovmf.ts';
import { qemuTdxRow } from '../measure/qemu-versions.ts';
import { nodeHost, nodeSha384 } from '../node/host.ts';
import { hex0x as hex } from '../util/hex.ts';
import { UsageError } from './errors.ts';
import { readInput } from './measure-common.ts';
import type { MeasureSnpOptions } from './measure-snp.ts';

const TDX_FLAGS = new Set(['firmware', 'qemu-version', 'page-aug']);
const TDX_BOOLEANS = new Set(['two-pass-add-pages']);
const SNP_FLAGS = new Set([
  'mode',
  'vcpus',
  'vcpu-type',
  'vcpu-sig',
  'vcpu-family',
  'vcpu-model',
  'vcpu-stepping',
  'vmm-type',
  'ovmf',
  'ovmf-metadata',
  'kernel',
  'initrd',
  'append',
  'guest-features',
  'snp-ovmf-hash',
  'svsm',
  'vars-size',
  'vars-file',
]);

type Side = Map<string, string | true>;

function parseSide(platform: 'tdx' | 'snp', args: string[], side: string): Side {
  const out: Side = new Map();
  const flags = platform === 'tdx' ? TDX_FLAGS : SNP_FLAGS;
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    const m = /^--([a-z0-9-]+)(?:=(.*))?$/.exec(a);
    if (!m) throw new UsageError(`measure diff ${platform}: ${side}: unexpected argument ${a}`);
    const name = m[1]!;
    if (platform === 'tdx' && (TDX_BOOLEANS.has(name) || name === 'no-two-pass-add-pages')) {
      out.set('two-pass-add-pages', name === 'two-pass-add-pages' ? true : 'off');
      continue;
    }
    if (!flags.has(name))
      throw new UsageError(
        `measure diff ${platform}: ${side}: unknown option --${name} (the options of measure ${platform})`,
      );
    const v = m[2] ?? args[++i];
    if (v === undefined) throw new UsageError(`measure diff ${platform}: ${side}: --${name} needs a value`);
    out.set(name, v);
  }
  return out;
}

const camel = (k: string) => k.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());

function tdxLaunch(side: Side, label: string): MeasuredLaunch {
  const fw = side.get('firmware');
  if (typeof fw !== 'string') throw new UsageError(`measure diff tdx: ${label}: --firmware is required`);
  const qv = side.get('qemu-version');
  const row = typeof qv === 'string' ? qemuTdxRow(qv) : undefined;
  if (typeof qv === 'string' && !row)
    throw new UsageError(`measure diff tdx: ${label}: --qemu-version ${qv}: not a QEMU with TDX that gmemsim knows`);
  const order = side.get('two-pass-add-pages') === true ? 'two-pass' : (row?.order ?? 'single-pass');
  const aug = side.get('page-aug') ?? 'populate';
  if (aug !== 'populate' && aug !== 'skip')
    throw new UsageError(`measure diff tdx: ${label}: --page-aug ${aug}: populate or skip`);
  const image = readInput('--firmware', fw);
  const description = `${fw}, ${order}${row ? ` (QEMU ${row.names[0]})` : ''}${aug === 'skip' ? ', PAGE.AUG sections skipped' : ''}`;
  try {
    return tdxLaunchRecords(image, { firmwareFile: fw, order, pageAug: aug }, nodeHost, nodeSha384, description);
  } catch (e) {
    if (e instanceof FirmwareError) throw new UsageError(`measure diff tdx: ${label}: --firmware ${fw}: ${e.message}`);
    throw e;
  }
}

async function snpLaunch(side: Side, label: string): Promise<MeasuredLaunch> {
  const opts: Record<string, string> = { mode: 'snp', vmmType: 'QEMU', outputFormat: 'hex' };
  for (const [k, v] of side) if (typeof v === 'string') opts[camel(k)] = v;
  const { snpCommandInputs } = await import('./measure-snp.ts');
  const c = snpCommandInputs(opts as unknown as MeasureSnpOptions);
  for (const w of c.warnings) process.stderr.write(`gmemsim: warning: ${label}: ${w}\n`);
  try {
    return snpLaunchRecords(
      c.inputs,
      nodeHost,
      nodeSha384,
      `${opts.ovmf ?? opts.ovmfMetadata}, ${describeSnpLaunch(c.inputs)}`,
    );
  } catch (e) {
    if (e instanceof FirmwareError) throw new UsageError(`measure diff snp: ${label}: ${e.message}`);
    throw e;
  }
}

export interface MeasureDiffOptions {
  json?: boolean;
  context?: string;
  /** B is this scenario file's launch (its last attest step) instead of options after --vs */
  vsScenario?: string;
}

/** B from a scenario file: the records its run hashed, each traced to its step */
async function scenarioLaunch(platform: 'tdx' | 'snp', file: string): Promise<MeasuredLaunch> {
  const { loadFiles } = await import('./common.ts');
  const [scenario] = loadFiles([file]);
  try {
    return scenarioLaunchRecords(scenario!, platform, nodeHost, nodeSha384, `scenario ${file}`);
  } catch (e) {
    if (e instanceof FirmwareError) throw new UsageError(`--vs-scenario ${file}: ${e.message}`);
    throw e;
  }
}

export async function measureDiffCommand(platform: string, args: string[], opts: MeasureDiffOptions): Promise<number> {
  if (platform !== 'tdx' && platform !== 'snp') throw new UsageError(`measure diff ${platform}: expected tdx or snp`);
  const vs = args.indexOf('--vs');
  if (vs < 0 && opts.vsScenario === undefined)
    throw new UsageError(
      `measure diff ${platform}: give the options of A, then --vs and what B changes (or --vs-scenario FILE)`,
    );
  if (vs >= 0 && opts.vsScenario !== undefined) throw new UsageError('--vs and --vs-scenario cannot be combined');
  const a = parseSide(platform, vs < 0 ? args : args.slice(0, vs), 'A');
  const bOwn = vs < 0 ? new Map() : parseSide(platform, args.slice(vs + 1), 'B');
  const b: Side = new Map([...a, ...bOwn]);
  const context = Number(opts.context ?? '3');
  if (!Number.isInteger(context) || context < 0 || context > 100)
    throw new UsageError(`--context ${opts.context}: 0 to 100`);
  const la = platform === 'tdx' ? tdxLaunch(a, 'A') : await snpLaunch(a, 'A');
  const lb =
    opts.vsScenario !== undefined
      ? await scenarioLaunch(platform, opts.vsScenario)
      : platform === 'tdx'
        ? tdxLaunch(b, 'B')
        : await snpLaunch(b, 'B');
  const d = diffLaunches(la, lb);
  if (opts.json) {
    const j = (r: MeasuredLaunch['records'][number] | undefined) =>
      r && {
        index: r.index + 1,
        kind: r.kind,
        gpa: hex(r.gpa),
        ...(r.pageType ? { page_type: r.pageType } : {}),
        call: r.call,
      };
    process.stdout.write(
      `${JSON.stringify(
        {
          format: 'gmemsim-measure-diff/1',
          platform,
          a: { launch: la.description, measurement: la.measurement, records: la.records.length },
          b: { launch: lb.description, measurement: lb.measurement, records: lb.records.length },
          same: d.same,
          common_records: d.common,
          ...(d.first
            ? {
                first_difference: { a: j(d.first.a), b: j(d.first.b), what: d.first.what },
                after: { same_position_equal: d.after.equal, same_position_differ: d.after.differ },
              }
            : {}),
        },
        null,
        2,
      )}\n`,
    );
    return d.same ? 0 : 1;
  }
  const out = [
    `A: ${la.description}`,
    `   ${la.measurement}, ${la.records.length} records`,
    `B: ${lb.description}`,
    `   ${lb.measurement}, ${lb.records.length} records`,
  ];
  if (d.same) {
    out.push('the launches measure the same records: same measurement');
    process.stdout.write(`${out.join('\n')}\n`);
    return 0;
  }
  out.push(
    `identical for the first ${d.common} record${d.common === 1 ? '' : 's'}; first difference at record ${d.common + 1}:`,
  );
  out.push(`  A ${d.first?.a ? describeRecord(d.first.a) : '(none: A ends)'}`);
  out.push(`  B ${d.first?.b ? describeRecord(d.first.b) : '(none: B ends)'}`);
  out.push(`  differs in ${d.first?.what.join('; ')}`);
  for (let k = 1; k <= context; k++) {
    const ra = la.records[d.common + k];
    const rb = lb.records[d.common + k];
    if (!ra && !rb) break;
    out.push(`  then A ${ra ? describeRecord(ra) : '(end)'}`);
    out.push(`       B ${rb ? describeRecord(rb) : '(end)'}`);
  }
  const chain =
    platform === 'snp' ? ' (each PAGE_INFO also carries the digest so far, which differs from here on)' : '';
  out.push(
    `after it, at the same positions: ${d.after.equal} records equal, ${d.after.differ} differ${la.records.length !== lb.records.length ? `; A has ${la.records.length}, B ${lb.records.length} records` : ''}${chain}`,
  );
  process.stdout.write(`${out.join('\n')}\n`);
  return 1;
}
