/**
 * `gmemsim run --live`: every step of a scenario on the running kernel (through the helper) and in
 * the model, side by side. What cannot run here is skipped with the reason, never guessed.
 *
 * Comparison: handles, fds and addresses (what KVM_CREATE_VM, KVM_CREATE_VCPU,
 * KVM_CREATE_GUEST_MEMFD and mmap return) compare as success or failure; every other return value,
 * the bytes a load or read gives and the struct fields written back compare by value; errno and
 * signals compare exactly.
 */
import { type ErrnoName, errnoByNumber } from '../../core/errno.ts';
import { KVM_FD, SEV_FD } from '../../core/kernel.ts';
import { SUPPORTED_VM_TYPES } from '../../core/kvm/vm.ts';
import { type Data, dataLength, type Op } from '../../core/ops.ts';
import type { Outcome } from '../../core/outcome.ts';
import { FallocFlag, MapFlag, nameOf, VmType } from '../../core/uapi.ts';
import type { Scenario, Step } from '../../scenario/load.ts';
import { lowerStep } from '../../scenario/lower.ts';
import { describeBytes, hex, type RunOptions, runScenario } from '../../scenario/run.ts';
import { nodeHost } from '../host.ts';
import { type Helper, type Reply, replyBytes } from './helper.ts';
import type { HostFile } from './probe.ts';

/** The largest real allocation one step may make here (mmap populate, fallocate, store, load, write). */
export const ALLOC_CAP = 256n << 20n;

export interface Side {
  /** 'ret N', 'errno NAME', or a signal name */
  result: string;
  ok: boolean;
  ret?: bigint;
  errno?: string;
  signal?: string;
  bytes?: Uint8Array;
  fields: Record<string, bigint>;
}

export type Verdict = 'agree' | 'differ' | 'skipped';

export interface LiveStep {
  index: number;
  line: number;
  op: string;
  note?: string;
  model: Side;
  rule: string;
  live?: Side;
  verdict: Verdict;
  /** why the step did not run here */
  reason?: string;
  /** the short kind of the reason, for the summary */
  reasonKind?: string;
  /** what differs, one line each */
  differences: string[];
}

export interface LiveFileResult {
  file: string;
  name: string;
  profile: string;
  steps: LiveStep[];
  agree: number;
  differ: number;
  skipped: number;
}

const U64 = (v: bigint) => BigInt.asUintN(64, v);

/** Ops whose return value is a new handle: compared as success/failure. */
const HANDLE_OPS = new Set(['KVM_CREATE_VM', 'KVM_CREATE_VCPU', 'KVM_CREATE_GUEST_MEMFD', 'mmap']);

const ERRNO_EXTRA: Record<number, string> = {
  3: 'ESRCH',
  6: 'ENXIO',
  8: 'ENOEXEC',
  10: 'ECHILD',
  18: 'EXDEV',
  20: 'ENOTDIR',
  21: 'EISDIR',
  23: 'ENFILE',
  26: 'ETXTBSY',
  30: 'EROFS',
  32: 'EPIPE',
  38: 'ENOSYS',
  75: 'EOVERFLOW',
};
export const errnoName = (n: number): string => errnoByNumber(n) ?? ERRNO_EXTRA[n] ?? `errno#${n}`;

const fmtSize = (n: bigint): string =>
  n >= 1n << 30n ? `${Number(n >> 20n) / 1024} GiB` : n >= 1n << 20n ? `${Number(n >> 10n) / 1024} MiB` : `${n} bytes`;

function modelSide(o: Outcome, op: Op): Side {
  const s: Side = {
    result: o.signal ?? (o.errno ? `errno ${o.errno}` : `ret ${hex(o.ret)}`),
    ok: !o.errno && !o.signal && o.ret >= 0n,
    ret: o.ret,
    fields: {},
  };
  if (o.errno) s.errno = o.errno as ErrnoName;
  if (o.signal) s.signal = o.signal;
  if (o.out.bytes) s.bytes = o.out.bytes;
  if (o.out.st_size !== undefined) s.fields.st_size = o.out.st_size;
  if (o.out.st_blksize !== undefined) s.fields.st_blksize = o.out.st_blksize;
  if (op.op === 'KVM_PRE_FAULT_MEMORY') {
    s.fields.gpa = o.out.data?.gpa ?? op.gpa;
    s.fields.size = o.out.data?.size ?? op.size;
  }
  if (op.op === 'KVM_SET_MEMORY_ATTRIBUTES2') s.fields.error_offset = o.out.error_offset ?? op.error_offset;
  return s;
}

