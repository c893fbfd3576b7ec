/**
 * src/scenario/emit.ts: a scenario written back as gmemsim/1 text loads as the same steps. Checked
 * on every scenario file of the repository, on the launches the measure commands build in memory
 * (which they emit with --emit-scenario), and on random strings and values.
 */
import { readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fc, test } from '@fast-check/vitest';
import { describe, expect, it } from 'vitest';
import { hostSha256, type SnpLaunchInputs, snpLaunchScenario } from '../src/measure/snp.ts';
import { parseTdvf } from '../src/measure/tdvf.ts';
import { tdxLaunchScenario } from '../src/measure/tdx.ts';
import { nodeFileReader, nodeHost } from '../src/node/host.ts';
import { expectOk, fileData, int, ref, ScenarioBuilder } from '../src/scenario/build.ts';
import { emitInt, emitQuoted, emitScenario, emitString } from '../src/scenario/emit.ts';
import { loadScenario, type Scenario } from '../src/scenario/load.ts';
import { runScenario } from '../src/scenario/run.ts';
import { findScenarios, ROOT } from './support/scenarios.ts';

const FIRMWARE = join(ROOT, '..', 'shared', 'firmware');

/** what a step means, without where it was written (its line, the fragment it was included from) */
const steps = (s: Scenario) => s.steps.map(({ line: _, origin: __, ...rest }) => rest);
const meaning = (s: Scenario) => ({
  name: s.name,
  description: s.description,
  kernel: s.kernel,
  steps: steps(s),
  files: [...s.files.keys()],
});

function reload(s: Scenario, file: string, comments?: ReadonlyMap<number, readonly string[]>): Scenario {
  const text = emitScenario(s, comments ? { comments } : {});
  return loadScenario(file, text, (path, relativeTo) => s.files.get(path) ?? nodeFileReader(path, relativeTo));
}

describe('every scenario file of the repository', () => {
  const files = [...findScenarios(join(ROOT, 'test', 'scenarios')), ...findScenarios(join(ROOT, 'examples'))];
  it('exist', () => expect(files.length).toBeGreaterThan(50));
  it.each(files.map((f) => [relative(ROOT, f), f]))('%s: emit, then load, gives the same steps', (name, f) => {
    const s = loadScenario(name, readFileSync(f, 'utf8'), nodeFileReader);
    const again = reload(s, name);
    expect(meaning(again)).toEqual(meaning(s));
    // the emitted text is a fixed point
    expect(emitScenario(again)).toBe(emitScenario(s));
  });
});

