import { basename } from 'node:path';
import { nodeHost } from '../node/host.ts';
import { renderJson, renderText } from '../scenario/report.ts';
import { type RunResult, runScenario } from '../scenario/run.ts';
import { expandInputs, loadFile, parseProfile, parseSets, useColor } from './common.ts';
import { startProgress } from './progress.ts';

export interface RunOpts {
  json?: boolean;
  quiet?: boolean;
  profile?: string;
  set: string[];
}

/**
 * Every valid file runs; each invalid one is reported on stderr (FILE:LINE:COL: message) and the
 * others go on. Exit 2 if any file was invalid, else 1 if an expectation failed, else 0. With more
 * than one file the text report ends with a grand total; one file prints exactly its report.
 */
export async function runCommand(args: string[], opts: RunOpts): Promise<number> {
  const profile = parseProfile('--profile', opts.profile);
  const set = parseSets(opts.set);
  const { files, errors } = expandInputs(args);
  for (const e of errors) process.stderr.write(`${e}\n`);
  let invalid = errors.length;
  const color = useColor();
  const results: RunResult[] = [];
  const total = { files: 0, steps: 0, expectations: 0, failed: 0 };
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
    const r = runScenario(loaded.scenario, nodeHost, {
      ...(profile ? { profile } : {}),
      set,
      trace: Boolean(opts.json),
      onStep: (done, n) => progress.update(done, n, label),
    });
    progress.stop();
    ok &&= r.ok;
    total.files++;
    total.steps += r.steps.length;
    total.expectations += r.expectations;
    total.failed += r.failed;
    // text: each file's report as soon as it ran (renderText of several runs is their concatenation)
    if (opts.json) results.push(r);
    else process.stdout.write(renderText([r], { color }));
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
