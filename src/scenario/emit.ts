/**
 * Render a scenario back to gmemsim/1 YAML text: the inverse of loadScenario on what it returns, so
 * that loadScenario(emitScenario(s)) gives the same steps (line numbers aside). Values come out in
 * the format's own spelling: names from the uAPI tables where a field takes them, integers in hex
 * (below 10 in decimal), handles as NAME or NAME+OFFSET, strings plain when YAML reads them back as
 * the same string and double-quoted otherwise. No YAML library: the measure commands build their
 * launch as steps and write it out with this only when asked to.
 */
import type { KernelSection, Scenario, Step } from './load.ts';
import {
  type CpuidEntryExpr,
  type CpuidStruct,
  type DataExpr,
  ExitReason,
  type Expect,
  type Expr,
  type InjectSpec,
  type Value,
} from './schema.ts';
import { selectorText } from './select.ts';
import { CpuidFields, EncStructs, type FieldKind, type NameTable, OpSpecs } from './spec.ts';

export interface EmitOptions {
  /** comment lines written before a step, by step index */
  comments?: ReadonlyMap<number, readonly string[]>;
  /** an operation whose arguments fit on one line of this width is written on one line (default 120) */
  width?: number;
}

/** An integer as scenario files write it: decimal below 10, hex above. */
export function emitInt(v: bigint | number): string {
  const b = BigInt(v);
  if (b >= 0n && b < 10n) return b.toString();
  return b < 0n ? `-0x${(-b).toString(16)}` : `0x${b.toString(16)}`;
}