function liveSide(r: Reply, op: Op): Side {
  const s: Side = {
    result: r.signal ?? (r.errno ? `errno ${errnoName(r.errno)}` : `ret ${hex(r.ret)}`),
    ok: !r.signal && r.errno === 0 && r.ret >= 0n,
    ret: r.ret,
    fields: {},
  };
  if (r.errno) s.errno = errnoName(r.errno);
  if (r.signal) s.signal = r.signal;
  const b = replyBytes(r.fields.bytes);
  if (b) s.bytes = b;
  const num = (k: string) => (r.fields[k] !== undefined ? BigInt(r.fields[k]!) : undefined);
  const copy = (k: string, as = k) => {
    const v = num(k);
    if (v !== undefined) s.fields[as] = v;
  };
  if (op.op === 'fstat') {
    copy('st_size');
    copy('st_blksize');
  }
  if (op.op === 'KVM_PRE_FAULT_MEMORY') {
    copy('gpa');
    copy('size');
  }
  if (op.op === 'KVM_SET_MEMORY_ATTRIBUTES2') copy('error_offset');
  return s;
}

const bytesEqual = (a: Uint8Array, b: Uint8Array) => a.length === b.length && a.every((x, i) => x === b[i]);

export function compareSides(op: Op, m: Side, l: Side): string[] {
  const d: string[] = [];
  if (m.signal || l.signal || m.errno || l.errno) {
    if (m.result !== l.result) d.push(`result: model ${m.result}, live ${l.result}`);
    return d;
  }
  if (HANDLE_OPS.has(op.op)) return d; // both succeeded: a handle, compared as success
  if (m.ret !== l.ret) d.push(`ret: model ${hex(m.ret ?? 0n)}, live ${hex(l.ret ?? 0n)}`);
  if (m.bytes && l.bytes && !bytesEqual(m.bytes, l.bytes))
    d.push(`bytes: model ${describeBytes(m.bytes)}, live ${describeBytes(l.bytes)}`);
  else if (Boolean(m.bytes) !== Boolean(l.bytes))
    d.push(`bytes: model ${m.bytes ? 'some' : 'none'}, live ${l.bytes ? 'some' : 'none'}`);
  for (const k of new Set([...Object.keys(m.fields), ...Object.keys(l.fields)])) {
    const a = m.fields[k];
    const b = l.fields[k];
    if (a !== b)
      d.push(
        `${k}: model ${a === undefined ? '(none)' : `0x${a.toString(16)}`}, live ${b === undefined ? '(none)' : `0x${b.toString(16)}`}`,
      );
  }
  return d;
}

function encodeData(d: Data): string {
  if (d.kind === 'fill') return `f:${d.byte}:${d.length}`;
  return `h:${Buffer.from(d.bytes).toString('hex')}`;
}

type Encoded = { req: string } | { skip: string; kind: string };

