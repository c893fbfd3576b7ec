import type { HostConfig } from '../core/host.ts';
import { DEFAULT_PROFILE } from '../core/profiles.ts';
import { renderJson, renderText } from '../scenario/report.ts';
import { declaredRuns, runAll } from '../scenario/runs.ts';
import { checkSetsApply, chooseKernel, loadFiles, parseSets, useColor } from './common.ts';

export async function runCommand(
  files: string[],
  opts: { json?: boolean; profile?: string; profileFile?: string; set: string[]; host?: HostConfig },
): Promise<number> {
  const { name: profile, profile: chosen, host } = await chooseKernel(opts);
  const set = parseSets(opts.set);
  const scenarios = loadFiles(files);
  // a --set knob must exist under every kernel the runs use, as in a file's kernel: section
  for (const s of scenarios)
    for (const sel of declaredRuns(s, profile ? { profile } : {}))
      checkSetsApply(set, chosen ?? sel?.profile ?? s.kernel.profile ?? DEFAULT_PROFILE, s.file);
  // a file with kernel.profiles is one run per kernel (just --profile's when given)
  const results = scenarios.flatMap((s) =>
    runAll(s, host, {
      ...(profile ? { profile } : {}),
      ...(opts.host ? { host: opts.host } : {}),
      set,
      trace: Boolean(opts.json),
    }),
  );
  process.stdout.write(opts.json ? renderJson(results) : renderText(results, { color: useColor() }));
  return results.every((r) => r.ok) ? 0 : 1;
}
