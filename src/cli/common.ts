/** Shared CLI helpers: usage errors, --set and --profile parsing, loading scenario files. */
import { readFileSync } from 'node:fs';
import { SAFEGUARD_PREFIX } from '../core/decl.ts';
import { checkKnob, checkSafeguard, isKnobName, knobRefusal, knobText, settableKeys } from '../core/knobs.ts';
import { isProfileName, type Knobs, type ProfileName, ProfileNames, Profiles } from '../core/profiles.ts';
import { nodeFileReader } from '../node/host.ts';
import { formatDiagnostic, loadScenario, type Scenario, ScenarioError } from '../scenario/load.ts';

import { DiagnosticsError, fsReason, UsageError } from './errors.ts';

export { DiagnosticsError, UsageError };

export function parseProfile(flag: string, v: string | undefined): ProfileName | undefined {
  if (v === undefined) return undefined;
  if (!isProfileName(v)) throw new UsageError(`${flag} ${v}: unknown profile (expected ${ProfileNames.join(', ')})`);
  return v;
}

/** `--set KEY=VALUE`, read and checked by the same functions as a file's `kernel:` section (core/knobs.ts). */
export function parseSets(sets: string[]): Partial<Knobs> {
  const knobs: Record<string, unknown> = {};
  const safeguards: Record<string, boolean> = {};
  for (const s of sets) {
    const m = /^([A-Za-z0-9_.-]+)=(.*)$/.exec(s);
    if (!m) throw new UsageError(`--set ${s}: expected KEY=VALUE`);
    const [, key, value] = m as unknown as [string, string, string];
    if (key.startsWith(SAFEGUARD_PREFIX)) {
      const name = key.slice(SAFEGUARD_PREFIX.length);
      const c = checkSafeguard(name, value);
      if (!c.ok) throw new UsageError(`--set ${key}: ${c.message}`);
      safeguards[name] = c.value;
    } else if (isKnobName(key)) {
      const c = checkKnob(key, knobText(key, value));
      if (!c.ok) throw new UsageError(`--set ${s}: ${c.message}`);
      knobs[key] = c.value;
    } else throw new UsageError(`--set ${s}: unknown key ${key} (${settableKeys().join(', ')})`);
  }
  if (Object.keys(safeguards).length) knobs.safeguards = safeguards;
  return knobs as Partial<Knobs>;
}

/**
 * A `--set` knob that the profile a file runs under does not have is refused, as the same knob in
 * the file's `kernel:` section is (it used to be dropped silently).
 */
export function checkSetsApply(set: Partial<Knobs>, profile: ProfileName, file?: string): void {
  for (const key of Object.keys(set)) {
    if (!isKnobName(key)) continue;
    const why = knobRefusal(Profiles[profile], key);
    if (why) throw new UsageError(`--set ${key}: ${why}${file ? ` (${file})` : ''}`);
  }
}

/** Load scenario files; any invalid file is reported (FILE:LINE:COL: message) and throws. */
export function loadFiles(files: string[]): Scenario[] {
  const out: Scenario[] = [];
  const errors: string[] = [];
  for (const f of files) {
    let text: string;
    try {
      text = readFileSync(f, 'utf8');
    } catch (e) {
      errors.push(`${f}:1:1: cannot read file: ${fsReason(e)}`);
      continue;
    }
    try {
      out.push(loadScenario(f, text, nodeFileReader));
    } catch (e) {
      if (e instanceof ScenarioError) errors.push(...e.diagnostics.map(formatDiagnostic));
      else throw e;
    }
  }
  if (errors.length) throw new DiagnosticsError(errors.join('\n'));
  return out;
}

export function useColor(): boolean {
  return Boolean(process.stdout.isTTY) && !process.env.NO_COLOR;
}