/** The helper request for an op, or why it cannot run on this host. */
export function encode(op: Op, host: HostFile): Encoded {
  const big = (n: bigint, what: string): Encoded | undefined =>
    n > ALLOC_CAP
      ? {
          skip: `not runnable here: ${what} would allocate ${fmtSize(n)} (cap ${fmtSize(ALLOC_CAP)})`,
          kind: 'huge allocation',
        }
      : undefined;
  switch (op.op) {
    case 'KVM_CREATE_VM': {
      const t = op.type;
      const modelKnows = t < 32n && ((SUPPORTED_VM_TYPES >> Number(t)) & 1) === 1;
      if (modelKnows && ((host.vm_types.mask >> Number(t)) & 1) === 0)
        return {
          skip: `VM type ${nameOf(VmType, t) ?? t} is not offered by this host (KVM_CAP_VM_TYPES 0x${host.vm_types.mask.toString(16)})`,
          kind: `VM type ${nameOf(VmType, t) ?? t} not offered`,
        };
      return { req: `create_vm ${op.fd} ${t}` };
    }
    case 'KVM_GET_API_VERSION':
      return { req: `api_version ${op.fd} ${op.arg}` };
    case 'KVM_CHECK_EXTENSION':
      return { req: `check_extension ${op.fd} ${op.cap}` };
    case 'KVM_ENABLE_CAP': {
      const a = [0, 1, 2, 3].map((i) => op.args[i] ?? 0n);
      return { req: `enable_cap ${op.fd} ${op.cap} ${op.flags} ${a.join(' ')}` };
    }
    case 'KVM_CREATE_VCPU':
      return { req: `create_vcpu ${op.fd} ${op.id}` };
    case 'KVM_SET_CPUID2': {
      if (op.entries.length > 256) return { skip: 'more than 256 CPUID entries', kind: 'too many CPUID entries' };
      const es = op.entries.map((e) => [e.function, e.index, e.flags, e.eax, e.ebx, e.ecx, e.edx].join(' '));
      return { req: `set_cpuid2 ${op.fd} ${op.nent} ${op.entries.length} ${es.join(' ')}`.trimEnd() };
    }
    case 'KVM_CREATE_GUEST_MEMFD':
      return { req: `create_guest_memfd ${op.fd} ${op.size} ${op.flags}` };
    case 'KVM_SET_USER_MEMORY_REGION':
      return {
        req: `set_region ${op.fd} ${op.slot} ${op.flags} ${op.guest_phys_addr} ${op.memory_size} ${op.userspace_addr}`,
      };
    case 'KVM_SET_USER_MEMORY_REGION2':
      return {
        req: `set_region2 ${op.fd} ${op.slot} ${op.flags} ${op.guest_phys_addr} ${op.memory_size} ${op.userspace_addr} ${op.guest_memfd} ${op.guest_memfd_offset}`,
      };
    case 'KVM_SET_MEMORY_ATTRIBUTES':
      return { req: `set_attributes ${op.fd} ${op.address} ${op.size} ${op.attributes} ${op.flags}` };
    case 'KVM_SET_MEMORY_ATTRIBUTES2': {
      const r = Array.from({ length: 11 }, (_, i) => op.reserved[i] ?? 0n);
      return {
        req: `set_attributes2 ${op.fd} ${op.offset} ${op.size} ${op.attributes} ${op.flags} ${op.error_offset} ${r.join(' ')}`,
      };
    }
    case 'KVM_MEMORY_ENCRYPT_OP': {
      const data = op.data;
      if (typeof data === 'object' && Object.values(data).some((v) => v !== 0n))
        return {
          skip: 'the TDX/SEV sub-command struct is not encoded by the live runner (TDX/SNP-only ioctl)',
          kind: 'TDX/SNP sub-command struct',
        };
      // an all-zero struct is a pointer to zeroed memory (the helper's `zbuf`), as in the model
      const d = typeof data === 'bigint' ? data.toString() : 'zbuf';
      return { req: `encrypt_op ${op.fd} ${op.id} ${op.flags} ${d} ${op.hw_error} ${op.error} ${op.sev_fd}` };
    }
    case 'KVM_RUN':
      return { skip: 'KVM_RUN would run guest code (the live runner sets up no guest)', kind: 'KVM_RUN' };
    case 'KVM_PRE_FAULT_MEMORY':
      return { req: `pre_fault ${op.fd} ${op.gpa} ${op.size} ${op.flags}` };
    case 'mmap':
      if (op.flags & MapFlag.MAP_POPULATE) {
        const b = big(op.length, 'mmap(MAP_POPULATE)');
        if (b) return b;
      }
      return { req: `mmap ${op.addr} ${op.length} ${op.prot} ${op.flags} ${op.fd} ${op.offset}` };
    case 'munmap':
      return { req: `munmap ${op.addr} ${op.length}` };
    case 'madvise':
      return { req: `madvise ${op.addr} ${op.length} ${op.advice}` };
    case 'store':
      return big(dataLength(op.data), 'the store') ?? { req: `store ${op.addr} ${encodeData(op.data)}` };
    case 'load':
      return big(op.length, 'the load') ?? { req: `load ${op.addr} ${op.length}` };
    case 'read':
    case 'pread':
      return big(op.length, op.op) ?? { req: `${op.op} ${op.fd} ${op.length} ${op.op === 'pread' ? op.offset : 0n}` };
    case 'write':
    case 'pwrite':
      return (
        big(dataLength(op.data), op.op) ?? {
          req: `${op.op} ${op.fd} ${op.op === 'pwrite' ? op.offset : 0n} ${encodeData(op.data)}`,
        }
      );
    case 'fallocate': {
      const allocating = (op.mode & (FallocFlag.FALLOC_FL_PUNCH_HOLE | FallocFlag.FALLOC_FL_COLLAPSE_RANGE)) === 0n;
      if (allocating) {
        const b = big(op.len, 'fallocate');
        if (b) return b;
      }
      return { req: `fallocate ${op.fd} ${op.mode} ${op.offset} ${op.len}` };
    }
    case 'ftruncate':
      return { req: `ftruncate ${op.fd} ${op.length}` };
    case 'fstat':
      return { req: `fstat ${op.fd}` };
    case 'close':
      return { req: `close ${op.fd}` };
    case 'pin':
    case 'unpin':
      return {
        skip: `${op.op}: no system call takes or drops a page reference (the model's stand-in for a kernel GUP pin)`,
        kind: 'pin/unpin',
      };
    case 'attest':
      return { skip: 'attest reads a TDX/SNP launch measurement (TDX/SNP only)', kind: 'attest' };
    case 'set_vcpu_reset':
      return { skip: 'set_vcpu_reset is a gmemsim summary of a VMM vCPU reset, not one call', kind: 'set_vcpu_reset' };
    case 'guest_access':
    case 'guest_map_gpa':
    case 'guest_accept':
      return {
        skip: `${op.op} is a guest action: it needs guest code (the live runner sets up no guest)`,
        kind: 'KVM_RUN',
      };
    case 'fork':
      return { skip: 'fork: the live helper is one process (a VM belongs to the process that made it)', kind: 'fork' };
  }
}

