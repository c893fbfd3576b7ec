import { type HostConfig, HostPresets } from '../core/host.ts';
import { checkInvariants, type Violation } from '../core/invariants.ts';
import type { Kernel } from '../core/kernel.ts';
import { KVM_FD, SEV_FD } from '../core/kernel.ts';
import type { Op } from '../core/ops.ts';
import type { Outcome } from '../core/outcome.ts';
import { PageMapTracker, type Run } from '../core/pagemap.ts';
import type { Knobs, ProfileName } from '../core/profiles.ts';
import { FwError } from '../core/snp/psp.ts';
import { ExitReasonNames } from '../core/uapi.ts';
import { toHex } from '../util/hex.ts';
import type { Scenario, Step } from './load.ts';
import { dataBytes, evalExpr, isExpr, lowerInject, lowerStep } from './lower.ts';
import type { DataExpr, Expect, Expr } from './schema.ts';
import { expectationsOf, expectFor, runsUnder } from './select.ts';

export interface Host {
  createKernel(profile: ProfileName, knobs: Partial<Knobs>, host?: HostConfig): Kernel;
  sha256(b: Uint8Array): string;
  sha384(b: Uint8Array): string;
}

export interface Check {
  what: string;
  expected: string;
  actual: string;
  ok: boolean;
}

export interface StepResult {
  step: Step;
  op: Op;
  outcome: Outcome;
  /** invariants broken after this step (checked when a safeguard is off or the file expects a violation) */
  violations: Violation[];
  checks: Check[];
  ok: boolean;
  /** the expectation checked under this run's kernel (the step's, or its by_profile entry) */
  expect?: Expect;
  /** handle bound by `as:` */
  bound?: { name: string; value: bigint };
  /** page-state changes this step made (with RunOptions.trace) */
  changes?: { files: Record<string, Run[]>; gpa: Record<string, Run[]> };
  /** launch state of each confidential VM after the step (with RunOptions.trace) */
  launch?: Record<string, Record<string, unknown>>;
}

export interface RunResult {
  scenario: Scenario;
  profile: ProfileName;
  knobs: Knobs;
  steps: StepResult[];
  expectations: number;
  failed: number;
  ok: boolean;
  kernel: Kernel;
}

export interface RunOptions {
  profile?: ProfileName;
  set?: Partial<Knobs>;
  /** record the page-state changes and launch state of every step */
  trace?: boolean;
  /** the host configuration (--host), over the file's kernel.host */
  host?: HostConfig;
  /** called after each step with the steps done, the total (progress display) and the kernel */
  onStep?: (done: number, total: number, kernel: Kernel) => void;
}

const U64 = (v: bigint) => BigInt.asUintN(64, v);

export function effectiveConfig(s: Scenario, opts: RunOptions): { profile: ProfileName; knobs: Partial<Knobs> } {
  // a file with kernel.profiles run once (gmemsim view, diff): its first kernel unless told otherwise
  const first = opts.profile === undefined ? s.kernel.profiles?.[0] : undefined;
  const profile = opts.profile ?? s.kernel.profile ?? first?.profile ?? 'in-place';
  const knobs: Partial<Knobs> = { ...first?.knobs };
  if (s.kernel.gmem_in_place_conversion !== undefined)
    knobs.gmem_in_place_conversion = s.kernel.gmem_in_place_conversion;
  if (s.kernel.mmap_min_addr !== undefined) knobs.mmap_min_addr = s.kernel.mmap_min_addr;
  if (s.kernel.tdx_measure_order !== undefined) knobs.tdx_measure_order = s.kernel.tdx_measure_order;
  const safeguards: Record<string, boolean> = {};
  for (const [k, v] of Object.entries(s.kernel.safeguards ?? {})) safeguards[k] = v === 'on';
  for (const [k, v] of Object.entries(opts.set?.safeguards ?? {})) safeguards[k] = v;
  const { safeguards: _ignored, ...rest } = opts.set ?? {};
  Object.assign(knobs, rest);
  if (Object.keys(safeguards).length) knobs.safeguards = safeguards;
  return { profile, knobs };
}

