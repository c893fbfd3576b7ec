/** Rendering of run results: the strace-like step table and the JSON document. */
import pc from 'picocolors';
import type { RunExit } from '../core/outcome.ts';
import { formatCite, type Rule } from '../core/rule.ts';
import { ExitReason as ExitReasonTable, flagNames, nameOf } from '../core/uapi.ts';
import { toHex } from '../util/hex.ts';
import type { Step } from './load.ts';
import { describeBytes, describeData, exitName, hex, type RunResult, type StepResult } from './run.ts';
import type { CpuidEntryExpr, DataExpr, Expr, Value } from './schema.ts';
import { EncStructs, type FieldKind, type FieldSpec, OpSpecs } from './spec.ts';

const PREFIXES = ['GUEST_MEMFD_FLAG_', 'KVM_MEMORY_ATTRIBUTE_', 'FALLOC_FL_', 'KVM_TDX_', 'KVM_MEM_'];
const strip = (s: string) => PREFIXES.reduce((x, p) => (x.startsWith(p) ? x.slice(p.length) : x), s);

function isExpr(v: unknown): v is Expr {
  return typeof v === 'object' && v !== null && 'k' in v;
}

function fmtExpr(e: Expr): string {
  if (e.k === 'int') return hex(e.v);
  if (e.off === 0n) return e.name;
  return `${e.name}${e.off < 0n ? '-' : '+'}${hex(e.off < 0n ? -e.off : e.off)}`;
}

function fmtValue(v: Value, kind: FieldKind): string {
  if (typeof v === 'boolean') return String(v);
  if (isExpr(v)) return fmtExpr(v);
  if (typeof v === 'bigint') {
    if (kind.t === 'flags') {
      const t = Object.fromEntries(Object.entries(kind.table).map(([k, x]) => [k, BigInt(x)]));
      return flagNames(t, v).split('|').map(strip).join('|');
    }
    if (kind.t === 'enum') return nameOf(kind.table, v) ?? hex(v);
    return hex(v);
  }
  if (Array.isArray(v)) {
    if (kind.t === 'cpuid') return `[${v.length} cpuid entries]`;
    return `[${(v as bigint[]).map(hex).join(', ')}]`;
  }
  if ('form' in v) return fmtData(v as DataExpr);
  if ('entries' in v && Array.isArray((v as { entries: unknown }).entries))
    return `{${(v as { entries: CpuidEntryExpr[] }).entries.length} cpuid entries}`;
  return '{…}';
}

function fmtData(d: DataExpr): string {
  switch (d.form) {
    case 'fill':
      return `fill(${hex(BigInt(d.fill))}, ${hex(d.length)})`;
    case 'text':
      return JSON.stringify(d.text.length > 24 ? `${d.text.slice(0, 24)}…` : d.text);
    case 'hex':
      return `hex(${d.hex.length / 2} bytes)`;
    case 'file':
      return `file(${d.file})`;
    default:
      return describeData(d);
  }
}

/** The strace-like call of a step, e.g. KVM_CREATE_GUEST_MEMFD(vm, {size=0x4000, flags=MMAP}). */
export function formatCall(step: Step): string {
  const specs = OpSpecs[step.op] as Record<string, FieldSpec>;
  const parts: string[] = [];
  const fd = step.args.fd;
  if (fd !== undefined && step.op !== 'mmap') parts.push(fmtValue(fd, { t: 'fd' }));
  const fields: string[] = [];
  for (const [name, spec] of Object.entries(specs)) {
    if (name === 'fd' && step.op !== 'mmap') continue;
    const v = step.args[name];
    if (v === undefined) continue;
    if (name === 'data' && step.op === 'KVM_MEMORY_ENCRYPT_OP' && typeof v !== 'bigint' && !isExpr(v)) {
      const st = EncStructs[Number(step.args.id as bigint)];
      const inner = Object.entries(v as Record<string, Value>)
        .map(([k, x]) => `${k}=${fmtValue(x, st?.fields[k] ?? { t: 'u64' })}`)
        .join(', ');
      fields.push(`data={${inner}}`);
      continue;
    }
    fields.push(`${name}=${fmtValue(v, spec.kind)}`);
  }
  if (step.op.startsWith('KVM_')) {
    if (fields.length) parts.push(`{${fields.join(', ')}}`);
  } else parts.push(...fields);
  return `${step.op}(${parts.join(', ')})`;
}

