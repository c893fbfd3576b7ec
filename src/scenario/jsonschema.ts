/** The JSON Schema of gmemsim/1 scenario files, generated from the zod schemas and the op table. */
import { z } from 'zod';
import { ProfileNames } from '../core/profiles.ts';
import { BuiltinFragments } from './fragments.ts';
import { expectSchema, fieldSchema, injectSchema, kernelSchema } from './schema.ts';
import { runKnobsSchema } from './schema-multi.ts';
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

/** A profile selector: NAME or NAME+KNOB=VALUE... (select.ts). */
const selector = {
  type: 'string',
  pattern: `^(${ProfileNames.join('|')})(\\+(gmem_in_place_conversion=(true|false)|mmap_min_addr=(0x[0-9a-fA-F]+|[0-9]+)|tdx_measure_order=(single-pass|two-pass)))*$`,
};

/** `kernel`: the contract's section plus `profiles` (one run per kernel). */
function kernelJson(): Json {
  const k = toJson(kernelSchema);
  const entry = { ...toJson(runKnobsSchema), required: ['profile'] } as Json;
  (entry.properties as Json).profile = { enum: [...ProfileNames] };
  (k.properties as Json).profiles = {
    description: 'run the file under each of these kernels (a profile, NAME+KNOB=VALUE, or a mapping), or all',
    oneOf: [{ const: 'all' }, { type: 'array', minItems: 1, items: { oneOf: [selector, entry] } }],
  };
  return k;
}

/** `expect`: the contract's forms, or by_profile. */
function expectJson(): Json {
  const one = toJson(expectSchema);
  const byProfile = {
    type: 'object',
    properties: {
      by_profile: {
        type: 'object',
        minProperties: 1,
        propertyNames: { anyOf: [selector, { const: 'default' }] },
        additionalProperties: { anyOf: [one, { type: 'null' }] },
      },
    },
    required: ['by_profile'],
    additionalProperties: false,
  };
  return { anyOf: [one, byProfile] };
}

export function scenarioJsonSchema(): Json {
  const expect = expectJson();
  const only = { anyOf: [{ type: 'boolean' }, selector, { type: 'array', items: selector }] };
  const include = {
    type: 'object',
    title: 'include',
    properties: {
      include: {
        description: 'a built-in fragment or a fragment file (path ending .yaml, relative to this file)',
        anyOf: [{ enum: Object.keys(BuiltinFragments) }, { type: 'string', pattern: '\\.(ya?ml|json)$' }],
      },
      with: { type: 'object', description: 'parameters of the fragment' },
    },
    required: ['include'],
    additionalProperties: false,
  };
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
        expect,
        inject: toJson(injectSchema),
        note: { type: 'string' },
        only,
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
      kernel: kernelJson(),
      steps: { type: 'array', minItems: 1, items: { oneOf: [...steps, include] } },
    },
    required: ['format', 'name', 'steps'],
    additionalProperties: false,
  };
}
