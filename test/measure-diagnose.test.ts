/**
 * --expect / --report (issue 15): for each launch parameter the diagnosis varies, a launch whose
 * digest only that variant reaches. Expected digests come from sev-snp-measure's vectors and the TDX
 * vectors of measurement.md §4, or from the second implementations in test/support (checked against
 * those vectors in measure-parity.test.ts and measure-tdx.test.ts) — never from gmemsim itself.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { diagnoseSnp, diagnoseTdx } from '../src/measure/diagnose.ts';
import { CPU_SIGS, type SnpLaunchInputs } from '../src/measure/snp.ts';
import { nodeHost } from '../src/node/host.ts';
import { gmemsim, noStack } from './support/cli.ts';
import { FIRMWARE, firmware } from './support/firmware.ts';
import { snpByHand } from './support/snp-by-hand.ts';
import { tdxByHand } from './support/tdx-by-hand.ts';

const SUFFIX = 'fixtures/ovmf_AmdSev_suffix.bin';
const AMDSEV = 'OVMF.amdsev.fd';
const EPYC_V4 = 0x800f12;
const EMPTY = new Uint8Array(0);
const K = { kernel: EMPTY, initrd: EMPTY };

/** measurement.md §4.2, §4.3, §4.4, §4.5 */
const V = {
  S11: '0883bd0eeb716e65b7b977a321c278d1e51b33b5c655fab985443bbcc65c086b9c15e8a0bd8811050dec7e24964e5056',
  S13: '5c5debf100fc339f90276e761ee1f1658d08922c3b20e2a2e6c7a6c3370b2452a15a00eae11886a93d6fd1e7ab81e29d',
  G1: '4c6e33087d08fa770259484dddbef367086a15c3e2cf10038dc97229d39c942671c2e22b300178f8de594a3f2fa59303',
  D1: '9d0dd8be18c86e3fe3bf0038ed75ebf5340bee69fd2632c8ff9409964575960ae1f7e84be387d2e3467bc3508d1e4806',
  D2: 'd74bd3ea40b240c3228edc5177ce6193561ebff633dbd0be76d6c143b876d65102425c0e2e8a930857c48daa5eacda58',
  D3: '5fafce19a1da9324827756044f6a922becd7fb7a5f80f1cd803366eeb7add5a129d0ca53b184313c9f9036e869371a88',
  D4: '13a6ae9fbaa31c91ade309c36bd5214729438abac318e01176e02a97b8bec11a4bce86b4d2b1fba2ec0481dd24ff525f',
  D6: 'fbede50d3ee39abff62f75615d1913b0451bf18482902f20dbc00f9e509833cde0a69cc93b261d1b9c5594a951b90fb1',
  T2single: '4c7206f0f483c524f12c366c711e9049030a8d47c471ee5aa9c4999a08de4057fb887fed0744d5631a212967fb231c47',
  T2two: 'acccbcc870a381adab0d3919d90a7f268ac3b0364771f202ed4bb4e892d045b33db3b32e6924cba830a724eed443f7e1',
};
const G1_SEED = 'a58211791a556a630a4319dc9e2ea96cc0e9784dd9f20a4fadf81b26c98d163fcdcb6703884bbbb80d7b1de45b3d84d0';

const inputs = (over: Partial<SnpLaunchInputs>): SnpLaunchInputs => ({
  mode: 'snp',
  ovmf: { bytes: firmware(AMDSEV), file: 'x.fd' },
  vcpus: 1,
  vcpuSig: EPYC_V4,
  vmmType: 'QEMU',
  guestFeatures: 1n,
  ...over,
});
const suffix = { ovmf: { bytes: firmware(SUFFIX), file: 's.bin' } };

