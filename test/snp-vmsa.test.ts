/** VMSA pages against the digests of measurement.md §2.2 (sev-snp-measure v0.0.13, EPYC-v4, AP EIP 0x80b004). */
import { createHash } from 'node:crypto';
import fc from 'fast-check';
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

/**
 * cpu_sig as sev-snp-measure computes it (sevsnpmeasure/vcpu_types.py, read at virtee/sev-snp-measure
 * 041a1276): family_high = (family - 0xf) & 0xff when family > 0xf, model_high = (model >> 4) & 0xf,
 * stepping_low = stepping & 0xf; fields at bits 27:20, 19:16, 11:8, 7:4, 3:0 (AMD CPUID spec #25481,
 * Fn0000_0001_EAX). gmemsim had a second copy without the two masks; the expected values below are
 * worked out by hand from that formula, not taken from gmemsim.
 */
describe('cpu_sig', () => {
  it.each([
    // sev-snp-measure tests/test_vcpu_types.py
    ['low family', 14, 1, 2, 0xe12],
    ['high family', 23, 1, 2, 0x800f12],
    // stepping 0x12 keeps its low nibble, 2: (0x17-0xf)<<20 | 0<<16 | 0xf<<8 | 0<<4 | 2.
    // Unmasked, its bit 4 lands in the model field: 0x800f12, EPYC-v4's signature.
    ['stepping above 0xf', 23, 0, 0x12, 0x800f02],
    // family 0x110: extended family (0x110-0xf) & 0xff = 0x01; model 0x12: 1<<16 | 2<<4; stepping 3.
    // Unmasked, the extended family 0x101 sets bit 28 (reserved): 0x10110f23.
    ['extended family above 0xff', 0x110, 0x12, 3, 0x110f23],
  ])('%s', (_n, family, model, stepping, want) => expect(cpuSignature(family, model, stepping)).toBe(want));

  /** decode as AMD's CPUID spec defines the fields: family and model extended when base family is 0xf */
  const decode = (sig: number) => {
    const base = (sig >> 8) & 0xf;
    return {
      family: base + (base === 0xf ? (sig >> 20) & 0xff : 0),
      model: ((sig >> 4) & 0xf) | (base === 0xf ? ((sig >> 16) & 0xf) << 4 : 0),
      stepping: sig & 0xf,
      reserved: sig & 0xf000f000,
    };
  };
  it('decodes back to its family, model and stepping for every encodable input with family >= 0xf', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0xf, max: 0xf + 0xff }),
        fc.integer({ min: 0, max: 0xff }),
        fc.integer({ min: 0, max: 0xf }),
        (family, model, stepping) => {
          expect(decode(cpuSignature(family, model, stepping))).toEqual({ family, model, stepping, reserved: 0 });
        },
      ),
    );
  });
});
