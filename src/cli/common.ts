/** Shared CLI helpers: usage errors, --set and --profile parsing, loading scenario files. */
import { type Dirent, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { isProfileName, type Knobs, type ProfileName, ProfileNames } from '../core/profiles.ts';
import { isSafeguard } from '../core/safeguards.ts';
import { nodeFileReader } from '../node/host.ts';
import { readBounded, tooLarge } from '../node/read.ts';
import { formatDiagnostic, loadScenario, type Scenario, ScenarioError } from '../scenario/load.ts';
import { decodeScenarioBytes, MAX_SCENARIO_BYTES, TextProblemError } from '../scenario/yaml-text.ts';

import { DiagnosticsError, fsReason, UsageError } from './errors.ts';

export { DiagnosticsError, UsageError };

export function parseProfile(flag: string, v: string | undefined): ProfileName | undefined {
  if (v === undefined) return undefined;
  if (!isProfileName(v)) throw new UsageError(`${flag} ${v}: unknown profile (expected ${ProfileNames.join(', ')})`);
  return v;
}

const BOOL: Record<string, boolean> = { true: true, false: false, '1': true, '0': false, on: true, off: false };

export function parseSets(sets: string[]): Partial<Knobs> {
  const knobs: Partial<Knobs> = {};
  const safeguards: Record<string, boolean> = {};
  for (const s of sets) {
    const m = /^([A-Za-z0-9_.-]+)=(.*)$/.exec(s);
    if (!m) throw new UsageError(`--set ${s}: expected KEY=VALUE`);
    const [, key, value] = m as unknown as [string, string, string];
    if (key === 'gmem_in_place_conversion') {
      const b = BOOL[value];
      if (b === undefined) throw new UsageError(`--set ${s}: expected true or false`);
      knobs.gmem_in_place_conversion = b;
    } else if (key === 'mmap_min_addr') {
      if (!/^(0x[0-9a-fA-F]+|[0-9]+)$/.test(value) || BigInt(value) >= 1n << 47n)
        throw new UsageError(`--set ${s}: expected an address below 2^47`);
      knobs.mmap_min_addr = Number(BigInt(value));
    } else if (key === 'tdx_measure_order') {
      if (value !== 'single-pass' && value !== 'two-pass')
        throw new UsageError(`--set ${s}: expected single-pass or two-pass`);
      knobs.tdx_measure_order = value;
    } else if (key.startsWith('safeguard.')) {
      const b = BOOL[value];
      if (b === undefined) throw new UsageError(`--set ${s}: expected on or off`);
      const name = key.slice('safeguard.'.length);
      if (!isSafeguard(name))
        throw new UsageError(`--set safeguard.${name}: unknown safeguard (gmemsim explore --list-safeguards)`);
      safeguards[name] = b;
    } else
      throw new UsageError(
        `--set ${s}: unknown key ${key} (gmem_in_place_conversion, mmap_min_addr, tdx_measure_order, safeguard.NAME)`,
      );
  }
  if (Object.keys(safeguards).length) knobs.safeguards = safeguards;
  return knobs;
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
