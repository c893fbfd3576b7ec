/** Shared CLI helpers: usage errors, --set and --profile parsing, loading scenario files. */
import { readFileSync } from 'node:fs';
import { isProfileName, type Knobs, type ProfileName, ProfileNames } from '../core/profiles.ts';
import { isSafeguard } from '../core/safeguards.ts';
import { nodeFileReader } from '../node/host.ts';
import { formatDiagnostic, loadScenario, type Scenario, ScenarioError } from '../scenario/load.ts';

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
