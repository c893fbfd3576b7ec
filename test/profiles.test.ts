/** Release profiles, their aliases, and profile files (issue 12). */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DiagnosticsError } from '../src/cli/errors.ts';
import { parseProfileFile } from '../src/cli/profile-file.ts';
import { knobRefusal } from '../src/core/knobs.ts';
import {
  BehaviourFields,
  DEFAULT_PROFILE,
  KernelNames,
  Kernels,
  ProfileAliases,
  ProfileNames,
  Profiles,
} from '../src/core/profiles.ts';
import { gmemsim } from './support/cli.ts';
import { ROOT } from './support/scenarios.ts';

const pick = (p: object) => Object.fromEntries(BehaviourFields.map((f) => [f, (p as Record<string, unknown>)[f]]));

describe('release profiles', () => {
  it('every alias resolves to its kernel, and every kernel has a source', () => {
    for (const [alias, kernel] of Object.entries(ProfileAliases)) {
      expect(ProfileNames).toContain(alias);
      expect(Profiles[alias as keyof typeof ProfileAliases]).toBe(Kernels[kernel]);
    }
    for (const n of KernelNames) {
      const p = Kernels[n];
      expect(p.name).toBe(n);
      expect(p.source.date).toMatch(/^\d{4}-\d{2}-\d{2}$/);
      expect(p.source.followed.length).toBeGreaterThan(0);
      expect(p.source.diff.length).toBeGreaterThan(0);
    }
  });
  it('the default is the linux-next in-place profile, reachable by its old name', () => {
    expect(DEFAULT_PROFILE).toBe('next-20260923');
    expect(Profiles['in-place']).toBe(Profiles[DEFAULT_PROFILE]);
  });
  it('releases differ where the notes say: bind overlap EEXIST from v7.2, overflow check only in kvm-x86-next', () => {
    expect(Kernels['v7.1'].gmemBindOverlap).toBe('EINVAL');
    expect(Kernels['v7.2'].gmemBindOverlap).toBe('EEXIST');
    expect(Kernels['v7.3'].tdxImrByteOverflowChecked).toBe(false);
    expect(Kernels['kvm-x86-next'].tdxImrByteOverflowChecked).toBe(true);
    expect(Kernels['v6.18'].tdxPageAddInPopulate).toBe(true);
    expect(Kernels['pre-2a62345b3052'].tdxPageAddInPopulate).toBe(false);
  });
  it('knobs that need the in-place series work with the new names and the alias', () => {
    expect(knobRefusal(Profiles['next-20260923'], 'gmem_in_place_conversion')).toBeUndefined();
    expect(knobRefusal(Profiles['in-place'], 'gmem_in_place_conversion')).toBeUndefined();
    expect(knobRefusal(Profiles['v7.3'], 'gmem_in_place_conversion')).toMatch(/next-20260923 \(in-place\)/);
  });
});

describe('profile files', () => {
  it('profiles/yan-proposal.yaml says what the built-in yan-proposal does', () => {
    const file = join(ROOT, 'profiles', 'yan-proposal.yaml');
    const p = parseProfileFile(file, readFileSync(file, 'utf8'));
    expect(p.name).toBe('yan-proposal');
    expect(pick(p)).toEqual(pick(Kernels['yan-proposal']));
  });
  it('a bad field is FILE:LINE:COL with the valid names', () => {
    const bad = () => parseProfileFile('my.yaml', 'base: v7.3\ntdxSourceZero: zero\nbogus: 1\n');
    expect(bad).toThrow(DiagnosticsError);
    try {
      bad();
    } catch (e) {
      const m = (e as Error).message;
      expect(m).toMatch(/^my\.yaml:2:16: tdxSourceZero: expected one of user-address/m);
      expect(m).toMatch(/^my\.yaml:3:1: unknown field "bogus" \(valid: base, name, .*tdxPageAddInPopulate/m);
    }
    expect(() => parseProfileFile('my.yaml', 'tdxSourceZero: einval\n')).toThrow(/my\.yaml:1:1: base: missing/);
    expect(() => parseProfileFile('my.yaml', 'base: linus\n')).toThrow(/my\.yaml:1:7: base: expected a profile name/);
  });
  it('base plus the changed fields; the name defaults to the file name', () => {
    const p = parseProfileFile('dir/my-change.yaml', 'base: v7.3\ngmemBindOverlap: EINVAL\n');
    expect(p.name).toBe('my-change');
    expect(p.base).toBe('v7.3');
    expect(p.gmemBindOverlap).toBe('EINVAL');
    expect(p.tdxSourceZero).toBe(Kernels['v7.3'].tdxSourceZero);
    expect(p.source.diff).toContain('gmemBindOverlap');
  });
});

describe('gmemsim profiles and --profile-file', () => {
  it('lists the kernels newest first with tree and commit', () => {
    const r = gmemsim('profiles', '--json');
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.out);
    expect(doc.profiles.map((p: { name: string }) => p.name)).toEqual([...KernelNames]);
    expect(doc.profiles.find((p: { name: string }) => p.name === 'v7.1').aliases).toEqual(['mainline']);
  });
  it('diff takes one --profile and one --profile-file; the file gives what the built-in gives', () => {
    const files = ['examples/demo/02-src0-out-of-place.yaml'];
    const viaFile = gmemsim(
      'diff',
      '--profile',
      'next-20260923',
      '--profile-file',
      'profiles/yan-proposal.yaml',
      ...files,
    );
    const builtIn = gmemsim('diff', '--profile', 'next-20260923', '--profile', 'yan-proposal', ...files);
    expect(viaFile.code).toBe(1);
    expect(viaFile.out).toBe(builtIn.out);
  });
  it('a bad profile file exits 2 with FILE:LINE:COL', () => {
    const r = gmemsim('run', '--profile-file', 'README.md', 'examples/demo/02-src0-out-of-place.yaml');
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/^README\.md:\d+:\d+: /);
  });
});
