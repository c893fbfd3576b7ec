import { DEFAULT_PROFILE } from '../core/profiles.ts';
import { nodeHost } from '../node/host.ts';
import { renderJson, renderText } from '../scenario/report.ts';
import { runScenario } from '../scenario/run.ts';
import { checkSetsApply, loadFiles, parseProfile, parseSets, useColor } from './common.ts';

export function runCommand(files: string[], opts: { json?: boolean; profile?: string; set: string[] }): number {
  const profile = parseProfile('--profile', opts.profile);
  const set = parseSets(opts.set);
  const scenarios = loadFiles(files);
  for (const s of scenarios) checkSetsApply(set, profile ?? s.kernel.profile ?? DEFAULT_PROFILE, s.file);
  const results = scenarios.map((s) =>
    runScenario(s, nodeHost, { ...(profile ? { profile } : {}), set, trace: Boolean(opts.json) }),
  );
  process.stdout.write(opts.json ? renderJson(results) : renderText(results, { color: useColor() }));
  return results.every((r) => r.ok) ? 0 : 1;
}
