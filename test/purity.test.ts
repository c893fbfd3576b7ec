/** The core is pure: no I/O, no clock, no randomness (Biome enforces the imports too). */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from './support/scenarios.ts';

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((e) => {
    const p = join(dir, e);
    return statSync(p).isDirectory() ? files(p) : p.endsWith('.ts') ? [p] : [];
  });
}

describe('src/core is pure', () => {
  for (const f of files(join(ROOT, 'src', 'core'))) {
    it(relative(ROOT, f), () => {
      const text = readFileSync(f, 'utf8');
      expect(text).not.toMatch(/from ['"]node:/);
      expect(text).not.toMatch(
        /\b(Date\.now|new Date|Math\.random|performance\.now|\bprocess\.(env|exit|stdout|stderr|argv|hrtime|cwd))/,
      );
    });
  }
});
