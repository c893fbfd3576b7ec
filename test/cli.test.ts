import { spawnSync } from 'node:child_process';
/** The command-line contract (../shared/spec/cli.md): exit codes, diagnostics, determinism. */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { gmemsim, noStack } from './support/cli.ts';
import { ROOT } from './support/scenarios.ts';

const dir = mkdtempSync(join(tmpdir(), 'gmemsim-cli-'));
function file(name: string, text: string): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}

const EXAMPLE = 'test/scenarios/examples/scenario-format-example.yaml';

describe('gmemsim run', () => {
  it('exits 0 when every expectation holds, and prints the rule and citation of each step', () => {
    const r = gmemsim('run', EXAMPLE);
    expect(r.code).toBe(0);
    expect(r.out).toContain('tdx.imr.doubleAdd');
    expect(r.out).toContain('kvm_tdp_mmu_map_private_pfn()');
  });
  it('is deterministic: the same input gives byte-identical output', () => {
    expect(gmemsim('run', EXAMPLE).out).toBe(gmemsim('run', EXAMPLE).out);
    expect(gmemsim('run', '--json', EXAMPLE).out).toBe(gmemsim('run', '--json', EXAMPLE).out);
  });
  it('--json prints one JSON document', () => {
    const doc = JSON.parse(gmemsim('run', '--json', EXAMPLE).out);
    expect(doc.ok).toBe(true);
    expect(doc.runs[0].steps.at(-1).out.mrtd).toMatch(/^[0-9a-f]{96}$/);
  });
  it('exits 1 when an expectation fails', () => {
    const f = file(
      'fail.yaml',
      'format: gmemsim/1\nname: x\nsteps:\n  - KVM_CREATE_VM: { type: 99 }\n    expect: ok\n',
    );
    const r = gmemsim('run', f);
    expect(r.code).toBe(1);
    expect(r.out).toContain('expected success, got errno EINVAL');
  });
  it.each([
    [
      'unknown key',
      'format: gmemsim/1\nname: x\nsteps:\n  - KVM_CREATE_VM: { tpye: 0 }\n',
      /:4:22: .*unknown argument "tpye"/,
    ],
    ['negative integer', 'format: gmemsim/1\nname: x\nsteps:\n  - KVM_CREATE_VM: { type: -1 }\n', /:4:28: .*negative/],
    ['YAML syntax', 'format: gmemsim/1\nname: foo (a: b)\nsteps: []\n', /:2:7: Nested mappings/],
    [
      'unknown op',
      'format: gmemsim/1\nname: x\nsteps:\n  - KVM_CREATE_VN: {}\n',
      /:4:5: .*unknown operation "KVM_CREATE_VN"/,
    ],
    [
      'unbound handle',
      'format: gmemsim/1\nname: x\nsteps:\n  - close: { fd: nothing }\n',
      /:4:18: .*unknown handle "nothing"/,
    ],
    [
      'above u64',
      'format: gmemsim/1\nname: x\nsteps:\n  - mmap: { length: 0x10000000000000000 }\n',
      /:4:21: .*above 2\^64-1/,
    ],
    [
      'absurd load',
      'format: gmemsim/1\nname: x\nsteps:\n  - load: { addr: 0x1000, length: 0x10000000000 }\n',
      /:4:35: .*at most 1073741824 bytes/,
    ],
    [
      'in-place knob on a kernel without the series',
      'format: gmemsim/1\nname: x\nkernel: { profile: mainline, gmem_in_place_conversion: true }\nsteps: [ { close: { fd: 3 } } ]\n',
      /:3:30: kernel\.gmem_in_place_conversion: .*only for profiles next-20260923 \(in-place\) and yan-proposal \(not v7\.1\)/,
    ],
    ['missing steps', 'format: gmemsim/1\nname: x\n', /:1:1: .*steps/],
    ['wrong format', 'format: gmemsim/2\nname: x\nsteps: [ { close: { fd: 3 } } ]\n', /:1:9: .*gmemsim\/1/],
    ['binary content', 'format: gmemsim/1\nna\0me: x\u00ff\0\n', /:2:3: not a scenario file: binary content/],
    [
      'YAML errors that follow from the first',
      'format: gmemsim/1\nname: x\n  bad: [\nsteps: {\n',
      /:2:7: .*\(and \d+ more YAML errors after it\)$/m,
    ],
  ])('a bad file (%s) is one FILE:LINE:COL line and exit 2', (_name, text, re) => {
    const f = file('bad.yaml', text);
    const r = gmemsim('run', f);
    expect(r.code).toBe(2);
    expect(r.err.trimEnd().split('\n')).toHaveLength(1);
    expect(r.err).toMatch(re);
    expect(r.err.startsWith(f)).toBe(true);
    noStack(r.err);
  });
  it('a missing file is exit 2', () => {
    const r = gmemsim('run', join(dir, 'nope.yaml'));
    expect(r.code).toBe(2);
    expect(r.err).toContain('nope.yaml:1:1: cannot read file');
  });
  it.each([
    [['run', '--profile', 'linus', EXAMPLE], /--profile linus: unknown profile/],
    [['run', '--set', 'gmem_in_place_conversion=maybe', EXAMPLE], /--set gmem_in_place_conversion=maybe/],
    [['run', '--set', 'colour=1', EXAMPLE], /unknown key colour/],
    [['run', '--set', 'safeguard.doubel-add=off', EXAMPLE], /--set safeguard\.doubel-add: unknown safeguard/],
    [['run', '--frobnicate', EXAMPLE], /unknown option '--frobnicate'/],
    [['diff', '--profile', 'in-place', EXAMPLE], /exactly two --profile/],
  ])('bad flags %j exit 2 with a message naming the flag', (args, re) => {
    const r = gmemsim(...(args as string[]));
    expect(r.code).toBe(2);
    expect(r.err).toMatch(re);
    noStack(r.err);
  });
  it('--profile and --set override the file', () => {
    const r = gmemsim('run', '--profile', 'kvm-x86', EXAMPLE);
    expect(r.code).toBe(1);
    expect(r.out).toContain('kernel profile kvm-x86');
  });
});

