/**
 * Lowering: a scenario step (values as the loader returns them: bigint, handle expressions, data
 * forms) becomes the core's operation, field by field as the one declaration (core/decl.ts) says.
 * No per-operation code: a new operation is its declaration.
 */
import { type FieldDecl, type FieldKind, InjectDecls, InjectNames, OpDecls, subCmdById } from '../core/decl.ts';
import { KVM_FD, SEV_FD } from '../core/kernel.ts';
import type { CpuidEntry, Data, Inject, Op, StructValue } from '../core/ops.ts';
import { fromHex } from '../util/hex.ts';
import type { Scenario, Step } from './load.ts';
import type { CpuidEntryExpr, CpuidStruct, DataExpr, Expr, InjectSpec, StructExpr, Value } from './schema.ts';

const U64 = (v: bigint) => BigInt.asUintN(64, v);

export type Handles = Map<string, bigint>;

export function evalExpr(e: Expr, handles: Handles): bigint {
  if (e.k === 'int') return e.v;
  const base = handles.get(e.name);
  if (base === undefined) throw new Error(`Model invariant violated: unbound handle ${e.name}`);
  return U64(base + e.off);
}

export function isExpr(v: unknown): v is Expr {
  return typeof v === 'object' && v !== null && 'k' in v && ((v as Expr).k === 'ref' || (v as Expr).k === 'int');
}

export function dataBytes(d: DataExpr, s: Pick<Scenario, 'files'>): Data {
  switch (d.form) {
    case 'hex':
      return { kind: 'bytes', bytes: fromHex(d.hex) };
    case 'fill':
      return { kind: 'fill', byte: d.fill, length: d.length };
    case 'text':
      return { kind: 'bytes', bytes: new TextEncoder().encode(d.text) };
    case 'file': {
      const all = s.files.get(d.file) ?? new Uint8Array(0);
      const start = Number(d.offset);
      const end = d.length === undefined ? all.length : start + Number(d.length);
      return { kind: 'bytes', bytes: all.subarray(start, Math.min(end, all.length)) };
    }
    default:
      throw new Error(`Model invariant violated: data form ${d.form} in an operation`);
  }
}

const cpuidList = (v: Value): CpuidEntryExpr[] =>
  Array.isArray(v) ? (v as CpuidEntryExpr[]) : (v as CpuidStruct).entries;

const copyEntries = (list: CpuidEntryExpr[]): CpuidEntry[] => list.map((e) => ({ ...e }));

/** What an absent field holds (decl.ts FieldDefault); `lengthOf` counts a sibling's entries. */
function absent(f: FieldDecl, args: Record<string, Value>): unknown {
  const d = f.default;
  if (f.kind.t === 'bool') return typeof d === 'bigint' && d !== 0n;
  if (d === 'kvm') return BigInt(KVM_FD);
  if (d === 'sev') return BigInt(SEV_FD);
  if (d === 'none') return U64(-1n);
  if (typeof d === 'bigint') return d;
  if (typeof d === 'object') {
    const sib = args[d.lengthOf];
    return BigInt(sib === undefined ? 0 : cpuidList(sib).length);
  }
  return zero(f.kind);
}

function zero(kind: FieldKind): unknown {
  switch (kind.t) {
    case 'u64list':
    case 'cpuid':
      return [];
    case 'data':
      return { kind: 'bytes', bytes: new Uint8Array(0) };
    case 'encdata':
      return {};
    case 'bool':
      return false;
    default:
      return 0n;
  }
}

function present(kind: FieldKind, v: Value, ctx: Ctx): unknown {
  switch (kind.t) {
    case 'fd':
    case 'addr':
      return isExpr(v) ? evalExpr(v, ctx.handles) : v;
    case 'u64list':
      return v as bigint[];
    case 'data':
      return dataBytes(v as DataExpr, ctx.s);
    case 'cpuid':
      return copyEntries(cpuidList(v));
    case 'encdata':
      return typeof v === 'bigint' ? v : struct(v as StructExpr, ctx);
    default:
      return v;
  }
}

interface Ctx {
  handles: Handles;
  s: Pick<Scenario, 'files'>;
  id: Value | undefined;
}

/** A sub-command's struct as written: the given fields, handles resolved, a kvm_cpuid2 completed. */
function struct(v: StructExpr, ctx: Ctx): StructValue {
  const sub = typeof ctx.id === 'bigint' ? subCmdById(ctx.id) : undefined;
  const fields: Record<string, FieldDecl> = sub?.struct?.fields ?? {};
  const out: StructValue = {};
  for (const [k, x] of Object.entries(v)) {
    if (x === undefined) continue;
    const kind = fields[k]?.kind;
    if (kind?.t === 'cpuid' || (typeof x === 'object' && !Array.isArray(x) && 'entries' in x)) {
      const c = x as CpuidStruct | CpuidEntryExpr[];
      const entries = cpuidList(c as Value);
      out[k] = {
        nent: (!Array.isArray(c) ? c.nent : undefined) ?? BigInt(entries.length),
        padding: (!Array.isArray(c) ? c.padding : undefined) ?? 0n,
        entries: copyEntries(entries) as unknown as StructValue[],
      };
    } else if (isExpr(x)) out[k] = evalExpr(x, ctx.handles);
    else out[k] = x as bigint | bigint[];
  }
  return out;
}

/** Resolve a step's arguments into the core's operation. */
export function lowerStep(step: Step, handles: Handles, s: Pick<Scenario, 'files'>): Op {
  const fields: Record<string, FieldDecl> = OpDecls[step.op].fields;
  const ctx: Ctx = { handles, s, id: step.args.id };
  const op: Record<string, unknown> = { op: step.op };
  for (const [name, f] of Object.entries(fields)) {
    const v = step.args[name];
    op[name] = v === undefined ? absent(f, step.args) : present(f.kind, v, ctx);
  }
  return op as Op;
}

/** A step's injections for the core: as declared (decl.ts InjectDecls), a launch digest from hex to bytes. */
export function lowerInject(spec: InjectSpec): Inject {
  const out: Record<string, unknown> = {};
  for (const name of InjectNames) {
    const v = spec[name];
    if (v === undefined || v === false) continue;
    out[name] = InjectDecls[name].kind.t === 'digest' ? fromHex(v as string) : v;
  }
  return out as Inject;
}
