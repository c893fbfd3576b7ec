/**
 * Fold per-kernel copies of a scenario (FAMILY.PROFILE.yaml, FAMILY.in-place-off.yaml, ...) into one
 * file FAMILY.yaml that runs under each copy's kernel (kernel.profiles): steps common to every copy
 * are written once; a step only some copies make gets `only:`; an expectation that differs gets
 * `by_profile`. The copies' names and descriptions go into the description, so no text is lost.
 * Writes the folded file, checks that each of its runs has the expectations of the copy it
 * replaces (same count and the same checks, step by step), then deletes the copies.
 *
 *   node --import tsx scripts/fold-profile-copies.ts FAMILY.a.yaml FAMILY.b.yaml ... [--out FILE]
 */
import { readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { relative } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { Profiles } from '../src/core/profiles.ts';
import { nodeFileReader, nodeHost } from '../src/node/host.ts';
import { emitScenario } from '../src/scenario/emit.ts';
import { type ExpectByProfile, loadScenario, type Scenario, type Step } from '../src/scenario/load.ts';
import { runScenario } from '../src/scenario/run.ts';
import { runAll } from '../src/scenario/runs.ts';
import type { Expect } from '../src/scenario/schema.ts';
import { parseSelector, type Selector, selectorText } from '../src/scenario/select.ts';

const root = `${import.meta.dirname}/..`;
const args = process.argv.slice(2);
const outAt = args.indexOf('--out');
const out = outAt >= 0 ? args.splice(outAt, 2)[1]! : args[0]!.replace(/\.[^.]+\.yaml$/, '.yaml');
const files = args;

const load = (f: string) => loadScenario(relative(root, f), readFileSync(f, 'utf8'), nodeFileReader);
const copies = files.map(load);

/** the kernel each copy ran under, as a kernel.profiles entry */
function kernelOf(s: Scenario): Selector {
  const k = s.kernel;
  const profile = k.profile ?? 'in-place';
  const knobs: Selector['knobs'] = {};
  if (Profiles[profile].inPlaceSeries) knobs.gmem_in_place_conversion = k.gmem_in_place_conversion ?? true;
  if (k.mmap_min_addr !== undefined) knobs.mmap_min_addr = k.mmap_min_addr;
  if (k.tdx_measure_order !== undefined) knobs.tdx_measure_order = k.tdx_measure_order;
  if (k.safeguards) throw new Error(`${s.file}: safeguards cannot be folded`);
  return { profile, knobs };
}
const kernels = copies.map(kernelOf);
/** the shortest selector naming one copy's run among the family's runs */
const selectors = kernels.map((k) => {
  const bare = { profile: k.profile, knobs: {} };
  const clash = kernels.some((o) => o !== k && o.profile === k.profile);
  const sel = clash ? k : bare;
  const text = selectorText(sel);
  if (typeof parseSelector(text) === 'string') throw new Error(`bad selector ${text}`);
  return text;
});

const big = (_: string, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v);
const signature = (st: Step) =>
  JSON.stringify({ op: st.op, args: st.args, as: st.as, inject: st.inject, only: st.only }, big);

// merge the step lists in order: a step equal (operation, arguments, handle, injection) to one
// already merged, in the same order, is shared; any other step is added where it occurs
interface Merged {
  step: Step;
  sig: string;
  by: Map<number, Step>;
}
let merged: Merged[] = copies[0]!.steps.map((st) => ({ step: st, sig: signature(st), by: new Map([[0, st]]) }));
for (let c = 1; c < copies.length; c++) {
  const steps = copies[c]!.steps;
  const a = merged.map((m) => m.sig);
  const b = steps.map(signature);
  // longest common subsequence
  const L: number[][] = Array.from({ length: a.length + 1 }, () => new Array(b.length + 1).fill(0));
  for (let i = a.length - 1; i >= 0; i--)
    for (let j = b.length - 1; j >= 0; j--)
      L[i]![j] = a[i] === b[j] ? L[i + 1]![j + 1]! + 1 : Math.max(L[i + 1]![j]!, L[i]![j + 1]!);
  const next: Merged[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    if (i < a.length && j < b.length && a[i] === b[j]) {
      merged[i]!.by.set(c, steps[j]!);
      next.push(merged[i]!);
      i++;
      j++;
    } else if (j < b.length && (i >= a.length || L[i]![j + 1]! >= L[i + 1]![j]!)) {
      next.push({ step: steps[j]!, sig: b[j]!, by: new Map([[c, steps[j]!]]) });
      j++;
    } else {
      next.push(merged[i]!);
      i++;
    }
  }
  merged = next;
}

const key = (e: Expect | undefined) => JSON.stringify(e ?? null, big);
const steps: Step[] = merged.map((m, index) => {
  const base = m.step;
  const st: Step = { index, line: 0, op: base.op, args: base.args };
  if (base.as !== undefined) st.as = base.as;
  if (base.inject !== undefined) st.inject = base.inject;
  const members = [...m.by.keys()].sort((x, y) => x - y);
  if (members.length < copies.length) st.only = members.map((c) => parseSelector(selectors[c]!) as Selector);
  // expectation: one when every copy making the step expects the same, else per kernel
  const groups = new Map<string, number[]>();
  for (const c of members) {
    const k = key(m.by.get(c)!.expect);
    groups.set(k, [...(groups.get(k) ?? []), c]);
  }
  if (groups.size === 1) {
    const e = m.by.get(members[0]!)!.expect;
    if (e) st.expect = e;
  } else {
    // the largest group (several copies) becomes default; the others are named
    const sorted = [...groups.entries()].sort((x, y) => y[1].length - x[1].length);
    const [dfltKey, dfltMembers] = sorted[0]!;
    const useDefault = dfltMembers.length > 1 && dfltKey !== 'null';
    const by: ExpectByProfile = { entries: [] };
    for (const c of members) {
      const e = m.by.get(c)!.expect;
      if (useDefault && key(e) === dfltKey) continue;
      if (e === undefined && !useDefault) continue; // no entry, no default: asserts nothing
      by.entries.push({ key: selectors[c]!, sel: parseSelector(selectors[c]!) as Selector, value: e ?? null });
    }
    if (useDefault) by.dflt = { value: m.by.get(dfltMembers[0]!)!.expect! };
    st.expectBy = by;
  }
  const notes = new Map<string, number[]>();
  for (const c of members) {
    const n = m.by.get(c)!.note;
    if (n !== undefined) notes.set(n, [...(notes.get(n) ?? []), c]);
  }
  if (notes.size === 1 && [...notes.values()][0]!.length === members.length) st.note = [...notes.keys()][0]!;
  else if (notes.size)
    st.note = [...notes.entries()].map(([n, cs]) => `[${cs.map((c) => selectors[c]).join(', ')}] ${n}`).join(' | ');
  return st;
});

// name: the part the copies' names share, and the family's file name
const names = copies.map((s) => s.name);
let prefix = names[0]!;
for (const n of names) while (!n.startsWith(prefix)) prefix = prefix.slice(0, -1);
prefix = prefix.replace(/[\s(:-]+\S*$/, '').trim();
const family = out
  .split('/')
  .pop()!
  .replace(/\.yaml$/, '')
  .replace(/^[a-z]+\d+-/, '')
  .replace(/-/g, ' ');
const name = prefix.length > 20 ? `${prefix}, per kernel` : `${prefix ? `${prefix} ` : ''}${family}, per kernel`.trim();
const description = [
  `One file for the ${copies.length} per-kernel copies it replaces (docs/notes/scenario-fold.md); each kernel's own account:`,
  ...copies.flatMap((s, c) => [
    '',
    `[${selectors[c]}] ${s.name}`,
    ...(s.description ?? '')
      .trimEnd()
      .split('\n')
      .map((l) => (l ? `  ${l}` : '')),
  ]),
].join('\n');
const folded: Scenario = {
  file: relative(root, out),
  name,
  description: `${description}\n`,
  kernel: { profiles: kernels },
  steps,
  files: new Map(copies.flatMap((s) => [...s.files])),
};
writeFileSync(out, emitScenario(folded));

// check: each run of the folded file checks what its copy checked, step by step
const again = load(out);
const runs = runAll(again, nodeHost);
const checksOf = (r: ReturnType<typeof runScenario>) =>
  r.steps.map((s) => JSON.stringify([s.step.op, s.checks.map((c) => [c.what, c.expected])]));
copies.forEach((s, c) => {
  const before = runScenario(s, nodeHost);
  const after = runs[c]!;
  if (!after.ok) throw new Error(`${out}: run ${selectors[c]} fails`);
  if (!isDeepStrictEqual(checksOf(after), checksOf(before)))
    throw new Error(`${out}: run ${selectors[c]} checks differ from ${s.file}`);
});
for (const f of files) if (f !== out) unlinkSync(f);
process.stdout.write(
  `${relative(root, out)}: ${files.length} copies, ${steps.length} steps, runs ${runs.map((r) => r.expectations).join('/')} expectations\n`,
);
