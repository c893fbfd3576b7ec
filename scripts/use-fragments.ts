/**
 * Replace the TDX and SEV-SNP setup preambles of scenario files with an `include:` of the built-in
 * fragment (tdx-td-ready, snp-launch-started) and the parameters that reproduce them. A file is
 * rewritten only when the new text loads as the same steps (operation, arguments, handles,
 * injections, only:), each included step expecting at least what the old one did and keeping its
 * note, and every run of the file still holds with at least as many checks.
 *
 *   node --import tsx scripts/use-fragments.ts FILE...
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { relative } from 'node:path';
import { GuestMemfdFlag } from '../src/core/uapi.ts';
import { nodeFileReader, nodeHost } from '../src/node/host.ts';
import { loadScenario, type Scenario, type Step } from '../src/scenario/load.ts';
import { runAll } from '../src/scenario/runs.ts';
import type { Expect, Expr } from '../src/scenario/schema.ts';
import { selectorText } from '../src/scenario/select.ts';

const root = `${import.meta.dirname}/..`;
const big = (_: string, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v);
const intExpr = (v: unknown): bigint | undefined => {
  const e = v as Expr | null;
  return typeof v === 'object' && e !== null && e.k === 'int' ? e.v : undefined;
};
const isZero = (v: unknown) => v === 0n || intExpr(v) === 0n;
/** arguments as the model reads them: an omitted field is 0 */
const argsKey = (a: Record<string, unknown>) =>
  JSON.stringify(Object.fromEntries(Object.entries(a).filter(([, v]) => !isZero(v))), big);
const int = (v: unknown): bigint | undefined => (typeof v === 'bigint' ? v : intExpr(v));
const hex = (v: bigint) => (v < 10n ? v.toString() : `0x${v.toString(16)}`);
const yamlString = (s: string) => (/^[A-Za-z0-9_][A-Za-z0-9_.-]*$/.test(s) ? s : JSON.stringify(s));

function flagNames(v: bigint): string {
  const names = Object.entries(GuestMemfdFlag)
    .filter(([, b]) => (v & BigInt(b)) !== 0n)
    .map(([n]) => n);
  return `[${names.join(', ')}]`;
}

/** Does the new expectation check at least what the old one did? */
function covers(old: Expect | undefined, neu: Expect | undefined): boolean {
  if (old === undefined) return true;
  if (neu === undefined) return false;
  if (JSON.stringify(old, big) === JSON.stringify(neu, big)) return true;
  // ok is implied by ret 0 (with the written-back error fields on top)
  const o = old as Record<string, unknown>;
  const n = neu as Record<string, unknown>;
  return Object.keys(o).every((k) =>
    k === 'ok' ? n.ok === true || int(n.ret) === 0n : JSON.stringify(o[k], big) === JSON.stringify(n[k], big),
  );
}

interface Plan {
  fragment: string;
  length: number;
  params: [string, string][];
}

