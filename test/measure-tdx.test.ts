import { mkdirSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FirmwareError, guidBytes, guidString, parseOvmfTable } from '../src/measure/ovmf.ts';
import { QEMU_TDX_VERSIONS } from '../src/measure/qemu-versions.ts';
import { parseTdvf, TDX_METADATA_OFFSET_GUID } from '../src/measure/tdvf.ts';
import { measureTdx, type TdxMeasureOrder } from '../src/measure/tdx.ts';
import { nodeFileReader, nodeHost } from '../src/node/host.ts';
import { loadScenario } from '../src/scenario/load.ts';
import { runScenario } from '../src/scenario/run.ts';
import { gmemsim, noStack } from './support/cli.ts';
import { FIRMWARE, firmware, sha256 } from './support/firmware.ts';
import { failures, ROOT } from './support/scenarios.ts';
import { tdxByHand } from './support/tdx-by-hand.ts';

/** measurement.md §4.1 (file sha256) and §4.5 (records, MRTD single-pass and two-pass) */
const VECTORS = [
  {
    id: 'T1',
    file: 'OVMF.inteltdx.ms.fd',
    sha256: 'a265075b4147a096109e501e76196df1ec8a18659c26f7401492c597ec88f312',
    pageAdds: 1050,
    extends: 14272,
    'single-pass': 'a7a1f751abc454f9cbab198ca8d2edb2821935df525c74182b5e776cb0929e8c59aefecce725b0d08a5e9d3d3183bd08',
    'two-pass': 'b90b236113eb4c0d4df4ef590568c14e6028a3a31d7e8ac63dee9845df5008d3ebf82d4f5974e933798f65d7a279b9a9',
  },
  {
    id: 'T2',
    file: 'OVMF.bookworm.fd',
    sha256: '7b456907dd0786d415999e801a1ac4637b8ed4d7cf5378cfc6edbe5e574dd773',
    pageAdds: 538,
    extends: 7680,
    'single-pass': '4c7206f0f483c524f12c366c711e9049030a8d47c471ee5aa9c4999a08de4057fb887fed0744d5631a212967fb231c47',
    'two-pass': 'acccbcc870a381adab0d3919d90a7f268ac3b0364771f202ed4bb4e892d045b33db3b32e6924cba830a724eed443f7e1',
  },
] as const;

/** T6: bookworm's OVMF_CODE.fd is the combined OVMF.fd without its first 128 KiB (the variable store) */
const OVMF_CODE_SHA256 = 'd9b568def24088c92f34b5479e0ed7e44d0a4d4cea8a0f5716719180bba48106';
function splitCode(): Uint8Array {
  const all = firmware('OVMF.bookworm.fd');
  return all.slice(all.length - 1966080);
}

const dir = mkdtempSync(join(tmpdir(), 'gmemsim-measure-'));

describe('the firmware files are the ones the vectors were made on', () => {
  it.each(VECTORS.map((v) => [v.file, v.sha256]))('%s has sha256 %s', (file, want) => {
    expect(sha256(firmware(file))).toBe(want);
  });
});

