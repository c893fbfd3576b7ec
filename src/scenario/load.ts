/**
 * Load a scenario file: YAML (JSON is YAML) with positions, validated piece by piece so that every
 * problem is reported as FILE:LINE:COL: message.
 */
import { isMap, isPair, isScalar, LineCounter, type Node, parseDocument } from 'yaml';
import type { z } from 'zod';
import { allRules } from '../core/catalogue.ts';
import { KnobNames } from '../core/decl.ts';
import { invariants } from '../core/invariants.ts';
import { knobRefusal } from '../core/knobs.ts';
import { DEFAULT_PROFILE, type ProfileName, Profiles } from '../core/profiles.ts';
import { SevFwError } from './run.ts';
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
  nearest,
  topSchema,
  U64_MAX,
  type Value,
} from './schema.ts';
import { EncStructs, type FieldSpec, OpNames, OpSpecs, type ScenarioOpName, StepMetaKeys } from './spec.ts';

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
  return `${d.file}:${d.line}:${d.col}: ${d.message}`;
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
  /** the handle of the forked process the step runs in */
  as_process?: string;
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
  private readonly doc: ReturnType<typeof parseDocument>;
  constructor(doc: ReturnType<typeof parseDocument>, lc: LineCounter) {
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
  // a binary file (a firmware image given by mistake) is one line, not a page of YAML errors
  const nul = text.indexOf('\0');
  if (nul >= 0) {
    const before = text.slice(0, nul);
    const line = before.split('\n').length;
    diag(line, nul - before.lastIndexOf('\n'), 'not a scenario file: binary content (a NUL byte)');
    throw new ScenarioError(diags);
  }
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, intAsBigInt: true, uniqueKeys: true, prettyErrors: true });
  // the first YAML syntax error: the ones after it mostly follow from it
  const [first, ...more] = doc.errors;
  if (first) {
    const pos = first.linePos?.[0] ?? { line: 1, col: 1 };
    const message = first.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
    diag(pos.line, pos.col, more.length ? `${message} (and ${more.length} more YAML errors after it)` : message);
    throw new ScenarioError(diags);
  }
  const pos = new Positions(doc, lc);
  const raw = doc.toJS({ mapAsMap: false }) as unknown;

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
  if (kernel) {
    const prof = Profiles[kernel.profile ?? DEFAULT_PROFILE];
    for (const name of KnobNames) {
      if ((kernel as Record<string, unknown>)[name] === undefined) continue;
      const why = knobRefusal(prof, name);
      if (why) issue(['kernel'], why, name);
    }
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
      if (e) {
        step.expect = e as Expect;
        checkNames(step.expect, [...path, 'expect']);
      }
    }
    if (obj.inject !== undefined) {
      const inj = check(injectSchema, obj.inject, [...path, 'inject']);
      if (inj) {
        step.inject = inj as InjectSpec;
        const fw = step.inject.snp_fw_error_at_page?.error;
        if (fw !== undefined && !fw.startsWith('0x') && SevFwError[fw] === undefined)
          issue(
            [...path, 'inject', 'snp_fw_error_at_page', 'error'],
            `unknown firmware error ${fw}${nearest(fw, Object.keys(SevFwError))}; expected a number or one of ${Object.keys(SevFwError).join(', ')}`,
          );
      }
    }
    if (obj.note !== undefined) {
      if (typeof obj.note !== 'string') issue(path, 'note: expected text', 'note');
      else step.note = obj.note;
    }
    if (obj.as_process !== undefined) {
      if (typeof obj.as_process !== 'string' || !HANDLE_NAME.test(obj.as_process))
        issue(path, 'as_process: expected the handle a fork step bound', 'as_process');
      else if (!bound.has(obj.as_process))
        issue(path, `as_process: handle ${obj.as_process} is not bound by an earlier step`, 'as_process');
      else step.as_process = obj.as_process;
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

  /** names an expectation gives (a rule, an invariant, a firmware error) must exist: checked now, not at run time */
  function checkNames(e: Expect, at: Path) {
    if (e.rule !== undefined && !ruleIds().has(e.rule)) {
      const prefix = e.rule.includes('.') ? e.rule.slice(0, e.rule.lastIndexOf('.') + 1) : '';
      const same = [...ruleIds()].filter((id) => prefix && id.startsWith(prefix));
      issue(
        [...at, 'rule'],
        `unknown rule ${JSON.stringify(e.rule)}${nearest(e.rule, [...ruleIds()])}; ${same.length ? `rules ${prefix}*: ${same.join(', ')}` : 'gmemsim rules lists them'}`,
      );
    }
    if (e.violates !== undefined && !invariants.some((i) => i.name === e.violates))
      issue(
        [...at, 'violates'],
        `unknown invariant ${JSON.stringify(e.violates)}; expected one of ${invariants.map((i) => i.name).join(', ')}`,
      );
    if (typeof e.error === 'string' && SevFwError[e.error] === undefined)
      issue(
        [...at, 'error'],
        `unknown firmware error ${e.error}${nearest(e.error, Object.keys(SevFwError))}; expected a number or one of ${Object.keys(SevFwError).join(', ')}`,
      );
  }

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

let ruleIdSet: Set<string> | undefined;
/** every rule id of the catalogue (the arch modules' included) */
function ruleIds(): Set<string> {
  ruleIdSet ??= new Set(allRules().map((r) => r.id));
  return ruleIdSet;
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
