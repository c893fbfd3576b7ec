import { accessSync, constants, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createKernel } from '../core/index.ts';
import { DEFAULT_PROFILE } from '../core/profiles.ts';
import { safeguards } from '../core/safeguards.ts';
import { counterexampleYaml, type ExploreConfig, explore } from '../explore/explore.ts';
import type { VmKind } from '../explore/model.ts';
import { workerPool } from '../explore/pool.ts';
import { nodeSha384 } from '../node/host.ts';
import { checkSetsApply, chooseKernel, parseSets, UsageError } from './common.ts';
import { fsReason } from './errors.ts';
import { startProgress } from './progress.ts';

export interface ExploreOpts {
  profile?: string;
  profileFile?: string;
  set: string[];
  vm: string;
  pages: string;
  depth: string;
  workers: string;
  maxStates: string;
  json?: boolean;
  quiet?: boolean;
  out?: string;
  listSafeguards?: boolean;
}

function count(flag: string, v: string, min: number, max: number): number {
  if (!/^[0-9]+$/.test(v) || Number(v) < min || Number(v) > max)
    throw new UsageError(`${flag} ${v}: expected a whole number from ${min} to ${max}`);
  return Number(v);
}

/** exit status when --max-states stopped the search before it found a violation (docs/cli.md) */
export const EXIT_LIMIT = 3;

/**
 * mkdir -p without Node's recursive mkdirSync, which loops for ever where mkdir under an existing
 * directory says ENOENT (`/proc/nope`: the "spin" of issue 16): each missing directory is made in
 * turn, and the first failure is the error.
 */
function makeDirs(dir: string): void {
  const missing: string[] = [];
  let d = resolve(dir);
  for (;;) {
    try {
      statSync(d);
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT' || dirname(d) === d) throw e;
      missing.push(d);
      d = dirname(d);
    }
  }
  for (const m of missing.reverse()) mkdirSync(m);
}

/** --out DIR exists or is created, is a directory, and can be written */
function checkOutDir(dir: string): void {
  try {
    if (dir === '') throw Object.assign(new Error('empty'), { code: 'ENOENT' });
    makeDirs(dir);
    if (!statSync(dir).isDirectory()) throw Object.assign(new Error('not a directory'), { code: 'ENOTDIR' });
    accessSync(dir, constants.W_OK);
  } catch (e) {
    throw new UsageError(`--out ${dir}: cannot write counterexamples there: ${fsReason(e)}`);
  }
}

export async function exploreCommand(o: ExploreOpts): Promise<number> {
  if (o.listSafeguards) {
    for (const s of safeguards)
      process.stdout.write(`${s.name.padEnd(22)} protects ${s.protects.padEnd(30)} ${s.description}\n`);
    return 0;
  }
  const choice = await chooseKernel(o);
  const custom = o.profileFile !== undefined ? choice.profile : undefined;
  // a profile file's kernels come from its profile object; `profile` names its base for the files written
  const profile = custom?.base ?? choice.name ?? DEFAULT_PROFILE;
  const knobs = parseSets(o.set);
  checkSetsApply(knobs, custom ?? profile);
  if (!['tdx', 'snp', 'sw-protected'].includes(o.vm))
    throw new UsageError(`--vm ${o.vm}: expected tdx, snp or sw-protected`);
  const cfg: ExploreConfig = {
    profile,
    ...(custom ? { custom } : {}),
    knobs,
    vm: o.vm as VmKind,
    pages: count('--pages', o.pages, 1, 8),
    depth: count('--depth', o.depth, 1, 12),
    maxStates: count('--max-states', o.maxStates, 1, 10_000_000),
  };
  const workers = count('--workers', o.workers, 1, 64);
  // an unwritable --out is bad input, found now rather than after the whole exploration
  if (o.out !== undefined) checkOutDir(o.out);
  const progress = await startProgress(o, 'frontier states');
  const pool = workers > 1 ? workerPool(cfg, workers) : null;
  await pool?.ready();
  try {
    const { outcome, explorer } = await explore(
      cfg,
      (p, k) => (custom ? createKernel(custom, nodeSha384, k) : createKernel(p, nodeSha384, k)),
      pool,
      (p) => progress.update(p.done, p.frontier, `depth ${p.depth} · ${p.states} states seen`),
      () => performance.now(),
    );
    progress.stop();
    const files: string[] = [];
    if (o.out && outcome.violations.length) {
      for (const c of outcome.violations) {
        const f = join(o.out, `${c.invariant}.yaml`);
        try {
          makeDirs(o.out);
          writeFileSync(f, counterexampleYaml(cfg, explorer, c));
        } catch (e) {
          throw new UsageError(`--out ${f}: cannot write file: ${fsReason(e)}`);
        }
        files.push(f);
      }
    }
    const rate = outcome.ms > 0 ? Math.round((outcome.states / outcome.ms) * 1000) : 0;
    if (o.json) {
      const doc = {
        format: 'gmemsim-explore/1',
        profile,
        vm: cfg.vm,
        pages: cfg.pages,
        result: outcome.kind,
        states: outcome.states,
        transitions: outcome.transitions,
        depth: outcome.depth,
        actions: outcome.actions,
        violations: outcome.violations.map((c) => ({
          invariant: c.invariant,
          detail: c.detail,
          path: c.path.map((a) => explorer.actions[a]!.label),
        })),
        files,
      };
      process.stdout.write(`${JSON.stringify(doc, null, 2)}\n`);
    } else {
      const off = Object.entries(knobs.safeguards ?? {})
        .filter(([, v]) => !v)
        .map(([n]) => n);
      process.stdout.write(
        `explored ${cfg.vm} (${cfg.pages} pages) under ${profile}${off.length ? ` with ${off.join(', ')} off` : ''}: ` +
          `${outcome.states} states, ${outcome.transitions} transitions, depth ${outcome.depth}, ${outcome.actions} actions` +
          `${outcome.kind === 'limit-reached' ? ' — LIMIT REACHED (raise --max-states)' : ''}\n`,
      );
      if (!outcome.violations.length) process.stdout.write('no invariant broken\n');
      for (const c of outcome.violations) {
        process.stdout.write(`invariant ${c.invariant} broken: ${c.detail}\n`);
        process.stdout.write(`  shortest path: ${c.path.map((a) => explorer.actions[a]!.label).join(' → ')}\n`);
      }
      for (const f of files) process.stdout.write(`wrote ${f}\n`);
      process.stderr.write(
        `${Math.round(outcome.ms)} ms, ${rate} states/s, ${workers} worker${workers > 1 ? 's' : ''}\n`,
      );
    }
    return outcome.violations.length ? 1 : outcome.kind === 'limit-reached' ? EXIT_LIMIT : 0;
  } finally {
    await pool?.close();
  }
}