export function runScenario(s: Scenario, host: Host, opts: RunOptions = {}): RunResult {
  const { profile, knobs } = effectiveConfig(s, opts);
  const hostConfig = opts.host ?? (s.kernel.host ? HostPresets[s.kernel.host] : undefined);
  const k = host.createKernel(profile, knobs, hostConfig);
  const handles = new Map<string, bigint>([
    ['kvm', BigInt(KVM_FD)],
    ['sev', BigInt(SEV_FD)],
  ]);
  const results: StepResult[] = [];
  const checkInv =
    Object.values(k.knobs.safeguards).some((on) => !on) ||
    s.steps.some((st) => expectationsOf(st).some((e) => e.violates !== undefined));
  let expectations = 0;
  let failed = 0;
  const tracker = opts.trace ? new PageMapTracker() : undefined;
  const notBound = new Set<string>();
  for (const step of s.steps) {
    // a step for other kernels is not run, and neither is one that needs a handle only such a step
    // binds (a file run under a kernel it does not list: --profile)
    if (!runsUnder(step, profile, k.knobs) || usesAny(step.args, notBound)) {
      if (step.as && !handles.has(step.as)) notBound.add(step.as);
      continue;
    }
    const expect = expectFor(step, profile, k.knobs);
    const op = lowerStep(step, handles, s);
    const inject = step.inject ? lowerInject(step.inject) : {};
    // as_process: the step runs in a forked process (its pid is the handle's value, 1000 + index)
    if (step.as_process !== undefined) {
      const pid = Number(handles.get(step.as_process) ?? 1000n) - 1000;
      k.current = pid >= 0 && pid < k.procs.length ? pid : 0;
    }
    const outcome = k.step(op, inject);
    k.current = 0;
    const violations = checkInv ? checkInvariants(k) : [];
    const r: StepResult = { step, op, outcome, violations, checks: [], ok: true };
    if (opts.trace) {
      r.changes = tracker!.step(k);
      const launch: Record<string, Record<string, unknown>> = {};
      for (const vm of k.vms) {
        const d = k.arch(vm)?.describe?.(vm);
        if (d) launch[vm.id] = d;
      }
      r.launch = launch;
    }
    if (step.as) {
      notBound.delete(step.as);
      const value = outcome.ret >= 0n ? outcome.ret : U64(-1n);
      handles.set(step.as, value);
      r.bound = { name: step.as, value };
    }
    if (expect) {
      r.expect = expect;
      r.checks = checkExpect(expect, outcome, op, handles, s, host);
      if (expect.violates !== undefined) {
        const v = violations.find((x) => x.invariant === expect.violates);
        r.checks.push({
          what: 'invariant',
          expected: `${expect.violates} broken`,
          actual: v
            ? `${v.invariant} broken`
            : violations.length
              ? violations.map((x) => `${x.invariant} broken`).join(', ')
              : 'all invariants hold',
          ok: v !== undefined,
        });
      }
      expectations++;
      r.ok = r.checks.every((c) => c.ok);
      if (!r.ok) failed++;
    }
    results.push(r);
    opts.onStep?.(results.length, s.steps.length, k);
  }
  return { scenario: s, profile, knobs: k.knobs, steps: results, expectations, failed, ok: failed === 0, kernel: k };
}

export const hex = (v: bigint): string => (v < 10n && v >= 0n ? v.toString() : `0x${v.toString(16)}`);

function describeOutcome(o: Outcome): string {
  if (o.signal) return o.signal;
  if (o.errno) return `errno ${o.errno}`;
  return `ret ${o.ret < 0n ? o.ret.toString() : hex(o.ret)}`;
}

/** SEV firmware error names: the core's table (src/core/snp/psp.ts FwError). */
export const SevFwError: Readonly<Record<string, number>> = FwError;

