/**
 * `gmemsim measure tdx|snp ... --expect HEX | --report FILE`: MATCH, or MISMATCH with the diagnosis
 * (src/measure/diagnose.ts). Exit 0 match, 1 mismatch, 2 bad input (a UsageError).
 */
import type { Diagnosis } from '../measure/diagnose.ts';
import { parseExpected, ReportError, snpReportMeasurement, tdxReportMeasurement } from '../measure/report.ts';
import { UsageError } from './errors.ts';
import { readInput } from './measure-common.ts';

export interface ExpectOptions {
  expect?: string;
  report?: string;
}

/** the expected measurement (96 hex digits) and where it came from, or undefined when neither flag is given */
export function expectedMeasurement(
  platform: 'snp' | 'tdx',
  opts: ExpectOptions,
): { hex: string; from: string } | undefined {
  if (opts.expect !== undefined && opts.report !== undefined)
    throw new UsageError('--expect and --report cannot be combined (give the value or the document)');
  if (opts.expect !== undefined) {
    const hex = parseExpected(opts.expect);
    if (!hex)
      throw new UsageError(`--expect ${opts.expect}: a measurement is 96 hex digits (or 64 characters of base64)`);
    return { hex, from: '--expect' };
  }
  if (opts.report === undefined) return undefined;
  const bytes = readInput('--report', opts.report);
  try {
    const r = platform === 'snp' ? snpReportMeasurement(bytes) : tdxReportMeasurement(bytes);
    return { hex: r.measurement, from: `--report ${opts.report}: ${r.what}` };
  } catch (e) {
    if (e instanceof ReportError) throw new UsageError(`--report ${opts.report}: ${e.message}`);
    throw e;
  }
}

/** print the verdict (text or JSON) and return the exit code */
export function printDiagnosis(d: Diagnosis, from: string, given: string, json: boolean | undefined): number {
  if (json) {
    process.stdout.write(
      `${JSON.stringify(
        {
          format: 'gmemsim-expect/1',
          platform: d.platform,
          verdict: d.match ? 'MATCH' : 'MISMATCH',
          expected: d.expected,
          expected_from: from,
          measured: d.measured,
          launch: given,
          ...(d.match
            ? {}
            : {
                tried: d.tried,
                dimensions: d.dimensions,
                matches: d.matches,
              }),
          model_runs: d.modelRuns,
          ms: Math.round(d.ms * 10) / 10,
        },
        null,
        2,
      )}\n`,
    );
    return d.match ? 0 : 1;
  }
  const out: string[] = [];
  if (d.match) {
    out.push(`MATCH ${d.measured}`, `  ${given}`);
    process.stdout.write(`${out.join('\n')}\n`);
    return 0;
  }
  out.push(
    'MISMATCH',
    `  expected ${d.expected} (${from})`,
    `  measured ${d.measured} (${given})`,
    `diagnosis: ${d.tried} launch variants compared, ${d.modelRuns} launches run through the model, ${Math.round(d.ms)} ms:`,
    ...d.dimensions.map((x) => `  - ${x}`),
  );
  if (!d.matches.length)
    out.push(
      'no variant reaches the expected measurement: the difference lies outside what was tried (the firmware image,',
      'the kernel, initrd or command line contents, the SVSM, or a VMM gmemsim does not model)',
    );
  for (const m of d.matches)
    out.push(
      `match: ${m.changes.join(' ')}${m.confirmed ? '' : ' (NOT confirmed by a launch of its own: a bug, please report)'}`,
      `  ${m.description}`,
    );
  process.stdout.write(`${out.join('\n')}\n`);
  return 1;
}
