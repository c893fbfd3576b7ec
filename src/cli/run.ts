import type { HostConfig } from '../core/host.ts';
import { DEFAULT_PROFILE } from '../core/profiles.ts';
import { nodeHost } from '../node/host.ts';
import { renderJson, renderText } from '../scenario/report.ts';
import { declaredRuns, runAll } from '../scenario/runs.ts';
import { checkSetsApply, loadFiles, parseProfile, parseSets, useColor } from './common.ts';

export function runCommand(
  files: string[],
  opts: { json?: boolean; profile?: string; set: string[]; host?: HostConfig },
): number {
  const profile = parseProfile('--profile', opts.profile);
  const set = parseSets(opts.set);
  const scenarios = loadFiles(files);
  // a --set knob must exist under every kernel the runs use, as in a file's kernel: section
  for (const s of scenarios)
    for (const sel of declaredRuns(s, profile ? { profile } : {}))
      checkSetsApply(set, sel?.profile ?? profile ?? s.kernel.profile ?? DEFAULT_PROFILE, s.file);
  // a file with kernel.profiles is one run per kernel (just --profile's when given)
  const results = scenarios.flatMap((s) =>
    runAll(s, nodeHost, {
      ...(profile ? { profile } : {}),
      ...(opts.host ? { host: opts.host } : {}),
      set,
      trace: Boolean(opts.json),
    }),
  );
  process.stdout.write(opts.json ? renderJson(results) : renderText(results, { color: useColor() }));
  return results.every((r) => r.ok) ? 0 : 1;
}
