import { formatCall, formatResult, ruleLines, wrap } from '../scenario/report.ts';
import { runScenario, type StepResult } from '../scenario/run.ts';
import { checkSetsApply, chooseKernel, loadFiles, parseSets, UsageError } from './common.ts';

/** What userspace observes of a step: result, errno/signal and written-back fields. */
export function observable(r: StepResult): string {
  const o = r.outcome;
  const parts = [o.signal ? o.signal : o.errno ? `-1 ${o.errno}` : `= ${o.ret}`];
  const out = o.out;
  if (out.data)
    parts.push(
      `data=${JSON.stringify(Object.fromEntries(Object.entries(out.data).map(([k, v]) => [k, `0x${v.toString(16)}`])))}`,
    );
  for (const f of ['hw_error', 'error', 'error_offset', 'st_size'] as const) {
    const v = out[f];
    if (v !== undefined) parts.push(`${f}=0x${v.toString(16)}`);
  }
  if (out.bytes) parts.push(`bytes#${Buffer.from(out.bytes).toString('base64').slice(0, 32)}`);
  if (out.mrtd) parts.push(`mrtd=${out.mrtd}`);
  if (out.measurement) parts.push(`measurement=${out.measurement}`);
  return parts.join(' ');
}

export async function diffCommand(
  files: string[],
  opts: { profile: string[]; profileFile?: string[]; set: string[]; json?: boolean },
): Promise<number> {
  const pf = opts.profileFile ?? [];
  if (opts.profile.length + pf.length !== 2 || pf.length > 1)
    throw new UsageError(
      'diff needs exactly two --profile options (A and B), or one --profile (A) and one --profile-file (B)',
    );
  const sides = [
    await chooseKernel({ profile: opts.profile[0]! }),
    await chooseKernel(pf.length ? { profileFile: pf[0]! } : { profile: opts.profile[1]! }),
  ] as const;
  const a = sides[0].name!;
  const b = sides[1].name!;
  const set = parseSets(opts.set);
  checkSetsApply(set, sides[0].profile!);
  checkSetsApply(set, sides[1].profile!);
  const scenarios = loadFiles(files);
  const diffs: { file: string; step: number; line: number; call: string; a: StepResult; b: StepResult }[] = [];
  for (const s of scenarios) {
    const ra = runScenario(s, sides[0].host, { profile: a, set });
    const rb = runScenario(s, sides[1].host, { profile: b, set });
    // steps pair up by their place in the file (a step with only: may run under one side alone)
    const bIndex = new Map(rb.steps.map((y) => [y.step.index, y]));
    ra.steps.forEach((x) => {
      const y = bIndex.get(x.step.index);
      if (y && observable(x) !== observable(y))
        diffs.push({ file: s.file, step: x.step.index + 1, line: x.step.line, call: formatCall(x.step), a: x, b: y });
    });
  }
  if (opts.json) {
    const side = (r: StepResult) => ({ result: observable(r), rule: r.outcome.rule.id, reason: r.outcome.rule.reason });
    process.stdout.write(
      `${JSON.stringify({ format: 'gmemsim-diff/1', profiles: [a, b], differences: diffs.map((d) => ({ file: d.file, step: d.step, line: d.line, call: d.call, [a]: side(d.a), [b]: side(d.b) })) }, null, 2)}\n`,
    );
  } else {
    // each side as `gmemsim run` prints a step: the result, then the rule that decided it
    const w = Math.max(a.length, b.length);
    const show = (name: string, r: StepResult) => {
      const { bound: _bound, ...rest } = r;
      const pad = ' '.repeat(w + 4);
      for (const l of wrap(formatResult(rest), `  ${name.padEnd(w)}  `, pad)) process.stdout.write(`${l}\n`);
      for (const l of ruleLines(r.outcome.rule, r.outcome.cause, pad)) process.stdout.write(`${l}\n`);
    };
    for (const d of diffs) {
      for (const l of wrap(`${d.file}:${d.line}: step ${d.step} ${d.call}`, '', '    ')) process.stdout.write(`${l}\n`);
      show(a, d.a);
      show(b, d.b);
    }
    process.stdout.write(`${diffs.length} step${diffs.length === 1 ? '' : 's'} differ between ${a} and ${b}\n`);
  }
  return diffs.length ? 1 : 0;
}
