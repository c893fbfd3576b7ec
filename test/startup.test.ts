/**
 * Start-up stays small: the measure commands must not load the scenario-file stack (yaml, zod),
 * which costs about 25 ms of a ~100 ms process (issue 5's whole-process goal). Walks the static
 * (non-type, non-dynamic) imports from each entry point.
 */
import { readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from './support/scenarios.ts';

const IMPORT = /^(?:import|export)\s+(?!type\s)(?:[^'"]*?\sfrom\s+)?['"]([^'"]+)['"]/gm;

function staticDeps(entry: string): Set<string> {
  const seen = new Set<string>();
  const walk = (file: string) => {
    if (seen.has(file)) return;
    seen.add(file);
    if (!file.endsWith('.ts')) return;
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(IMPORT)) {
      const spec = m[1]!;
      walk(spec.startsWith('.') ? resolve(dirname(file), spec) : spec);
    }
  };
  walk(join(ROOT, entry));
  return seen;
}

describe('start-up imports', () => {
  it.each(['src/cli/measure.ts', 'src/cli/measure-snp.ts'])('%s loads neither yaml nor zod', (entry) => {
    const deps = [...staticDeps(entry)].map((d) => (d.startsWith('/') ? relative(ROOT, d) : d));
    expect(deps.filter((d) => d === 'yaml' || d === 'zod' || d.startsWith('zod/'))).toEqual([]);
    expect(deps).toContain('src/core/kernel.ts');
  });
});
