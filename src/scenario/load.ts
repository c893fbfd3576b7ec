/**
 * Load a scenario file: YAML (JSON is YAML) with positions, validated piece by piece so that every
 * problem is reported as FILE:LINE:COL: message.
 */
import { type Document, isMap, isPair, isScalar, LineCounter, type Node } from 'yaml';
import type { z } from 'zod';
import { DEFAULT_PROFILE, type ProfileName, ProfileNames, Profiles } from '../core/profiles.ts';
import {
  cpuid2Schema,
  type DataExpr,
  type Expect,
  type Expr,
  expectSchema,
  fieldSchema,
  HANDLE_NAME,
  type InjectSpec,
  injectSchema,
  kernelSchema,
  topSchema,
  U64_MAX,
  type Value,
} from './schema.ts';
import { EncStructs, type FieldSpec, OpNames, OpSpecs, type ScenarioOpName, StepMetaKeys } from './spec.ts';
import { parseScenarioYaml, scenarioValue, TextProblemError } from './yaml-text.ts';

export interface Diagnostic {
  file: string;
  line: number;
  col: number;
  message: string;
}

export class ScenarioError extends Error {
  readonly diagnostics: Diagnostic[];
  constructor(diagnostics: Diagnostic[]) {
    super(diagnostics.map(formatDiagnostic).join('\n'));
    this.diagnostics = diagnostics;
  }
}

export function formatDiagnostic(d: Diagnostic): string {
  // one line per diagnostic, whatever a key or value quoted in the message holds
  return `${d.file}:${d.line}:${d.col}: ${d.message.replace(/[\r\n\u2028\u2029]/g, (c) => (c === '\n' ? '\\n' : c === '\r' ? '\\r' : `\\u${c.charCodeAt(0).toString(16)}`))}`;
}

export interface Step {
  index: number;
  line: number;
  op: ScenarioOpName;
  args: Record<string, Value>;
  as?: string;
  expect?: Expect;
  inject?: InjectSpec;
  note?: string;
}

export interface KernelSection {
  profile?: ProfileName;
  gmem_in_place_conversion?: boolean;
  mmap_min_addr?: number;
  tdx_measure_order?: 'single-pass' | 'two-pass';
  safeguards?: Record<string, 'on' | 'off'>;
}

export interface Scenario {
  file: string;
  name: string;
  description?: string;
  kernel: KernelSection;
  steps: Step[];
  /** bytes of data-file references, read by the host (path relative to the scenario) */
  files: Map<string, Uint8Array>;
}

/** How the loader reads `{ file: ... }` data (a port: Node reads from disk). */
export type FileReader = (path: string, relativeTo: string) => Uint8Array;

type Path = (string | number)[];

/** largest load/store the model materialises in one step (1 GiB) */
export const MAX_ACCESS = 1n << 30n;

class Positions {
  private readonly lc: LineCounter;
  private readonly doc: Document.Parsed;
  constructor(doc: Document.Parsed, lc: LineCounter) {
    this.doc = doc;
    this.lc = lc;
  }
  /** line:col of the node at path (or its nearest ancestor); for a key, the key itself */
  at(path: Path, key?: string): { line: number; col: number } {
    let p = [...path];
    for (;;) {
      const node = (p.length === 0 ? this.doc.contents : this.doc.getIn(p, true)) as Node | undefined;
      if (node) {
        if (key !== undefined && isMap(node)) {
          const pair = node.items.find((it) => isPair(it) && isScalar(it.key) && it.key.value === key);
          if (pair && isScalar(pair.key) && pair.key.range) return this.lc.linePos(pair.key.range[0]);
        }
        if (node.range) return this.lc.linePos(node.range[0]);
      }
      if (p.length === 0) return { line: 1, col: 1 };
      p = p.slice(0, -1);
    }
  }
}

function describePath(path: Path): string {
  return path
    .map((p) => (typeof p === 'number' ? `[${p}]` : `.${p}`))
    .join('')
    .replace(/^\./, '');
}

