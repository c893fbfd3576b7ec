/**
 * Build a scenario in memory, as loadScenario would return it from a file (values as in schema.ts:
 * bigint, Expr, DataExpr), for generators such as the measure commands: they run the steps directly
 * and write them out (emit.ts) only when asked, so no YAML parser or schema validation is involved.
 * Steps built here have line 0: they come from no file.
 */
import type { KernelSection, Scenario, Step } from './load.ts';
import type { CpuidEntryExpr, DataExpr, Expect, Expr, InjectSpec, Value } from './schema.ts';
import type { ScenarioOpName } from './spec.ts';

/** an integer operand */
export const int = (v: bigint | number): Expr => ({ k: 'int', v: BigInt(v) });
/** a handle, optionally plus an offset: NAME, NAME+OFF */
export const ref = (name: string, off: bigint | number = 0n): Expr => ({ k: 'ref', name, off: BigInt(off) });
/** `{ file, offset, length }` data: bytes of a file named relative to the scenario */
export const fileData = (file: string, offset: bigint | number, length?: bigint | number): DataExpr => ({
  form: 'file',
  file,
  offset: BigInt(offset),
  length: length === undefined ? undefined : BigInt(length),
});
/** `{ hex: ... }` data */
export const hexData = (hex: string): DataExpr => ({ form: 'hex', hex });
/** a kvm_cpuid_entry2, the fields not given 0 (build.ts must not load zod: measure runs without it) */
export const cpuidEntry = (e: Partial<CpuidEntryExpr>): CpuidEntryExpr => ({
  function: e.function ?? 0n,
  index: e.index ?? 0n,
  flags: e.flags ?? 0n,
  eax: e.eax ?? 0n,
  ebx: e.ebx ?? 0n,
  ecx: e.ecx ?? 0n,
  edx: e.edx ?? 0n,
});
/** `expect: ok` */
export const expectOk = (): Expect => ({ ok: true });

export interface StepMeta {
  as?: string;
  expect?: Expect;
  inject?: InjectSpec;
  note?: string;
  as_process?: string;
}

/** Steps in order, with the comment lines an emitted file puts before them. */
export class ScenarioBuilder {
  readonly steps: Step[] = [];
  /** comment lines before a step, by step index (emit.ts EmitOptions.comments) */
  readonly comments = new Map<number, string[]>();
  private pending: string[] = [];

  /** a comment line before the next step */
  comment(text: string): void {
    this.pending.push(text);
  }

  /** append a step; returns its index */
  add(op: ScenarioOpName, args: Record<string, Value>, meta: StepMeta = {}): number {
    const index = this.steps.length;
    const step: Step = { index, line: 0, op, args };
    if (meta.as !== undefined) step.as = meta.as;
    if (meta.expect !== undefined) step.expect = meta.expect;
    if (meta.inject !== undefined) step.inject = meta.inject;
    if (meta.note !== undefined) step.note = meta.note;
    if (meta.as_process !== undefined) step.as_process = meta.as_process;
    if (this.pending.length) {
      this.comments.set(index, this.pending);
      this.pending = [];
    }
    this.steps.push(step);
    return index;
  }

  /** the index of the last step added */
  get last(): number {
    return this.steps.length - 1;
  }

  scenario(s: {
    file: string;
    name: string;
    description?: string;
    kernel: KernelSection;
    files: Map<string, Uint8Array>;
  }): Scenario {
    const out: Scenario = { file: s.file, name: s.name, kernel: s.kernel, steps: this.steps, files: s.files };
    if (s.description !== undefined) out.description = s.description;
    return out;
  }
}