describe('SEV-SNP: each variant, reached only by it', () => {
  it.each([
    ['the launch as given', {}, V.D2, null],
    ['vCPU count', {}, V.D4, ['--vcpus 4']],
    ['guest features KVM offers', {}, V.D3, ['--guest-features 0x21']],
    [
      'kernel hashes off',
      { kernel: { ...K, append: 'console=ttyS0 loglevel=7' } },
      V.D2,
      ['no --kernel (kernel hashes off)'],
    ],
    ['the OVMF hash instead of a launch digest', {}, V.D1, ['--mode snp:ovmf-hash']],
    ['VMM ec2', { ...suffix, kernel: K }, V.S11, ['--vmm-type ec2']],
    ['VMM gce', { ...suffix, kernel: K, vcpus: 4 }, V.S13, ['--vmm-type gce']],
    [
      'VMM ec2_legacy (sev-snp-measure-go)',
      { vcpus: 2, vmmType: 'ec2', ovmf: { bytes: firmware('OVMF.bookworm.fd'), file: 'b.fd' }, ovmfHash: G1_SEED },
      V.G1,
      ['--vmm-type ec2_legacy'],
    ],
  ] as [string, Partial<SnpLaunchInputs>, string, string[] | null][])('%s', (_name, over, want, changes) => {
    const d = diagnoseSnp(inputs(over), want, nodeHost, { maxVcpus: 8 });
    if (changes === null) {
      expect(d.match).toBe(true);
      return;
    }
    expect(d.match).toBe(false);
    expect(d.matches.map((m) => m.changes)).toEqual([changes]);
    expect(d.matches[0]!.confirmed).toBe(true);
  });
  it('vCPU type: an EPYC-Milan launch (the second implementation) is found from EPYC-v4', () => {
    const want = snpByHand({ ovmf: firmware(SUFFIX), vcpus: 2, sig: CPU_SIGS['EPYC-Milan']!, gf: 1n, vmm: 'QEMU' });
    const d = diagnoseSnp(inputs({ ...suffix, vcpus: 2 }), want, nodeHost, { maxVcpus: 8 });
    expect(d.matches.map((m) => m.changes)).toEqual([['--vcpu-type EPYC-Milan']]);
  });
  it('two parameters at once: 3 vCPUs of EPYC-Genoa with DebugSwap from 1 EPYC-v4', () => {
    const sig = CPU_SIGS['EPYC-Genoa']!;
    const want = snpByHand({ ovmf: firmware(SUFFIX), vcpus: 3, sig, gf: 0x21n, vmm: 'QEMU' });
    const d = diagnoseSnp(inputs(suffix), want, nodeHost, { maxVcpus: 8 });
    expect(d.matches.map((m) => m.changes)).toEqual([['--vcpus 3', '--vcpu-type EPYC-Genoa', '--guest-features 0x21']]);
  });
  it('nothing matches: says so, after trying every dimension', () => {
    const d = diagnoseSnp(inputs({ kernel: K }), 'ab'.repeat(48), nodeHost, { maxVcpus: 4 });
    expect(d.match).toBe(false);
    expect(d.matches).toEqual([]);
    expect(d.dimensions.join('\n')).toMatch(
      /vCPU count 1\.\.4[\s\S]*vCPU types[\s\S]*guest features[\s\S]*VMMs[\s\S]*kernel hashes/,
    );
    // 1 given + the OVMF hash + 2 kernels × (QEMU: 5 types × 4 features + ec2, ec2_legacy: 2 × 4 + gce: 4) × 4 counts
    expect(d.tried).toBe(2 + 2 * (20 + 8 + 4) * 4);
    // the firmware pages once, then one short seeded launch per metadata variant
    expect(d.modelRuns).toBe(1 + 6);
  });
});

describe('TDX', () => {
  const DESC = 0x1ff7c0;
  it('two-pass, named by the QEMU versions that add pages that way', () => {
    const d = diagnoseTdx(
      firmware('OVMF.bookworm.fd'),
      { firmwareFile: 'b.fd', order: 'single-pass' },
      V.T2two,
      nodeHost,
    );
    expect(d.matches.map((m) => m.changes)).toEqual([['--two-pass-add-pages']]);
    expect(d.matches[0]!.description).toMatch(/two-pass record order; QEMU: 8\.2$/);
  });
  it('single-pass from a two-pass guess', () => {
    const d = diagnoseTdx(
      firmware('OVMF.bookworm.fd'),
      { firmwareFile: 'b.fd', order: 'two-pass' },
      V.T2single,
      nodeHost,
    );
    expect(d.matches.map((m) => m.changes)).toEqual([['no --two-pass-add-pages']]);
    expect(d.matches[0]!.description).toContain('10.1');
  });
  it('PAGE.AUG sections skipped (td-shim / dstack-mr), on an image with one', () => {
    const img = firmware('OVMF.bookworm.fd').slice();
    new DataView(img.buffer).setUint32(DESC + 16 + 32 * 5 + 28, 2, true);
    const want = tdxByHand(img, DESC, 'single-pass', { skipAug: true });
    const d = diagnoseTdx(img, { firmwareFile: 'b.fd', order: 'single-pass' }, want, nodeHost);
    expect(d.matches.map((m) => m.changes)).toEqual([['PAGE.AUG sections skipped']]);
    expect(d.tried).toBe(4);
  });
});

