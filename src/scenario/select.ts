/**
 * Profile selectors: which kernel (profile, plus optional knob settings) a run models, and which
 * runs a per-profile expectation or a step's `only:` applies to (docs/scenario-extensions.md,
 * "One file, many kernels").
 *
 *   mainline                                   the profile mainline, whatever its knobs
 *   in-place+gmem_in_place_conversion=false    the profile in-place with that knob setting
 */
import { KnobDecls, KnobNames, type KnobValues } from '../core/decl.ts';
import { checkKnob, isKnobName, knobRefusal, knobText } from '../core/knobs.ts';
import { type Knobs, type ProfileName, ProfileNames, Profiles } from '../core/profiles.ts';
import type { Step } from './load.ts';
import type { Expect } from './schema.ts';

/** The knobs a selector or a `kernel.profiles` entry may fix: those of the declaration (core/decl.ts). */
export type KnobSetting = Partial<KnobValues>;

export const SelectorKnobs = KnobNames;

/** A kernel to run under, or a set of runs to match: a profile and the knobs it fixes. */
export interface Selector {
  profile: ProfileName;
  knobs: KnobSetting;
}

/** The selector in its written form: `PROFILE` or `PROFILE+KNOB=VALUE[+KNOB=VALUE]`. */
export function selectorText(s: Selector): string {
  const parts: string[] = [s.profile];
  for (const k of SelectorKnobs) {
    const v = s.knobs[k];
    if (v !== undefined)
      parts.push(`${k}=${KnobDecls[k].kind.t === 'u64' ? `0x${(v as number).toString(16)}` : String(v)}`);
  }
  return parts.join('+');
}

const profileList = () => ProfileNames.join(', ');

/** Check a knob setting against its profile (core/knobs.ts, as for a file and --set): a message, or undefined. */
export function knobProblem(profile: ProfileName, knobs: KnobSetting): string | undefined {
  for (const k of SelectorKnobs) {
    if (knobs[k] === undefined) continue;
    const why = knobRefusal(Profiles[profile], k);
    if (why) return why;
  }
  return undefined;
}

/** Parse `PROFILE[+KNOB=VALUE]...`; a string result is the error message. */
export function parseSelector(text: string): Selector | string {
  const [name, ...settings] = text.split('+');
  if (!name || !(ProfileNames as readonly string[]).includes(name))
    return `unknown profile "${name ?? ''}"; expected one of ${profileList()}, optionally followed by +KNOB=VALUE (e.g. in-place+gmem_in_place_conversion=false)`;
  const profile = name as ProfileName;
  const knobs: Record<string, unknown> = {};
  for (const s of settings) {
    const m = /^([a-z_]+)=(.+)$/.exec(s);
    if (!m) return `"${s}" in "${text}": expected KNOB=VALUE after "+"`;
    const [, key, value] = m as unknown as [string, string, string];
    if (!isKnobName(key)) return `unknown knob "${key}" in "${text}"; expected ${SelectorKnobs.join(', ')}`;
    const c = checkKnob(key, knobText(key, value));
    if (!c.ok) return `${key}=${value}: ${c.message}`;
    knobs[key] = c.value;
  }
  return knobProblem(profile, knobs as KnobSetting) ?? { profile, knobs: knobs as KnobSetting };
}

/** Does a run (its profile and effective knobs) match the selector? */
export function matches(sel: Selector, profile: ProfileName, knobs: Knobs): boolean {
  if (sel.profile !== profile) return false;
  for (const k of SelectorKnobs) if (sel.knobs[k] !== undefined && sel.knobs[k] !== knobs[k]) return false;
  return true;
}

/** How many knobs a selector fixes: the more, the more specific. */
export function specificity(sel: Selector): number {
  return SelectorKnobs.filter((k) => sel.knobs[k] !== undefined).length;
}

/**
 * The entry of a `by_profile` table for a run: the most specific matching selector (the first of
 * equally specific ones), else `default` when given, else none (the step asserts nothing).
 */
export function pickFor<T>(
  entries: readonly { sel: Selector; value: T }[],
  dflt: { value: T } | undefined,
  profile: ProfileName,
  knobs: Knobs,
): { value: T } | undefined {
  let best: { sel: Selector; value: T } | undefined;
  for (const e of entries)
    if (matches(e.sel, profile, knobs) && (!best || specificity(e.sel) > specificity(best.sel))) best = e;
  return best ? { value: best.value } : dflt;
}

/** Does the step run under this kernel? (`only:` absent: always) */
export function runsUnder(step: Step, profile: ProfileName, knobs: Knobs): boolean {
  return step.only === undefined || step.only.some((sel) => matches(sel, profile, knobs));
}

/** The expectation the step checks under this kernel, if any. */
export function expectFor(step: Step, profile: ProfileName, knobs: Knobs): Expect | undefined {
  if (step.expectBy) return pickFor(step.expectBy.entries, step.expectBy.dflt, profile, knobs)?.value ?? undefined;
  return step.expect;
}

/** Every expectation a step may check, under any kernel. */
export function expectationsOf(step: Step): Expect[] {
  if (!step.expectBy) return step.expect ? [step.expect] : [];
  const all = [...step.expectBy.entries.map((e) => e.value), step.expectBy.dflt?.value];
  return all.filter((e): e is Expect => e !== undefined && e !== null);
}