/** Ops that create or close an fd: skipped or answered differently, the fd numbers part ways. */
const FD_OPS = new Set(['KVM_CREATE_VM', 'KVM_CREATE_VCPU', 'KVM_CREATE_GUEST_MEMFD', 'close']);

/** An fd argument given as a number (not a handle) that may name a scenario's own fd (>= 5). */
function literalFd(args: Record<string, unknown>): bigint | undefined {
  for (const k of ['fd', 'guest_memfd', 'sev_fd']) {
    const v = args[k] as { k?: string; v?: bigint } | undefined;
    if (v?.k === 'int' && v.v !== undefined && v.v >= 5n && v.v < 1n << 20n) return v.v;
  }
  return undefined;
}

/** Handle names a step's arguments refer to. */
function refsOf(v: unknown, out: Set<string>): Set<string> {
  if (Array.isArray(v)) for (const x of v) refsOf(x, out);
  else if (v && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    if (o.k === 'ref' && typeof o.name === 'string') out.add(o.name);
    else for (const x of Object.values(o)) refsOf(x, out);
  }
  return out;
}

/** Run one scenario in the model and on the running kernel (one helper process per scenario). */
export async function runLive(
  s: Scenario,
  host: HostFile,
  start: () => Promise<Helper>,
  opts: RunOptions = {},
): Promise<LiveFileResult> {
  const model = runScenario(s, nodeHost, opts);
  const helper = await start();
  const steps: LiveStep[] = [];
  try {
    if (helper.kvmFd !== BigInt(KVM_FD))
      throw new Error(`kvm-helper opened /dev/kvm as fd ${helper.kvmFd}, not ${KVM_FD}`);
    const handles = new Map<string, bigint>([
      ['kvm', BigInt(KVM_FD)],
      ['sev', BigInt(SEV_FD)],
    ]);
    /** handle → why it has no live value (the step that made it was skipped, or its result differs) */
    const poisoned = new Map<string, string>();
    let dead: string | undefined;
    const confidential = new Map<bigint, bigint>();
    /** the first step after which the live fd numbers may differ from the model's */
    let fdsDiverged: string | undefined;
    // the model's run has the steps this kernel runs (a step with `only:` for others is not among them)
    for (const mr of model.steps) {
      const step = mr.step;
      const m = modelSide(mr.outcome, mr.op);
      const base = {
        index: step.index,
        line: step.line,
        op: step.op,
        ...(step.note ? { note: step.note } : {}),
        model: m,
        rule: mr.outcome.rule.id,
        differences: [] as string[],
      };
      const skip = (reason: string, kind: string): void => {
        steps.push({ ...base, verdict: 'skipped', reason, reasonKind: kind });
        if (!fdsDiverged && FD_OPS.has(step.op)) fdsDiverged = `step ${step.index + 1}`;
        // what the step would have made or changed has no live counterpart from here on
        if (step.as) poisoned.set(step.as, `step ${step.index + 1} was not run`);
        for (const r of refsOf(step.args, new Set()))
          if (!poisoned.has(r) && r !== 'kvm' && r !== 'sev') poisoned.set(r, `step ${step.index + 1} was not run`);
      };
      if (dead) {
        skip(`not runnable here: ${dead}`, 'the KVM helper exited');
        continue;
      }
      const refs = [...refsOf(step.args, new Set())];
      const bad = refs.find((r) => poisoned.has(r));
      if (bad) {
        skip(
          `depends on ${bad}, which has no live value (${poisoned.get(bad)})`,
          'depends on a step not run or differing',
        );
        continue;
      }
      const literal = literalFd(step.args);
      if (literal !== undefined && fdsDiverged) {
        skip(
          `literal fd ${literal}: the live fd numbers differ from the model's since ${fdsDiverged}`,
          'depends on a step not run or differing',
        );
        continue;
      }
      if (step.inject) {
        skip(
          `fault injection (inject: ${Object.keys(step.inject).join(', ')}) has no counterpart on a running kernel`,
          'inject',
        );
        continue;
      }
      const op = lowerStep(step as Step, handles, s);
      if (op.op === 'KVM_MEMORY_ENCRYPT_OP' && (confidential.get(op.fd) ?? 0n) >= BigInt(VmType.KVM_X86_SEV_VM)) {
        skip('KVM_MEMORY_ENCRYPT_OP on a SEV/SNP/TDX VM is a TDX/SNP-only ioctl (not run live)', 'TDX/SNP-only ioctl');
        continue;
      }
      const enc = encode(op, host);
      if ('skip' in enc) {
        skip(enc.skip, enc.kind);
        continue;
      }
      let reply: Reply;
      try {
        reply = await helper.call(enc.req);
      } catch (e) {
        // the helper died (a bug in it, or it was killed): nothing after this can run
        dead = (e as Error).message;
        skip(`not runnable here: ${dead}`, 'the KVM helper exited');
        continue;
      }
      if (reply.refused) {
        skip(`not runnable here: ${reply.refused}`, 'refused by the helper');
        continue;
      }
      const l = liveSide(reply, op);
      if (!fdsDiverged && FD_OPS.has(op.op) && (l.ok !== m.ok || (l.ok && l.ret !== m.ret)))
        fdsDiverged = `step ${step.index + 1}`;
      // the VM type behind each live VM and vCPU fd (TDX/SNP-only ioctls are not run on them)
      if (l.ok && op.op === 'KVM_CREATE_VM') confidential.set(reply.ret, op.type);
      if (l.ok && op.op === 'KVM_CREATE_VCPU') confidential.set(reply.ret, confidential.get(op.fd) ?? 0n);
      if (l.ok && op.op === 'close') confidential.delete(op.fd);
      const differences = compareSides(op, m, l);
      if (step.as) {
        handles.set(step.as, reply.ret >= 0n && !reply.signal ? reply.ret : U64(-1n));
        // a handle that exists on one side only cannot be followed further
        if (HANDLE_OPS.has(op.op) && m.ok !== l.ok)
          poisoned.set(step.as, `step ${step.index + 1} succeeded on one side only`);
      }
      steps.push({ ...base, live: l, verdict: differences.length ? 'differ' : 'agree', differences });
    }
  } finally {
    helper.kill();
  }
  const count = (v: Verdict) => steps.filter((x) => x.verdict === v).length;
  return {
    file: s.file,
    name: s.name,
    profile: model.profile,
    steps,
    agree: count('agree'),
    differ: count('differ'),
    skipped: count('skipped'),
  };
}

/** "N agree, N differ, N not runnable here (why)" */
export function summaryLine(results: LiveFileResult[]): string {
  const agree = results.reduce((a, r) => a + r.agree, 0);
  const differ = results.reduce((a, r) => a + r.differ, 0);
  const kinds = new Map<string, number>();
  for (const r of results)
    for (const st of r.steps)
      if (st.verdict === 'skipped') kinds.set(st.reasonKind!, (kinds.get(st.reasonKind!) ?? 0) + 1);
  const skipped = [...kinds.values()].reduce((a, b) => a + b, 0);
  const why = [...kinds.entries()]
    .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
    .map(([k, n]) => `${k}: ${n}`)
    .join('; ');
  return `${agree} agree, ${differ} differ, ${skipped} not runnable here${skipped ? ` (${why})` : ''}`;
}
