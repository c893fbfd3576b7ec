/**
 * zod schemas of the scenario format gmemsim/1 (../shared/spec/scenario-format.md). Integers come
 * from the YAML parser as bigint (intAsBigInt), so every u64 is exact.
 */
import { z } from 'zod';
import {
  type InjectDecl,
  InjectDecls,
  type InjectName,
  InjectNames,
  type KnobDecl,
  KnobDecls,
  type KnobName,
  KnobNames,
} from '../core/decl.ts';
import { errnoNames } from '../core/errno.ts';
import { HostPresetNames } from '../core/host.ts';
import { describeKind } from '../core/knobs.ts';
import type { CpuidEntry, Inject } from '../core/ops.ts';
import { ProfileNames } from '../core/profiles.ts';
import {
  ExitReasonNames,
  HypercallNr,
  KVM_EXIT_HYPERCALL_LONG_MODE,
  MapGpaRangeAttr,
  MemoryExitFlag,
} from '../core/uapi.ts';

/** exit reasons a scenario may name (core/uapi.ts ExitReasonNames) */
export const ExitReason = ExitReasonNames;
const ExitFlagNames = { ...MemoryExitFlag, KVM_EXIT_HYPERCALL_LONG_MODE } as const;
const MapGpaRangeAttrNames = {
  KVM_MAP_GPA_RANGE_ENCRYPTED: MapGpaRangeAttr.KVM_MAP_GPA_RANGE_ENCRYPTED,
  KVM_MAP_GPA_RANGE_PAGE_SZ_2M: MapGpaRangeAttr.KVM_MAP_GPA_RANGE_PAGE_SZ_2M,
  KVM_MAP_GPA_RANGE_PAGE_SZ_1G: MapGpaRangeAttr.KVM_MAP_GPA_RANGE_PAGE_SZ_1G,
} as const;

import { isSafeguard } from '../core/safeguards.ts';
import { cpuidEntry as cpuidEntryOf } from './build.ts';
import { CpuidFields, type FieldKind, type NameTable } from './spec.ts';

export const U64_MAX = (1n << 64n) - 1n;

/** A value that may name a handle: an integer, NAME, NAME+OFF or NAME-OFF. */
export type Expr = { k: 'int'; v: bigint } | { k: 'ref'; name: string; off: bigint };

export type DataExpr =
  | { form: 'hex'; hex: string }
  | { form: 'fill'; fill: number; length: bigint }
  | { form: 'text'; text: string }
  | { form: 'file'; file: string; offset: bigint; length: bigint | undefined }
  | { form: 'sha256'; sha256: string }
  | { form: 'sha384'; sha384: string };

const intMsg = 'expected an integer (decimal or hex)';

export const u64 = z
  .bigint({ error: intMsg })
  .min(0n, { error: 'negative integers are not allowed' })
  .max(U64_MAX, { error: 'integer above 2^64-1' });

export const count = u64.max(1n << 40n, { error: 'count too large' }).transform((v) => Number(v));

const HANDLE = /^([A-Za-z_][A-Za-z0-9_]*)\s*(?:([+-])\s*(0[xX][0-9a-fA-F]+|[0-9]+))?$/;
export const HANDLE_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

export const expr = z.union([
  u64.transform((v): Expr => ({ k: 'int', v })),
  z
    .string()
    .regex(HANDLE, { error: 'expected an integer, a handle NAME, or NAME+OFFSET / NAME-OFFSET' })
    .transform((s): Expr => {
      const m = HANDLE.exec(s)!;
      const off = m[3] ? BigInt(m[3]) : 0n;
      return { k: 'ref', name: m[1]!, off: m[2] === '-' ? -off : off };
    }),
]);

