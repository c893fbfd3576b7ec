import { DEFAULT_PROFILE } from '../core/profiles.ts';
import { renderJson, renderText } from '../scenario/report.ts';
import { runScenario } from '../scenario/run.ts';
import { checkSetsApply, chooseKernel, loadFiles, parseSets, useColor } from './common.ts';

export async function runCommand(
  files: string[],
  opts: { json?: boolean; profile?: string; profileFile?: string; set: string[] },
): Promise<number> {
  const { name: profile, profile: chosen, host } = await chooseKernel(opts);
  const set = parseSets(opts.set);
  const scenarios = loadFiles(files);
  for (const s of scenarios) checkSetsApply(set, chosen ?? s.kernel.profile ?? DEFAULT_PROFILE, s.file);
  const results = scenarios.map((s) =>
    runScenario(s, host, { ...(profile ? { profile } : {}), set, trace: Boolean(opts.json) }),
  );
  process.stdout.write(opts.json ? renderJson(results) : renderText(results, { color: useColor() }));
  return results.every((r) => r.ok) ? 0 : 1;
}