describe('gmemsim diff', () => {
  it('between in-place and yan-proposal shows the row the thread argued about', () => {
    const r = gmemsim(
      'diff',
      '--profile',
      'in-place',
      '--profile',
      'yan-proposal',
      'examples/demo/01-in-place-add.yaml',
      'examples/demo/02-src0-out-of-place.yaml',
      'examples/demo/04-double-add.yaml',
      'examples/demo/05-resume.yaml',
    );
    expect(r.code).toBe(1);
    expect(r.out).toContain('02-src0-out-of-place.yaml');
    expect(r.out).not.toContain('01-in-place-add.yaml');
    expect(r.out).not.toContain('04-double-add.yaml');
    expect(r.out).toContain('tdx.imr.srcZeroNoInPlace');
  });
  it('exits 0 when nothing differs', () => {
    expect(gmemsim('diff', '--profile', 'in-place', '--profile', 'in-place', EXAMPLE).code).toBe(0);
  });
});

describe('gmemsim demo, rules, schema', () => {
  it('a reader that closes early (| head) gets no stack trace', () => {
    const r = spawnSync('bash', ['-c', `node --import tsx ${join(ROOT, 'src/cli/main.ts')} demo --verbose | head -1`], {
      cwd: ROOT,
      encoding: 'utf8',
    });
    expect(r.stdout).toMatch(/^.+\n$/);
    expect(r.stderr).toBe('');
  });
  it('demo needs no arguments and shows every profile', () => {
    const r = gmemsim('demo');
    expect(r.code).toBe(0);
    for (const p of ['in-place', 'kvm-x86', 'mainline', 'pre-2a62345b3052', 'yan-proposal']) expect(r.out).toContain(p);
    expect(r.out).toContain('tdx.imr.srcZeroKx');
  });
  it('rules --ioctl filters the catalogue', () => {
    const r = gmemsim('rules', '--ioctl', 'KVM_TDX_INIT_MEM_REGION');
    expect(r.code).toBe(0);
    expect(r.out).toContain('tdx.imr.doubleAdd');
    expect(r.out).not.toContain('gmem.create');
  });
  it('schema prints the JSON Schema', () => {
    const doc = JSON.parse(gmemsim('schema').out);
    expect(doc.title).toBe('gmemsim/1 scenario');
  });
});
