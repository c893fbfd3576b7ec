/** The JSON Schema of gmemsim/1 scenario files, generated from the zod schemas and the op table. */
import { z } from 'zod';
import { expectSchema, fieldSchema, injectSchema, kernelSchema } from './schema.ts';
import { type FieldSpec, OpNames, OpSpecs } from './spec.ts';

type Json = Record<string, unknown>;

function toJson(s: z.ZodType): Json {
  const js = z.toJSONSchema(s, {
    io: 'input',
    unrepresentable: 'any',
    override: (ctx) => {
      const def = ctx.zodSchema._zod.def as { type: string };
      if (def.type === 'bigint') {
        ctx.jsonSchema.type = 'integer';
        ctx.jsonSchema.minimum = 0;
      }
    },
  }) as Json;
  delete js.$schema;
  return js;
}

export function scenarioJsonSchema(): Json {
  const steps = OpNames.map((op) => {
    const specs = OpSpecs[op] as Record<string, FieldSpec>;
    const props: Json = {};
    for (const [name, spec] of Object.entries(specs)) props[name] = toJson(fieldSchema(spec.kind));
    const required = Object.entries(specs)
      .filter(([, s]) => s.required)
      .map(([n]) => n);
    return {
      type: 'object',
      title: op,
      properties: {
        [op]: {
          type: 'object',
          properties: props,
          additionalProperties: false,
          ...(required.length ? { required } : {}),
        },
        as: { type: 'string', pattern: '^[A-Za-z_][A-Za-z0-9_]*$' },
        expect: toJson(expectSchema),
        inject: toJson(injectSchema),
        note: { type: 'string' },
      },
      required: [op],
      additionalProperties: false,
    };
  });
  return {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    $id: 'https://gmemsim.invalid/schema/gmemsim-1.json',
    title: 'gmemsim/1 scenario',
    type: 'object',
    properties: {
      format: { const: 'gmemsim/1' },
      name: { type: 'string' },
      description: { type: 'string' },
      kernel: toJson(kernelSchema),
      steps: { type: 'array', minItems: 1, items: { oneOf: steps } },
    },
    required: ['format', 'name', 'steps'],
    additionalProperties: false,
  };
}
