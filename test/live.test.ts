/**
 * The live corpus (issue 13): every scenario under test/ that this host can run, step by step on
 * the running kernel (through native/kvm-helper.c) and in the model. Skipped, with the reason,
 * without a usable /dev/kvm or a C compiler. Every runnable step must agree, except the listed
 * host-fact differences (test/support/live-differences.ts), and each listed one must still differ.
 */
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { hostFromFacts } from '../src/core/host.ts';
import { buildHelper, Helper, kvmUnavailable, LiveUnavailable } from '../src/node/live/helper.ts';
import { probeHost } from '../src/node/live/probe.ts';
import { type LiveFileResult, runLive, summaryLine } from '../src/node/live/run-live.ts';
import { declaredRuns, runOptionsFor } from '../src/scenario/runs.ts';
import { gmemsim } from './support/cli.ts';
import { HostFacts, LiveDifferences } from './support/live-differences.ts';
import { findScenarios, load, ROOT } from './support/scenarios.ts';

/** The profile of the kernel on these machines (6.18.x; gmemsim host names it). */
const LIVE_PROFILE = 'v6.18' as const;

function unavailable(): string | undefined {
  const why = kvmUnavailable();
  if (why) return why;
  try {
    buildHelper({ quiet: true });
  } catch (e) {
    if (e instanceof LiveUnavailable) return e.message;
    throw e;
  }
  return undefined;
}

const why = unavailable();

describe('live corpus', () => {
  if (why) {
    it.skip(`skipped: ${why}`, () => {});
    return;
  }
  it('every runnable step agrees with the running kernel, apart from the listed host-fact differences', async () => {
    // every scenario file under test/ (test/support holds data, not scenarios)
    const files = findScenarios(join(ROOT, 'test')).filter((f) => !f.includes(`${join('test', 'support')}/`));
    const host = await probeHost();
    const results: LiveFileResult[] = [];
    // a file that lists the live profile runs as its entries say (their knobs, e.g. mmap_min_addr 0)
    for (const f of files) {
      const s = load(f);
      for (const sel of declaredRuns(s, { profile: LIVE_PROFILE }))
        results.push(
          await runLive(s, host, Helper.start, {
            ...(sel ? runOptionsFor(sel, {}) : { profile: LIVE_PROFILE }),
            // the model on this machine's host configuration (--host live)
            host: hostFromFacts('live', host),
          }),
        );
    }
    const key = (file: string, step: number) => `${file}#${step}`;
    // an entry explains a difference only on a host where its fact holds
    const applies = LiveDifferences.filter((x) => HostFacts[x.fact].applies(host));
    const listed = new Map(applies.map((x) => [key(x.file, x.step), x]));
    const unexplained: string[] = [];
    const found = new Set<string>();
    const byFact = new Map<string, number>();
    for (const r of results) {
      const file = relative(ROOT, join(ROOT, r.file));
      for (const st of r.steps) {
        if (st.verdict !== 'differ') continue;
        const k = key(file, st.index + 1);
        found.add(k);
        const entry = listed.get(k);
        if (entry) byFact.set(entry.fact, (byFact.get(entry.fact) ?? 0) + 1);
        else unexplained.push(`${file} step ${st.index + 1} ${st.op}: ${st.differences.join('; ')}`);
      }
    }
    const stale = applies
      .filter((x) => !found.has(key(x.file, x.step)))
      .map((x) => `${x.file} step ${x.step} (${x.fact}) no longer differs: remove it from the list`);
    if (process.env.LIVE_PRINT_DIFFERENCES) for (const u of unexplained) process.stdout.write(`${u}\n`);
    const facts = [...byFact.entries()].map(([f, n]) => `${f}: ${n}`).join(', ');
    process.stdout.write(
      `live corpus on ${host.kernel.release} (${files.length} files, profile ${LIVE_PROFILE}): ${summaryLine(results)}\n` +
        `  differences explained by host facts: ${facts || 'none'}\n`,
    );
    expect(Object.keys(HostFacts).length).toBeGreaterThan(0);
    expect(unexplained, 'differences that no host fact explains (model bugs to fix)').toEqual([]);
    expect(stale).toEqual([]);
  }, 600_000);

  it('gmemsim run --live takes a directory as run does, and ends with the same kind of summary', () => {
    const r = gmemsim('run', '--live', '--profile', LIVE_PROFILE, 'test/scenarios/gmem');
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/\n\d+ agree, 0 differ, \d+ not runnable here/);
    expect(r.out).toContain('test/scenarios/gmem/a01-invalid-sizes.yaml');
  }, 600_000);
});
