/**
 * The scenario and kernel library API: `import { runScenarioFile, createKernel } from 'gmemsim'`.
 * What `gmemsim run` does, as functions: load a scenario (FILE:LINE:COL diagnostics in a
 * ScenarioError), run it under every kernel it declares, and print or serialise the results as
 * `run` and `run --json` do; or create a kernel of a release profile and step it one uAPI call at a
 * time. Hashing is node:crypto's SHA-384 and included files are read from disk (node:fs).
 */
import { readFileSync } from 'node:fs';
import type { HostConfig } from '../core/host.ts';
import { createKernel as createCoreKernel } from '../core/index.ts';
import type { Kernel } from '../core/kernel.ts';
import { DEFAULT_PROFILE, type Knobs, type Profile, type ProfileName } from '../core/profiles.ts';
import {
  counterexampleYaml,
  type ExploreConfig,
  type ExploreOutcome,
  explore as exploreModel,
} from '../explore/explore.ts';
import { nodeFileReader, nodeHost, nodeSha384 } from '../node/host.ts';
import { loadScenario, type Scenario } from '../scenario/load.ts';
import { renderJson, renderText } from '../scenario/report.ts';
import type { RunOptions, RunResult } from '../scenario/run.ts';
import { runAll } from '../scenario/runs.ts';

export { type HostConfig, HostPresets } from '../core/host.ts';
export {
  aliasesOf,
  allRules,
  type Cite,
  canonicalName,
  Errno,
  type ErrnoName,
  formatCite,
  isProfileName,
  Kernel,
  type KernelName,
  KernelNames,
  type Knobs,
  type Op,
  type OpName,
  type Outcome,
  type Profile,
  ProfileAliases,
  type ProfileName,
  ProfileNames,
  Profiles,
  type Rule,
  ruleById,
} from '../core/index.ts';
export { makeOp } from '../core/ops.ts';
export { DEFAULT_PROFILE } from '../core/profiles.ts';
export type { ExploreConfig, ExploreOutcome } from '../explore/explore.ts';
export { type Diagnostic, formatDiagnostic, type Scenario, ScenarioError } from '../scenario/load.ts';
export type { RunOptions, RunResult, StepResult } from '../scenario/run.ts';

/**
 * A kernel of a release profile (a name of `gmemsim profiles`, or a profile object), with knobs
 * and a host configuration; step it with `kernel.step(makeOp('KVM_CREATE_VM', { type: 0n }))`.
 * Every uAPI failure is an Outcome (ret, errno, the rule that decided it), never an exception.
 */
export function createKernel(
  profile: ProfileName | Profile = DEFAULT_PROFILE,
  knobs: Partial<Knobs> = {},
  host?: HostConfig,
): Kernel {
  return createCoreKernel(profile, nodeSha384, knobs, host);
}

/** A scenario from its text; `name` is the file name diagnostics give. Throws ScenarioError. */
export function loadScenarioText(name: string, text: string): Scenario {
  return loadScenario(name, text, nodeFileReader);
}

/** A scenario file (YAML or JSON). Throws ScenarioError (FILE:LINE:COL lines), or the file's read error. */
export function loadScenarioFile(path: string): Scenario {
  return loadScenario(path, readFileSync(path, 'utf8'), nodeFileReader);
}

/** Run a scenario under each kernel it declares (`kernel.profiles`), or once: one result per run. */
export function runScenario(scenario: Scenario, opts: RunOptions = {}): RunResult[] {
  return runAll(scenario, nodeHost, opts);
}

/** loadScenarioFile, then runScenario */
export function runScenarioFile(path: string, opts: RunOptions = {}): RunResult[] {
  return runScenario(loadScenarioFile(path), opts);
}

/** The results as `gmemsim run` prints them (no colour unless asked). */
export function formatRun(results: RunResult[], opts: { color?: boolean } = {}): string {
  return renderText(results, { color: opts.color ?? false });
}

/** The results as `gmemsim run --json` prints them (docs/trace-format.md; `trace: true` adds the page changes). */
export function runJsonText(results: RunResult[]): string {
  return renderJson(results);
}

/**
 * What `gmemsim explore` does, in this thread: every sequence of uAPI calls up to `depth` from a
 * VM's set-up, checking the invariants after each; the outcome counts states and lists violations,
 * each also as a replayable scenario (YAML text).
 */
export async function explore(cfg: ExploreConfig): Promise<ExploreOutcome & { counterexamples: string[] }> {
  const { outcome, explorer } = await exploreModel(cfg, (p, k) => createKernel(cfg.custom ?? p, k), null);
  return { ...outcome, counterexamples: outcome.violations.map((c) => counterexampleYaml(cfg, explorer, c)) };
}
