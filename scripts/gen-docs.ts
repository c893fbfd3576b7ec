/** Regenerate the files derived from the code: docs/uapi.md and schema/gmemsim-1.schema.json. */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { generated } from '../src/docs/generated.ts';

const root = join(import.meta.dirname, '..');
for (const [path, text] of Object.entries(generated())) {
  writeFileSync(join(root, path), text);
  process.stdout.write(`wrote ${path}\n`);
}
