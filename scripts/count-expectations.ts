/**
 * Count the checked expectations of test/scenarios, per kernel (profile, and for the in-place
 * profiles the gmem_in_place_conversion setting): every file is run under each kernel it declares,
 * as `gmemsim run` and test/scenarios.test.ts run it. Used to show that folding per-profile copies
 * into one file keeps every expectation (docs/notes/scenario-fold.md).
 *
 *   node --import tsx scripts/count-expectations.ts [DIR]
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { nodeFileReader, nodeHost } from '../src/node/host.ts';
import { loadScenario } from '../src/scenario/load.ts';
import { runAll } from '../src/scenario/runs.ts';

const root = join(import.meta.dirname, '..');
const dir = process.argv[2] ?? join(root, 'test', 'scenarios');

function find(d: string): string[] {
  return readdirSync(d)
    .sort()
    .flatMap((e) => {
      const p = join(d, e);
      return statSync(p).isDirectory() ? find(p) : /\.(ya?ml|json)$/.test(e) ? [p] : [];
    });
}

const rows = new Map<string, { runs: number; expectations: number; checks: number; failed: number }>();
let files = 0;
for (const f of find(dir)) {
  const s = loadScenario(relative(root, f), readFileSync(f, 'utf8'), nodeFileReader);
  files++;
  for (const r of runAll(s, nodeHost)) {
    const label = r.kernel.profile.inPlaceSeries
      ? `${r.profile}+gmem_in_place_conversion=${r.knobs.gmem_in_place_conversion}`
      : r.profile;
    const row = rows.get(label) ?? { runs: 0, expectations: 0, checks: 0, failed: 0 };
    row.runs++;
    row.expectations += r.expectations;
    row.checks += r.steps.reduce((n, st) => n + st.checks.length, 0);
    row.failed += r.failed;
    rows.set(label, row);
  }
}
const labels = [...rows.keys()].sort();
const w = Math.max(...labels.map((l) => l.length), 'kernel'.length);
const out = [`${'kernel'.padEnd(w)}  runs  expectations  checks  failed`];
const total = { runs: 0, expectations: 0, checks: 0, failed: 0 };
for (const l of labels) {
  const r = rows.get(l)!;
  out.push(
    `${l.padEnd(w)}  ${String(r.runs).padStart(4)}  ${String(r.expectations).padStart(12)}  ${String(r.checks).padStart(6)}  ${String(r.failed).padStart(6)}`,
  );
  for (const k of ['runs', 'expectations', 'checks', 'failed'] as const) total[k] += r[k];
}
out.push(
  `${'total'.padEnd(w)}  ${String(total.runs).padStart(4)}  ${String(total.expectations).padStart(12)}  ${String(total.checks).padStart(6)}  ${String(total.failed).padStart(6)}`,
);
out.push(`${files} files`);
process.stdout.write(`${out.join('\n')}\n`);