function plan(s: Scenario): Plan | undefined {
  const st = s.steps;
  const at = (i: number) => st[i] as Step | undefined;
  const first = at(0);
  if (first?.op !== 'KVM_CREATE_VM') return undefined;
  const type = int(first.args.type);
  const tdx = type === 5n;
  const snp = type === 4n;
  if (!tdx && !snp) return undefined;
  const [vcpuAt, gmemAt, slotAt] = tdx ? [3, 6, 7] : [2, 5, 6];
  const vm = first.as;
  const vcpu = at(vcpuAt)?.as;
  const gmemStep = at(gmemAt);
  const slot = at(slotAt);
  if (
    !vm ||
    !vcpu ||
    gmemStep?.op !== 'KVM_CREATE_GUEST_MEMFD' ||
    !gmemStep.as ||
    slot?.op !== 'KVM_SET_USER_MEMORY_REGION2'
  )
    return undefined;
  const size = int(gmemStep.args.size)!;
  const flags = int(gmemStep.args.flags) ?? 0n;
  const gpa = int(slot.args.guest_phys_addr) ?? 0n;
  const params: [string, string][] = [];
  const dflt = { vm: 'vm', vcpu: 'vcpu0', gmem: 'gmem', gpa: tdx ? 0n : 0x100000n };
  if (vm !== dflt.vm) params.push(['vm', vm]);
  if (vcpu !== dflt.vcpu) params.push(['vcpu', vcpu]);
  if (gmemStep.as !== dflt.gmem) params.push(['gmem', gmemStep.as]);
  if (size !== 0x4000n) params.push(['gmem_size', hex(size)]);
  if (flags !== 0n) params.push(['gmem_flags', flagNames(flags)]);
  if (gpa !== dflt.gpa) params.push(['gpa', hex(gpa)]);
  let length = slotAt + 1;
  const attr = at(length);
  if (attr?.op === 'KVM_SET_MEMORY_ATTRIBUTES' && int(attr.args.address) === gpa) {
    const psize = int(attr.args.size)!;
    if (psize !== size) params.push(['private_size', hex(psize)]);
    if (attr.only) params.push(['private', `[${attr.only.map((o) => yamlString(selectorText(o))).join(', ')}]`]);
    length++;
  } else params.push(['private', 'false']);
  if (snp) {
    const start = at(length);
    if (start?.op !== 'KVM_MEMORY_ENCRYPT_OP' || int(start.args.id) !== 0x64n) return undefined;
    const policy = int((start.args.data as unknown as Record<string, unknown>)?.policy);
    if (policy === undefined) return undefined;
    if (policy !== 0x30000n) params.push(['policy', hex(policy)]);
    length++;
  }
  return { fragment: tdx ? 'tdx-td-ready' : 'snp-launch-started', length, params };
}

function rewrite(file: string): string {
  const text = readFileSync(file, 'utf8');
  const name = relative(root, file);
  const old = loadScenario(name, text, nodeFileReader);
  const p = plan(old);
  if (!p) return 'no preamble';
  const lines = text.split('\n');
  const stepsAt = lines.indexOf('steps:');
  const starts = lines.flatMap((l, i) => (i > stepsAt && l.startsWith('  - ') ? [i] : []));
  if (starts.length !== old.steps.length) return 'step layout not recognised';
  const from = starts[0]!;
  const to = starts[p.length]!;
  if (lines.slice(from, to).some((l) => /^\s*#/.test(l))) return 'comment in the preamble';
  const include = [`  - include: ${p.fragment}`];
  if (p.params.length) include.push(`    with: { ${p.params.map(([k, v]) => `${k}: ${v}`).join(', ')} }`);
  const next = [...lines.slice(0, from), ...include, ...lines.slice(to)].join('\n');
  let neu: Scenario;
  try {
    neu = loadScenario(name, next, nodeFileReader);
  } catch (e) {
    return `new text does not load: ${(e as Error).message}`;
  }
  if (neu.steps.length !== old.steps.length) return 'step count differs';
  for (let i = 0; i < old.steps.length; i++) {
    const a = old.steps[i]!;
    const b = neu.steps[i]!;
    const same =
      a.op === b.op &&
      argsKey(a.args) === argsKey(b.args) &&
      a.as === b.as &&
      JSON.stringify([a.inject, a.only], big) === JSON.stringify([b.inject, b.only], big);
    if (!same) return `step ${i + 1} differs`;
    if (a.expectBy || b.expectBy) {
      if (JSON.stringify(a.expectBy, big) !== JSON.stringify(b.expectBy, big))
        return `step ${i + 1} by_profile differs`;
    } else if (!covers(a.expect, b.expect)) return `step ${i + 1} expects less`;
    if (a.note !== undefined && a.note !== b.note) return `step ${i + 1} note differs`;
  }
  const before = runAll(old, nodeHost);
  const after = runAll(neu, nodeHost);
  for (let r = 0; r < before.length; r++) {
    const x = before[r]!;
    const y = after[r]!;
    const checks = (z: typeof x) => z.steps.reduce((n, s) => n + s.checks.length, 0);
    if (!y.ok || y.expectations < x.expectations || checks(y) < checks(x)) return `run ${r + 1} checks less`;
  }
  writeFileSync(file, next);
  return `${p.fragment} (${p.length} steps${p.params.length ? `, ${p.params.map(([k]) => k).join(', ')}` : ''})`;
}

for (const f of process.argv.slice(2)) process.stdout.write(`${relative(root, f)}: ${rewrite(f)}\n`);
