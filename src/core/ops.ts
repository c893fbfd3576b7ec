/**
 * Operations: one system call (or process action) with its arguments resolved to values, typed
 * from the one declaration of the uAPI (decl.ts). u64 struct fields are bigint, exactly as
 * userspace passes them.
 */

import type {
  FieldDecl,
  FieldKind,
  InjectDecls,
  InjectKind,
  InjectName,
  OpName,
  SubCmdDecl,
  SubCmdName,
} from './decl.ts';
import { OpDecls, SubCmdDecls } from './decl.ts';

export type Data = { kind: 'bytes'; bytes: Uint8Array } | { kind: 'fill'; byte: number; length: bigint };

export interface CpuidEntry {
  function: bigint;
  index: bigint;
  flags: bigint;
  eax: bigint;
  ebx: bigint;
  ecx: bigint;
  edx: bigint;
}

/** A sub-command's struct, field name → value (nested structs as objects, arrays as lists). */
export type StructValue = { [k: string]: bigint | bigint[] | StructValue | StructValue[] };

/** An integer field of a struct; an absent field is 0 (what an all-zero struct holds) */
export const u64Field = (d: StructValue, name: string): bigint => {
  const v = d[name];
  return typeof v === 'bigint' ? v : 0n;
};

/** Fault injection for one step, derived from InjectDecls (decl.ts). */
export type Inject = { -readonly [N in InjectName]?: InjectValueOf<(typeof InjectDecls)[N]['kind']> };

type InjectValueOf<K extends InjectKind> = K extends { t: 'count' }
  ? number
  : K extends { t: 'true' }
    ? boolean
    : K extends { t: 'literal'; value: infer V }
      ? V
      : K extends { t: 'digest' }
        ? Uint8Array
        : K extends { t: 'fwError' }
          ? { page: number; error: string }
          : never;

/** What the core receives for a field of this kind. */
export type FieldValue<K extends FieldKind> = K extends { t: 'u64' | 'fd' | 'addr' | 'flags' | 'enum' }
  ? bigint
  : K extends { t: 'u64list' }
    ? bigint[]
    : K extends { t: 'data' }
      ? Data
      : K extends { t: 'bool' }
        ? boolean
        : K extends { t: 'cpuid' }
          ? CpuidEntry[]
          : K extends { t: 'encdata' }
            ? bigint | StructValue
            : never;

type FieldsOf<F> = {
  -readonly [K in keyof F]: F[K] extends { kind: infer T extends FieldKind } ? FieldValue<T> : never;
};

/** One operation with its arguments resolved to values, as declared in OpDecls (decl.ts). */
export type Op = { [N in OpName]: { op: N } & FieldsOf<(typeof OpDecls)[N]['fields']> }[OpName];

/** A field of a sub-command's struct, as the core holds it (a kvm_cpuid2 is a struct). */
type StructFieldValue<K extends FieldKind> = K extends { t: 'cpuid' }
  ? { nent: bigint; padding: bigint; entries: CpuidEntry[] }
  : FieldValue<K>;

/** The struct of sub-command S, every field present (absent ones are zero, as in an all-zero struct). */
export type SubCmdStruct<S extends SubCmdName> = (typeof SubCmdDecls)[S] extends {
  struct: { fields: infer F };
}
  ? { -readonly [K in keyof F]: F[K] extends { kind: infer T extends FieldKind } ? StructFieldValue<T> : never }
  : never;

const zeroOf = (kind: FieldKind): unknown =>
  kind.t === 'bool'
    ? false
    : kind.t === 'u64list'
      ? []
      : kind.t === 'cpuid'
        ? { nent: 0n, padding: 0n, entries: [] }
        : kind.t === 'data'
          ? { kind: 'bytes', bytes: new Uint8Array(0) }
          : 0n;

/**
 * The data of a KVM_MEMORY_ENCRYPT_OP as sub-command S's struct, typed: every declared field
 * present, those the caller left out zero (what an all-zero struct holds).
 */
export function structOf<S extends SubCmdName>(op: { data: bigint | StructValue }, sub: S): SubCmdStruct<S> {
  const decl = SubCmdDecls[sub] as SubCmdDecl;
  const given: StructValue = typeof op.data === 'bigint' ? {} : op.data;
  const out: Record<string, unknown> = {};
  for (const [name, f] of Object.entries(decl.struct?.fields ?? {})) out[name] = given[name] ?? zeroOf(f.kind);
  return out as SubCmdStruct<S>;
}

export type { OpName };

export function dataLength(d: Data): bigint {
  return d.kind === 'bytes' ? BigInt(d.bytes.length) : d.length;
}

type OpArgs<N extends OpName> = Omit<Extract<Op, { op: N }>, 'op'>;

/**
 * An operation built in code (the bench, tests, hosts): the fields given, every other field as the
 * declaration says an absent one is (zero, no file, /dev/kvm for KVM_CREATE_VM, /dev/sev for
 * sev_fd, the declared default). The same defaults a scenario step gets (scenario/lower.ts).
 */
export function makeOp<N extends OpName>(name: N, given: Partial<OpArgs<N>>): Extract<Op, { op: N }> {
  const out: Record<string, unknown> = { op: name };
  const g = given as Record<string, unknown>;
  for (const [field, f] of Object.entries(OpDecls[name].fields as Record<string, FieldDecl>)) {
    if (g[field] !== undefined) out[field] = g[field];
    else if (f.kind.t === 'bool') out[field] = typeof f.default === 'bigint' && f.default !== 0n;
    else if (f.default === 'kvm') out[field] = 3n;
    else if (f.default === 'sev') out[field] = 4n;
    else if (f.default === 'none') out[field] = (1n << 64n) - 1n;
    else if (typeof f.default === 'bigint') out[field] = f.default;
    else if (typeof f.default === 'object')
      out[field] = BigInt((g[f.default.lengthOf] as unknown[] | undefined)?.length ?? 0);
    else out[field] = f.kind.t === 'encdata' ? {} : f.kind.t === 'cpuid' ? [] : zeroOf(f.kind);
  }
  return out as Extract<Op, { op: N }>;
}
