/**
 * Load a scenario file: YAML (JSON is YAML) with positions, validated piece by piece so that every
 * problem is reported as FILE:LINE:COL: message.
 */
import { type Document, isMap, isPair, isScalar, LineCounter, type Node } from 'yaml';
import type { z } from 'zod';
import { allRules } from '../core/catalogue.ts';
import { KnobNames } from '../core/decl.ts';
import type { HostPresetName } from '../core/host.ts';
import { invariants } from '../core/invariants.ts';
import { knobRefusal } from '../core/knobs.ts';
import {
  DEFAULT_PROFILE,
  isProfileName,
  KernelNames,
  type ProfileName,
  ProfileNames,
  Profiles,
} from '../core/profiles.ts';
import { BuiltinFragments, builtinFile } from './fragments.ts';
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
import { fragmentSchema, runKnobsSchema } from './schema-multi.ts';
import { type KnobSetting, knobProblem, parseSelector, type Selector, selectorText } from './select.ts';
import { EncStructs, type FieldSpec, OpNames, OpSpecs, type ScenarioOpName, StepMetaKeys } from './spec.ts';
import { parseScenarioYaml, scenarioValue, TextProblemError } from './yaml-text.ts';

/** step keys beside the operation: the contract's, plus `only` (the runs a step belongs to) */
const MetaKeys = [...StepMetaKeys, 'only'] as const;

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
  /** the handle of the forked process the step runs in */
  as_process?: string;
  /** `expect: { by_profile: ... }`: the expectation depends on the run's kernel */
  expectBy?: ExpectByProfile;
  /** `only:` the runs this step belongs to (empty: none); absent: every run */
  only?: Selector[];
  /** set on the steps an `include:` brought in */
  origin?: StepOrigin;
}

/** A per-profile expectation; a null value asserts nothing under that profile. */
export interface ExpectByProfile {
  entries: { key: string; sel: Selector; value: Expect | null }[];
  dflt?: { value: Expect | null };
}

/** Where an included step comes from. */
export interface StepOrigin {
  /** the fragment's name */
  fragment: string;
  /** the fragment's file (`<fragment NAME>` for a built-in one) */
  file: string;
  /** the include step */
  includedAt: { file: string; line: number };
}

