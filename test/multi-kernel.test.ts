/**
 * One scenario file, many kernels (docs/scenario-extensions.md): kernel.profiles, expect.by_profile,
 * only:, and include: of built-in and file fragments, through the loader, the runner and the CLI.
 */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { KernelNames } from '../src/core/profiles.ts';
import { nodeFileReader, nodeHost } from '../src/node/host.ts';
import { loadScenario, type Scenario, ScenarioError } from '../src/scenario/load.ts';
import { runScenario } from '../src/scenario/run.ts';
import { runAll } from '../src/scenario/runs.ts';
import { gmemsim, noStack } from './support/cli.ts';
import { loadText, runLabel } from './support/scenarios.ts';

const dir = mkdtempSync(join(tmpdir(), 'gmemsim-multi-'));
function file(name: string, text: string): string {
  const p = join(dir, name);
  mkdirSync(join(p, '..'), { recursive: true });
  writeFileSync(p, text);
  return p;
}
const load = (name: string, text: string): Scenario => loadScenario(join(dir, name), text, nodeFileReader);
function loadError(name: string, text: string): string {
  try {
    load(name, text);
  } catch (e) {
    if (e instanceof ScenarioError) return e.message;
    throw e;
  }
  throw new Error('expected a load error');
}

/** the TDX source-0 question of the June 2026 thread, answered by each kernel */
const SOURCE_ZERO = `format: gmemsim/1
name: source 0 under every kernel
kernel:
  profiles: [pre-2a62345b3052, mainline, kvm-x86, in-place, in-place+gmem_in_place_conversion=false, yan-proposal]
steps:
  - include: tdx-td-ready
    with:
      private: [pre-2a62345b3052, mainline, kvm-x86, in-place+gmem_in_place_conversion=false]
  - KVM_MEMORY_ENCRYPT_OP:
      fd: vcpu0
      id: KVM_TDX_INIT_MEM_REGION
      flags: [KVM_TDX_MEASURE_MEMORY_REGION]
      data: { source_addr: 0, gpa: 0, nr_pages: 1 }
    expect:
      by_profile:
        pre-2a62345b3052: { errno: EFAULT }
        mainline: { errno: EOPNOTSUPP }
        kvm-x86: { errno: EINVAL }
        in-place: { ret: 0, data: { gpa: 0x1000 } }
        in-place+gmem_in_place_conversion=false: { errno: EINVAL }
  - attest: { fd: vm }
    expect: { by_profile: { default: { errno: EINVAL }, yan-proposal: null } }
`;

