/** Files generated from the code, and their contents (scripts/gen-docs.ts writes them; a test compares). */
import { allRules } from '../core/catalogue.ts';
import { demoRows } from '../demo/scenarios.ts';
import { scenarioJsonSchema } from '../scenario/jsonschema.ts';
import { rulesMarkdown } from './uapi.ts';

export function generated(): Record<string, string> {
  const files: Record<string, string> = {
    'docs/uapi.md': rulesMarkdown(allRules()),
    'schema/gmemsim-1.schema.json': `${JSON.stringify(scenarioJsonSchema(), null, 2)}\n`,
  };
  // the demo's sequences as files, in the form the default profile runs them (for `gmemsim diff`)
  demoRows.forEach((row, i) => {
    const yaml = row.yaml('in-place');
    if (yaml) files[`examples/demo/${String(i + 1).padStart(2, '0')}-${row.id}.yaml`] = yaml;
  });
  return files;
}
