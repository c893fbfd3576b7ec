/**
 * The explorer proves the safeguards matter: with all of them the default exploration finds no
 * broken invariant; with each one off it finds the invariant that safeguard protects, and the
 * counterexample it writes replays under `gmemsim run --set safeguard.NAME=off` (and fails with it on).
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Knobs, ProfileName } from '../src/core/profiles.ts';
import { safeguards } from '../src/core/safeguards.ts';
import { counterexampleYaml, type ExploreConfig, explore } from '../src/explore/explore.ts';
import type { VmKind } from '../src/explore/model.ts';
import { nodeHost } from '../src/node/host.ts';
import { gmemsim } from './support/cli.ts';

const make = (p: ProfileName, k: Partial<Knobs>) => nodeHost.createKernel(p, k);
const cfg = (o: Partial<ExploreConfig> & { knobs?: Partial<Knobs> }): ExploreConfig => ({
  profile: 'in-place',
  knobs: {},
  vm: 'tdx' as VmKind,
  pages: 2,
  depth: 4,
  maxStates: 100_000,
  ...o,
});

const dir = mkdtempSync(join(tmpdir(), 'gmemsim-explore-'));

describe('gmemsim explore', () => {
  it.each(['tdx', 'snp', 'sw-protected'] as VmKind[])(
    'finds no violation with every safeguard on (%s, default profile)',
    async (vm) => {
      const { outcome } = await explore(cfg({ vm, depth: 5 }), make, null);
      expect(outcome.kind).toBe('complete');
      expect(outcome.states).toBeGreaterThan(100);
      expect(outcome.violations).toEqual([]);
    },
  );

  for (const sg of safeguards) {
    it(`finds ${sg.protects} broken with safeguard ${sg.name} off, and the counterexample replays`, async () => {
      const c = cfg({ ...sg.explore, knobs: { safeguards: { [sg.name]: false } } });
      const { outcome, explorer } = await explore(c, make, null);
      const v = outcome.violations.find((x) => x.invariant === sg.protects);
      expect(v, `violations: ${JSON.stringify(outcome.violations)}`).toBeDefined();
      const file = join(dir, `${sg.name}.yaml`);
      writeFileSync(file, counterexampleYaml(c, explorer, v!));
      const off = gmemsim('run', '--set', `safeguard.${sg.name}=off`, file);
      expect(off.code, off.out + off.err).toBe(0);
      const on = gmemsim('run', '--set', `safeguard.${sg.name}=on`, file);
      expect(on.code, on.out).toBe(1);
    });
  }

  it('yan-proposal without zeroing leaks host data even with in-place conversion off; in-place refuses source 0 there', async () => {
    const knobs = { gmem_in_place_conversion: false, safeguards: { 'zero-fresh-pages': false } };
    const yan = await explore(cfg({ profile: 'yan-proposal', knobs }), make, null);
    expect(yan.outcome.violations.map((v) => v.invariant)).toContain('no-host-data-to-guest');
    const inPlace = await explore(cfg({ profile: 'in-place', knobs }), make, null);
    expect(inPlace.outcome.violations).toEqual([]);
  });

  it('stops with a typed result at the state limit', async () => {
    const { outcome } = await explore(cfg({ depth: 6, maxStates: 50 }), make, null);
    expect(outcome.kind).toBe('limit-reached');
    expect(outcome.states).toBe(50);
  });

  it('gives the same result with 2 worker threads', async () => {
    const { workerPool } = await import('../src/explore/pool.ts');
    const c = cfg({ depth: 3, knobs: { safeguards: { 'pin-check': false } } });
    const pool = workerPool(c, 2);
    try {
      const two = await explore(c, make, pool);
      const one = await explore(c, make, null);
      expect(two.outcome).toEqual({ ...one.outcome, ms: two.outcome.ms });
    } finally {
      await pool.close();
    }
  });

  it('CLI: --list-safeguards, --json, exit codes', () => {
    const list = gmemsim('explore', '--list-safeguards');
    expect(list.code).toBe(0);
    expect(list.out.split('\n')[0]).toMatch(/^double-add\s/);
    const json = gmemsim(
      'explore',
      '--json',
      '--depth',
      '2',
      '--set',
      'safeguard.private-only-populate=off',
      '--out',
      join(dir, 'cex'),
    );
    expect(json.code).toBe(1);
    const doc = JSON.parse(json.out);
    expect(doc.states).toBeGreaterThan(1);
    expect(doc.depth).toBe(2);
    expect(doc.violations[0].invariant).toBe('private-mappings-are-backed');
    expect(doc.files[0]).toContain('private-mappings-are-backed.yaml');
    const bad = gmemsim('explore', '--set', 'safeguard.nope=off');
    expect(bad.code).toBe(2);
    expect(bad.err).toContain('unknown safeguard');
    expect(gmemsim('explore', '--depth', 'x').code).toBe(2);
    // an --out that cannot take counterexamples is one line and exit 2, not a stack trace, and is
    // found before the search (docs/cli.md)
    const blocked = join(dir, 'a-file');
    writeFileSync(blocked, '');
    const unwritable = gmemsim(
      'explore',
      '--depth',
      '2',
      '--set',
      'safeguard.private-only-populate=off',
      '--out',
      blocked,
    );
    expect(unwritable.code).toBe(2);
    expect(unwritable.err).toMatch(/^gmemsim: --out .*a-file: cannot write counterexamples there: ENOTDIR\n$/);
    expect(unwritable.out).toBe('');
  });
});
