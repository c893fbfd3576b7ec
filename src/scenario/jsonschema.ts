/**
 * The JSON Schema of gmemsim/1 scenario files, generated from the one declaration (core/decl.ts)
 * and the zod schemas: every operation, field, sub-command struct, knob and injection carries its
 * description, so that an editor shows it. Shared parts live once under $defs.
 */
import { z } from 'zod';
import { type FieldDecl, OpDecls, OpNames, SubCmdDecls } from '../core/decl.ts';
import { expectSchema, fieldSchema, injectSchema, kernelSchema } from './schema.ts';
import { StepMetaKeys } from './spec.ts';

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

/** A field's schema with its description; repeated kinds (handles, data, CPUID) point into $defs. */
function fieldJson(f: FieldDecl, defs: Json): Json {
  const t = f.kind.t;
  if (t === 'fd' || t === 'addr' || t === 'data' || t === 'cpuid') {
    defs[t] ??= toJson(fieldSchema(f.kind));
    return { $ref: `#/$defs/${t}`, description: f.doc };
  }
  if (t === 'encdata') {
    defs.encdata ??= encdataJson(defs);
    return { $ref: '#/$defs/encdata', description: f.doc };
  }
  return { ...toJson(fieldSchema(f.kind)), description: f.doc };
}

/** KVM_MEMORY_ENCRYPT_OP data: an integer, or the struct of one of the sub-commands. */
function encdataJson(defs: Json): Json {
  const structs = Object.entries(SubCmdDecls).flatMap(([name, d]) => {
    if (!('struct' in d)) return [];
    const fields = d.struct.fields as Record<string, FieldDecl>;
    return [
      {
        type: 'object',
        title: `${name} (struct ${d.struct.name})`,
        description: d.doc,
        properties: Object.fromEntries(Object.entries(fields).map(([k, f]) => [k, fieldJson(f, defs)])),
        additionalProperties: false,
      },
    ];
  });
  return {
    anyOf: [
      { type: 'integer', minimum: 0, description: 'an integer (KVM_TDX_INIT_VCPU: the initial RCX)' },
      ...structs,
    ],
  };
}

export function scenarioJsonSchema(): Json {
  const defs: Json = {
    expect: toJson(expectSchema),
    inject: toJson(injectSchema),
  };
  const steps = OpNames.map((op) => {
    const decl = OpDecls[op];
    const fields = decl.fields as Record<string, FieldDecl>;
    const props: Json = {};
    for (const [name, f] of Object.entries(fields)) props[name] = fieldJson(f, defs);
    const required = Object.entries(fields)
      .filter(([, f]) => f.required)
      .map(([n]) => n);
    const meta: Json = {
      as: {
        type: 'string',
        pattern: '^[A-Za-z_][A-Za-z0-9_]*$',
        description: 'bind the result (an fd or address) to a handle name',
      },
      expect: { $ref: '#/$defs/expect', description: 'what userspace must observe' },
      inject: { $ref: '#/$defs/inject', description: 'make the environment misbehave for this step' },
      note: { type: 'string', description: 'free text, printed with the step' },
      as_process: {
        type: 'string',
        pattern: '^[A-Za-z_][A-Za-z0-9_]*$',
        description: 'run the step in the process a fork bound to this handle (default: the VMM)',
      },
    };
    for (const k of StepMetaKeys) if (!(k in meta)) meta[k] = {};
    return {
      type: 'object',
      title: op,
      description: `${decl.doc} → ${decl.result}`,
      properties: {
        [op]: {
          type: 'object',
          description: decl.doc,
          properties: props,
          additionalProperties: false,
          ...(required.length ? { required } : {}),
        },
        ...meta,
      },
      required: [op],
      additionalProperties: false,
    };
  });
  return {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    $id: 'https://gmemsim.invalid/schema/gmemsim-1.json',
    title: 'gmemsim/1 scenario',
    description: 'A sequence of system calls a VMM makes against KVM, and what it expects back',
    type: 'object',
    properties: {
      format: { const: 'gmemsim/1', description: 'the format version' },
      name: { type: 'string', description: 'one line' },
      description: { type: 'string', description: 'free text' },
      kernel: { ...toJson(kernelSchema), description: 'which kernel, and its settings' },
      steps: { type: 'array', minItems: 1, items: { oneOf: steps }, description: 'the calls, in order' },
    },
    required: ['format', 'name', 'steps'],
    additionalProperties: false,
    $defs: defs,
  };
}
