/**
 * One scenario file, many kernels (docs/scenario-extensions.md): the runs a file declares with
 * `kernel.profiles`, and what each step does under a given run (`only:`, `expect.by_profile`).
 */
import type { Scenario } from './load.ts';
import { type Host, type RunOptions, type RunResult, runScenario } from './run.ts';
import type { Selector } from './select.ts';

/**
 * The kernels a run of the file covers: the file's `kernel.profiles` (with `--profile`, only its
 * entries of that profile, or the profile with its defaults when the file lists none), else one.
 */
export function declaredRuns(s: Scenario, opts: RunOptions): (Selector | undefined)[] {
  const all = s.kernel.profiles;
  if (!all) return [undefined];
  if (opts.profile === undefined) return all;
  const mine = all.filter((sel) => sel.profile === opts.profile);
  return mine.length ? mine : [undefined];
}

/** Run the file under each kernel it declares (or only `opts.profile`): one result per run. */
export function runAll(s: Scenario, host: Host, opts: RunOptions = {}): RunResult[] {
  return declaredRuns(s, opts).map((sel) => runScenario(s, host, sel ? runOptionsFor(sel, opts) : opts));
}

/** Run options for one declared kernel: its profile, its knobs, then `--set` over them. */
export function runOptionsFor(sel: Selector, opts: RunOptions): RunOptions {
  const { set, ...rest } = opts;
  return { ...rest, profile: sel.profile, set: { ...sel.knobs, ...(set ?? {}) } };
}
