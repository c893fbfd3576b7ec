/** Helpers to load and run scenario files in tests. */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { nodeFileReader, nodeHost } from '../../src/node/host.ts';
import { loadScenario, type Scenario } from '../../src/scenario/load.ts';
import { renderText } from '../../src/scenario/report.ts';
import { type RunOptions, type RunResult, runScenario } from '../../src/scenario/run.ts';
import { runAll } from '../../src/scenario/runs.ts';

export const ROOT = join(import.meta.dirname, '..', '..');

export function findScenarios(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir).sort()) {
    const p = join(dir, e);
    if (statSync(p).isDirectory()) out.push(...findScenarios(p));
    else if (/\.(ya?ml|json)$/.test(e)) out.push(p);
  }
  return out;
}

export function load(file: string): Scenario {
  return loadScenario(relative(ROOT, file), readFileSync(file, 'utf8'), nodeFileReader);
}

export function run(file: string, opts: RunOptions = {}): RunResult {
  return runScenario(load(file), nodeHost, opts);
}

/** Run a file under each kernel it declares (kernel.profiles), or once: one result per run. */
export function runEach(file: string, opts: RunOptions = {}): RunResult[] {
  return runAll(load(file), nodeHost, opts);
}

/** A run's kernel as a selector would name it: in-place+gmem_in_place_conversion=false, mainline... */
export function runLabel(r: RunResult): string {
  return r.kernel.profile.inPlaceSeries
    ? `${r.profile}+gmem_in_place_conversion=${r.knobs.gmem_in_place_conversion}`
    : r.profile;
}

export function loadText(name: string, text: string): Scenario {
  return loadScenario(name, text, nodeFileReader);
}

/** The step table of the failed expectations, for a readable test failure. */
export function failures(r: RunResult): string {
  if (r.ok) return '';
  return renderText([r], { color: false });
}
