import { basename } from 'node:path';
import type { HostConfig } from '../core/host.ts';
import { DEFAULT_PROFILE } from '../core/profiles.ts';
import { renderJson, renderText } from '../scenario/report.ts';
import type { RunResult } from '../scenario/run.ts';
import { declaredRuns, runAll } from '../scenario/runs.ts';
import { checkSetsApply, chooseKernel, expandInputs, loadFile, parseSets, useColor } from './common.ts';
import { startProgress } from './progress.ts';

export interface RunOpts {
  json?: boolean;
  quiet?: boolean;
  profile?: string;
  profileFile?: string;
  set: string[];
  /** the host configuration (--host, resolved) */
  host?: HostConfig;
}

/**
 * Every valid file runs (a file with kernel.profiles once per kernel); each invalid one is reported
 * on stderr (FILE:LINE:COL: message) and the others go on. Exit 2 if any file was invalid, else 1 if
 * an expectation failed, else 0. With more than one file the text report ends with a grand total;
 * one file prints exactly its report.
 */
export async function runCommand(args: string[], opts: RunOpts): Promise<number> {
  const { name: profile, profile: chosen, host } = await chooseKernel(opts);
  const set = parseSets(opts.set);
  const { files, errors } = expandInputs(args);
  for (const e of errors) process.stderr.write(`${e}\n`);
  let invalid = errors.length;
  const color = useColor();
  const results: RunResult[] = [];
  const total = { files: 0, runs: 0, steps: 0, expectations: 0, failed: 0 };
  let ok = true;
  const progress = await startProgress(opts, 'steps');
  for (const [i, f] of files.entries()) {
    const label = files.length > 1 ? `file ${i + 1}/${files.length} ${basename(f)}` : basename(f);
    const loaded = loadFile(f);
    if ('errors' in loaded) {
      invalid++;
      for (const e of loaded.errors) process.stderr.write(`${e}\n`);
      continue;
    }
    const s = loaded.scenario;
    // a --set knob must exist under every kernel the runs use, as in a file's kernel: section
    for (const sel of declaredRuns(s, profile ? { profile } : {}))
      checkSetsApply(set, chosen ?? sel?.profile ?? s.kernel.profile ?? DEFAULT_PROFILE, s.file);
    // a file with kernel.profiles is one run per kernel (just --profile's when given)
    const runs = runAll(s, host, {
      ...(profile ? { profile } : {}),
      ...(opts.host ? { host: opts.host } : {}),
      set,
      trace: Boolean(opts.json),
      onStep: (done, n) => progress.update(done, n, label),
    });
    progress.stop();
    total.files++;
    for (const r of runs) {
      ok &&= r.ok;
      total.runs++;
      total.steps += r.steps.length;
      total.expectations += r.expectations;
      total.failed += r.failed;
    }
    // text: each file's report as soon as it ran
    if (opts.json) results.push(...runs);
    else process.stdout.write(renderText(runs, { color }));
  }
  if (opts.json) process.stdout.write(renderJson(results));
  else if (files.length + errors.length > 1) {
    const held = total.expectations - total.failed;
    process.stdout.write(
      `total: ${total.files} file${total.files === 1 ? '' : 's'} run${invalid ? `, ${invalid} invalid` : ''}, ` +
        `${total.steps} steps, ${total.expectations} expectations: ${held} held` +
        `${total.failed ? `, ${total.failed} failed` : ''}\n`,
    );
  }
  return invalid ? 2 : ok ? 0 : 1;
}