describe.each(VECTORS)('$id $file', (v) => {
  it.each(['single-pass', 'two-pass'] as TdxMeasureOrder[])('%s MRTD from the model equals the vector', (order) => {
    const m = measureTdx(firmware(v.file), { firmwareFile: v.file, order }, nodeHost);
    expect(failures(m.result)).toBe('');
    expect(m.mrtd).toBe(v[order]);
    // the records: one PAGE.ADD per page, 16 MR.EXTEND per measured page
    const pages = m.plan.calls.map((c) => m.result.steps[c.step]!.outcome.out.pages ?? 0);
    expect(pages.reduce((a, b) => a + b, 0)).toBe(v.pageAdds);
    expect(m.plan.calls.reduce((n, c, i) => n + (c.measured ? 16 * pages[i]! : 0), 0)).toBe(v.extends);
  });
  it('populates the TDVF sections in metadata order, not GPA order, measuring only the BFV', () => {
    const m = measureTdx(firmware(v.file), { firmwareFile: v.file, order: 'single-pass' }, nodeHost);
    expect(m.plan.calls.map((c) => c.section.type)).toEqual([
      'BFV',
      'CFV',
      'TEMP_MEM',
      'TEMP_MEM',
      'TD_HOB',
      'TEMP_MEM',
    ]);
    expect(m.plan.calls.map((c) => c.measured)).toEqual([true, false, false, false, false, false]);
    const s = m.result.steps;
    // the sequence QEMU's tdx_finalize_vm issues, source never 0
    for (const c of m.plan.calls) {
      const op = s[c.step]!.op;
      if (op.op !== 'KVM_MEMORY_ENCRYPT_OP' || typeof op.data !== 'object') throw new Error(`step ${c.step}: ${op.op}`);
      expect(op.data.source_addr).toBeGreaterThan(0n);
    }
    const vcpuInit = s.find((r) => r.op.op === 'KVM_MEMORY_ENCRYPT_OP' && r.op.id === 2n)!; // KVM_TDX_INIT_VCPU
    expect(vcpuInit.op.op === 'KVM_MEMORY_ENCRYPT_OP' && vcpuInit.op.data).toBe(0x809000n); // TD_HOB address
  });
});

describe('T6: a split OVMF_CODE.fd is refused', () => {
  it('is the real bookworm OVMF_CODE.fd, byte for byte', () => {
    expect(sha256(splitCode())).toBe(OVMF_CODE_SHA256);
  });
  it('names the section whose DataOffset lies beyond the file', () => {
    expect(() => measureTdx(splitCode(), { firmwareFile: 'OVMF_CODE.fd', order: 'single-pass' }, nodeHost)).toThrow(
      /^TDVF section 0 \(BFV\): DataOffset 0x20000 \+ RawDataSize 0x1e0000 is beyond the end of the 0x1e0000-byte image/,
    );
  });
});