export interface KernelSection {
  profile?: ProfileName;
  gmem_in_place_conversion?: boolean;
  mmap_min_addr?: number;
  tdx_measure_order?: 'single-pass' | 'two-pass';
  safeguards?: Record<string, 'on' | 'off'>;
  /** `profiles:` the kernels this file runs under, one run each */
  profiles?: Selector[];
  /** the host configuration preset (core/host.ts) */
  host?: HostPresetName;
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

/** Where a diagnostic in a document goes: its file, positions, and for a fragment, where it came from. */
interface Source {
  /** the file name diagnostics give */
  file: string;
  pos: Positions;
  /** directory of this document, relative to the scenario file's directory ('' for the scenario) */
  relDir: string;
  /** set for the steps of an included fragment */
  origin?: StepOrigin;
  /** " (included from FILE:LINE, ...)" for diagnostics inside a fragment */
  suffix: string;
  /** paths (joined by \0) whose value came from an include parameter, and where that parameter was given */
  params?: Map<string, { param: string; file: string; line: number; col: number }>;
  /** fragments being included, outermost first (cycle detection) */
  chain: string[];
}

/** `include:` nesting limit */
const MAX_INCLUDE_DEPTH = 8;

function parseYaml(text: string, diag: (line: number, col: number, message: string) => void) {
  const textProblem = (e: unknown): undefined => {
    if (!(e instanceof TextProblemError)) throw e;
    diag(e.problem.line, e.problem.col, e.problem.message);
    return undefined;
  };
  // a binary file (a firmware image given by mistake) is one line, not a page of YAML errors
  const nul = text.indexOf('\0');
  if (nul >= 0) {
    const before = text.slice(0, nul);
    const line = before.split('\n').length;
    diag(line, nul - before.lastIndexOf('\n'), 'not a scenario file: binary content (a NUL byte)');
    return undefined;
  }
  const lc = new LineCounter();
  let doc: ReturnType<typeof parseScenarioYaml>;
  try {
    doc = parseScenarioYaml(text, lc);
  } catch (e) {
    return textProblem(e);
  }
  // the first YAML syntax error: the ones after it mostly follow from it
  const [first, ...more] = doc.errors;
  if (first) {
    const pos = first.linePos?.[0] ?? { line: 1, col: 1 };
    const message = first.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
    diag(pos.line, pos.col, more.length ? `${message} (and ${more.length} more YAML errors after it)` : message);
    return undefined;
  }
  let raw: unknown;
  try {
    raw = scenarioValue(doc, lc);
  } catch (e) {
    return textProblem(e);
  }
  return { pos: new Positions(doc, lc), raw };
}

const isRecord = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

export function loadScenario(file: string, text: string, readFile?: FileReader): Scenario {
  const diags: Diagnostic[] = [];
  const parsed = parseYaml(text, (line, col, message) => diags.push({ file, line, col, message }));
  if (!parsed) throw new ScenarioError(diags);
  const { raw } = parsed;
  const root: Source = { file, pos: parsed.pos, relDir: '', suffix: '', chain: [] };

  const issueIn = (src: Source, path: Path, message: string, key?: string) => {
    const where = describePath(key !== undefined ? [...path, key] : path);
    const full = key !== undefined ? [...path, key] : path;
    // a bad value that an include parameter put there: report it where the parameter was given
    if (src.params) {
      for (let n = full.length; n > 0; n--) {
        const p = src.params.get(full.slice(0, n).join('\0'));
        if (p) {
          diags.push({
            file: p.file,
            line: p.line,
            col: p.col,
            message: `with.${p.param}: ${where ? `${where}: ` : ''}${message} (in ${src.origin?.fragment ?? src.file})`,
          });
          return;
        }
      }
    }
    const p = src.pos.at(path, key);
    diags.push({
      file: src.file,
      line: p.line,
      col: p.col,
      message: `${where ? `${where}: ` : ''}${message}${src.suffix}`,
    });
  };
  const checkIn = <S extends z.ZodType>(
    src: Source,
    schema: S,
    value: unknown,
    path: Path,
  ): z.output<S> | undefined => {
    const issue = (p: Path, m: string, k?: string) => issueIn(src, p, m, k);
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
  const issue = (path: Path, message: string, key?: string) => issueIn(root, path, message, key);
  const check = <S extends z.ZodType>(schema: S, value: unknown, path: Path) => checkIn(root, schema, value, path);

  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    diags.push({ file, line: 1, col: 1, message: 'a scenario is a mapping with format, name and steps' });
    throw new ScenarioError(diags);
  }
  const top = check(topSchema, raw, []);
  if (!top) throw new ScenarioError(diags);

  // kernel.profiles (one file, many kernels) is read here; the rest of the section by its schema
  let runs: Selector[] | undefined;
  let kernelRaw = top.kernel;
  if (isRecord(kernelRaw) && kernelRaw.profiles !== undefined) {
    const { profiles, ...rest } = kernelRaw;
    kernelRaw = rest;
    runs = parseRuns(profiles);
  }
  const kernel = (kernelRaw === undefined ? {} : check(kernelSchema, kernelRaw, ['kernel'])) as
    | KernelSection
    | undefined;
  if (kernel && runs) {
    if (kernel.profile !== undefined)
      issue(['kernel'], 'give either profile (one kernel) or profiles (several), not both', 'profile');
    if (kernel.gmem_in_place_conversion !== undefined)
      issue(
        ['kernel'],
        'with profiles, set gmem_in_place_conversion per entry (e.g. in-place+gmem_in_place_conversion=false)',
        'gmem_in_place_conversion',
      );
    kernel.profiles = runs;
  } else if (kernel) {
    const prof = Profiles[kernel.profile ?? DEFAULT_PROFILE];
    for (const name of KnobNames) {
      if ((kernel as Record<string, unknown>)[name] === undefined) continue;
      const why = knobRefusal(prof, name);
      if (why) issue(['kernel'], why, name);
    }
  }

  function parseRuns(v: unknown): Selector[] | undefined {
    const path: Path = ['kernel', 'profiles'];
    // every kernel once (not the old names, which are aliases of some of them)
    if (v === 'all') return KernelNames.map((profile) => ({ profile, knobs: {} }));
    if (!Array.isArray(v) || v.length === 0) {
      issue(
        path,
        'expected "all" or a non-empty list of profiles (NAME, NAME+KNOB=VALUE or { profile: NAME, KNOB: VALUE })',
      );
      return undefined;
    }
    const out: Selector[] = [];
    const seen = new Map<string, number>();
    v.forEach((e, i) => {
      const sel = parseRunEntry(e, [...path, i]);
      if (!sel) return;
      const text = selectorText(sel);
      if (seen.has(text)) issue([...path, i], `${text} is listed twice (also entry ${seen.get(text)! + 1})`);
      else seen.set(text, i);
      out.push(sel);
    });
    return out;
  }

  function parseRunEntry(e: unknown, path: Path): Selector | undefined {
    if (typeof e === 'string') {
      const sel = parseSelector(e);
      if (typeof sel === 'string') return void issue(path, sel);
      return sel;
    }
    if (!isRecord(e)) return void issue(path, 'expected a profile name or { profile: NAME, KNOB: VALUE }');
    const { profile, ...knobRaw } = e;
    if (typeof profile !== 'string' || !isProfileName(profile))
      return void issue(
        path,
        `profile must be one of ${ProfileNames.join(', ')}`,
        profile === undefined ? undefined : 'profile',
      );
    const knobs = check(runKnobsSchema, knobRaw, path) as KnobSetting | undefined;
    if (!knobs) return undefined;
    const problem = knobProblem(profile, knobs);
    if (problem) return void issue(path, problem, 'gmem_in_place_conversion');
    return { profile, knobs };
  }

  const steps: Step[] = [];
  const bound = new Set<string>(['kvm', 'sev']);
  const files = new Map<string, Uint8Array>();

  function addSteps(src: Source, rawSteps: unknown[], base: Path): void {
    rawSteps.forEach((s, i) => {
      addStep(src, s, [...base, i]);
    });
  }

  function addStep(src: Source, s: unknown, path: Path): void {
    const issue = (p: Path, m: string, k?: string) => issueIn(src, p, m, k);
    const check = <S extends z.ZodType>(schema: S, value: unknown, p: Path) => checkIn(src, schema, value, p);
    const line = src.pos.at(path).line;
    if (s === null || typeof s !== 'object' || Array.isArray(s)) {
      issue(path, 'a step is a mapping with one operation key');
      return;
    }
    const obj = s as Record<string, unknown>;
    if (obj.include !== undefined) {
      includeStep(src, obj, path);
      return;
    }
    const opKeys = Object.keys(obj).filter((k) => !(MetaKeys as readonly string[]).includes(k));
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
    if (op === 'KVM_MEMORY_ENCRYPT_OP' && typeof args.id === 'bigint') checkEncData(src, args, argPath);
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
    const step: Step = { index: steps.length, line, op, args };
    if (src.origin) step.origin = src.origin;
    if (obj.as !== undefined) {
      if (typeof obj.as !== 'string' || !HANDLE_NAME.test(obj.as)) issue(path, 'as: expected a handle name', 'as');
      else if (obj.as === 'kvm' || obj.as === 'sev') issue(path, `as: "${obj.as}" is reserved`, 'as');
      else step.as = obj.as;
    }
    const expects: [Expect, Path][] = [];
    if (obj.expect !== undefined) {
      const ePath = [...path, 'expect'];
      if (isRecord(obj.expect) && obj.expect.by_profile !== undefined) {
        const by = parseByProfile(src, obj.expect, ePath);
        if (by) {
          step.expectBy = by;
          for (const e of by.entries) if (e.value) expects.push([e.value, [...ePath, 'by_profile', e.key]]);
          if (by.dflt?.value) expects.push([by.dflt.value, [...ePath, 'by_profile', 'default']]);
        }
      } else {
        const e = check(expectSchema, obj.expect, ePath);
        if (e) {
          step.expect = e as Expect;
          expects.push([step.expect, ePath]);
        }
      }
    }
    if (obj.only !== undefined) {
      const only = parseOnly(src, obj.only, [...path, 'only']);
      if (only) step.only = only;
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
    for (const [e, p] of expects) collectRefs(e as unknown as Value, p, refs);
    for (const [e, p] of expects) checkNames(src, e, p);
    for (const [r, p] of refs)
      if (r.k === 'ref' && !bound.has(r.name))
        issue(p, `unknown handle "${r.name}" (bind it with "as:" in an earlier step)`);
    // file data is read now, so a missing file is a load error; a fragment's paths are relative to it
    const dataRoots: [Value, Path][] = [[args, argPath]];
    for (const [e, p] of expects) if (e.bytes) dataRoots.push([e.bytes as Value, [...p, 'bytes']]);
    for (const [root, rootPath] of dataRoots)
      collectData(root, rootPath, (d, p) => {
        if (d.form !== 'file') return;
        if (src.relDir) d.file = joinRel(src.relDir, d.file);
        if (!readFile) return issue(p, 'file data needs a file reader');
        try {
          files.set(d.file, readFile(d.file, file));
        } catch (e) {
          issue(p, `cannot read ${d.file}: ${(e as Error).message}`);
        }
      });
    // only: false (a fragment's optional step switched off): not part of the scenario at all
    if (step.only?.length === 0) return;
    if (step.as) bound.add(step.as);
    steps.push(step);
  }

  /** names an expectation gives (a rule, an invariant, a firmware error) must exist: checked now, not at run time */
  function checkNames(src: Source, e: Expect, at: Path) {
    const issue = (p: Path, m: string, k?: string) => issueIn(src, p, m, k);
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

  function parseOnly(src: Source, v: unknown, path: Path): Selector[] | undefined {
    if (v === true) return undefined;
    if (v === false) return [];
    const list = typeof v === 'string' ? [v] : v;
    if (!Array.isArray(list) || list.some((x) => typeof x !== 'string')) {
      issueIn(src, path, 'expected a list of profiles (NAME or NAME+KNOB=VALUE), or true / false');
      return undefined;
    }
    const out: Selector[] = [];
    list.forEach((x, i) => {
      const sel = parseSelector(x as string);
      if (typeof sel === 'string') issueIn(src, typeof v === 'string' ? path : [...path, i], sel);
      else out.push(sel);
    });
    return out;
  }

  function parseByProfile(src: Source, e: Record<string, unknown>, path: Path): ExpectByProfile | undefined {
    for (const k of Object.keys(e))
      if (k !== 'by_profile')
        issueIn(src, path, `unknown key "${k}" beside by_profile (give it inside each profile's expectation)`, k);
    const by = e.by_profile;
    const bp = [...path, 'by_profile'];
    if (!isRecord(by) || Object.keys(by).length === 0) {
      issueIn(src, bp, 'expected a mapping of profile (or default) to an expectation');
      return undefined;
    }
    const out: ExpectByProfile = { entries: [] };
    for (const [key, v] of Object.entries(by)) {
      const value = v === null ? null : (checkIn(src, expectSchema, v, [...bp, key]) as Expect | undefined);
      if (value === undefined) continue;
      if (key === 'default') {
        out.dflt = { value };
        continue;
      }
      const sel = parseSelector(key);
      if (typeof sel === 'string') issueIn(src, bp, `${sel}; or default`, key);
      else out.entries.push({ key, sel, value });
    }
    return out;
  }

  function includeStep(src: Source, obj: Record<string, unknown>, path: Path): void {
    const issue = (p: Path, m: string, k?: string) => issueIn(src, p, m, k);
    for (const k of Object.keys(obj))
      if (k !== 'include' && k !== 'with') issue(path, `unknown key "${k}" of an include step (include, with)`, k);
    const target = obj.include;
    if (typeof target !== 'string' || target === '') {
      issue(path, `expected a fragment name (${Object.keys(BuiltinFragments).join(', ')}) or a file path`, 'include');
      return;
    }
    const isFile = /\.(ya?ml|json)$/i.test(target);
    let text: string;
    let fragFile: string;
    let relDir = src.relDir;
    let id: string;
    if (!isFile) {
      const builtin = BuiltinFragments[target];
      if (builtin === undefined) {
        issue(
          path,
          `unknown fragment "${target}"; built-in fragments are ${Object.keys(BuiltinFragments).join(', ')} (a file path ends in .yaml)`,
          'include',
        );
        return;
      }
      text = builtin;
      fragFile = builtinFile(target);
      id = fragFile;
    } else {
      const rel = joinRel(src.relDir, target);
      relDir = dirnameRel(rel);
      fragFile = joinRel(dirnameRel(file), rel);
      id = fragFile;
      if (!readFile) {
        issue(path, 'a fragment file needs a file reader', 'include');
        return;
      }
      try {
        text = new TextDecoder('utf-8', { fatal: false }).decode(readFile(rel, file));
      } catch (e) {
        issue(path, `cannot read ${target}: ${(e as Error).message}`, 'include');
        return;
      }
    }
    if (src.chain.includes(id)) {
      issue(path, `${[...src.chain, id].join(' → ')} includes itself`, 'include');
      return;
    }
    if (src.chain.length >= MAX_INCLUDE_DEPTH) {
      issue(path, `fragments nest more than ${MAX_INCLUDE_DEPTH} deep`, 'include');
      return;
    }
    const at = src.pos.at(path);
    const suffix = ` (included from ${src.file}:${at.line}${src.suffix ? src.suffix.replace(/^ \(included from /, ', from ') : ')'}`;
    const fragDiags: Diagnostic[] = [];
    const parsed = parseYaml(text, (line, col, message) =>
      fragDiags.push({ file: fragFile, line, col, message: `${message}${suffix}` }),
    );
    if (!parsed) {
      diags.push(...fragDiags);
      return;
    }
    const fsrc: Source = { file: fragFile, pos: parsed.pos, relDir, suffix, chain: [...src.chain, id] };
    const frag = checkIn(fsrc, fragmentSchema, parsed.raw, []);
    if (!frag) return;
    // parameters: declared with their defaults in the fragment, given with `with:` at the include
    const given = obj.with;
    if (given !== undefined && !isRecord(given)) {
      issue(path, 'with: expected a mapping of parameter names to values', 'with');
      return;
    }
    const declared = frag.params ?? {};
    const values = new Map<string, unknown>();
    const fromWith = new Map<string, { line: number; col: number }>();
    const withName = new Map<string, string>();
    for (const k of Object.keys(given ?? {})) {
      if (!Object.hasOwn(declared, k)) {
        const names = Object.keys(declared);
        issue(
          [...path, 'with'],
          `unknown parameter "${k}" of ${frag.name}; ${names.length ? `expected ${names.join(', ')}` : 'it takes none'}`,
          k,
        );
      } else fromWith.set(k, src.pos.at([...path, 'with'], k));
    }
    for (const [name, dflt] of Object.entries(declared)) {
      if (given && Object.hasOwn(given, name)) values.set(name, given[name]);
      else if (dflt === null) issue(path, `fragment ${frag.name} needs parameter "${name}" (with: { ${name}: ... })`);
      else
        values.set(
          name,
          substitute(dflt, values, (_, from) => {
            // a default made of a parameter the include gave: its errors belong to that parameter
            const w = fromWith.get(from);
            if (w && !fromWith.has(name)) {
              fromWith.set(name, w);
              withName.set(name, withName.get(from) ?? from);
            }
          }),
        );
    }
    const params = new Map<string, { param: string; file: string; line: number; col: number }>();
    const origin: StepOrigin = { fragment: frag.name, file: fragFile, includedAt: { file: src.file, line: at.line } };
    const fsrc2: Source = { ...fsrc, origin, params };
    const rawSteps = frag.steps.map((st, i) =>
      substitute(
        st,
        values,
        (sub, name) => {
          const w = fromWith.get(name);
          if (w)
            params.set(['steps', i, ...sub].join('\0'), { param: withName.get(name) ?? name, file: src.file, ...w });
        },
        (sub, name) => issueIn(fsrc, ['steps', i, ...sub], `unknown parameter $${name} (declare it under params:)`),
      ),
    );
    addSteps(fsrc2, rawSteps as unknown[], ['steps']);
  }

  function checkEncData(src: Source, args: Record<string, Value>, argPath: Path) {
    const data = args.data;
    if (data === undefined || typeof data === 'bigint') return;
    const st = EncStructs[Number(args.id)];
    if (!st) return;
    const rec = data as unknown as Record<string, unknown>;
    const out: Record<string, Value> = {};
    for (const key of Object.keys(rec)) {
      const kind = st.fields[key];
      if (!kind) {
        issueIn(
          src,
          [...argPath, 'data'],
          `unknown field "${key}" of struct ${st.struct}; expected ${Object.keys(st.fields).join(', ')}`,
          key,
        );
        continue;
      }
      const schema = kind.t === 'cpuid' && key === 'cpuid' ? cpuid2Schema : fieldSchema(kind);
      const v = checkIn(src, schema, rec[key], [...argPath, 'data', key]);
      if (v !== undefined) out[key] = v as Value;
    }
    args.data = out;
  }

  addSteps(root, top.steps, ['steps']);

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

const PARAM = /\$(\$|[A-Za-z_][A-Za-z0-9_]*)/g;

/**
 * Replace the parameters of a fragment value: a string that is exactly `$NAME` becomes the
 * parameter's value (a number, list, mapping...); `$NAME` inside a longer string is replaced by
 * its text; `$$` is a `$`.
 */
function substitute(
  v: unknown,
  values: Map<string, unknown>,
  used: (path: (string | number)[], name: string) => void,
  unknownParam?: (path: (string | number)[], name: string) => void,
  path: (string | number)[] = [],
): unknown {
  if (typeof v === 'string') {
    const whole = /^\$([A-Za-z_][A-Za-z0-9_]*)$/.exec(v);
    if (whole) {
      const name = whole[1]!;
      if (!values.has(name)) {
        unknownParam?.(path, name);
        return v;
      }
      used(path, name);
      return values.get(name);
    }
    if (!v.includes('$')) return v;
    return v.replace(PARAM, (m, name: string) => {
      if (name === '$') return '$';
      if (!values.has(name)) {
        unknownParam?.(path, name);
        return m;
      }
      used(path, name);
      const x = values.get(name);
      return typeof x === 'bigint' ? `0x${x.toString(16)}` : String(x);
    });
  }
  if (Array.isArray(v)) return v.map((x, i) => substitute(x, values, used, unknownParam, [...path, i]));
  if (isRecord(v))
    return Object.fromEntries(
      Object.entries(v).map(([k, x]) => [k, substitute(x, values, used, unknownParam, [...path, k])]),
    );
  return v;
}

/** `a/b` with `.` and `..` resolved (paths relative to the scenario file's directory). */
export function joinRel(dir: string, rel: string): string {
  if (rel.startsWith('/') || dir === '') return normalizeRel(rel);
  return normalizeRel(`${dir}/${rel}`);
}

function normalizeRel(p: string): string {
  const abs = p.startsWith('/');
  const out: string[] = [];
  for (const part of p.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..' && out.length && out[out.length - 1] !== '..') out.pop();
    else if (part === '..' && abs) continue;
    else out.push(part);
  }
  return (abs ? '/' : '') + out.join('/');
}

function dirnameRel(p: string): string {
  const i = p.lastIndexOf('/');
  return i < 0 ? '' : i === 0 ? '/' : p.slice(0, i);
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
