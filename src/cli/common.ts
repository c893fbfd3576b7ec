/** Shared CLI helpers: usage errors, --set and --profile parsing, loading scenario files. */
import { type Dirent, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { SAFEGUARD_PREFIX } from '../core/decl.ts';
import { createKernel } from '../core/index.ts';
import { checkKnob, checkSafeguard, isKnobName, knobRefusal, knobText, settableKeys } from '../core/knobs.ts';
import { isProfileName, type Knobs, type Profile, type ProfileName, ProfileNames, Profiles } from '../core/profiles.ts';
import { nodeFileReader, nodeHost, nodeSha384 } from '../node/host.ts';
import { readBounded, tooLarge } from '../node/read.ts';
import { formatDiagnostic, loadScenario, type Scenario, ScenarioError } from '../scenario/load.ts';
import type { Host } from '../scenario/run.ts';
import { decodeScenarioBytes, MAX_SCENARIO_BYTES, TextProblemError } from '../scenario/yaml-text.ts';

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
export function checkSetsApply(set: Partial<Knobs>, profile: ProfileName | Profile, file?: string): void {
  for (const key of Object.keys(set)) {
    if (!isKnobName(key)) continue;
    const why = knobRefusal(typeof profile === 'string' ? Profiles[profile] : profile, key);
    if (why) throw new UsageError(`--set ${key}: ${why}${file ? ` (${file})` : ''}`);
  }
}

/** how `-` (standard input) is named in diagnostics */
export const STDIN_NAME = '<stdin>';

const SCENARIO_EXT = /\.(ya?ml|json)$/i;

/**
 * The scenario files that command-line arguments name: a file as given, a directory as every
 * *.yaml, *.yml and *.json file below it (recursively, sorted by path; symbolic links to
 * directories are not followed), `-` as standard input. An unreadable or empty directory is a
 * diagnostic.
 */
export function expandInputs(args: string[]): { files: string[]; errors: string[] } {
  const files: string[] = [];
  const errors: string[] = [];
  for (const a of args) {
    if (a === '-') {
      files.push(a);
      continue;
    }
    let dir = false;
    try {
      dir = statSync(a).isDirectory();
    } catch {
      // not there: reading it reports why
    }
    if (!dir) {
      files.push(a);
      continue;
    }
    const found: string[] = [];
    const walk = (d: string): void => {
      let entries: Dirent[];
      try {
        entries = readdirSync(d, { withFileTypes: true });
      } catch (e) {
        errors.push(`${d}:1:1: cannot read directory: ${fsReason(e)}`);
        return;
      }
      for (const e of entries.sort((x, y) => (x.name < y.name ? -1 : x.name > y.name ? 1 : 0))) {
        const p = join(d, e.name);
        if (e.isDirectory()) walk(p);
        else if (SCENARIO_EXT.test(e.name) && (e.isFile() || e.isSymbolicLink())) found.push(p);
      }
    };
    walk(a);
    if (!found.length && !errors.length)
      errors.push(`${a}:1:1: no scenario files (*.yaml, *.yml, *.json) in this directory`);
    files.push(...found);
  }
  return { files, errors };
}

/** One scenario file (or `-`, standard input), or its diagnostics (FILE:LINE:COL: message lines). */
export function loadFile(f: string): { scenario: Scenario } | { errors: string[] } {
  if (f === '') return { errors: ['gmemsim: a file name is empty'] };
  const name = f === '-' ? STDIN_NAME : f;
  let text: string;
  try {
    const bytes = f === '-' ? readStdin() : readBounded(f, MAX_SCENARIO_BYTES);
    text = decodeScenarioBytes(bytes);
  } catch (e) {
    if (e instanceof TextProblemError) return { errors: [`${name}:${e.problem.line}:${e.problem.col}: ${e.message}`] };
    return { errors: [`${name}:1:1: cannot read file: ${fsReason(e)}`] };
  }
  try {
    return { scenario: loadScenario(name, text, nodeFileReader) };
  } catch (e) {
    if (e instanceof ScenarioError) return { errors: e.diagnostics.map(formatDiagnostic) };
    throw e;
  }
}

function readStdin(): Uint8Array {
  const b = readFileSync(0);
  if (b.length > MAX_SCENARIO_BYTES) throw tooLarge(MAX_SCENARIO_BYTES);
  return b;
}

/** Load scenario files; any invalid file is reported (FILE:LINE:COL: message) and throws. */
export function loadFiles(files: string[]): Scenario[] {
  const out: Scenario[] = [];
  const errors: string[] = [];
  for (const f of files) {
    const r = loadFile(f);
    if ('scenario' in r) out.push(r.scenario);
    else errors.push(...r.errors);
  }
  if (errors.length) throw new DiagnosticsError(errors.join('\n'));
  return out;
}

export function useColor(): boolean {
  return Boolean(process.stdout.isTTY) && !process.env.NO_COLOR;
}

/**
 * The kernel a command runs: a named profile (--profile), or a profile file (--profile-file) whose
 * kernels the returned host creates. `name` is what reports print; for a file it is the file's
 * profile name (not a built-in name: the host ignores the name and uses the file's profile).
 */
export interface KernelChoice {
  name?: ProfileName;
  profile?: Profile;
  host: Host;
}

export async function chooseKernel(opts: { profile?: string; profileFile?: string }): Promise<KernelChoice> {
  if (opts.profile !== undefined && opts.profileFile !== undefined)
    throw new UsageError('--profile and --profile-file both name the kernel: give one of them');
  if (opts.profileFile !== undefined) {
    const { loadProfileFile } = await import('./profile-file.ts');
    const p = loadProfileFile(opts.profileFile);
    return { name: p.name as ProfileName, profile: p, host: profileHost(p) };
  }
  const name = parseProfile('--profile', opts.profile);
  return { ...(name ? { name, profile: Profiles[name] } : {}), host: nodeHost };
}

/** A host whose kernels follow this profile, whatever name the scenario runner passes. */
export function profileHost(p: Profile): Host {
  return { ...nodeHost, createKernel: (_name, knobs) => createKernel(p, nodeSha384, knobs) };
}
