import { checkInvariants, type Violation } from '../core/invariants.ts';
import type { Kernel } from '../core/kernel.ts';
import { KVM_FD, SEV_FD } from '../core/kernel.ts';
import type { CpuidEntry, Data, Inject, Op, StructValue } from '../core/ops.ts';
import type { Outcome } from '../core/outcome.ts';
import { diffRuns, type Run, type Snapshot, snapshot } from '../core/pagemap.ts';
import type { Knobs, ProfileName } from '../core/profiles.ts';
import { fromHex, toHex } from '../util/hex.ts';
import type { Scenario, Step } from './load.ts';
import type { CpuidEntryExpr, CpuidStruct, DataExpr, Expect, Expr, StructExpr, Value } from './schema.ts';

export interface Host {
  createKernel(profile: ProfileName, knobs: Partial<Knobs>): Kernel;
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
  /** called after each step with the steps done and the total (progress display) */
  onStep?: (done: number, total: number) => void;
}

const U64 = (v: bigint) => BigInt.asUintN(64, v);

export function effectiveConfig(s: Scenario, opts: RunOptions): { profile: ProfileName; knobs: Partial<Knobs> } {
  const profile = opts.profile ?? s.kernel.profile ?? 'in-place';
  const knobs: Partial<Knobs> = {};
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
  const k = host.createKernel(profile, knobs);
  const handles = new Map<string, bigint>([
    ['kvm', BigInt(KVM_FD)],
    ['sev', BigInt(SEV_FD)],
  ]);
  const results: StepResult[] = [];
  const checkInv =
    Object.values(k.knobs.safeguards).some((on) => !on) || s.steps.some((st) => st.expect?.violates !== undefined);
  let expectations = 0;
  let failed = 0;
  let prev: Snapshot | undefined;
  for (const step of s.steps) {
    const op = toOp(step, handles, s);
    const inject: Inject = {};
    if (step.inject) {
      if (step.inject.signal_after_pages !== undefined) inject.signal_after_pages = step.inject.signal_after_pages;
      if (step.inject.tdx_busy_at_page !== undefined) inject.tdx_busy_at_page = step.inject.tdx_busy_at_page;
      if (step.inject.snp_fw_error_at_page) inject.snp_fw_error_at_page = step.inject.snp_fw_error_at_page;
      if (step.inject.efault) inject.efault = step.inject.efault;
      if (step.inject.vcpu_creation_in_progress) inject.vcpu_creation_in_progress = true;
      if (step.inject.snp_digest_seed) inject.snp_digest_seed = fromHex(step.inject.snp_digest_seed);
    }
    const outcome = k.step(op, inject);
    const violations = checkInv ? checkInvariants(k) : [];
    const r: StepResult = { step, op, outcome, violations, checks: [], ok: true };
    if (opts.trace) {
      const snap = snapshot(k);
      const files: Record<string, Run[]> = {};
      const gpa: Record<string, Run[]> = {};
      for (const [id, f] of snap.files) {
        const d = diffRuns(prev?.files.get(id)?.runs, f.runs);
        if (d.length) files[id] = d;
      }
      for (const [id, g] of snap.gpa) {
        const d = diffRuns(prev?.gpa.get(id)?.runs, g.runs);
        if (d.length) gpa[id] = d;
      }
      r.changes = { files, gpa };
      const launch: Record<string, Record<string, unknown>> = {};
      for (const vm of k.vms) {
        const d = k.arch(vm)?.describe?.(vm);
        if (d) launch[vm.id] = d;
      }
      r.launch = launch;
      prev = snap;
    }
    if (step.as) {
      const value = outcome.ret >= 0n ? outcome.ret : U64(-1n);
      handles.set(step.as, value);
      r.bound = { name: step.as, value };
    }
    if (step.expect) {
      r.checks = checkExpect(step.expect, outcome, op, handles, s, host);
      if (step.expect.violates !== undefined) {
        const v = violations.find((x) => x.invariant === step.expect!.violates);
        r.checks.push({
          what: 'invariant',
          expected: `${step.expect.violates} broken`,
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
    opts.onStep?.(results.length, s.steps.length);
  }
  return { scenario: s, profile, knobs: k.knobs, steps: results, expectations, failed, ok: failed === 0, kernel: k };
}

function evalExpr(e: Expr, handles: Map<string, bigint>): bigint {
  if (e.k === 'int') return e.v;
  const base = handles.get(e.name);
  if (base === undefined) throw new Error(`Model invariant violated: unbound handle ${e.name}`);
  return U64(base + e.off);
}

function isExpr(v: unknown): v is Expr {
  return typeof v === 'object' && v !== null && 'k' in v;
}

function val(v: Value | undefined, handles: Map<string, bigint>, dflt = 0n): bigint {
  if (v === undefined) return dflt;
  if (typeof v === 'bigint') return v;
  if (isExpr(v)) return evalExpr(v, handles);
  throw new Error('Model invariant violated: expected a scalar value');
}

export function dataBytes(d: DataExpr, s: Scenario): Data {
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

function cpuidEntries(list: CpuidEntryExpr[]): CpuidEntry[] {
  return list.map((e) => ({ ...e }));
}

function structValue(v: StructExpr, handles: Map<string, bigint>): StructValue {
  const out: StructValue = {};
  for (const [k, x] of Object.entries(v)) {
    if (typeof x === 'bigint') out[k] = x;
    else if (Array.isArray(x)) out[k] = x as bigint[];
    else if (isExpr(x)) out[k] = evalExpr(x, handles);
    else if ('entries' in x) {
      const c = x as CpuidStruct;
      out[k] = {
        nent: c.nent ?? BigInt(c.entries.length),
        padding: c.padding,
        entries: c.entries.map((e) => ({ ...e })) as unknown as StructValue[],
      } as StructValue;
    }
  }
  return out;
}

/** Resolve a step's arguments into an operation. */
export function toOp(step: Step, handles: Map<string, bigint>, s: Scenario): Op {
  const a = step.args;
  const v = (name: string, dflt = 0n) => val(a[name], handles, dflt);
  const fdv = (name: string, dflt = U64(-1n)) => val(a[name], handles, dflt);
  const data = (name: string): Data =>
    a[name] === undefined ? { kind: 'bytes', bytes: new Uint8Array(0) } : dataBytes(a[name] as DataExpr, s);
  const list = (name: string): bigint[] => (a[name] as bigint[] | undefined) ?? [];
  switch (step.op) {
    case 'KVM_CREATE_VM':
      return { op: step.op, fd: fdv('fd', BigInt(KVM_FD)), type: v('type') };
    case 'KVM_CHECK_EXTENSION':
      return { op: step.op, fd: fdv('fd', BigInt(KVM_FD)), cap: v('cap') };
    case 'KVM_ENABLE_CAP':
      return { op: step.op, fd: fdv('fd'), cap: v('cap'), flags: v('flags'), args: list('args') };
    case 'KVM_CREATE_VCPU':
      return { op: step.op, fd: fdv('fd'), id: v('id') };
    case 'KVM_SET_CPUID2': {
      const raw = a.entries as CpuidEntryExpr[] | CpuidStruct | undefined;
      const entries = raw === undefined ? [] : Array.isArray(raw) ? raw : raw.entries;
      return { op: step.op, fd: fdv('fd'), entries: cpuidEntries(entries), nent: v('nent', BigInt(entries.length)) };
    }
    case 'KVM_CREATE_GUEST_MEMFD':
      return { op: step.op, fd: fdv('fd'), size: v('size'), flags: v('flags') };
    case 'KVM_SET_USER_MEMORY_REGION':
    case 'KVM_SET_USER_MEMORY_REGION2':
      return {
        op: step.op,
        fd: fdv('fd'),
        slot: v('slot'),
        flags: v('flags'),
        guest_phys_addr: v('guest_phys_addr'),
        memory_size: v('memory_size'),
        userspace_addr: v('userspace_addr'),
        guest_memfd: v('guest_memfd'),
        guest_memfd_offset: v('guest_memfd_offset'),
      };
    case 'KVM_SET_MEMORY_ATTRIBUTES':
      return {
        op: step.op,
        fd: fdv('fd'),
        address: v('address'),
        size: v('size'),
        attributes: v('attributes'),
        flags: v('flags'),
      };
    case 'KVM_SET_MEMORY_ATTRIBUTES2':
      return {
        op: step.op,
        fd: fdv('fd'),
        offset: v('offset'),
        size: v('size'),
        attributes: v('attributes'),
        flags: v('flags'),
        reserved: list('reserved'),
        error_offset: v('error_offset'),
      };
    case 'KVM_MEMORY_ENCRYPT_OP': {
      const d = a.data;
      const dataVal: bigint | StructValue =
        d === undefined ? {} : typeof d === 'bigint' ? d : structValue(d as StructExpr, handles);
      return {
        op: step.op,
        fd: fdv('fd'),
        id: v('id'),
        flags: v('flags'),
        data: dataVal,
        hw_error: v('hw_error'),
        error: v('error'),
        sev_fd: fdv('sev_fd', BigInt(SEV_FD)),
      };
    }
    case 'KVM_RUN':
      return { op: step.op, fd: fdv('fd') };
    case 'KVM_PRE_FAULT_MEMORY':
      return { op: step.op, fd: fdv('fd'), gpa: v('gpa'), size: v('size'), flags: v('flags') };
    case 'mmap':
      return {
        op: step.op,
        addr: v('addr'),
        length: v('length'),
        prot: v('prot'),
        flags: v('flags'),
        fd: fdv('fd'),
        offset: v('offset'),
      };
    case 'munmap':
    case 'load':
    case 'pin':
    case 'unpin':
      return { op: step.op, addr: v('addr'), length: v('length') };
    case 'store':
      return { op: step.op, addr: v('addr'), data: data('data') };
    case 'read':
    case 'pread':
      return { op: step.op, fd: fdv('fd'), length: v('length'), offset: v('offset') };
    case 'write':
    case 'pwrite':
      return { op: step.op, fd: fdv('fd'), data: data('data'), offset: v('offset') };
    case 'fallocate':
      return { op: step.op, fd: fdv('fd'), mode: v('mode'), offset: v('offset'), len: v('len') };
    case 'ftruncate':
      return { op: step.op, fd: fdv('fd'), length: v('length') };
    case 'madvise':
      return { op: step.op, addr: v('addr'), length: v('length'), advice: v('advice') };
    case 'fstat':
    case 'close':
    case 'attest':
      return { op: step.op, fd: fdv('fd') };
    case 'set_vcpu_reset':
      return { op: step.op, fd: fdv('fd'), vmm_type: v('vmm_type'), eip: v('eip', 0xfffffff0n) };
  }
}

export const hex = (v: bigint): string => (v < 10n && v >= 0n ? v.toString() : `0x${v.toString(16)}`);

function describeOutcome(o: Outcome): string {
  if (o.signal) return o.signal;
  if (o.errno) return `errno ${o.errno}`;
  return `ret ${o.ret < 0n ? o.ret.toString() : hex(o.ret)}`;
}

/** SEV firmware error names (SEV API, "Status codes"). */
export const SevFwError: Record<string, number> = {
  SUCCESS: 0x0,
  INVALID_PLATFORM_STATE: 0x1,
  INVALID_GUEST_STATE: 0x2,
  INVALID_CONFIG: 0x3,
  INVALID_LENGTH: 0x4,
  ALREADY_OWNED: 0x5,
  INVALID_CERTIFICATE: 0x6,
  POLICY_FAILURE: 0x7,
  INACTIVE: 0x8,
  INVALID_ADDRESS: 0x9,
  BAD_SIGNATURE: 0xa,
  BAD_MEASUREMENT: 0xb,
  ASID_OWNED: 0xc,
  INVALID_ASID: 0xd,
  WBINVD_REQUIRED: 0xe,
  DFFLUSH_REQUIRED: 0xf,
  INVALID_GUEST: 0x10,
  INVALID_COMMAND: 0x11,
  ACTIVE: 0x12,
  HWSEV_RET_PLATFORM: 0x13,
  HWSEV_RET_UNSAFE: 0x14,
  UNSUPPORTED: 0x15,
  INVALID_PARAM: 0x16,
  RESOURCE_LIMIT: 0x17,
  SECURE_DATA_INVALID: 0x18,
  INVALID_PAGE_SIZE: 0x19,
  INVALID_PAGE_STATE: 0x1a,
  INVALID_MDATA_ENTRY: 0x1b,
  INVALID_PAGE_OWNER: 0x1c,
  AEAD_OFLOW: 0x1d,
  RMP_INIT_REQUIRED: 0x20,
  BAD_SVN: 0x21,
  BAD_VERSION: 0x22,
  SHUTDOWN_REQUIRED: 0x23,
  UPDATE_FAILED: 0x24,
  RESTORE_REQUIRED: 0x25,
  RMP_INITIALIZATION_FAILED: 0x26,
  INVALID_KEY: 0x27,
};

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
