/**
 * Knob values, checked one way whether they come from a scenario's `kernel:` section or from
 * `--set KEY=VALUE`: the declaration (decl.ts KnobDecls) says the kind, the range and the profile
 * field a knob needs. A command-line value is text; it is read into the value a YAML file would
 * hold, then checked by the same function.
 */
import { describeKind, KnobDecls, type KnobKind, type KnobName, KnobNames, SAFEGUARD_PREFIX } from './decl.ts';

export { describeKind };

import { aliasesOf, type KernelName, KernelNames, Kernels, type Profile } from './profiles.ts';
import { isSafeguard } from './safeguards.ts';

export type Checked<T> = { ok: true; value: T } | { ok: false; message: string };

const BOOL_WORDS: Record<string, boolean> = { true: true, false: false, '1': true, '0': false, on: true, off: false };

export function isKnobName(s: string): s is KnobName {
  return Object.hasOwn(KnobDecls, s);
}

/** Check a knob's value as a file holds it (boolean, bigint, string). */
export function checkKnob(name: KnobName, raw: unknown): Checked<boolean | number | string> {
  const kind: KnobKind = KnobDecls[name].kind;
  const bad = (): Checked<never> => ({ ok: false, message: `expected ${describeKind(kind)}` });
  switch (kind.t) {
    case 'bool':
      return typeof raw === 'boolean' ? { ok: true, value: raw } : bad();
    case 'u64': {
      const v = typeof raw === 'number' && Number.isInteger(raw) ? BigInt(raw) : raw;
      return typeof v === 'bigint' && v >= 0n && v <= kind.max ? { ok: true, value: Number(v) } : bad();
    }
    case 'enum':
      return typeof raw === 'string' && kind.values.includes(raw) ? { ok: true, value: raw } : bad();
  }
}

/** Read command-line text as the value a file would hold (then checkKnob decides). */
export function knobText(name: KnobName, text: string): unknown {
  const kind: KnobKind = KnobDecls[name].kind;
  if (kind.t === 'bool') return BOOL_WORDS[text] ?? text;
  if (kind.t === 'u64') return /^(0x[0-9a-fA-F]+|[0-9]+)$/.test(text) ? BigInt(text) : text;
  return text;
}

/** Why a knob does not exist under this profile, or undefined when it does. */
export function knobRefusal(profile: Profile, name: KnobName): string | undefined {
  const req: string | undefined = (KnobDecls[name] as { requires?: string }).requires;
  if (!req || (profile as unknown as Record<string, unknown>)[req]) return undefined;
  const have = KernelNames.filter((n: KernelName) => (Kernels[n] as unknown as Record<string, unknown>)[req]);
  const named = have.map((n) => (aliasesOf(n).length ? `${n} (${aliasesOf(n).join(', ')})` : n));
  return `${name} exists only for profiles ${named.join(' and ')} (not ${profile.name})`;
}

/** Check a safeguard setting (`on`/`off`, or a boolean word on the command line). */
export function checkSafeguard(name: string, raw: unknown): Checked<boolean> {
  if (!isSafeguard(name)) return { ok: false, message: 'unknown safeguard (gmemsim explore --list-safeguards)' };
  const b = typeof raw === 'boolean' ? raw : typeof raw === 'string' ? BOOL_WORDS[raw] : undefined;
  return b === undefined ? { ok: false, message: 'expected on or off' } : { ok: true, value: b };
}

/** Every settable key, for help and messages. */
export function settableKeys(): string[] {
  return [...KnobNames, `${SAFEGUARD_PREFIX}NAME`];
}