describe('the command line', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gmemsim-expect-'));
  const D = join(FIRMWARE, AMDSEV);
  const snp = ['measure', 'snp', '--ovmf', D, '--vcpu-type', 'EPYC-v4', '--max-vcpus', '8'];
  /** an SEV-SNP ATTESTATION_REPORT: VERSION at 0, MEASUREMENT at 0x90 (the rest zero) */
  const snpReport = (version: number, m: string, wrapped = false) => {
    const r = Buffer.alloc(0x4a0);
    r.writeUInt32LE(version, 0);
    Buffer.from(m, 'hex').copy(r, 0x90);
    if (!wrapped) return r;
    const h = Buffer.alloc(0x20);
    h.writeUInt32LE(0x4a0, 4);
    return Buffer.concat([h, r]);
  };
  it('MATCH: exit 0', () => {
    const r = gmemsim(...snp, '--vcpus', '4', '--expect', V.D4);
    expect([r.code, r.err]).toEqual([0, '']);
    expect(r.out).toMatch(new RegExp(`^MATCH ${V.D4}\n`));
  });
  it('MISMATCH with the variant that explains it: exit 1; --json', () => {
    const r = gmemsim(...snp, '--vcpus', '1', '--expect', V.D4);
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/^MISMATCH\n/);
    expect(r.out).toMatch(/^match: --vcpus 4$/m);
    const j = gmemsim(...snp, '--vcpus', '1', '--expect', V.D4, '--json');
    expect(j.code).toBe(1);
    const doc = JSON.parse(j.out);
    expect(doc).toMatchObject({ verdict: 'MISMATCH', expected: V.D4, measured: V.D2 });
    expect(doc.matches).toEqual([expect.objectContaining({ changes: ['--vcpus 4'], confirmed: true })]);
  });
  it.each([2, 3, 5])('--report: an SNP attestation report v%i, bare and in an MSG_REPORT_RSP', (version) => {
    for (const wrapped of [false, true]) {
      const f = join(dir, `snp-v${version}-${wrapped}.bin`);
      writeFileSync(f, snpReport(version, V.D3, wrapped));
      const r = gmemsim(...snp, '--vcpus', '1', '--guest-features', '0x21', '--report', f);
      expect([r.code, r.out.split('\n')[0]]).toEqual([0, `MATCH ${V.D3}`]);
    }
  });
  it('--report: a TDREPORT_STRUCT (MRTD at 0x210) and TDX quotes v4 (at 184) and v5 (at 190)', () => {
    const T = join(FIRMWARE, 'OVMF.bookworm.fd');
    const td = Buffer.alloc(1024);
    Buffer.from(V.T2two, 'hex').copy(td, 0x210);
    const q4 = Buffer.alloc(48 + 584);
    q4.writeUInt16LE(4, 0);
    q4.writeUInt32LE(0x81, 4);
    Buffer.from(V.T2two, 'hex').copy(q4, 184);
    const q5 = Buffer.alloc(48 + 6 + 648);
    q5.writeUInt16LE(5, 0);
    q5.writeUInt32LE(0x81, 4);
    q5.writeUInt16LE(3, 48);
    q5.writeUInt32LE(648, 50);
    Buffer.from(V.T2two, 'hex').copy(q5, 190);
    for (const [name, b] of [
      ['td.bin', td],
      ['q4.bin', q4],
      ['q5.bin', q5],
    ] as const) {
      writeFileSync(join(dir, name), b);
      const r = gmemsim('measure', 'tdx', '--firmware', T, '--qemu-version', '8.2', '--report', join(dir, name));
      expect([name, r.code, r.out.split('\n')[0]]).toEqual([name, 0, `MATCH ${V.T2two}`]);
    }
  });
  it.each([
    [
      'a version 1 report',
      () => snpReport(1, V.D2),
      /--report .*: SEV-SNP attestation report version 1: gmemsim reads versions 2, 3 and 5/,
    ],
    ['a short file', () => Buffer.alloc(100), /--report .*: 100 bytes: an SEV-SNP attestation report is 0x4a0/],
  ])('bad input is exit 2 in one line: %s', (_n, make, re) => {
    const f = join(dir, 'bad.bin');
    writeFileSync(f, make());
    const r = gmemsim(...snp, '--vcpus', '1', '--report', f);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(re);
    expect(r.err.trim().split('\n')).toHaveLength(1);
    noStack(r.err);
  });
  it('--expect that is not a digest, and --expect with --report: exit 2', () => {
    expect(gmemsim(...snp, '--vcpus', '1', '--expect', 'abc').code).toBe(2);
    const r = gmemsim(...snp, '--vcpus', '1', '--expect', V.D2, '--report', '/dev/null');
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/--expect and --report cannot be combined/);
  });
});