export function formatResult(r: StepResult): string {
  const o = r.outcome;
  let s: string;
  if (o.signal) s = `--- ${o.signal} ---`;
  else if (o.errno) s = `= -1 ${o.errno}`;
  else s = `= ${o.ret > 0xffffn ? `0x${o.ret.toString(16)}` : o.ret.toString()}`;
  const extra: string[] = [];
  if (r.bound) extra.push(`→ ${r.bound.name}`);
  if (o.out.data)
    extra.push(
      `data={${Object.entries(o.out.data)
        .map(([k, v]) => `${k}=${hex(v)}`)
        .join(', ')}}`,
    );
  if (o.out.hw_error !== undefined) extra.push(`hw_error=${hex(o.out.hw_error)}`);
  if (o.out.error !== undefined) extra.push(`error=${hex(o.out.error)}`);
  if (o.out.error_offset !== undefined) extra.push(`error_offset=${hex(o.out.error_offset)}`);
  if (o.out.st_size !== undefined)
    extra.push(`st_size=${hex(o.out.st_size)} st_blksize=${hex(o.out.st_blksize ?? 0n)}`);
  if (o.out.bytes)
    extra.push(`bytes: ${describeBytes(o.out.bytes)}${o.out.undefinedBytes ? ' (firmware-dependent)' : ''}`);
  if (o.out.exit) extra.push(formatExit(o.out.exit));
  if (o.out.guest) extra.push(`guest: ${o.out.guest}`);
  if (o.out.mrtd) extra.push(`mrtd=${o.out.mrtd}`);
  if (o.out.measurement) extra.push(`measurement=${o.out.measurement}`);
  return extra.length ? `${s}  ${extra.join('  ')}` : s;
}

/** struct kvm_run after the call, e.g. KVM_EXIT_MEMORY_FAULT {flags=PRIVATE, gpa=0x1000, size=0x1000} */
export function formatExit(x: RunExit): string {
  const f: string[] = [];
  if (x.reason === ExitReasonTable.KVM_EXIT_MEMORY_FAULT) {
    f.push(`flags=${x.flags ? 'PRIVATE' : '0'}`, `gpa=${hex(x.gpa ?? 0n)}`, `size=${hex(x.size ?? 0n)}`);
  } else if (x.reason === ExitReasonTable.KVM_EXIT_HYPERCALL) {
    f.push(
      `nr=${x.nr === 12n ? 'KVM_HC_MAP_GPA_RANGE' : hex(x.nr ?? 0n)}`,
      `args=[${(x.args ?? []).map(hex).join(', ')}]`,
    );
  } else if (x.gpa !== undefined) f.push(`gpa=${hex(x.gpa)}`);
  return `${exitName(BigInt(x.reason))} {${f.join(', ')}}`;
}

/**
 * The GPA range an exit is about, for the page map: the faulting range of a KVM_EXIT_MEMORY_FAULT,
 * the range a MapGPA / KVM_HC_MAP_GPA_RANGE request names (args[0] GPA, args[1] pages); else null.
 */
export function exitRange(x: RunExit): { gpa: string; size: string; what: string } | null {
  if (x.reason === ExitReasonTable.KVM_EXIT_MEMORY_FAULT && x.gpa !== undefined)
    return { gpa: hex(x.gpa), size: hex(x.size ?? 0n), what: x.flags ? 'private fault' : 'shared fault' };
  if (x.reason === ExitReasonTable.KVM_EXIT_HYPERCALL && x.nr === 12n && x.args && x.args.length >= 2)
    return { gpa: hex(x.args[0]!), size: hex(x.args[1]! * 4096n), what: 'conversion request' };
  return null;
}

/** the width the text output keeps to (a step's details go on the lines after it, wrapped) */
export const TEXT_WIDTH = 80;
const DETAIL = '       ';
const MORE = '         ';

/**
 * Words of `text` on lines of at most `width` columns (the first after `first`, the others after
 * `cont`); a word longer than a line (a citation, a long hex value) keeps its own line.
 */
export function wrap(text: string, first: string, cont: string, width = TEXT_WIDTH): string[] {
  const out: string[] = [];
  let cur = first;
  let empty = true;
  for (const w of text.split(' ')) {
    if (!empty && cur.length + 1 + w.length > width && w !== '') {
      out.push(cur.trimEnd());
      cur = cont + w;
    } else cur += empty ? w : ` ${w}`;
    empty = false;
  }
  out.push(cur.trimEnd());
  return out;
}

type Colors = ReturnType<typeof pc.createColors>;

/**
 * One step as `gmemsim run` prints it, strace-like in 80 columns: `✓ 13 CALL = RESULT` on one line
 * when it fits, else the call (wrapped) and the result on the next lines; then the rule that
 * decided it (wrapped) with its citation, the note, broken invariants and failed checks.
 */
