/**
 * The JSON Schema of gmemsim/1 scenario files, generated from the one declaration (core/decl.ts)
 * and the zod schemas: every operation, field, sub-command struct, knob and injection carries its
 * description, so that an editor shows it. Shared parts live once under $defs.
 */
import { z } from 'zod';
import { type FieldDecl, KnobDecls, KnobNames, OpDecls, OpNames, SubCmdDecls } from '../core/decl.ts';
import { ProfileNames } from '../core/profiles.ts';
import { BuiltinFragments } from './fragments.ts';
import { expectSchema, fieldSchema, injectSchema, kernelSchema } from './schema.ts';
import { runKnobsSchema } from './schema-multi.ts';
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

/** A profile selector: NAME or NAME+KNOB=VALUE... (select.ts), the knobs as declared. */
function selectorJson(): Json {
  const knob = KnobNames.map((n) => {
    const k = KnobDecls[n].kind;
    const v = k.t === 'bool' ? '(true|false)' : k.t === 'u64' ? '(0x[0-9a-fA-F]+|[0-9]+)' : `(${k.values.join('|')})`;
    return `${n}=${v}`;
  });
  return {
    type: 'string',
    description: 'a kernel: a profile name, optionally +KNOB=VALUE',
    pattern: `^(${ProfileNames.join('|')})(\\+(${knob.join('|')}))*$`,
  };
}

/** `kernel`: the contract's section plus `profiles` (one run per kernel). */
function kernelJson(selector: Json): Json {
  const k = toJson(kernelSchema);
  const entry = { ...toJson(runKnobsSchema), required: ['profile'] } as Json;
  (entry.properties as Json).profile = { enum: [...ProfileNames] };
  (k.properties as Json).profiles = {
    description: 'run the file under each of these kernels (a profile, NAME+KNOB=VALUE, or a mapping), or all',
    oneOf: [{ const: 'all' }, { type: 'array', minItems: 1, items: { oneOf: [selector, entry] } }],
  };
  return { ...k, description: 'which kernel, and its settings' };
}

/** `expect`: the contract's forms, or by_profile. */
function expectJson(selector: Json): Json {
  const one = toJson(expectSchema);
  const byProfile = {
    type: 'object',
    properties: {
      by_profile: {
        type: 'object',
        description: 'the expectation under each kernel (default: the others; null: nothing asserted)',
        minProperties: 1,
        propertyNames: { anyOf: [selector, { const: 'default' }] },
        additionalProperties: { anyOf: [{ $ref: '#/$defs/expectOne' }, { type: 'null' }] },
      },
    },
    required: ['by_profile'],
    additionalProperties: false,
  };
  return { one, any: { anyOf: [{ $ref: '#/$defs/expectOne' }, byProfile] } };
}

export function scenarioJsonSchema(): Json {
  const selector = selectorJson();
  const ex = expectJson(selector);
  const defs: Json = {
    expectOne: ex.one,
    expect: ex.any,
    inject: toJson(injectSchema),
    selector,
  };
  const only = {
    description: 'the kernels this step runs under (true/false, a selector or a list)',
    anyOf: [{ type: 'boolean' }, { $ref: '#/$defs/selector' }, { type: 'array', items: { $ref: '#/$defs/selector' } }],
  };
  const include = {
    type: 'object',
    title: 'include',
    description: 'the steps of a fragment, with its handles',
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
      only,
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
      kernel: kernelJson(selector),
      steps: { type: 'array', minItems: 1, items: { oneOf: [...steps, include] }, description: 'the calls, in order' },
    },
    required: ['format', 'name', 'steps'],
    additionalProperties: false,
    $defs: defs,
  };
}
