/**
 * The package entry (`import ... from 'gmemsim'`), typed (dist/index.d.ts):
 * - scenarios (src/api/scenario.ts): loadScenarioFile / loadScenarioText, runScenario /
 *   runScenarioFile under every kernel a file declares, formatRun and runJsonText as `gmemsim run`
 *   and `run --json` print them; ScenarioError with FILE:LINE:COL diagnostics;
 * - the kernel: createKernel(profile, knobs, host) and makeOp, to step the model call by call;
 * - rules and profiles: allRules, ruleById, Profiles, ProfileNames, KernelNames, HostPresets;
 * - explore: the bounded state-space search of `gmemsim explore`;
 * - measurement (src/api/measure.ts): measureSnp, measureTdx, checkSnp, checkTdx.
 */
export * from './api/measure.ts';
export * from './api/scenario.ts';