describe('OVMF footer table and TDVF metadata', () => {
  it('GUIDs are stored bytes_le', () => {
    const b = guidBytes('96b582de-1fb2-45f7-baea-a366c55a082d');
    expect(Buffer.from(b).toString('hex')).toBe('de82b596b21ff745baeaa366c55a082d');
    expect(guidString(b)).toBe('96b582de-1fb2-45f7-baea-a366c55a082d');
  });
  it('finds the TDX metadata offset entry and the six sections of measurement.md §3', () => {
    const img = firmware('OVMF.inteltdx.ms.fd');
    expect(parseOvmfTable(img).map((e) => e.guid)).toContain(TDX_METADATA_OFFSET_GUID);
    const m = parseTdvf(img);
    expect(
      m.sections.map((s) => [s.type, s.memoryAddress.toString(16), s.memoryDataSize.toString(16), s.attributes]),
    ).toEqual([
      ['BFV', 'ffc84000', '37c000', 1],
      ['CFV', 'ffc00000', '84000', 0],
      ['TEMP_MEM', '810000', '10000', 0],
      ['TEMP_MEM', '80b000', '2000', 0],
      ['TD_HOB', '809000', '2000', 0],
      ['TEMP_MEM', '800000', '6000', 0],
    ]);
    expect(m.hob.index).toBe(4);
  });

  /** OVMF.bookworm.fd with its metadata edited: descriptor at 0x1ff7c0, sections from 0x1ff7d0 */
  const DESC = 0x1ff7c0;
  const SEC = (i: number) => DESC + 16 + 32 * i;
  function edited(edit: (v: DataView, b: Uint8Array) => void): Uint8Array {
    const b = firmware('OVMF.bookworm.fd').slice();
    edit(new DataView(b.buffer), b);
    return b;
  }
  const cases: [string, (v: DataView, b: Uint8Array) => void, RegExp][] = [
    ['no footer table', (_v, b) => b.fill(0, b.length - 48, b.length - 32), /no OVMF footer table/],
    ['bad signature', (v) => v.setUint32(DESC, 0x41534556, true), /no 'TDVF' signature at 0x1ff7c0/],
    ['version 2', (v) => v.setUint32(DESC + 8, 2, true), /version 2 is not supported/],
    ['one section', (v) => v.setUint32(DESC + 12, 1, true), /has 1 section entries; QEMU needs at least 2/],
    ['Length mismatch', (v) => v.setUint32(DESC + 4, 0xf0, true), /Length 0xf0 does not match its 6 section entries/],
    ['MemoryDataSize < RawDataSize', (v) => v.setBigUint64(SEC(1) + 16, 0x1000n, true), /smaller than RawDataSize/],
    ['unaligned address', (v) => v.setBigUint64(SEC(2) + 8, 0x810800n, true), /MemoryAddress 0x810800 is not 4 KiB/],
    ['unaligned size', (v) => v.setBigUint64(SEC(2) + 16, 0x10010n, true), /MemoryDataSize 0x10010 is not 4 KiB/],
    ['td-shim type', (v) => v.setUint32(SEC(2) + 24, 4, true), /type 4 \(td-shim PermMem\) is not supported/],
    ['BFV without data', (v) => v.setUint32(SEC(0) + 4, 0, true), /\(BFV\): RawDataSize is 0/],
    ['TEMP_MEM with data', (v) => v.setUint32(SEC(2) + 4, 0x1000, true), /\(TEMP_MEM\): RawDataSize 0x1000 is not 0/],
    ['no TD_HOB', (v) => v.setUint32(SEC(4) + 24, 3, true), /no TD_HOB section/],
    ['two TD_HOBs', (v) => v.setUint32(SEC(3) + 24, 2, true), /2 TD_HOB sections \(3, 4\)/],
    [
      'overlapping sections (KVM refuses the second add)',
      (v) => v.setBigUint64(SEC(5) + 8, 0x809000n, true),
      /section 5 \(TEMP_MEM\) at GPA 0x809000, 6 pages: -EIO \(tdx\.imr\.doubleAdd/,
    ],
    [
      'a section above the shared bit (no private memslot)',
      (v) => v.setBigUint64(SEC(5) + 8, 1n << 47n, true),
      /KVM_SET_USER_MEMORY_REGION2\): -EINVAL \(tdx\.gfnAlias/,
    ],
  ];
  it.each(cases)('refuses an image with %s, in one line', (_name, edit, re) => {
    let err: unknown;
    try {
      measureTdx(edited(edit), { firmwareFile: 'x.fd', order: 'single-pass' }, nodeHost);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(FirmwareError);
    expect((err as Error).message).toMatch(re);
    expect((err as Error).message).not.toContain('\n');
  });
  const mrtdByHand = (img: Uint8Array, order: 'single-pass' | 'two-pass') => tdxByHand(img, DESC, order);
  it('the hand-made MRTD reproduces T2 (single- and two-pass)', () => {
    const img = firmware('OVMF.bookworm.fd');
    expect(mrtdByHand(img, 'single-pass')).toBe(VECTORS[1]['single-pass']);
    expect(mrtdByHand(img, 'two-pass')).toBe(VECTORS[1]['two-pass']);
  });
  it('populates a PAGE.AUG section as QEMU does (tdx_init_fw_mem_region looks only at MR.EXTEND)', () => {
    // BFV with MR.EXTEND | PAGE.AUG, and a TEMP_MEM with PAGE.AUG only: QEMU (every version read,
    // qemu-versions.ts) issues the same calls as without the attribute
    const both = edited((v) => v.setUint32(SEC(0) + 28, 3, true));
    const m = measureTdx(both, { firmwareFile: 'x.fd', order: 'single-pass' }, nodeHost);
    expect(m.plan.calls.map((c) => [c.section.index, c.measured])).toEqual([
      [0, true],
      [1, false],
      [2, false],
      [3, false],
      [4, false],
      [5, false],
    ]);
    expect(m.mrtd).toBe(mrtdByHand(both, 'single-pass'));
    const augOnly = edited((v) => v.setUint32(SEC(5) + 28, 2, true));
    expect(measureTdx(augOnly, { firmwareFile: 'x.fd', order: 'two-pass' }, nodeHost).mrtd).toBe(
      mrtdByHand(augOnly, 'two-pass'),
    );
  });
  it("pageAug 'skip' gives a PAGE.AUG section no KVM_TDX_INIT_MEM_REGION and no record", () => {
    const img = edited((v) => v.setUint32(SEC(5) + 28, 2, true));
    const m = measureTdx(img, { firmwareFile: 'x.fd', order: 'single-pass', pageAug: 'skip' }, nodeHost);
    expect(m.plan.calls.map((c) => c.section.index)).toEqual([0, 1, 2, 3, 4]);
    expect(m.plan.skipped.map((s) => s.index)).toEqual([5]);
    expect(m.mrtd).not.toBe(VECTORS[1]['single-pass']);
  });
});

describe('the emitted scenario', () => {
  const out = join(dir, 'emitted');
  it('replays under runScenario and gmemsim run with the same MRTD, naming the firmware by a relative path', () => {
    const file = join(dir, 't1.yaml');
    const r = gmemsim('measure', 'tdx', '--firmware', join(FIRMWARE, 'OVMF.inteltdx.ms.fd'), '--emit-scenario', file);
    expect(r.code).toBe(0);
    expect(r.out).toBe(`${VECTORS[0]['single-pass']}\n`);
    const text = readFileSync(file, 'utf8');
    expect(statSync(file).size).toBeLessThan(20_000); // the image is referenced, not inlined
    expect(text).toMatch(
      /data: \{ file: "(\.\.\/)+.*shared\/firmware\/OVMF\.inteltdx\.ms\.fd", offset: 0, length: 4194304 \}/,
    );
    expect(text).toContain(`mrtd: "${VECTORS[0]['single-pass']}"`);
    const s = loadScenario(file, text, nodeFileReader);
    const res = runScenario(s, nodeHost);
    expect(failures(res)).toBe('');
    expect(res.steps.at(-1)!.outcome.out.mrtd).toBe(VECTORS[0]['single-pass']);
    // the same sequence under the two-pass knob gives the two-pass vector
    const two = runScenario(s, nodeHost, { set: { tdx_measure_order: 'two-pass' } });
    expect(two.steps.at(-1)!.outcome.out.mrtd).toBe(VECTORS[0]['two-pass']);
    const run = gmemsim('run', file);
    expect(run.code).toBe(0);
    expect(run.out).toMatch(/expectations: (\d+) held\n$/);
  });
  it('--two-pass-add-pages writes the knob into the kernel section', () => {
    mkdirSync(out, { recursive: true });
    const file = join(out, 't2-two-pass.yaml');
    const r = gmemsim(
      'measure',
      'tdx',
      '--firmware',
      join(FIRMWARE, 'OVMF.bookworm.fd'),
      '--two-pass-add-pages',
      '--emit-scenario',
      file,
    );
    expect(r.code).toBe(0);
    expect(r.out).toBe(`${VECTORS[1]['two-pass']}\n`);
    const text = readFileSync(file, 'utf8');
    expect(text).toContain('kernel: { profile: kvm-x86, tdx_measure_order: two-pass }');
    const res = runScenario(loadScenario(file, text, nodeFileReader), nodeHost);
    expect(failures(res)).toBe('');
    expect(res.steps.at(-1)!.outcome.out.mrtd).toBe(VECTORS[1]['two-pass']);
  });
});

describe('gmemsim measure tdx', () => {
  const T1 = join(FIRMWARE, 'OVMF.inteltdx.ms.fd');
  const T2 = join(FIRMWARE, 'OVMF.bookworm.fd');
  it('prints the 96 hex digits and a newline only, deterministically', () => {
    const a = gmemsim('measure', 'tdx', '--firmware', T1);
    expect(a.code).toBe(0);
    expect(a.out).toBe(`${VECTORS[0]['single-pass']}\n`);
    expect(a.err).toBe('');
    expect(gmemsim('measure', 'tdx', '--firmware', T1).out).toBe(a.out);
  });
  it('--qemu-version picks the record order of that QEMU (two-pass for the 8.2 TDX builds), as data with sources', () => {
    for (const [v, order] of [
      ['8.2', 'two-pass'],
      ['8.2.2', 'two-pass'],
      ['8.1-tdx', 'single-pass'],
      ['9.0-tdx', 'single-pass'],
      ['10.1', 'single-pass'],
      ['11.0', 'single-pass'],
    ] as const) {
      const r = gmemsim('measure', 'tdx', '--firmware', T2, '--qemu-version', v);
      expect([v, r.code, r.out]).toEqual([v, 0, `${VECTORS[1][order]}\n`]);
    }
    for (const row of QEMU_TDX_VERSIONS) {
      expect(row.source.length).toBeGreaterThan(0);
      for (const s of row.source) expect(s.commit).toMatch(/^[0-9a-f]{40}$/);
    }
  });
  it.each([
    ['9.1', /--qemu-version 9\.1: not a QEMU with TDX that gmemsim knows/],
    ['banana', /--qemu-version banana: not a QEMU with TDX/],
  ])('--qemu-version %s: one line, exit 2', (v, re) => {
    const r = gmemsim('measure', 'tdx', '--firmware', T2, '--qemu-version', v);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(re);
    expect(r.err.trim().split('\n')).toHaveLength(1);
  });
  it('--two-pass-add-pages with a single-pass --qemu-version is a contradiction', () => {
    const r = gmemsim('measure', 'tdx', '--firmware', T2, '--qemu-version', '10.1', '--two-pass-add-pages');
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/^gmemsim: --two-pass-add-pages contradicts --qemu-version 10\.1/);
  });
  it('--output-format base64 with --two-pass-add-pages', () => {
    const r = gmemsim('measure', 'tdx', '--firmware', T1, '--two-pass-add-pages', '--output-format', 'base64');
    expect(r.code).toBe(0);
    expect(r.out).toBe(`${Buffer.from(VECTORS[0]['two-pass'], 'hex').toString('base64')}\n`);
  });
  it('--json prints one document with the MRTD and every KVM_TDX_INIT_MEM_REGION call', () => {
    const r = gmemsim('measure', 'tdx', '--firmware', join(FIRMWARE, 'OVMF.bookworm.fd'), '--json');
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.out);
    expect(doc.mrtd).toBe(VECTORS[1]['single-pass']);
    expect(doc.records).toEqual({ page_add: 538, mr_extend: 7680 });
    expect(doc.calls[0]).toEqual({
      call: 'KVM_TDX_INIT_MEM_REGION',
      section: 0,
      type: 'BFV',
      gpa: '0xffe20000',
      pages: 480,
      measured: true,
    });
    expect(doc.calls).toHaveLength(6);
  });
  it('refuses the split OVMF_CODE.fd (T6): one line, exit 2, no stack trace', () => {
    const f = join(dir, 'OVMF_CODE.fd');
    writeFileSync(f, splitCode());
    const r = gmemsim('measure', 'tdx', '--firmware', f);
    expect(r.code).toBe(2);
    expect(r.out).toBe('');
    expect(r.err).toMatch(/^gmemsim: --firmware .*OVMF_CODE\.fd: TDVF section 0 \(BFV\): DataOffset 0x20000 .* beyond/);
    expect(r.err.trim().split('\n')).toHaveLength(1);
    noStack(r.err);
  });
  it.each([
    ['a missing file', ['--firmware', join(dir, 'nope.fd')], /cannot read file: ENOENT/],
    ['a file that is not OVMF', ['--firmware', join(ROOT, 'package.json')], /no OVMF footer table/],
    ['no --firmware', [], /required option '--firmware <path>'/],
    ['a bad --output-format', ['--firmware', T1, '--output-format', 'hexx'], /argument 'hexx' is invalid/],
  ])('exits 2 for %s', (_name, args, re) => {
    const r = gmemsim('measure', 'tdx', ...args);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(re);
    noStack(r.err);
  });
});