/**
 * The value userspace sees in a struct field after the call: what the kernel wrote back, or else
 * what the caller had put there (the field is unchanged).
 */
function afterCall(o: Outcome, op: Op, field: string): bigint | undefined {
  const wrote = o.out.data?.[field];
  if (wrote !== undefined) return wrote;
  const input = op as unknown as Record<string, unknown>;
  if (op.op === 'KVM_MEMORY_ENCRYPT_OP' && typeof op.data === 'object') {
    const v = (op.data as Record<string, unknown>)[field];
    if (typeof v === 'bigint') return v;
  }
  const v = input[field];
  return typeof v === 'bigint' && field !== 'fd' ? v : undefined;
}

function checkExpect(e: Expect, o: Outcome, op: Op, handles: Map<string, bigint>, s: Scenario, host: Host): Check[] {
  const checks: Check[] = [];
  const add = (what: string, expected: string, actual: string) =>
    checks.push({ what, expected, actual, ok: expected === actual });
  const actual = describeOutcome(o);
  if (e.ok) checks.push({ what: 'result', expected: 'success', actual, ok: !o.errno && !o.signal && o.ret >= 0n });
  if (e.ret !== undefined)
    add('ret', `ret ${hex(evalExpr(e.ret, handles))}`, o.errno || o.signal ? actual : `ret ${hex(U64(o.ret))}`);
  if (e.errno !== undefined) add('errno', `errno ${e.errno}`, actual);
  if (e.signal !== undefined) add('signal', e.signal, o.signal ?? actual);
  if (e.rule !== undefined) add('rule', e.rule, o.rule.id);
  if (e.data) {
    for (const [field, x] of Object.entries(e.data)) {
      const want = Array.isArray(x) ? x.map(hex).join(',') : hex(evalExpr(x as Expr, handles));
      const got = afterCall(o, op, field);
      add(`data.${field}`, want, got === undefined ? '(no such field)' : hex(got));
    }
  }
  const field = (name: 'hw_error' | 'error_offset' | 'st_size' | 'st_blksize', want: bigint | undefined) => {
    if (want === undefined) return;
    // struct fields keep the caller's value unless written back; fstat fields exist only on success
    const input = (op as unknown as Record<string, unknown>)[name];
    const got = o.out[name] ?? (typeof input === 'bigint' ? input : undefined);
    add(name, hex(want), got === undefined ? '(not returned)' : hex(got));
  };
  field('hw_error', e.hw_error);
  field('error_offset', e.error_offset);
  field('st_size', e.st_size);
  field('st_blksize', e.st_blksize);
  if (e.error !== undefined) {
    const want =
      typeof e.error === 'bigint'
        ? e.error
        : SevFwError[e.error] !== undefined
          ? BigInt(SevFwError[e.error]!)
          : undefined;
    const got = o.out.error ?? (op.op === 'KVM_MEMORY_ENCRYPT_OP' ? op.error : undefined);
    const gotS = got === undefined ? '(not returned)' : hex(got);
    if (want === undefined) add('error', `unknown firmware error ${e.error}`, gotS);
    else add('error', hex(want), gotS);
  }
  if (e.exit !== undefined) {
    const x = o.out.exit;
    add('exit.reason', exitName(e.exit.reason), exitName(x ? BigInt(x.reason) : 0n));
    if (e.exit.flags !== undefined)
      add('exit.flags', hex(e.exit.flags), x?.flags === undefined ? '(none)' : hex(x.flags));
    if (e.exit.gpa !== undefined)
      add('exit.gpa', hex(evalExpr(e.exit.gpa, handles)), x?.gpa === undefined ? '(none)' : hex(x.gpa));
    if (e.exit.size !== undefined) add('exit.size', hex(e.exit.size), x?.size === undefined ? '(none)' : hex(x.size));
    if (e.exit.nr !== undefined) add('exit.nr', hex(e.exit.nr), x?.nr === undefined ? '(none)' : hex(x.nr));
    if (e.exit.args !== undefined) {
      const got = (x?.args ?? []).slice(0, e.exit.args.length);
      add('exit.args', e.exit.args.map(hex).join(','), got.map(hex).join(',') || '(none)');
    }
    if (e.exit.ret !== undefined) add('exit.ret', hex(e.exit.ret), x?.ret === undefined ? '(none)' : hex(x.ret));
  }
  if (e.guest !== undefined) add('guest', e.guest, o.out.guest ?? '(nothing)');
  if (e.read !== undefined) {
    const got = o.out.bytes;
    const b = e.read as DataExpr;
    if (!got) add('read', describeData(b), `(nothing read: ${actual})`);
    else {
      const d = b.form === 'sha256' || b.form === 'sha384' ? undefined : dataBytes(b, s);
      const want = d ? (d.kind === 'bytes' ? d.bytes : new Uint8Array(Number(d.length)).fill(d.byte)) : undefined;
      const eq = want
        ? want.length === got.length && want.every((v, i) => v === got[i])
        : (b.form === 'sha256' ? host.sha256(got) : host.sha384(got)) ===
          (b.form === 'sha256' ? b.sha256 : b.form === 'sha384' ? b.sha384 : '');
      checks.push({
        what: 'read',
        expected: describeData(b),
        actual: eq ? describeData(b) : describeBytes(got),
        ok: eq,
      });
    }
  }
  if (e.mrtd !== undefined) add('mrtd', e.mrtd, o.out.mrtd ?? `(none: ${actual})`);
  if (e.measurement !== undefined) add('measurement', e.measurement, o.out.measurement ?? `(none: ${actual})`);
  if (e.bytes !== undefined) {
    const got = o.out.bytes;
    const b = e.bytes as DataExpr;
    if (!got) add('bytes', describeData(b), `(no bytes: ${actual})`);
    else if (b.form === 'sha256') add('bytes.sha256', b.sha256, host.sha256(got));
    else if (b.form === 'sha384') add('bytes.sha384', b.sha384, host.sha384(got));
    else {
      const d = dataBytes(b, s);
      const want = d.kind === 'bytes' ? d.bytes : new Uint8Array(Number(d.length)).fill(d.byte);
      const eq = want.length === got.length && want.every((x, i) => x === got[i]);
      checks.push({
        what: 'bytes',
        expected: describeData(b),
        actual: eq ? describeData(b) : describeBytes(got),
        ok: eq,
      });
    }
  }
  return checks;
}