/** What the YAML core schema (1.2) reads as something other than a string. */
const CORE_NON_STRING =
  /^(?:~|null|Null|NULL|true|True|TRUE|false|False|FALSE|[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+|[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.nan|\.NaN|\.NAN)$/;
/** Characters a plain scalar may hold here (also inside a flow collection). */
const PLAIN = /^[A-Za-z0-9_][A-Za-z0-9_.+-]*$/;

/** A YAML double-quoted string: printable characters as they are, everything else escaped. */
export function emitQuoted(s: string): string {
  let out = '"';
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    if (ch === '"') out += '\\"';
    else if (ch === '\\') out += '\\\\';
    else if (ch === '\n') out += '\\n';
    else if (ch === '\t') out += '\\t';
    else if (ch === '\r') out += '\\r';
    else if (
      c < 0x20 ||
      (c >= 0x7f && c <= 0x9f) ||
      (c >= 0xd800 && c <= 0xdfff) ||
      c === 0x2028 ||
      c === 0x2029 ||
      c === 0xfeff ||
      c === 0xfffe ||
      c === 0xffff
    )
      out += c <= 0xff ? `\\x${c.toString(16).padStart(2, '0')}` : `\\u${c.toString(16).padStart(4, '0')}`;
    else out += ch;
  }
  return `${out}"`;
}

/** A string plain when YAML reads it back as the same string, else double-quoted. */
export function emitString(s: string): string {
  return PLAIN.test(s) && !CORE_NON_STRING.test(s) ? s : emitQuoted(s);
}

function emitExpr(e: Expr): string {
  if (e.k === 'int') return emitInt(e.v);
  const text = e.off === 0n ? e.name : e.off > 0n ? `${e.name}+${emitInt(e.off)}` : `${e.name}-${emitInt(-e.off)}`;
  return emitString(text);
}

const isExpr = (v: unknown): v is Expr =>
  typeof v === 'object' && v !== null && 'k' in v && ((v as Expr).k === 'int' || (v as Expr).k === 'ref');
const isData = (v: unknown): v is DataExpr => typeof v === 'object' && v !== null && !Array.isArray(v) && 'form' in v;

const flow = (pairs: [string, string][]) =>
  pairs.length ? `{ ${pairs.map(([k, v]) => `${emitString(k)}: ${v}`).join(', ')} }` : '{}';
const list = (items: string[]) => `[${items.join(', ')}]`;

function emitData(d: DataExpr): string {
  switch (d.form) {
    case 'hex':
      return flow([['hex', emitQuoted(d.hex)]]);
    case 'fill':
      return flow([
        ['fill', emitInt(d.fill)],
        ['length', emitInt(d.length)],
      ]);
    case 'text':
      return flow([['text', emitQuoted(d.text)]]);
    case 'file':
      // offsets and lengths into a file in decimal, as `ls -l` shows its size
      return flow([
        ['file', emitQuoted(d.file)],
        ['offset', d.offset.toString()],
        ...(d.length === undefined ? [] : ([['length', d.length.toString()]] as [string, string][])),
      ]);
    case 'sha256':
      return flow([['sha256', emitQuoted(d.sha256)]]);
    case 'sha384':
      return flow([['sha384', emitQuoted(d.sha384)]]);
  }
}

function emitCpuidEntry(e: CpuidEntryExpr): string {
  return flow(
    CpuidFields.filter((f) => f === 'function' || e[f] !== 0n).map((f): [string, string] => [f, emitInt(e[f])]),
  );
}

/** kvm_cpuid2: `{ nent?, padding?, entries }`; `defaultPadding`: a padding of 0 is the default and left out */
function emitCpuid2(c: Partial<CpuidStruct>, defaultPadding: boolean): string {
  const pairs: [string, string][] = [];
  if (c.nent !== undefined) pairs.push(['nent', emitInt(c.nent)]);
  if (c.padding !== undefined && !(defaultPadding && c.padding === 0n)) pairs.push(['padding', emitInt(c.padding)]);
  pairs.push(['entries', list((c.entries ?? []).map(emitCpuidEntry))]);
  return flow(pairs);
}

function emitNames(v: bigint, table: NameTable, asFlags: boolean): string {
  if (!asFlags) {
    const name = Object.keys(table).find((n) => BigInt(table[n]!) === v);
    return name ?? emitInt(v);
  }
  if (v === 0n) return '0';
  const names: string[] = [];
  let rest = v;
  for (const [n, x] of Object.entries(table)) {
    const b = BigInt(x);
    if (b !== 0n && (rest & b) === b) {
      names.push(n);
      rest &= ~b;
    }
  }
  return rest === 0n ? list(names) : emitInt(v);
}

/** Any value as the loader could have kept it (a struct of an unknown sub-command keeps the YAML's own values). */
function emitRaw(v: unknown): string {
  if (typeof v === 'bigint') return emitInt(v);
  if (typeof v === 'number') return Number.isInteger(v) ? emitInt(v) : String(v);
  if (typeof v === 'string') return emitString(v);
  if (typeof v === 'boolean') return String(v);
  if (v === null || v === undefined) return 'null';
  if (Array.isArray(v)) return list(v.map(emitRaw));
  if (isExpr(v)) return emitExpr(v);
  if (isData(v)) return emitData(v);
  return flow(
    Object.entries(v as Record<string, unknown>)
      .filter(([, x]) => x !== undefined)
      .map(([k, x]): [string, string] => [k, emitRaw(x)]),
  );
}

function emitField(kind: FieldKind, v: Value, encId?: bigint): string {
  switch (kind.t) {
    case 'u64':
      return typeof v === 'bigint' ? emitInt(v) : emitRaw(v);
    case 'fd':
    case 'addr':
      return isExpr(v) ? emitExpr(v) : emitRaw(v);
    case 'flags':
    case 'enum':
      return typeof v === 'bigint' ? emitNames(v, kind.table, kind.t === 'flags') : emitRaw(v);
    case 'bool':
      return String(v);
    case 'u64list':
      return Array.isArray(v) ? list((v as bigint[]).map(emitRaw)) : emitRaw(v);
    case 'data':
      return isData(v) ? emitData(v) : emitRaw(v);
    case 'cpuid':
      if (Array.isArray(v)) return list((v as CpuidEntryExpr[]).map(emitCpuidEntry));
      return typeof v === 'object' && 'entries' in v ? emitCpuid2(v as CpuidStruct, true) : emitRaw(v);
    case 'encdata': {
      if (typeof v === 'bigint') return emitInt(v);
      const st = encId === undefined ? undefined : EncStructs[Number(encId)];
      if (!st || typeof v !== 'object' || isExpr(v) || Array.isArray(v)) return emitRaw(v);
      const rec = v as Record<string, Value>;
      return flow(
        Object.keys(rec)
          .filter((k) => rec[k] !== undefined)
          .map((k): [string, string] => {
            const fk = st.fields[k];
            const x = rec[k]!;
            if (!fk) return [k, emitRaw(x)];
            // the loader keeps a kvm_cpuid2 named `cpuid` as written (nent and padding only when given)
            if (fk.t === 'cpuid' && k === 'cpuid' && typeof x === 'object' && !Array.isArray(x) && 'entries' in x)
              return [k, emitCpuid2(x as CpuidStruct, false)];
            return [k, emitField(fk, x)];
          }),
      );
    }
  }
}

function emitArgs(step: Step): [string, string][] {
  const specs = OpSpecs[step.op] as Record<string, { kind: FieldKind }>;
  const id = typeof step.args.id === 'bigint' ? step.args.id : undefined;
  const keys = [...Object.keys(specs), ...Object.keys(step.args).filter((k) => !Object.hasOwn(specs, k))];
  const pairs: [string, string][] = [];
  for (const key of keys) {
    const v = step.args[key];
    if (v === undefined) continue;
    const spec = specs[key];
    pairs.push([key, spec ? emitField(spec.kind, v, id) : emitRaw(v)]);
  }
  return pairs;
}

function emitExpect(e: Expect): string {
  const keys = Object.keys(e).filter((k) => e[k as keyof Expect] !== undefined) as (keyof Expect)[];
  if (keys.length === 1 && keys[0] === 'ok') return 'ok';
  const pairs: [string, string][] = [];
  for (const k of keys) {
    switch (k) {
      case 'ok':
        pairs.push([k, 'true']);
        break;
      case 'ret':
        pairs.push([k, emitExpr(e.ret!)]);
        break;
      case 'data':
        pairs.push([
          k,
          flow(
            Object.entries(e.data!).map(([f, x]): [string, string] => [
              f,
              Array.isArray(x) ? list(x.map(emitInt)) : emitExpr(x as Expr),
            ]),
          ),
        ]);
        break;
      case 'hw_error':
      case 'error_offset':
      case 'st_size':
      case 'st_blksize':
        pairs.push([k, emitInt(e[k]!)]);
        break;
      case 'error':
        pairs.push([k, typeof e.error === 'bigint' ? emitInt(e.error) : emitString(e.error!)]);
        break;
      case 'bytes':
      case 'read':
        pairs.push([k, emitData(e[k] as DataExpr)]);
        break;
      case 'exit': {
        const x = e.exit!;
        const ex: [string, string][] = [['reason', emitNames(x.reason, ExitReason, false)]];
        if (x.flags !== undefined) ex.push(['flags', emitInt(x.flags)]);
        if (x.gpa !== undefined) ex.push(['gpa', emitExpr(x.gpa)]);
        if (x.size !== undefined) ex.push(['size', emitInt(x.size)]);
        if (x.nr !== undefined) ex.push(['nr', emitInt(x.nr)]);
        if (x.args !== undefined) ex.push(['args', list(x.args.map(emitInt))]);
        if (x.ret !== undefined) ex.push(['ret', emitInt(x.ret)]);
        pairs.push([k, flow(ex)]);
        break;
      }
      case 'mrtd':
      case 'measurement':
        pairs.push([k, emitQuoted(e[k]!)]);
        break;
      default:
        pairs.push([k, emitString(String(e[k]))]);
    }
  }
  return flow(pairs);
}

function emitInject(i: InjectSpec): string {
  const pairs: [string, string][] = [];
  for (const [k, v] of Object.entries(i)) {
    if (v === undefined) continue;
    if (typeof v === 'number' || typeof v === 'boolean') pairs.push([k, String(v)]);
    else if (typeof v === 'string') pairs.push([k, emitString(v)]);
    else
      pairs.push([
        k,
        flow([
          ['page', String(v.page)],
          ['error', emitString(v.error)],
        ]),
      ]);
  }
  return flow(pairs);
}

function emitKernel(k: KernelSection): string | undefined {
  const pairs: [string, string][] = [];
  if (k.profile !== undefined) pairs.push(['profile', emitString(k.profile)]);
  if (k.gmem_in_place_conversion !== undefined)
    pairs.push(['gmem_in_place_conversion', String(k.gmem_in_place_conversion)]);
  if (k.mmap_min_addr !== undefined) pairs.push(['mmap_min_addr', emitInt(k.mmap_min_addr)]);
  if (k.tdx_measure_order !== undefined) pairs.push(['tdx_measure_order', emitString(k.tdx_measure_order)]);
  if (k.host !== undefined) pairs.push(['host', emitString(k.host)]);
  if (k.safeguards !== undefined)
    pairs.push([
      'safeguards',
      flow(Object.entries(k.safeguards).map(([n, v]): [string, string] => [n, emitString(v)])),
    ]);
  if (k.profiles !== undefined)
    pairs.push(['profiles', `[${k.profiles.map((sel) => emitString(selectorText(sel))).join(', ')}]`]);
  return pairs.length ? flow(pairs) : undefined;
}

/** A line a literal block holds as it is: printable, no tab, no trailing space. */
const LITERAL_LINE = /^(?:[\x20-\x7e\u00a0-\ud7ff\ue000-\ufffd]*[\x21-\x7e\u00a0-\ud7ff\ue000-\ufffd])?$/;

/** what a comment line cannot hold */
const NOT_COMMENT = /[^\x20-\x7e\u00a0-\ud7ff\ue000-\ufffd]+/g;

/** A literal block (`|`, `|-`) when the text reads back the same from one, else undefined. */
function literalBlock(s: string, indent: string): string | undefined {
  const body = s.endsWith('\n') ? s.slice(0, -1) : s;
  if (body === '' || body.endsWith('\n') || body.startsWith(' ') || body.startsWith('\n')) return undefined;
  const lines = body.split('\n');
  if (!lines.every((l) => LITERAL_LINE.test(l))) return undefined;
  const head = s.endsWith('\n') ? '|' : '|-';
  return [head, ...lines.map((l) => (l === '' ? '' : `${indent}${l}`))].join('\n');
}

/** The scenario as gmemsim/1 YAML text (ending in a newline). */
export function emitScenario(s: Scenario, opts: EmitOptions = {}): string {
  const width = opts.width ?? 120;
  const out: string[] = ['format: gmemsim/1', `name: ${emitQuoted(s.name)}`];
  if (s.description !== undefined)
    out.push(`description: ${literalBlock(s.description, '  ') ?? emitQuoted(s.description)}`);
  const kernel = emitKernel(s.kernel);
  if (kernel) out.push(`kernel: ${kernel}`);
  out.push('steps:');
  s.steps.forEach((step, i) => {
    for (const c of opts.comments?.get(i) ?? []) out.push(`  # ${c.replace(NOT_COMMENT, ' ')}`.trimEnd());
    const args = emitArgs(step);
    const one = `  - ${step.op}: ${flow(args)}`;
    if (one.length <= width || args.length === 0) out.push(one);
    else {
      out.push(`  - ${step.op}:`);
      for (const [k, v] of args) out.push(`      ${k}: ${v}`);
    }
    if (step.as !== undefined) out.push(`    as: ${emitString(step.as)}`);
    if (step.as_process !== undefined) out.push(`    as_process: ${emitString(step.as_process)}`);
    if (step.inject !== undefined) out.push(`    inject: ${emitInject(step.inject)}`);
    if (step.expect !== undefined) out.push(`    expect: ${emitExpect(step.expect)}`);
    if (step.expectBy !== undefined) {
      const by = step.expectBy;
      const text = (e: Expect | null) => (e === null ? 'null' : emitExpect(e));
      const pairs: [string, string][] = by.entries.map((e) => [e.key, text(e.value)]);
      if (by.dflt) pairs.push(['default', text(by.dflt.value)]);
      const one = `    expect: { by_profile: ${flow(pairs)} }`;
      if (one.length <= width) out.push(one);
      else {
        // one kernel a line when they do not fit on one
        out.push('    expect:', '      by_profile:');
        for (const [k, v] of pairs) out.push(`        ${emitString(k)}: ${v}`);
      }
    }
    if (step.only !== undefined)
      out.push(
        `    only: ${step.only.length ? `[${step.only.map((sel) => emitString(selectorText(sel))).join(', ')}]` : 'false'}`,
      );
    if (step.note !== undefined) out.push(`    note: ${emitQuoted(step.note)}`);
  });
  return `${out.join('\n')}\n`;
}