export function loadScenario(file: string, text: string, readFile?: FileReader): Scenario {
  const diags: Diagnostic[] = [];
  const diag = (line: number, col: number, message: string) => diags.push({ file, line, col, message });
  const textProblem = (e: unknown): unknown => {
    if (!(e instanceof TextProblemError)) return e;
    diag(e.problem.line, e.problem.col, e.problem.message);
    return new ScenarioError(diags);
  };
  // a binary file (a firmware image given by mistake) is one line, not a page of YAML errors
  const nul = text.indexOf('\0');
  if (nul >= 0) {
    const before = text.slice(0, nul);
    const line = before.split('\n').length;
    diag(line, nul - before.lastIndexOf('\n'), 'not a scenario file: binary content (a NUL byte)');
    throw new ScenarioError(diags);
  }
  const lc = new LineCounter();
  let doc: ReturnType<typeof parseScenarioYaml>;
  try {
    doc = parseScenarioYaml(text, lc);
  } catch (e) {
    throw textProblem(e);
  }
  // the first YAML syntax error: the ones after it mostly follow from it
  const [first, ...more] = doc.errors;
  if (first) {
    const pos = first.linePos?.[0] ?? { line: 1, col: 1 };
    const message = first.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
    diag(pos.line, pos.col, more.length ? `${message} (and ${more.length} more YAML errors after it)` : message);
    throw new ScenarioError(diags);
  }
  const pos = new Positions(doc, lc);
  let raw: unknown;
  try {
    raw = scenarioValue(doc, lc);
  } catch (e) {
    throw textProblem(e);
  }

  const issue = (path: Path, message: string, key?: string) => {
    const p = pos.at(path, key);
    const where = describePath(key !== undefined ? [...path, key] : path);
    diag(p.line, p.col, where ? `${where}: ${message}` : message);
  };
  const check = <S extends z.ZodType>(schema: S, value: unknown, path: Path): z.output<S> | undefined => {
    const r = schema.safeParse(value);
    if (r.success) return r.data;
    for (const i of r.error.issues) {
      const ip = [...path, ...(i.path as (string | number)[])];
      if (i.code === 'unrecognized_keys') for (const k of i.keys) issue(ip, `unknown key "${k}"`, k);
      else if (i.code === 'invalid_union' && i.errors.length) {
        // report the branch that got furthest (the most specific message)
        const best = [...i.errors].sort((a, b) => deepest(b) - deepest(a))[0]!;
        const first = best[0];
        if (first) {
          const bp = [...ip, ...(first.path as (string | number)[])];
          if (first.code === 'unrecognized_keys') for (const k of first.keys) issue(bp, `unknown key "${k}"`, k);
          else issue(bp, first.message);
        } else issue(ip, i.message);
      } else issue(ip, i.message);
    }
    return undefined;
  };

  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    diag(1, 1, 'a scenario is a mapping with format, name and steps');
    throw new ScenarioError(diags);
  }
  const top = check(topSchema, raw, []);
  if (!top) throw new ScenarioError(diags);

  const kernel = (top.kernel === undefined ? {} : check(kernelSchema, top.kernel, ['kernel'])) as
    | KernelSection
    | undefined;
  if (kernel && kernel.gmem_in_place_conversion !== undefined) {
    const prof = kernel.profile ?? DEFAULT_PROFILE;
    if (!Profiles[prof].inPlaceSeries)
      issue(
        ['kernel'],
        `gmem_in_place_conversion exists only for profiles ${ProfileNames.filter((n) => Profiles[n].inPlaceSeries).join(' and ')} (not ${prof})`,
        'gmem_in_place_conversion',
      );
  }

  const steps: Step[] = [];
  const bound = new Set<string>(['kvm', 'sev']);
  const files = new Map<string, Uint8Array>();
  top.steps.forEach((s, i) => {
    const path: Path = ['steps', i];
    const line = pos.at(path).line;
    if (s === null || typeof s !== 'object' || Array.isArray(s)) {
      issue(path, 'a step is a mapping with one operation key');
      return;
    }
    const obj = s as Record<string, unknown>;
    const opKeys = Object.keys(obj).filter((k) => !(StepMetaKeys as readonly string[]).includes(k));
    const unknown = opKeys.filter((k) => !(OpNames as string[]).includes(k));
    for (const k of unknown) issue(path, `unknown operation "${k}"${suggest(k)}`, k);
    const known = opKeys.filter((k) => (OpNames as string[]).includes(k)) as ScenarioOpName[];
    if (unknown.length) return;
    if (known.length !== 1) {
      issue(
        path,
        known.length ? `a step has exactly one operation (found ${known.join(', ')})` : 'a step needs an operation key',
      );
      return;
    }
    const op = known[0]!;
    const specs = OpSpecs[op] as Record<string, FieldSpec>;
    const rawArgs = obj[op] ?? {};
    const argPath: Path = [...path, op];
    if (rawArgs === null || typeof rawArgs !== 'object' || Array.isArray(rawArgs)) {
      issue(argPath, `${op} takes a mapping of its arguments`);
      return;
    }
    const args: Record<string, Value> = {};
    const ra = rawArgs as Record<string, unknown>;
    for (const key of Object.keys(ra)) {
      if (!Object.hasOwn(specs, key))
        issue(argPath, `unknown argument "${key}" of ${op}; expected ${Object.keys(specs).join(', ')}`, key);
    }
    for (const [key, spec] of Object.entries(specs)) {
      if (ra[key] === undefined) {
        if (spec.required) issue(argPath, `${op} needs "${key}"`);
        continue;
      }
      const v = check(fieldSchema(spec.kind), ra[key], [...argPath, key]);
      if (v !== undefined) args[key] = v as Value;
    }
    if (op === 'KVM_MEMORY_ENCRYPT_OP' && typeof args.id === 'bigint') checkEncData(args, argPath);
    // the model materialises the bytes a load returns or a store writes: keep them to a sane size
    const bytesLimit = (value: Value | undefined, key: string) => {
      const n =
        typeof value === 'bigint'
          ? value
          : value && typeof value === 'object' && 'form' in value && value.form === 'fill'
            ? value.length
            : undefined;
      if (n !== undefined && n > MAX_ACCESS)
        issue([...argPath, key], `at most ${MAX_ACCESS} bytes per ${op} (the model keeps written pages)`);
    };
    if (op === 'load' || op === 'read' || op === 'pread') bytesLimit(args.length, 'length');
    if (op === 'store' || op === 'write' || op === 'pwrite') bytesLimit(args.data, 'data');
    const step: Step = { index: i, line, op, args };
    if (obj.as !== undefined) {
      if (typeof obj.as !== 'string' || !HANDLE_NAME.test(obj.as)) issue(path, 'as: expected a handle name', 'as');
      else if (obj.as === 'kvm' || obj.as === 'sev') issue(path, `as: "${obj.as}" is reserved`, 'as');
      else step.as = obj.as;
    }
    if (obj.expect !== undefined) {
      const e = check(expectSchema, obj.expect, [...path, 'expect']);
      if (e) step.expect = e as Expect;
    }
    if (obj.inject !== undefined) {
      const inj = check(injectSchema, obj.inject, [...path, 'inject']);
      if (inj) step.inject = inj;
    }
    if (obj.note !== undefined) {
      if (typeof obj.note !== 'string') issue(path, 'note: expected text', 'note');
      else step.note = obj.note;
    }
    // handles must be bound by an earlier step
    const refs: [Expr, Path][] = [];
    collectRefs(args, argPath, refs);
    if (step.expect) collectRefs(step.expect as unknown as Value, [...path, 'expect'], refs);
    for (const [r, p] of refs)
      if (r.k === 'ref' && !bound.has(r.name))
        issue(p, `unknown handle "${r.name}" (bind it with "as:" in an earlier step)`);
    // file data is read now, so a missing file is a load error
    const dataRoots: [Value, Path][] = [[args, argPath]];
    if (step.expect?.bytes) dataRoots.push([step.expect.bytes as Value, [...path, 'expect', 'bytes']]);
    for (const [root, rootPath] of dataRoots)
      collectData(root, rootPath, (d, p) => {
        if (d.form !== 'file') return;
        if (!readFile) return issue(p, 'file data needs a file reader');
        try {
          files.set(d.file, readFile(d.file, file));
        } catch (e) {
          issue(p, `cannot read ${d.file}: ${(e as Error).message}`);
        }
      });
    if (step.as) bound.add(step.as);
    steps.push(step);
  });

  function checkEncData(args: Record<string, Value>, argPath: Path) {
    const data = args.data;
    if (data === undefined || typeof data === 'bigint') return;
    const st = EncStructs[Number(args.id)];
    if (!st) return;
    const rec = data as unknown as Record<string, unknown>;
    const out: Record<string, Value> = {};
    for (const key of Object.keys(rec)) {
      const kind = st.fields[key];
      if (!kind) {
        issue(
          [...argPath, 'data'],
          `unknown field "${key}" of struct ${st.struct}; expected ${Object.keys(st.fields).join(', ')}`,
          key,
        );
        continue;
      }
      const schema = kind.t === 'cpuid' && key === 'cpuid' ? cpuid2Schema : fieldSchema(kind);
      const v = check(schema, rec[key], [...argPath, 'data', key]);
      if (v !== undefined) out[key] = v as Value;
    }
    args.data = out;
  }

  if (diags.length) throw new ScenarioError(diags);
  const scenario: Scenario = { file, name: top.name, kernel: kernel ?? {}, steps, files };
  if (top.description !== undefined) scenario.description = top.description;
  return scenario;
}