export function stepLines(r: StepResult, c: Colors = pc.createColors(false)): string[] {
  const lines: string[] = [];
  const mark = r.expect ? (r.ok ? c.green('✓') : c.red('✗')) : ' ';
  const head = `${mark}${String(r.step.index + 1).padStart(3)} `;
  const headW = 5;
  const call = `${r.step.as_process ? `[${r.step.as_process}] ` : ''}${formatCall(r.step)}`;
  const result = formatResult(r);
  const col = r.outcome.errno || r.outcome.signal ? c.yellow : (x: string) => x;
  if (headW + call.length + 1 + result.length <= TEXT_WIDTH) lines.push(`${head}${call} ${col(result)}`);
  else {
    const callLines = wrap(call, ' '.repeat(headW), ' '.repeat(headW + 4), TEXT_WIDTH);
    lines.push(`${head}${callLines[0]!.slice(headW)}`, ...callLines.slice(1));
    lines.push(...wrap(result, DETAIL, MORE).map(col));
  }
  lines.push(...ruleLines(r.outcome.rule, r.outcome.cause).map(c.dim));
  if (r.step.note) lines.push(...wrap(`note: ${r.step.note}`, DETAIL, MORE).map(c.dim));
  for (const v of r.violations)
    lines.push(...wrap(`! invariant ${v.invariant} broken: ${v.detail}`, DETAIL, MORE).map(c.magenta));
  for (const ch of r.checks.filter((x) => !x.ok))
    lines.push(...wrap(`✗ ${ch.what}: expected ${ch.expected}, got ${ch.actual}`, DETAIL, MORE).map(c.red));
  return lines;
}

/** the rule (and its cause) in 80 columns: `id: reason`, wrapped, then `— citation` */
export function ruleLines(rule: Rule, cause?: Rule, indent = DETAIL): string[] {
  const more = `${indent}  `;
  const one = (x: Rule, lead: string) => {
    const conf = x.confidence === 'read' ? '' : ` [${x.confidence.toUpperCase()}]`;
    // the citation: `— repo:path@commit`, and its function on the same line when it fits
    const cite = formatCite(x.cite);
    const cut = cite.lastIndexOf(' ');
    const loc = `${more}— ${cut > 0 ? cite.slice(0, cut) : cite}`;
    const fn = cut > 0 ? cite.slice(cut + 1) : '';
    const citeLines = !fn
      ? [loc]
      : loc.length + 1 + fn.length <= TEXT_WIDTH
        ? [`${loc} ${fn}`]
        : [loc, `${more}  ${fn}`];
    return [...wrap(`${lead}${x.id}: ${x.reason}${conf}`, indent, more), ...citeLines];
  };
  return cause ? [...one(rule, ''), ...one(cause, 'because ')] : one(rule, '');
}

export function renderText(results: RunResult[], opts: { color?: boolean } = {}): string {
  const c = opts.color === false ? pc.createColors(false) : pc;
  const lines: string[] = [];
  for (const res of results) {
    const s = res.scenario;
    const knob = res.knobs.gmem_in_place_conversion;
    lines.push(...wrap(`${s.file}: ${s.name}`, '', '  ').map(c.bold));
    lines.push(
      c.dim(
        `  kernel profile ${res.profile}${res.kernel.profile.inPlaceSeries ? `, gmem_in_place_conversion=${knob}` : ''}`,
      ),
    );
    let origin: Step['origin'];
    for (const r of res.steps) {
      // the steps an include: brought in are announced once, where they start
      if (r.step.origin && r.step.origin !== origin) {
        const o = r.step.origin;
        lines.push(c.dim(`   ┌ include ${o.fragment} (${o.includedAt.file}:${o.includedAt.line})`));
      }
      origin = r.step.origin;
      lines.push(...stepLines(r, c));
    }
    const held = res.expectations - res.failed;
    lines.push(
      `  ${res.steps.length} steps, ${res.expectations} expectations: ${held} held${res.failed ? `, ${c.red(`${res.failed} failed`)}` : ''}`,
    );
    lines.push('');
  }
  if (results.length > 1 && results.some((r) => r.scenario.kernel.profiles)) {
    // one file may be several runs (kernel.profiles): the total counts each run
    const files = new Set(results.map((r) => r.scenario)).size;
    const expectations = results.reduce((n, r) => n + r.expectations, 0);
    const failed = results.reduce((n, r) => n + r.failed, 0);
    const bad = results.filter((r) => !r.ok).length;
    lines.push(
      `${results.length} runs of ${files} file${files === 1 ? '' : 's'}, ${expectations} expectations: ${expectations - failed} held${failed ? `, ${c.red(`${failed} failed`)} (in ${bad} run${bad === 1 ? '' : 's'})` : ''}`,
    );
    lines.push('');
  }
  return lines.join('\n');
}

