/**
 * zod schemas of the scenario format gmemsim/1 (../shared/spec/scenario-format.md). Integers come
 * from the YAML parser as bigint (intAsBigInt), so every u64 is exact.
 */
import { z } from 'zod';
import { errnoNames } from '../core/errno.ts';
import { ProfileNames } from '../core/profiles.ts';
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

export interface CpuidEntryExpr {
  function: bigint;
  index: bigint;
  flags: bigint;
  eax: bigint;
  ebx: bigint;
  ecx: bigint;
  edx: bigint;
}

const cpuidEntry = z
  .strictObject(Object.fromEntries(CpuidFields.map((f) => [f, u64.optional()])))
  .transform((e) => cpuidEntryOf(e as Partial<CpuidEntryExpr>));

export const cpuidListSchema = z.array(cpuidEntry);

/** kvm_cpuid2 as a struct field: { entries: [...], nent? } */
export const cpuid2Schema = z.strictObject({ nent: u64.optional(), padding: u64.optional(), entries: cpuidListSchema });

export type Value = bigint | Expr | bigint[] | DataExpr | CpuidEntryExpr[] | StructExpr | CpuidStruct;
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

export const kernelSchema = z.strictObject({
  profile: z.enum(ProfileNames, { error: `profile must be one of ${ProfileNames.join(', ')}` }).optional(),
  gmem_in_place_conversion: z.boolean({ error: 'expected true or false' }).optional(),
  mmap_min_addr: u64
    .max(1n << 47n)
    .transform((v) => Number(v))
    .optional(),
  tdx_measure_order: z.enum(['single-pass', 'two-pass']).optional(),
  safeguards: z
    .record(
      z.string().refine((n) => isSafeguard(n), { error: 'unknown safeguard (gmemsim explore --list-safeguards)' }),
      z.enum(['on', 'off']),
    )
    .optional(),
});

export const injectSchema = z.strictObject({
  signal_after_pages: count.optional(),
  tdx_busy_at_page: count.optional(),
  snp_fw_error_at_page: z
    .strictObject({ page: count, error: z.union([z.string(), u64.transform((v) => `0x${v.toString(16)}`)]) })
    .optional(),
  efault: z.literal('data', { error: 'efault takes "data"' }).optional(),
  /** gmemsim extension: another thread's KVM_CREATE_VCPU is in flight during this call */
  vcpu_creation_in_progress: z.boolean().optional(),
  /** gmemsim extension: SNP_LAUNCH_START's launch digest starts from this value (a measured prefix) */
  snp_digest_seed: z
    .string()
    .regex(/^[0-9a-fA-F]{96}$/, { error: 'a launch digest is 96 hex digits' })
    .optional(),
});

export const SignalNames = ['SIGBUS', 'SIGSEGV'] as const;

const hex96 = z
  .string()
  .regex(/^[0-9a-fA-F]{96}$/, { error: 'a SHA-384 digest is 96 hex digits' })
  .transform((s) => s.toLowerCase());

export const expectObjectSchema = z.strictObject({
  ok: z.literal(true).optional(),
  ret: expr.optional(),
  errno: z.enum(errnoNames as [string, ...string[]], { error: 'unknown errno name' }).optional(),
  signal: z.enum(SignalNames).optional(),
  data: z.record(z.string(), z.union([expr, z.array(u64)])).optional(),
  hw_error: u64.optional(),
  error: z.union([u64, z.string()]).optional(),
  error_offset: u64.optional(),
  bytes: expectDataSchema.optional(),
  st_size: u64.optional(),
  st_blksize: u64.optional(),
  mrtd: hex96.optional(),
  measurement: hex96.optional(),
  rule: z.string().optional(),
  /** gmemsim extension: after this step the named invariant (kvm-uapi-spec.md §6) is broken */
  violates: z.string().optional(),
});

export const expectSchema = z.union([z.literal('ok').transform(() => ({ ok: true as const })), expectObjectSchema]);

export type Expect = z.output<typeof expectObjectSchema>;
export type InjectSpec = z.output<typeof injectSchema>;

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
