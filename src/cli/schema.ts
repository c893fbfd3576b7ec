import { scenarioJsonSchema } from '../scenario/jsonschema.ts';

export function schemaCommand(): number {
  process.stdout.write(`${JSON.stringify(scenarioJsonSchema(), null, 2)}\n`);
  return 0;
}