/** an exit reason's name (KVM_EXIT_NONE: none) */
export function exitName(v: bigint): string {
  for (const [n, x] of Object.entries(ExitReasonNames)) if (BigInt(x) === v) return n;
  return `exit ${v}`;
}

export function describeData(d: DataExpr): string {
  switch (d.form) {
    case 'fill':
      return `${hex(d.length)} bytes of ${hex(BigInt(d.fill))}`;
    case 'hex':
      return d.hex.length > 32 ? `hex ${d.hex.slice(0, 32)}… (${d.hex.length / 2} bytes)` : `hex ${d.hex}`;
    case 'text':
      return JSON.stringify(d.text);
    case 'file':
      return `file ${d.file}`;
    case 'sha256':
      return `sha256 ${d.sha256}`;
    case 'sha384':
      return `sha384 ${d.sha384}`;
  }
}

export function describeBytes(b: Uint8Array): string {
  if (b.length > 0 && b.every((x) => x === b[0])) return `${hex(BigInt(b.length))} bytes of ${hex(BigInt(b[0]!))}`;
  const h = toHex(b.subarray(0, 16));
  return `${b.length} bytes: ${h}${b.length > 16 ? '…' : ''}`;
}

/** Whether a step's arguments name one of these handles. */
function usesAny(v: unknown, names: Set<string>): boolean {
  if (names.size === 0 || v === null || typeof v !== 'object') return false;
  if (isExpr(v)) return v.k === 'ref' && names.has(v.name);
  return Object.values(v as Record<string, unknown>).some((x) => usesAny(x, names));
}
