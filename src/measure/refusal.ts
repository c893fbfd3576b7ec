/** What the TDX and SNP launch builders say when the model refuses a step of their sequence. */
import type { RunResult } from '../scenario/run.ts';

/**
 * The first step of a launch that did not go as built, as one line: the call (`describe` names a
 * populate call by what it loads, undefined for the other steps), what userspace saw, and the rule;
 * undefined when every step went as built.
 */
export function launchRefusal(
  result: RunResult,
  describe: (stepIndex: number) => string | undefined,
): string | undefined {
  const bad = result.steps.find((r) => !r.ok);
  if (!bad) return undefined;
  const o = bad.outcome;
  const what = describe(bad.step.index) ?? `step ${bad.step.index + 1} (${bad.step.op})`;
  const got = o.signal ?? (o.errno ? `-${o.errno}` : `returned ${o.ret}`);
  const cause = o.cause ? `; cause ${o.cause.id}: ${o.cause.reason}` : '';
  return `the model refused the launch: ${what}: ${got} (${o.rule.id}: ${o.rule.reason}${cause})`;
}