function jsonValue(v: bigint): number | string {
  return v <= BigInt(Number.MAX_SAFE_INTEGER) && v >= -BigInt(Number.MAX_SAFE_INTEGER)
    ? Number(v)
    : `0x${v.toString(16)}`;
}

function ruleJson(r: Rule) {
  return {
    id: r.id,
    errno: r.errno ?? null,
    signal: r.signal ?? null,
    reason: r.reason,
    confidence: r.confidence,
    cite: r.cite,
  };
}

export function runJson(res: RunResult) {
  return {
    file: res.scenario.file,
    objects: {
      files: res.kernel.inodes.map((i) => ({ id: i.id, vm: i.vm.id, pages: i.npages, flags: Number(i.flags) })),
      vms: res.kernel.vms.map((v) => ({
        id: v.id,
        type: v.type,
        memslots: v.memslots.map((m) => ({
          id: m.id,
          gfn: m.baseGfn,
          pages: m.npages,
          file: m.gmem?.inode?.id ?? null,
          pgoff: m.gmem?.pgoff ?? 0,
        })),
      })),
    },
    name: res.scenario.name,
    profile: res.profile,
    gmem_in_place_conversion: res.knobs.gmem_in_place_conversion,
    ok: res.ok,
    expectations: res.expectations,
    failed: res.failed,
    steps: res.steps.map((r) => ({
      index: r.step.index + 1,
      line: r.step.line,
      op: r.step.op,
      call: formatCall(r.step),
      ret: jsonValue(r.outcome.ret),
      errno: r.outcome.errno ?? null,
      signal: r.outcome.signal ?? null,
      rule: ruleJson(r.outcome.rule),
      cause: r.outcome.cause ? ruleJson(r.outcome.cause) : null,
      out: {
        ...(r.outcome.out.data
          ? { data: Object.fromEntries(Object.entries(r.outcome.out.data).map(([k, v]) => [k, jsonValue(v)])) }
          : {}),
        ...(r.outcome.out.hw_error !== undefined ? { hw_error: jsonValue(r.outcome.out.hw_error) } : {}),
        ...(r.outcome.out.error !== undefined ? { error: jsonValue(r.outcome.out.error) } : {}),
        ...(r.outcome.out.error_offset !== undefined ? { error_offset: jsonValue(r.outcome.out.error_offset) } : {}),
        ...(r.outcome.out.st_size !== undefined
          ? { st_size: jsonValue(r.outcome.out.st_size), st_blksize: jsonValue(r.outcome.out.st_blksize ?? 0n) }
          : {}),
        ...(r.outcome.out.bytes
          ? {
              bytes:
                r.outcome.out.bytes.length <= 4096 ? toHex(r.outcome.out.bytes) : describeBytes(r.outcome.out.bytes),
            }
          : {}),
        ...(r.outcome.out.undefinedBytes ? { undefined_bytes: true } : {}),
        ...(r.outcome.out.mrtd ? { mrtd: r.outcome.out.mrtd } : {}),
        ...(r.outcome.out.measurement ? { measurement: r.outcome.out.measurement } : {}),
        ...(r.outcome.out.exit ? { exit: formatExit(r.outcome.out.exit) } : {}),
        ...(r.outcome.out.exit && exitRange(r.outcome.out.exit) ? { exit_range: exitRange(r.outcome.out.exit) } : {}),
        ...(r.outcome.out.guest ? { guest: r.outcome.out.guest } : {}),
      },
      ...(r.bound ? { bound: { name: r.bound.name, value: jsonValue(r.bound.value) } } : {}),
      ...(r.expect ? { expect_ok: r.ok, checks: r.checks } : {}),
      ...(r.step.origin
        ? {
            from: { fragment: r.step.origin.fragment, file: r.step.origin.file, included_at: r.step.origin.includedAt },
          }
        : {}),
      ...(r.step.note ? { note: r.step.note } : {}),
      ...(r.violations.length ? { violations: r.violations } : {}),
      ...(r.changes ? { changes: r.changes } : {}),
      ...(r.launch && Object.keys(r.launch).length ? { launch: r.launch } : {}),
    })),
  };
}

export function renderJson(results: RunResult[]): string {
  const doc: Record<string, unknown> = { format: 'gmemsim-run/1', ok: results.every((r) => r.ok) };
  // with kernel.profiles one file is several runs: the total counts each (as the text's last line)
  if (results.some((r) => r.scenario.kernel.profiles))
    doc.summary = {
      files: new Set(results.map((r) => r.scenario)).size,
      runs: results.length,
      expectations: results.reduce((n, r) => n + r.expectations, 0),
      failed: results.reduce((n, r) => n + r.failed, 0),
    };
  doc.runs = results.map(runJson);
  return `${JSON.stringify(doc, null, 2)}\n`;
}
