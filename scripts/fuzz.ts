/**
 * npm run fuzz [-- --cases N] [-- --seed S]: the fuzzer of test/fuzz.test.ts with many more cases
 * and a fresh seed (printed, so a run can be repeated). Runs mutated scenarios and hostile command
 * lines in-process, checks the crash-free rule on each, prints counts and every finding (its
 * command line; a mutated scenario is kept in the scratch directory), and exits 1 on any finding.
 */
import fc from 'fast-check';
import { argvCase, checkArgv, checkScenario, type Finding, scenarioCase, workspace } from '../test/support/fuzz.ts';

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
}

const cases = arg('--cases', 3000);
const seed = arg('--seed', Date.now() % 2 ** 31);
const ws = workspace();
const findings: Finding[] = [];
const seen = new Set<string>();
const counts = { scenarios: 0, argv: 0 };
const t0 = performance.now();

/** the slowest cases (a hang shows as a run that never ends: strace it; a slow case shows here) */
const slow: { ms: number; what: string }[] = [];
const timed = async <T>(what: string, f: () => Promise<T>): Promise<T> => {
  const t = performance.now();
  const r = await f();
  slow.push({ ms: performance.now() - t, what });
  slow.sort((a, b) => b.ms - a.ms).splice(3);
  return r;
};

const scenarios = fc.sample(scenarioCase, { numRuns: cases, seed });
for (const c of scenarios) {
  counts.scenarios++;
  const f = await timed(fc.stringify(c).slice(0, 200), () => checkScenario(c, ws.dir));
  if (f && !seen.has(f.problem.slice(0, 120))) {
    seen.add(f.problem.slice(0, 120));
    findings.push(f);
  }
  if (counts.scenarios % 500 === 0) process.stderr.write(`  ${counts.scenarios} scenario cases…\n`);
}
const argvs = fc.sample(argvCase, { numRuns: Math.ceil(cases / 3), seed });
for (const c of argvs) {
  counts.argv++;
  const f = await timed(fc.stringify(c), () => checkArgv(c, ws));
  if (f && !seen.has(f.problem.slice(0, 120))) {
    seen.add(f.problem.slice(0, 120));
    findings.push(f);
  }
}
const s = ((performance.now() - t0) / 1000).toFixed(1);
process.stdout.write(
  `fuzz seed ${seed}: ${counts.scenarios} mutated scenarios, ${counts.argv} command lines in ${s} s; ` +
    `${findings.length} distinct crash${findings.length === 1 ? '' : 'es'}\n`,
);
for (const x of slow) process.stdout.write(`slowest: ${Math.round(x.ms)} ms ${x.what}\n`);
for (const f of findings) process.stdout.write(`- ${JSON.stringify(f.argv)}\n  ${f.problem}\n`);
process.exitCode = findings.length ? 1 : 0;
