/** What one operation returns to userspace, and the rule that decided it. */
import type { ErrnoName } from './errno.ts';
import type { Rule, SignalName } from './rule.ts';

export interface Out {
  /** struct fields the kernel wrote back into the caller's memory */
  data?: Record<string, bigint>;
  hw_error?: bigint;
  error?: bigint;
  error_offset?: bigint;
  /** bytes a load/read returned */
  bytes?: Uint8Array;
  /** some of the bytes are firmware-dependent (not defined by the uAPI) */
  undefinedBytes?: boolean;
  st_size?: bigint;
  st_blksize?: bigint;
  mrtd?: string;
  measurement?: string;
  /** pages a populate call completed, for traces */
  pages?: number;
  /** KVM_RUN (and the guest operations): what it left in struct kvm_run */
  exit?: RunExit;
  /** what the guest itself saw (a TDVMCALL status, a PSC result, #VE): not part of struct kvm_run */
  guest?: string;
}

/** run->exit_reason and the exit's fields (struct kvm_run memory_fault / hypercall) */
export interface RunExit {
  readonly reason: number;
  /** memory_fault.flags (KVM_MEMORY_EXIT_FLAG_*) or hypercall.flags */
  readonly flags?: bigint;
  /** memory_fault.gpa */
  readonly gpa?: bigint;
  /** memory_fault.size */
  readonly size?: bigint;
  /** hypercall.nr */
  readonly nr?: bigint;
  /** hypercall.args[0..2] */
  readonly args?: readonly bigint[];
  /** hypercall.ret as KVM left it (0) */
  readonly ret?: bigint;
}

export interface Outcome {
  /** the syscall's return value: >= 0 on success, -1 on failure (errno set) */
  readonly ret: bigint;
  readonly errno?: ErrnoName;
  readonly signal?: SignalName;
  /** the rule that decided the result */
  readonly rule: Rule;
  /** where a flattened error came from (e.g. SNP's -EIO over a populate -EINVAL) */
  readonly cause?: Rule;
  readonly out: Out;
}

export function ok(rule: Rule, ret: bigint | number = 0n, out: Out = {}): Outcome {
  if (rule.errno) throw new Error(`Model invariant violated: success through failure rule ${rule.id}`);
  return { ret: BigInt(ret), rule, out };
}

export function fail(rule: Rule, out: Out = {}, cause?: Rule): Outcome {
  if (!rule.errno) throw new Error(`Model invariant violated: failure through rule ${rule.id} without errno`);
  return cause ? { ret: -1n, errno: rule.errno, rule, cause, out } : { ret: -1n, errno: rule.errno, rule, out };
}

export function signal(rule: Rule, out: Out = {}): Outcome {
  if (!rule.signal) throw new Error(`Model invariant violated: signal through rule ${rule.id}`);
  return { ret: -1n, signal: rule.signal, rule, out };
}

/** A kernel-internal result: a value, or the rule of the error (with errno). */
export type KResult<T> = { ok: true; value: T } | { ok: false; rule: Rule; cause?: Rule };
export const kok = <T>(value: T): KResult<T> => ({ ok: true, value });
/** the success of an internal step that returns nothing (shared: hot per-page paths) */
export const KOK: KResult<void> = Object.freeze({ ok: true, value: undefined });
export const kerr = <T>(rule: Rule, cause?: Rule): KResult<T> =>
  cause ? { ok: false, rule, cause } : { ok: false, rule };
