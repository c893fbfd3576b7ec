/** VMSA pages against the digests of measurement.md §2.2 (sev-snp-measure v0.0.13, EPYC-v4, AP EIP 0x80b004). */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { buildVmsa, cpuSignature } from '../src/core/snp/vmsa.ts';

const sha384 = (b: Uint8Array) => createHash('sha384').update(b).digest('hex');

describe('initial VMSA (QEMU)', () => {
  const sig = cpuSignature(23, 1, 2);
  it('EPYC-v4 signature is 0x800f12', () => expect(sig).toBe(0x800f12));
  it.each([
    [
      1n,
      0xfffffff0,
      '77920c4c629ff47e90c0e174fc1ad0eb6fa664f88cd4739488058a8c6cb1a77b3856f55378e9518d0da99452d51c553a',
    ],
    [1n, 0x80b004, '8413b852790765a310d95867a8b00bfca3a802b5a80830044b45e253fe96222657e11e53fcf63eb0e0afd722385bf7b4'],
    [
      0x21n,
      0xfffffff0,
      'ae79efa6efbe1594a2717dfd42af495a0e4ed37b00e529a5fdf349bea04c3513962ffb0c74cf65b0d9a1857271833d6e',
    ],
    [
      0x21n,
      0x80b004,
      '180ef2675dc01615d31b3e84ef27a0a69d08bfbbb58ea4f6a0188f08884ab6407591ada42f99749ce9a406fb4e5d8355',
    ],
  ])('features %s, eip %s', (f, eip, want) => {
    expect(sha384(buildVmsa({ eip, signature: sig, sevFeatures: f, vmm: 'QEMU' }))).toBe(want);
  });
  it.each([
    ['Rome', 23, 49, 0, 0x830f10],
    ['Milan', 25, 1, 1, 0xa00f11],
    ['Genoa', 25, 17, 0, 0xa10f10],
    ['Turin', 26, 0, 0, 0xb00f00],
  ])('%s signature', (_n, fam, model, step, want) => expect(cpuSignature(fam, model, step)).toBe(want));
});