function deepest(issues: readonly z.core.$ZodIssue[]): number {
  return Math.max(0, ...issues.map((i) => i.path.length + (i.code === 'invalid_type' ? 0 : 1)));
}

function suggest(k: string): string {
  const lower = k.toLowerCase();
  const hit = OpNames.find((n) => n.toLowerCase() === lower || n.toLowerCase().replace(/^kvm_/, '') === lower);
  return hit ? ` (did you mean ${hit}?)` : '';
}

function isExpr(v: unknown): v is Expr {
  return typeof v === 'object' && v !== null && 'k' in v && ((v as Expr).k === 'ref' || (v as Expr).k === 'int');
}

function collectRefs(v: Value | undefined, path: Path, out: [Expr, Path][]): void {
  if (v === undefined || typeof v === 'bigint') return;
  if (isExpr(v)) {
    out.push([v, path]);
    return;
  }
  if (Array.isArray(v)) return;
  if (typeof v === 'object') for (const [k, x] of Object.entries(v)) collectRefs(x as Value, [...path, k], out);
}

function collectData(v: Value | undefined, path: Path, fn: (d: DataExpr, p: Path) => void): void {
  if (v === undefined || typeof v === 'bigint' || Array.isArray(v)) return;
  if (typeof v === 'object' && 'form' in v) {
    fn(v as DataExpr, path);
    return;
  }
  if (typeof v === 'object' && !isExpr(v))
    for (const [k, x] of Object.entries(v)) collectData(x as Value, [...path, k], fn);
}

export { U64_MAX };
