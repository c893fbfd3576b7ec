/** Generated documentation cannot drift from the model: regenerate with `npm run docs`. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { generated } from '../src/docs/generated.ts';
import { ROOT } from './support/scenarios.ts';

describe('generated files are current (npm run docs)', () => {
  for (const [path, text] of Object.entries(generated())) {
    it(path, () => {
      expect(readFileSync(join(ROOT, path), 'utf8') === text, `${path} is stale: run npm run docs`).toBe(true);
    });
  }
});
