/**
 * gmemsim measure diff (issue 15): two launches, record by record, from the records the model
 * hashes. The measurements at both ends are the vectors of measurement.md §4 (T1, T2, D2, D3, D8).
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { diffLaunches, snpLaunchRecords, tdxLaunchRecords } from '../src/measure/diff.ts';
import type { SnpLaunchInputs } from '../src/measure/snp.ts';
import { nodeHost, nodeSha384 } from '../src/node/host.ts';
import { gmemsim } from './support/cli.ts';
import { FIRMWARE, firmware } from './support/firmware.ts';
import { ROOT } from './support/scenarios.ts';

const T2 = {
  single: '4c7206f0f483c524f12c366c711e9049030a8d47c471ee5aa9c4999a08de4057fb887fed0744d5631a212967fb231c47',
  two: 'acccbcc870a381adab0d3919d90a7f268ac3b0364771f202ed4bb4e892d045b33db3b32e6924cba830a724eed443f7e1',
};
const T1 = 'a7a1f751abc454f9cbab198ca8d2edb2821935df525c74182b5e776cb0929e8c59aefecce725b0d08a5e9d3d3183bd08';
const D2 = 'd74bd3ea40b240c3228edc5177ce6193561ebff633dbd0be76d6c143b876d65102425c0e2e8a930857c48daa5eacda58';
const D3 = '5fafce19a1da9324827756044f6a922becd7fb7a5f80f1cd803366eeb7add5a129d0ca53b184313c9f9036e869371a88';
const D8 = 'dc90224373ef87b56b4da4964a5fbefb3a0cd401f4ff04571c272c491ccd04bdbd91bc2e10665b1f155bb91db7956b74';

const tdx = (file: string, order: 'single-pass' | 'two-pass') =>
  tdxLaunchRecords(firmware(file), { firmwareFile: file, order }, nodeHost, nodeSha384, `${file} ${order}`);
const snp = (over: Partial<SnpLaunchInputs>) =>
  snpLaunchRecords(
    {
      mode: 'snp',
      ovmf: { bytes: firmware('OVMF.amdsev.fd'), file: 'a.fd' },
      vcpus: 1,
      vcpuSig: 0x800f12,
      vmmType: 'QEMU',
      guestFeatures: 1n,
      ...over,
    },
    nodeHost,
    nodeSha384,
    'snp',
  );

describe('TDX', () => {
  it('single- vs two-pass on T2: the same first PAGE.ADD, then an MR.EXTEND of page 0 against the PAGE.ADD of page 1', () => {
    const a = tdx('OVMF.bookworm.fd', 'single-pass');
    const b = tdx('OVMF.bookworm.fd', 'two-pass');
    expect([a.measurement, b.measurement]).toEqual([T2.single, T2.two]);
    // measurement.md §4.5: 538 PAGE.ADD and 7680 MR.EXTEND records
    for (const l of [a, b]) {
      expect(l.records.filter((r) => r.kind === 'MEM.PAGE.ADD')).toHaveLength(538);
      expect(l.records.filter((r) => r.kind === 'MR.EXTEND')).toHaveLength(7680);
    }
    const d = diffLaunches(a, b);
    expect(d.common).toBe(1);
    expect(d.first?.a).toMatchObject({ kind: 'MR.EXTEND', gpa: 0xffe20000n });
    expect(d.first?.b).toMatchObject({ kind: 'MEM.PAGE.ADD', gpa: 0xffe21000n });
    expect(d.first?.a?.call).toBe('KVM_TDX_INIT_MEM_REGION #1 (MEASURE), TDVF section 0 (BFV)');
  });
  it('two images: they part at the first record (the BFV GPA)', () => {
    const d = diffLaunches(tdx('OVMF.inteltdx.ms.fd', 'single-pass'), tdx('OVMF.bookworm.fd', 'single-pass'));
    expect(d.a.measurement).toBe(T1);
    expect(d.common).toBe(0);
    expect(d.first?.what).toEqual(['GPA: 0xffc84000 / 0xffe20000']);
  });
});

describe('SEV-SNP', () => {
  it('kernel hashes on/off: the SNP_KERNEL_HASHES page, ZERO against NORMAL (D2 / D8)', () => {
    const d = diffLaunches(snp({}), snp({ kernel: { kernel: new Uint8Array(0) } }));
    expect([d.a.measurement, d.b.measurement]).toEqual([D2, D8]);
    expect(d.common).toBe(1024 + 9 + 3 + 1 + 1 + 1 + 31);
    expect(d.first?.a).toMatchObject({ pageType: 'ZERO', gpa: 0x810000n });
    expect(d.first?.b).toMatchObject({ pageType: 'NORMAL', gpa: 0x810000n });
    expect(d.first?.b?.call).toBe('KVM_SEV_SNP_LAUNCH_UPDATE #8, OVMF SEV metadata section 6 (SNP_KERNEL_HASHES)');
  });
  it('guest features: the first VMSA (D2 / D3)', () => {
    const d = diffLaunches(snp({}), snp({ guestFeatures: 0x21n }));
    expect([d.a.measurement, d.b.measurement]).toEqual([D2, D3]);
    expect(d.first?.a).toMatchObject({ pageType: 'VMSA', call: 'KVM_SEV_SNP_LAUNCH_FINISH, VMSA of vCPU 0' });
    expect(d.first?.what[0]).toMatch(/^contents: SHA-384/);
  });
});

describe('the command line', () => {
  const B = join(FIRMWARE, 'OVMF.bookworm.fd');
  it('B takes A options and overrides them; exit 1 when they differ, with the first record', () => {
    const r = gmemsim('measure', 'diff', 'tdx', '--firmware', B, '--vs', '--qemu-version', '8.2', '--context', '0');
    expect(r.code).toBe(1);
    expect(r.out).toContain(`   ${T2.single}, 8218 records`);
    expect(r.out).toContain(`   ${T2.two}, 8218 records`);
    expect(r.out).toMatch(
      /^ {2}A #2 TDH\.MR\.EXTEND of chunk 0xffe20000 \(page 0xffe20000\), from KVM_TDX_INIT_MEM_REGION #1/m,
    );
    expect(r.out).toMatch(/^ {2}B #2 TDH\.MEM\.PAGE\.ADD of 0xffe21000/m);
  });
  it('--json; the same launch twice is exit 0', () => {
    const r = gmemsim(
      ...['measure', 'diff', 'snp', '--ovmf', join(FIRMWARE, 'OVMF.amdsev.fd'), '--vcpus', '1'],
      ...['--vcpu-type', 'EPYC-v4', '--vs', '--guest-features', '0x21', '--json'],
    );
    expect(r.code).toBe(1);
    const doc = JSON.parse(r.out);
    expect(doc.first_difference.a).toMatchObject({ index: 1072, kind: 'PAGE_INFO', page_type: 'VMSA' });
    expect([doc.a.measurement, doc.b.measurement]).toEqual([D2, D3]);
    const same = gmemsim('measure', 'diff', 'tdx', '--firmware', B, '--vs', '--qemu-version', '10.1');
    expect(same.code).toBe(0);
    expect(same.out).toMatch(/same measurement\n$/);
  });
  it("--vs-scenario: against a scenario file's attest step (the hand-written S5), each record traced to its step", () => {
    const S4 = 'e1e1ca029dd7973ab9513295be68198472dcd4fc834bd9af9b63f6e8a1674dbf281a9278a4a2ebe0eed9f22adbcd0e2b';
    const S5 = '19358ba9a7615534a9a1e2f0dfc29384dcd4dcb7062ff9c6013b26869a5fc6ecabe033c48dd6f6db5d6d76e7c5df632d';
    const r = gmemsim(
      ...['measure', 'diff', 'snp', '--ovmf', join(FIRMWARE, 'fixtures/ovmf_AmdSev_suffix.bin'), '--vcpus', '1'],
      ...['--vcpu-type', 'EPYC-v4', '--guest-features', '0x21', '--json'],
      ...['--vs-scenario', join(ROOT, 'test/scenarios/snp-vectors/s05-no-kernel-gf1.yaml')],
    );
    expect(r.code).toBe(1);
    const doc = JSON.parse(r.out);
    expect([doc.a.measurement, doc.b.measurement]).toEqual([S4, S5]);
    expect(doc.common_records).toBe(32);
    expect(doc.first_difference.b).toMatchObject({ page_type: 'VMSA' });
    expect(doc.first_difference.b.call).toMatch(
      /^scenario step \d+ \(KVM_MEMORY_ENCRYPT_OP KVM_SEV_SNP_LAUNCH_FINISH\)$/,
    );
  });
  it('no --vs, or an unknown option: exit 2, one line', () => {
    const r = gmemsim('measure', 'diff', 'tdx', '--firmware', B);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/^gmemsim: measure diff tdx: give the options of A, then --vs/);
    const u = gmemsim('measure', 'diff', 'tdx', '--firmware', B, '--vs', '--ovmf', B);
    expect(u.code).toBe(2);
    expect(u.err).toMatch(/unknown option --ovmf/);
  });
});