/** a value from the file, for a message: JSON.stringify throws on a BigInt and prints Infinity as null */
function shown(v: unknown): string {
  if (typeof v === 'bigint' || typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (typeof v === 'string') return JSON.stringify(v.length > 60 ? `${v.slice(0, 60)}…` : v);
  if (v === null || v === undefined) return String(v);
  return Array.isArray(v) ? 'a list' : 'a mapping';
}

function nameSchema(table: NameTable) {
  const names = Object.keys(table) as [string, ...string[]];
  return z.enum(names, {
    error: (iss) => `unknown name ${shown(iss.input)}; expected one of ${names.join(', ')}`,
  });
}

export function flagsSchema(table: NameTable) {
  return z.union([
    u64,
    z.array(nameSchema(table)).transform((ns) => ns.reduce((acc, n) => acc | BigInt(table[n]!), 0n)),
  ]);
}

export function enumSchema(table: NameTable) {
  return z.union([u64, nameSchema(table).transform((n) => BigInt(table[n]!))]);
}

const hexString = z
  .string()
  .transform((s) => s.replace(/\s+/g, ''))
  .refine((s) => /^([0-9a-fA-F]{2})*$/.test(s), { error: 'hex must be an even number of hex digits' });

export const dataSchema = z.union([
  z.strictObject({ hex: hexString }).transform((d): DataExpr => ({ form: 'hex', hex: d.hex })),
  z
    .strictObject({ fill: u64.max(255n, { error: 'fill is a byte (0..255)' }), length: u64 })
    .transform((d): DataExpr => ({ form: 'fill', fill: Number(d.fill), length: d.length })),
  z.strictObject({ text: z.string() }).transform((d): DataExpr => ({ form: 'text', text: d.text })),
  z
    .strictObject({ file: z.string().min(1), offset: u64.optional(), length: u64.optional() })
    .transform((d): DataExpr => ({ form: 'file', file: d.file, offset: d.offset ?? 0n, length: d.length })),
]);

export const expectDataSchema = z.union([
  dataSchema,
  z
    .strictObject({ sha256: z.string().regex(/^[0-9a-fA-F]{64}$/, { error: 'sha256 is 64 hex digits' }) })
    .transform((d): DataExpr => ({ form: 'sha256', sha256: d.sha256.toLowerCase() })),
  z
    .strictObject({ sha384: z.string().regex(/^[0-9a-fA-F]{96}$/, { error: 'sha384 is 96 hex digits' }) })
    .transform((d): DataExpr => ({ form: 'sha384', sha384: d.sha384.toLowerCase() })),
]);

/** a kvm_cpuid_entry2 in a scenario: the core's CpuidEntry */
export type CpuidEntryExpr = CpuidEntry;

const cpuidEntry = z
  .strictObject(Object.fromEntries(CpuidFields.map((f) => [f, u64.optional()])))
  .transform((e) => cpuidEntryOf(e as Partial<CpuidEntryExpr>));

export const cpuidListSchema = z.array(cpuidEntry);

/** kvm_cpuid2 as a struct field: { entries: [...], nent? } */
export const cpuid2Schema = z.strictObject({ nent: u64.optional(), padding: u64.optional(), entries: cpuidListSchema });

export type Value = boolean | bigint | Expr | bigint[] | DataExpr | CpuidEntryExpr[] | StructExpr | CpuidStruct;
export type CpuidStruct = { nent: bigint | undefined; padding: bigint; entries: CpuidEntryExpr[] };
export interface StructExpr {
  [field: string]: Value;
}

export function fieldSchema(kind: FieldKind): z.ZodType<unknown> {
  switch (kind.t) {
    case 'u64':
      return u64;
    case 'fd':
    case 'addr':
      return expr;
    case 'flags':
      return flagsSchema(kind.table);
    case 'enum':
      return enumSchema(kind.table);
    case 'u64list':
      return z.array(u64);
    case 'bool':
      return z.boolean({ error: 'expected true or false' });
    case 'data':
      return dataSchema;
    case 'cpuid':
      return z.union([
        cpuidListSchema,
        cpuid2Schema.transform((c): CpuidStruct => ({ nent: c.nent, padding: c.padding ?? 0n, entries: c.entries })),
      ]);
    case 'encdata':
      // checked against the sub-command's struct once the id is known
      return z.union([u64, z.record(z.string(), z.unknown())]);
  }
}

/** The zod schema of one knob, from its declaration (the same kinds and messages as `--set`, core/knobs.ts). */
function knobSchema(name: KnobName) {
  const decl: KnobDecl = KnobDecls[name];
  const kind = decl.kind;
  const error = `expected ${describeKind(kind)}`;
  const base =
    kind.t === 'bool'
      ? z.boolean({ error })
      : kind.t === 'u64'
        ? z
            .bigint({ error })
            .min(0n, { error })
            .max(kind.max, { error })
            .transform((v) => Number(v))
        : z.enum(kind.values as [string, ...string[]], { error });
  return base.describe(decl.doc).optional();
}

/** every declared knob's schema, by name */
export const knobSchemaFields = Object.fromEntries(KnobNames.map((n) => [n, knobSchema(n)])) as Record<
  KnobName,
  ReturnType<typeof knobSchema>
>;

export const kernelSchema = z.strictObject({
  profile: z
    .enum(ProfileNames, { error: `profile must be one of ${ProfileNames.join(', ')}` })
    .describe('which kernel the model follows')
    .optional(),
  ...knobSchemaFields,
  host: z
    .enum(HostPresetNames, { error: `host must be one of ${HostPresetNames.join(', ')}` })
    .describe('the host configuration: vendor, VM types, memory attributes, TDP, SMM, privileges (gmemsim host)')
    .optional(),
  safeguards: z
    .record(
      z.string().refine((n) => isSafeguard(n), { error: 'unknown safeguard (gmemsim explore --list-safeguards)' }),
      z.enum(['on', 'off']),
    )
    .describe('switch a kernel safeguard off to show what it protects (gmemsim explore --list-safeguards)')
    .optional(),
});

/** The zod schema of one injection, from its declaration. */
function injectField(decl: InjectDecl) {
  const k = decl.kind;
  const base =
    k.t === 'count'
      ? count
      : k.t === 'true'
        ? z.boolean()
        : k.t === 'literal'
          ? z.literal(k.value, { error: `takes "${k.value}"` })
          : k.t === 'digest'
            ? z.string().regex(/^[0-9a-fA-F]{96}$/, { error: 'a launch digest is 96 hex digits' })
            : z.strictObject({
                page: count,
                error: z.union([z.string(), u64.transform((v) => `0x${v.toString(16)}`)]),
              });
  return base.describe(decl.doc).optional();
}

export const injectSchema = z.strictObject(
  Object.fromEntries(InjectNames.map((n) => [n, injectField(InjectDecls[n])])) as {
    [N in InjectName]: ReturnType<typeof injectField>;
  },
);

export const SignalNames = ['SIGBUS', 'SIGSEGV'] as const;

const hex96 = z
  .string()
  .regex(/^[0-9a-fA-F]{96}$/, { error: 'a SHA-384 digest is 96 hex digits' })
  .transform((s) => s.toLowerCase());

export const expectObjectSchema = z.strictObject({
  ok: z.literal(true).describe('success (ret >= 0, no signal)').optional(),
  ret: expr.describe('the exact return value (a handle name compares with its value)').optional(),
  errno: z
    .enum(errnoNames as [string, ...string[]], {
      error: (iss) =>
        `unknown errno name ${JSON.stringify(iss.input)}${nearest(String(iss.input), errnoNames)}; expected one of ${errnoNames.join(', ')}`,
    })
    .describe('ret -1 with this errno')
    .optional(),
  signal: z.enum(SignalNames).describe('a load or store raised this signal').optional(),
  data: z
    .record(z.string(), z.union([expr, z.array(u64)]))
    .describe('struct fields as userspace sees them after the call')
    .optional(),
  hw_error: u64.describe('kvm_tdx_cmd.hw_error after the call').optional(),
  error: z.union([u64, z.string()]).describe('kvm_sev_cmd.error: a firmware error name or number').optional(),
  error_offset: u64.describe('KVM_SET_MEMORY_ATTRIBUTES2 error_offset after the call').optional(),
  bytes: expectDataSchema.describe('the bytes a load or read returned').optional(),
  st_size: u64.describe('fstat st_size').optional(),
  st_blksize: u64.describe('fstat st_blksize').optional(),
  mrtd: hex96.describe('attest of a TD: the MRTD, 96 hex digits').optional(),
  measurement: hex96.describe('attest of an SNP guest: the launch digest, 96 hex digits').optional(),
  exit: z
    .strictObject({
      reason: enumSchema(ExitReason).describe('run->exit_reason (KVM_EXIT_*)'),
      flags: flagsSchema(ExitFlagNames).describe('memory_fault.flags or hypercall.flags').optional(),
      gpa: expr.describe('memory_fault.gpa').optional(),
      size: u64.describe('memory_fault.size').optional(),
      nr: enumSchema(HypercallNr).describe('hypercall.nr').optional(),
      args: z
        .array(z.union([u64, flagsSchema(MapGpaRangeAttrNames)]))
        .describe('hypercall.args[0..]: as many as given are compared')
        .optional(),
      ret: u64.describe('hypercall.ret as KVM left it').optional(),
    })
    .describe('what KVM_RUN (or a guest operation) left in struct kvm_run; reason KVM_EXIT_NONE: no exit')
    .optional(),
  read: expectDataSchema.describe('the bytes the guest read (guest_access with write: false)').optional(),
  guest: z
    .string()
    .describe('what the guest itself saw: a TDVMCALL status, a PSC result, PVALIDATE/ACCEPT status, #VE/#VC')
    .optional(),
  rule: z.string().describe('the rule that decided the result (gmemsim rules)').optional(),
  /** gmemsim extension: after this step the named invariant (kvm-uapi-spec.md §6) is broken */
  violates: z.string().describe('after this step the named invariant (kvm-uapi-spec.md §6) is broken').optional(),
});

/** ' (did you mean X?)' for the closest name, when one is close. */
export function nearest(s: string, names: readonly string[]): string {
  const up = s.toUpperCase();
  const hit =
    names.find((n) => n.toUpperCase() === up) ??
    names.find((n) => up.length > 2 && (n.toUpperCase().startsWith(up) || up.startsWith(n.toUpperCase())));
  return hit ? ` (did you mean ${hit}?)` : '';
}

export const expectSchema = z.union([z.literal('ok').transform(() => ({ ok: true as const })), expectObjectSchema]);

export type Expect = z.output<typeof expectObjectSchema>;
/** A step's `inject:` as the file gives it: the core's Inject, a launch digest still as hex. */
export type InjectSpec = {
  [N in InjectName]?: (typeof InjectDecls)[N]['kind'] extends { t: 'digest' } ? string : Inject[N];
};

export const topSchema = z.strictObject({
  format: z.literal('gmemsim/1', { error: 'format must be gmemsim/1' }),
  name: z
    .string()
    .min(1)
    .regex(/^[^\n]*$/, { error: 'name is one line' }),
  description: z.string().optional(),
  kernel: z.unknown().optional(),
  steps: z.array(z.unknown()).min(1, { error: 'a scenario needs at least one step' }),
});