describe('kernel.profiles and expect.by_profile', () => {
  const runs = runAll(load('src0.yaml', SOURCE_ZERO), nodeHost);
  const by = Object.fromEntries(runs.map((r) => [runLabel(r), r]));

  it('runs the file once per declared kernel, in order', () => {
    expect(runs.map(runLabel)).toEqual([
      'pre-2a62345b3052',
      'mainline',
      'kvm-x86',
      'in-place+gmem_in_place_conversion=true',
      'in-place+gmem_in_place_conversion=false',
      'yan-proposal+gmem_in_place_conversion=true',
    ]);
  });
  it('checks each run against its own entry, the most specific selector winning', () => {
    for (const r of runs) expect(r.failed, runLabel(r)).toBe(0);
    const imr = (label: string) => by[label]!.steps.find((s) => s.step.index === 9);
    expect(imr('mainline')?.expect).toEqual({ errno: 'EOPNOTSUPP' });
    // in-place matches both in-place runs; the one with the knob setting is more specific
    expect(imr('in-place+gmem_in_place_conversion=false')?.expect).toEqual({ errno: 'EINVAL' });
    expect(imr('in-place+gmem_in_place_conversion=true')?.outcome.errno).toBeUndefined();
  });
  it('asserts nothing where a step has no entry (or null) for the run and no default', () => {
    // yan-proposal: no IMR entry, attest null: two expectations fewer than kvm-x86's run of the same steps
    const yan = by['yan-proposal+gmem_in_place_conversion=true']!;
    const last = yan.steps.at(-1)!;
    expect(last.expect).toBeUndefined();
    expect(last.checks).toEqual([]);
    expect(yan.expectations).toBe(by['in-place+gmem_in_place_conversion=true']!.expectations - 2);
  });
  it('fails a run whose entry does not hold (the entries are really checked)', () => {
    const wrong = SOURCE_ZERO.replace('mainline: { errno: EOPNOTSUPP }', 'mainline: { errno: EINVAL }');
    const r = runAll(load('wrong.yaml', wrong), nodeHost);
    expect(r.filter((x) => !x.ok).map(runLabel)).toEqual(['mainline']);
  });
  it('runs only the --profile kernel when one is given: its entries, or the profile itself', () => {
    const s = load('src0.yaml', SOURCE_ZERO);
    const r = runAll(s, nodeHost, { profile: 'kvm-x86' });
    expect(r.map(runLabel)).toEqual(['kvm-x86']);
    expect(r[0]!.ok).toBe(true);
    expect(runAll(s, nodeHost, { profile: 'in-place' }).map(runLabel)).toEqual([
      'in-place+gmem_in_place_conversion=true',
      'in-place+gmem_in_place_conversion=false',
    ]);
    // --set wins over an entry's knobs
    const set = runAll(s, nodeHost, { profile: 'in-place', set: { gmem_in_place_conversion: true } });
    expect(set.map(runLabel)).toEqual([
      'in-place+gmem_in_place_conversion=true',
      'in-place+gmem_in_place_conversion=true',
    ]);
    const other = load('k.yaml', SOURCE_ZERO.replace(/profiles: \[.*\]/, 'profiles: [mainline]'));
    expect(runAll(other, nodeHost, { profile: 'kvm-x86' }).map(runLabel)).toEqual(['kvm-x86']);
  });
  it('accepts profiles: all and the mapping form of an entry', () => {
    const all = load(
      'all.yaml',
      'format: gmemsim/1\nname: x\nkernel: { profiles: all }\nsteps:\n  - fstat: { fd: 99 }\n',
    );
    // every kernel once, newest first: the old names are aliases, not kernels of their own
    expect(all.kernel.profiles?.map((s) => s.profile)).toEqual([...KernelNames]);
    const m = load(
      'm.yaml',
      'format: gmemsim/1\nname: x\nkernel:\n  profiles: [{ profile: in-place, gmem_in_place_conversion: false }]\nsteps:\n  - fstat: { fd: 99 }\n',
    );
    expect(runAll(m, nodeHost).map(runLabel)).toEqual(['in-place+gmem_in_place_conversion=false']);
  });
});

describe('only:', () => {
  const text = `format: gmemsim/1
name: per-VM attributes only where they exist
kernel: { profiles: [mainline, in-place] }
steps:
  - KVM_CREATE_VM: { type: KVM_X86_SW_PROTECTED_VM }
    as: vm
  - KVM_SET_MEMORY_ATTRIBUTES: { fd: vm, address: 0, size: 0x1000, attributes: [KVM_MEMORY_ATTRIBUTE_PRIVATE] }
    only: [mainline]
    expect: ok
  - KVM_CHECK_EXTENSION: { fd: vm, cap: KVM_CAP_MEMORY_ATTRIBUTES }
    expect: { by_profile: { mainline: { ret: 8 }, in-place: { ret: 0 } } }
`;
  it('runs a step only under the kernels it names, numbering steps by their place in the file', () => {
    const [mainline, inPlace] = runAll(load('only.yaml', text), nodeHost);
    expect(mainline!.steps.map((s) => s.step.index + 1)).toEqual([1, 2, 3]);
    expect(inPlace!.steps.map((s) => s.step.index + 1)).toEqual([1, 3]);
    expect(mainline!.ok && inPlace!.ok).toBe(true);
  });
});