describe('the measure launches', () => {
  const image = (f: string) => new Uint8Array(readFileSync(join(FIRMWARE, f)));
  it.each([
    ['OVMF.inteltdx.ms.fd', 'single-pass'],
    ['OVMF.bookworm.fd', 'two-pass'],
  ] as const)('TDX %s (%s): the built steps are what the emitted file loads as, and give the same MRTD', (f, order) => {
    const firmware = image(f);
    const plan = tdxLaunchScenario(parseTdvf(firmware), { firmwareFile: f, firmware, order, about: `${f} "quoted"` });
    const loaded = reload(plan.scenario, 'tdx.yaml', plan.comments);
    expect(meaning(loaded)).toEqual(meaning(plan.scenario));
    const text = emitScenario(plan.scenario, { comments: plan.comments });
    expect(text).toContain('  # tdx_init_fw_mem_region: one KVM_TDX_INIT_MEM_REGION per TDVF section');
    expect(text).toContain(`kernel: { profile: kvm-x86, tdx_measure_order: ${order} }`);
    const a = runScenario(plan.scenario, nodeHost);
    const b = runScenario(loaded, nodeHost);
    expect(a.ok && b.ok).toBe(true);
    expect(b.steps.at(-1)!.outcome.out.mrtd).toBe(a.steps.at(-1)!.outcome.out.mrtd);
  });
  const base = { mode: 'snp', vcpus: 2, vcpuSig: 0x800f12, vmmType: 'QEMU', guestFeatures: 1n } as const;
  const img = (f: string) => ({ bytes: image(f), file: f, about: `${f}, x` });
  const SEED = '086e2e9149ebf45abdc3445fba5b2da8270bdbb04094d7a2c37faaa4b24af3aa16aff8c374c2a55c467a50da6d466b74';
  const cases: [string, SnpLaunchInputs][] = [
    ['amdsev, 2 vCPUs', { ...base, ovmf: img('OVMF.amdsev.fd') }],
    [
      'amdsev, kernel hashes',
      { ...base, ovmf: img('OVMF.amdsev.fd'), kernel: { kernel: new Uint8Array(3), append: 'console=ttyS0 "x"' } },
    ],
    ['bookworm, ec2', { ...base, vmmType: 'ec2', ovmf: img('OVMF.bookworm.fd') }],
    ['ovmf-hash', { ...base, mode: 'snp:ovmf-hash', ovmf: img('fixtures/ovmf_AmdSev_suffix.bin') }],
    ['seeded', { ...base, ovmf: img('fixtures/ovmf_AmdSev_suffix.bin'), ovmfHash: SEED }],
    [
      'svsm',
      {
        ...base,
        mode: 'snp:svsm',
        varsSize: 0x40000,
        ovmf: img('fixtures/svsm_ovmf.fd'),
        svsm: img('fixtures/svsm.bin'),
      },
    ],
  ];
  it.each(cases)('SNP %s: the built steps are what the emitted file loads as', (_name, inp) => {
    const plan = snpLaunchScenario(inp, hostSha256(nodeHost), { measurement: 'AB'.repeat(48) });
    const loaded = reload(plan.scenario, 'snp.yaml', plan.comments);
    expect(meaning(loaded)).toEqual(meaning(plan.scenario));
    expect(loaded.steps.at(-1)!.expect).toEqual({ measurement: 'ab'.repeat(48) });
  });
});

describe('values', () => {
  it('integers: decimal below 10, hex above', () => {
    expect([0, 9, 10, 0x1000].map(emitInt)).toEqual(['0', '9', '0xa', '0x1000']);
    expect(emitInt((1n << 64n) - 1n)).toBe('0xffffffffffffffff');
  });
  it('strings YAML would read as something else are quoted', () => {
    for (const s of ['true', 'null', '~', '12', '0x1f', '1e5', '0o7', '.inf', '', 'a b', 'a: b', '#x', '-x', 'NO'])
      expect(emitString(s) === s).toBe(s === 'NO');
    expect(emitString('KVM_X86_TDX_VM')).toBe('KVM_X86_TDX_VM');
    expect(emitString('fw+0x1000')).toBe('fw+0x1000');
    expect(emitQuoted('a"b\\c\nd\u0085\u2028')).toBe('"a\\"b\\\\c\\nd\\x85\\u2028"');
  });

  /** a one-step scenario whose strings and values come from fast-check */
  function scenarioWith(name: string, note: string, description: string, file: string, handle: string, off: bigint) {
    const b = new ScenarioBuilder();
    b.comment(note);
    b.add('mmap', { length: 0x1000n, prot: 3n, flags: 0x22n }, { as: handle, expect: expectOk() });
    b.add('store', { addr: ref(handle, off), data: fileData(file, 0n) }, { expect: { ret: int(0) }, note: `${note}!` });
    b.add('munmap', { addr: ref(handle), length: 0x1000n }, { note });
    return b.scenario({ file: 'x.yaml', name, description, kernel: {}, files: new Map([[file, new Uint8Array(1)]]) });
  }
  const oneLine = fc.string({ unit: 'binary', maxLength: 20 }).filter((s) => !/[\n\r]/.test(s) && s.length > 0);
  const text = fc.string({ unit: 'binary', maxLength: 40 });
  const handle = fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_]{0,8}$/).filter((h) => h !== 'kvm' && h !== 'sev');
  test.prop([oneLine, text, text, oneLine, handle, fc.bigInt({ min: -(1n << 40n), max: 1n << 40n })], {
    numRuns: 300,
  })('random strings, handles and offsets read back the same', (name, note, description, file, h, off) => {
    const s = scenarioWith(name, note, description, file, h, off);
    // YAML cannot hold every string: keep to what a scenario file can carry
    const again = reload(s, 'x.yaml', new Map([[0, [note]]]));
    expect(meaning(again)).toEqual(meaning(s));
  });
});