describe('include:', () => {
  it('brings in a built-in fragment, binding its handles for the steps after it', () => {
    const s = load(
      'inc.yaml',
      `format: gmemsim/1
name: x
kernel: { profile: mainline }
steps:
  - include: tdx-td-ready
    with: { vcpu: vcpu, gmem_size: 0x2000, private_size: 0x1000 }
  - KVM_MEMORY_ENCRYPT_OP:
      fd: vcpu
      id: KVM_TDX_INIT_MEM_REGION
      data: { source_addr: 0, gpa: 0x1000, nr_pages: 1 }
    expect: { errno: EINVAL }
`,
    );
    expect(s.steps.map((x) => x.index)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(s.steps[8]!.origin?.fragment).toBe('tdx-td-ready');
    expect(s.steps[9]!.origin).toBeUndefined();
    expect(s.steps[6]!.args.size).toBe(0x2000n);
    const [r] = runAll(s, nodeHost);
    expect(r!.ok).toBe(true);
    expect(r!.expectations).toBe(10);
  });
  it('drops a step a parameter switches off (private: false), numbering the rest in sequence', () => {
    const s = load(
      'off.yaml',
      'format: gmemsim/1\nname: x\nsteps:\n  - include: snp-launch-started\n    with: { private: false }\n  - close: { fd: gmem }\n    expect: ok\n',
    );
    expect(s.steps.map((x) => x.op)).not.toContain('KVM_SET_MEMORY_ATTRIBUTES');
    expect(s.steps.map((x) => x.index)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8]);
    expect(runAll(s, nodeHost)[0]!.ok).toBe(true);
  });
  it('reports a bad parameter where the including file gives it', () => {
    const m = loadError(
      'bad.yaml',
      'format: gmemsim/1\nname: x\nsteps:\n  - include: tdx-td-ready\n    with: { gmem_size: -4 }\n',
    );
    expect(m).toMatch(/^\S*bad\.yaml:5:13: with\.gmem_size: .*negative integers are not allowed \(in tdx-td-ready\)$/m);
  });
  it.each([
    [
      'unknown fragment',
      '  - include: tdx-ready\n',
      /:4:5: .*unknown fragment "tdx-ready"; built-in fragments are tdx-td-ready, snp-launch-started/,
    ],
    [
      'unknown parameter',
      '  - include: tdx-td-ready\n    with: { gmem_sise: 1 }\n',
      /:5:13: .*unknown parameter "gmem_sise" of tdx-td-ready; expected vm, vcpu/,
    ],
    ['missing fragment file', '  - include: nope.yaml\n', /:4:5: steps\[0\]\.include: cannot read nope\.yaml/],
  ])('%s is a load error at FILE:LINE:COL', (_, steps, re) => {
    expect(loadError('e.yaml', `format: gmemsim/1\nname: x\nsteps:\n${steps}`)).toMatch(re);
  });
  it('reports an error inside a fragment file at its own FILE:LINE:COL, and where it was included', () => {
    file(
      'frags/vm.yaml',
      'format: gmemsim/1-fragment\nname: vm\nparams: { type: KVM_X86_TDX_VM }\nsteps:\n  - KVM_CREATE_VM: { type: $type }\n    as: vm\n  - close: { fd: $nope }\n',
    );
    const m = loadError('main.yaml', 'format: gmemsim/1\nname: x\nsteps:\n  - include: frags/vm.yaml\n');
    expect(m).toContain(`${join(dir, 'frags/vm.yaml')}:7:18: steps[1].close.fd: unknown parameter $nope`);
    expect(m).toContain(`(included from ${join(dir, 'main.yaml')}:4)`);
  });
  it('runs a fragment file with parameters, relative to the including file', () => {
    file(
      'frags/sw.yaml',
      'format: gmemsim/1-fragment\nname: sw-vm\nparams: { handle: vm }\nsteps:\n  - KVM_CREATE_VM: { type: KVM_X86_SW_PROTECTED_VM }\n    as: $handle\n    expect: ok\n',
    );
    const f = file(
      'sub/main.yaml',
      'format: gmemsim/1\nname: x\nsteps:\n  - include: ../frags/sw.yaml\n    with: { handle: guest }\n  - fstat: { fd: guest }\n    expect: { errno: EBADF }\n',
    );
    const r = gmemsim('run', f);
    expect(r.err).toBe('');
    expect(r.code).toBe(1); // fstat of a VM fd is not EBADF: the expectation is checked
    expect(r.out).toContain(`┌ include sw-vm (${f}:4)`);
    expect(r.out).toMatch(/✓ {2}1 KVM_CREATE_VM.*→ guest/);
  });
  it('reads the data files a fragment names relative to the fragment file', () => {
    file('frags/data/page.bin', 'ABCD');
    file(
      'frags/fill.yaml',
      'format: gmemsim/1-fragment\nname: fill\nsteps:\n  - mmap: { length: 0x1000, prot: [PROT_READ, PROT_WRITE], flags: [MAP_PRIVATE, MAP_ANONYMOUS] }\n    as: buf\n  - store: { addr: buf, data: { file: data/page.bin } }\n    expect: { ret: 4 }\n',
    );
    const s = load(
      'uses-fill.yaml',
      'format: gmemsim/1\nname: x\nsteps:\n  - include: frags/fill.yaml\n  - load: { addr: buf, length: 4 }\n    expect: { bytes: { text: ABCD } }\n',
    );
    expect([...s.files.keys()]).toEqual(['frags/data/page.bin']);
    expect(runAll(s, nodeHost)[0]!.ok).toBe(true);
  });
  it('refuses a fragment that includes itself', () => {
    file('frags/loop.yaml', 'format: gmemsim/1-fragment\nname: loop\nsteps:\n  - include: loop.yaml\n');
    const m = loadError('l.yaml', 'format: gmemsim/1\nname: x\nsteps:\n  - include: frags/loop.yaml\n');
    expect(m).toMatch(/frags\/loop\.yaml:4:5: steps\[0\]\.include: .*loop\.yaml includes itself \(included from/);
  });
});

describe('load errors of the kernel matrix', () => {
  it.each([
    [
      'a by_profile key that is no profile',
      'steps:\n  - fstat: { fd: 99 }\n    expect: { by_profile: { mainlne: ok } }\n',
      /:5:29: .*unknown profile "mainlne"; expected one of next-20260923, .*mainline/,
    ],
    [
      'a knob the profile lacks',
      'kernel: { profiles: [mainline+gmem_in_place_conversion=false] }\nsteps:\n  - fstat: { fd: 99 }\n',
      /:3:22: kernel\.profiles\[0\]: gmem_in_place_conversion exists only for profiles next-20260923 \(in-place\) and yan-proposal/,
    ],
    [
      'profile and profiles',
      'kernel: { profile: mainline, profiles: [kvm-x86] }\nsteps:\n  - fstat: { fd: 99 }\n',
      /:3:11: kernel\.profile: give either profile/,
    ],
    [
      'a kernel listed twice',
      'kernel: { profiles: [kvm-x86, kvm-x86] }\nsteps:\n  - fstat: { fd: 99 }\n',
      /:3:31: .*kvm-x86 is listed twice/,
    ],
    [
      'an only: selector',
      'steps:\n  - fstat: { fd: 99 }\n    only: [in-place+knob=1]\n',
      /:5:12: .*unknown knob "knob"/,
    ],
  ])('%s', (_, rest, re) => {
    const f = file('k.yaml', `format: gmemsim/1\nname: x\n${rest}`);
    const r = gmemsim('run', f);
    expect(r.code).toBe(2);
    noStack(r.err);
    expect(r.err.trim().split('\n')).toHaveLength(1);
    expect(r.err).toMatch(re);
  });
});

describe('gmemsim run of a file with kernel.profiles', () => {
  const f = file('src0.yaml', SOURCE_ZERO);
  it('prints each run on its own and a total that counts each run', () => {
    const r = gmemsim('run', f);
    expect(r.code).toBe(0);
    expect(r.out.match(/^ {2}kernel profile /gm)).toHaveLength(6);
    expect(r.out).toContain('  kernel profile in-place, gmem_in_place_conversion=false');
    expect(r.out).toMatch(/\n6 runs of 1 file, \d+ expectations: \d+ held\n/);
  });
  it('--json has one entry per run', () => {
    const doc = JSON.parse(gmemsim('run', '--json', f).out);
    expect(doc.runs.map((x: { profile: string }) => x.profile)).toEqual([
      'pre-2a62345b3052',
      'mainline',
      'kvm-x86',
      'in-place',
      'in-place',
      'yan-proposal',
    ]);
    expect(doc.runs[1].steps[0].from).toMatchObject({ fragment: 'tdx-td-ready', included_at: { line: 6 } });
    expect(doc.summary).toMatchObject({ files: 1, runs: 6, failed: 0 });
    expect(doc.summary.expectations).toBe(
      doc.runs.reduce((n: number, r: { expectations: number }) => n + r.expectations, 0),
    );
  });
  it('--profile runs just that kernel', () => {
    const r = gmemsim('run', '--profile', 'mainline', f);
    expect(r.code).toBe(0);
    expect(r.out.match(/^ {2}kernel profile /gm)).toHaveLength(1);
    expect(r.out).not.toContain('runs of');
  });
});

describe('a file run under a kernel it does not list', () => {
  it('skips the steps that need a handle only another kernel’s step binds, instead of crashing', () => {
    const s = loadText(
      'x.yaml',
      `format: gmemsim/1
name: x
kernel: { profiles: [in-place] }
steps:
  - KVM_CREATE_VM: { type: KVM_X86_SW_PROTECTED_VM }
    as: vm
  - KVM_CREATE_GUEST_MEMFD: { fd: vm, size: 0x1000 }
    as: gmem
    only: [in-place]
  - fstat: { fd: gmem }
    expect: ok
`,
    );
    const r = runScenario(s, nodeHost, { profile: 'mainline' });
    expect(r.steps.map((x) => x.step.op)).toEqual(['KVM_CREATE_VM']);
    expect(runScenario(s, nodeHost, { profile: 'in-place' }).steps).toHaveLength(3);
  });
});
