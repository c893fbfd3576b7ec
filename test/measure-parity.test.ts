/**
 * sev-snp-measure parity (issue 15): guest features KVM would not offer are measured (with a
 * warning), a zero vCPU signature is a value, --vcpus 0 is an error, --dump-vmsa, -v, snp:svsm
 * ignoring --guest-features/--kernel with a warning, and one error style. Expected digests come
 * from sev-snp-measure's vectors (measurement.md §4) or from test/support/snp-by-hand.ts, a second
 * implementation checked against those vectors first.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { measureSnp, type SnpLaunchInputs } from '../src/measure/snp.ts';
import { nodeHost } from '../src/node/host.ts';
import { gmemsim, noStack } from './support/cli.ts';
import { FIRMWARE, firmware } from './support/firmware.ts';
import { ROOT } from './support/scenarios.ts';
import { type HandInputs, snpByHand, vmsa } from './support/snp-by-hand.ts';

const SUFFIX = 'fixtures/ovmf_AmdSev_suffix.bin';
const AMDSEV = 'OVMF.amdsev.fd';
const EPYC_V4 = 0x800f12;
const EMPTY = new Uint8Array(0);
const K = { kernel: EMPTY, initrd: EMPTY, append: 'console=ttyS0 loglevel=7' };

/** measurement.md §4.2 and §4.4 */
const V = {
  S2: '803f691094946e42068aaa3a8f9e26a5c89f36f7b73ecfb28c653360fe4b3aba7e534442e7e1e17895dfe778d0228977',
  S5: '19358ba9a7615534a9a1e2f0dfc29384dcd4dcb7062ff9c6013b26869a5fc6ecabe033c48dd6f6db5d6d76e7c5df632d',
  S7: '5061fffb019493a903613d56d54b94912a1a2f9e4502385f5c194616753720a92441310ba6c4933de877c36e23046ad5',
  S11: '0883bd0eeb716e65b7b977a321c278d1e51b33b5c655fab985443bbcc65c086b9c15e8a0bd8811050dec7e24964e5056',
  S13: '5c5debf100fc339f90276e761ee1f1658d08922c3b20e2a2e6c7a6c3370b2452a15a00eae11886a93d6fd1e7ab81e29d',
  S17: '9b94745036aafddf4f7f8b00c7513abb5b7703178cb95aaa57928bd963d68d3bfcb715d6019b9167ee2517b11b0d9be7',
  D5: 'a0edd3ca630eae842e556b4dd9e098621c361570051bc5b9c4181cefb6ab504a1b837f4229149af5a7727d6d2799f765',
  D7: 'e9efe1f1af52c0b7590ae2dc20c07b6750a9389e5cd9a50007fc87cc324eedf05d564d291a8a9a2159ab35cb4e16a23a',
};

const hand = (over: Partial<HandInputs>): string =>
  snpByHand({ ovmf: firmware(SUFFIX), vcpus: 1, sig: EPYC_V4, gf: 1n, vmm: 'QEMU', ...over });
const model = (over: Partial<SnpLaunchInputs>) =>
  measureSnp(
    {
      mode: 'snp',
      ovmf: { bytes: firmware(SUFFIX), file: 'x.fd' },
      vcpus: 1,
      vcpuSig: EPYC_V4,
      vmmType: 'QEMU',
      guestFeatures: 1n,
      ...over,
    },
    nodeHost,
  );

describe('the second implementation reproduces the sev-snp-measure vectors', () => {
  it.each([
    ['S2', { gf: 0x21n, kernel: K }],
    ['S5', {}],
    ['S7', { vcpus: 4, kernel: { kernel: EMPTY, initrd: EMPTY } }],
    ['S11', { vmm: 'ec2', kernel: { kernel: EMPTY, initrd: EMPTY } }],
    ['S13', { vmm: 'gce', vcpus: 4, kernel: { kernel: EMPTY, initrd: EMPTY } }],
    ['D5', { ovmf: firmware(AMDSEV), vcpus: 4, gf: 0x21n }],
    ['D7', { ovmf: firmware(AMDSEV), vcpus: 4, kernel: K }],
  ] as [keyof typeof V, Partial<HandInputs>][])('%s', (id, over) => {
    expect(hand(over)).toBe(V[id]);
  });
});

describe('guest features KVM would not offer are measured as sev-snp-measure does', () => {
  it.each([
    [0x3n, 'QEMU'],
    [0x5n, 'QEMU'],
    [0x81n, 'QEMU'],
    [0x0n, 'QEMU'],
    [0x3n, 'ec2'],
    [0x81n, 'gce'],
  ] as const)('gf %s, vmm %s, 2 vCPUs', (gf, vmm) => {
    const m = model({ guestFeatures: gf, vmmType: vmm, vcpus: 2 });
    expect(m.measurement).toBe(hand({ gf, vmm, vcpus: 2 }));
    expect(m.beyondKvm).toMatch(/KVM/);
    expect(m.plan.calls.at(-1)).toMatchObject({ call: 'KVM_SEV_SNP_LAUNCH_FINISH', pages: 2 });
  });
  it('what KVM offers is not flagged', () => {
    for (const gf of [0x1n, 0x21n, 0x201n]) expect(model({ guestFeatures: gf }).beyondKvm).toBeUndefined();
  });
  it('the command line prints the digest and one warning line, exit 0', () => {
    const r = gmemsim(
      ...['measure', 'snp', '--ovmf', join(FIRMWARE, SUFFIX), '--vcpus', '1', '--vcpu-type', 'EPYC-v4'],
      ...['--guest-features', '0x5'],
    );
    expect(r.code).toBe(0);
    expect(r.out).toBe(`${hand({ gf: 0x5n })}\n`);
    expect(r.err).toMatch(/^gmemsim: warning: guest features 0x5 carry 0x4, which KVM_SEV_INIT2 refuses/);
    expect(r.err.trim().split('\n')).toHaveLength(1);
  });
});

describe('sev-snp-measure flags', () => {
  const S = join(FIRMWARE, SUFFIX);
  const base = ['measure', 'snp', '--ovmf', S, '--vcpus', '1'];
  it('--vcpu-sig 0 and --vcpu-family 0 --vcpu-model 0 --vcpu-stepping 0 are given values (8f2b337e)', () => {
    const want = `${hand({ sig: 0 })}\n`;
    const a = gmemsim(...base, '--vcpu-sig', '0');
    expect([a.code, a.out, a.err]).toEqual([0, want, '']);
    const b = gmemsim(...base, '--vcpu-family', '0', '--vcpu-model', '0', '--vcpu-stepping', '0');
    expect([b.code, b.out, b.err]).toEqual([0, want, '']);
  });
  it('--vcpus 0 is an error: one line, exit 2', () => {
    const r = gmemsim('measure', 'snp', '--ovmf', S, '--vcpus', '0', '--vcpu-type', 'EPYC-v4');
    expect(r.code).toBe(2);
    expect(r.out).toBe('');
    expect(r.err).toBe('gmemsim: --vcpus 0: a guest has at least one vCPU\n');
  });
  it('--dump-vmsa writes vmsa<N>.bin in the current directory; -v names the mode', () => {
    const cwd = mkdtempSync(join(tmpdir(), 'gmemsim-dump-'));
    const d = spawnSync(
      process.execPath,
      [
        ...['--import', join(ROOT, 'node_modules/tsx/dist/loader.mjs'), join(ROOT, 'src/cli/main.ts')],
        ...['measure', 'snp', '--ovmf', S, '--vcpus', '4', '--vcpu-type', 'EPYC-v4', '--dump-vmsa', '-v'],
        ...['--kernel', '/dev/null', '--initrd', '/dev/null'],
      ],
      { cwd, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } },
    );
    expect(d.stderr).toBe('');
    expect(d.stdout).toBe(`Calculated SEV_SNP guest measurement: ${V.S7}\n`);
    const ap = readFileSync(join(cwd, 'vmsa1.bin'));
    expect(readFileSync(join(cwd, 'vmsa0.bin'))).toEqual(
      vmsa(0xfffffff0, { sig: EPYC_V4, gf: 1n, vmm: 'QEMU' } as HandInputs),
    );
    expect(ap).toEqual(vmsa(0x80b004, { sig: EPYC_V4, gf: 1n, vmm: 'QEMU' } as HandInputs));
    expect(readFileSync(join(cwd, 'vmsa3.bin'))).toEqual(ap);
  });
  it('snp:svsm ignores --guest-features and --kernel with a warning, as sev-snp-measure ignores them (S17)', () => {
    const r = gmemsim(
      ...['measure', 'snp', '--mode', 'snp:svsm', '--ovmf', join(FIRMWARE, 'fixtures/svsm_ovmf.fd')],
      ...['--svsm', join(FIRMWARE, 'fixtures/svsm.bin'), '--vars-size', '540672', '--vcpus', '2'],
      ...['--vcpu-type', 'EPYC-v4', '--guest-features', '0x21', '--kernel', '/dev/null', '--append', 'x'],
    );
    expect(r.code).toBe(0);
    expect(r.out).toBe(`${V.S17}\n`);
    expect(r.err.trim().split('\n')).toEqual([
      'gmemsim: warning: snp:svsm ignores --guest-features 0x21: the SVSM VMSAs carry sev_features 0x1',
      'gmemsim: warning: snp:svsm ignores --kernel, --append: the SVSM launch measures no kernel hashes',
    ]);
  });
  it("commander's errors are in gmemsim's style too", () => {
    const r = gmemsim('measure', 'tdx');
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/^gmemsim: required option '--firmware <path>' not specified$/m);
    expect(r.err).not.toMatch(/^error:/m);
    noStack(r.err);
  });
});

describe('--snp-ovmf-hash without --ovmf: --ovmf-metadata (sev-snp-measure-go ovmf_img JSON)', () => {
  // measurement.md §4.3: the bookworm metadata items, reset EIP, and each vector's seed
  const doc = (seed?: string) =>
    JSON.stringify({
      MetadataItems: [
        { GPA: '0x800000', SectionTypeInt: 1, Size: '0x9000' },
        { GPA: '0x80a000', SectionTypeInt: 1, Size: '0x3000' },
        { GPA: '0x80d000', SectionTypeInt: 2, Size: '0x1000' },
        { GPA: '0x80e000', SectionTypeInt: 3, Size: '0x1000' },
        { GPA: '0x80f000', SectionTypeInt: 1, Size: '0x11000' },
      ],
      ResetEIP: '0x80b004',
      ...(seed ? { OVMFHash: seed } : {}),
    });
  const G = {
    G1: [
      'a58211791a556a630a4319dc9e2ea96cc0e9784dd9f20a4fadf81b26c98d163fcdcb6703884bbbb80d7b1de45b3d84d0',
      '4c6e33087d08fa770259484dddbef367086a15c3e2cf10038dc97229d39c942671c2e22b300178f8de594a3f2fa59303',
    ],
    G2: [
      '2027a27bb9f7acfd280e4c7bd68a73973b94bf0756e5b282e004b9395f597b8d0eb4defa7d8f6549375aa4d2b146f0f3',
      'c2c84b9364fc9f0f54b04534768c860c6e0e386ad98b96e8b98eca46ac8971d05c531ba48373f054c880cfd1f4a0a84e',
    ],
  } as const;
  const dir = mkdtempSync(join(tmpdir(), 'gmemsim-ovmf-metadata-'));
  it('G1 from the document with its OVMFHash; G2 with --snp-ovmf-hash', () => {
    const g1 = join(dir, 'g1.json');
    writeFileSync(g1, doc(G.G1[0]));
    const a = gmemsim('measure', 'snp', '--ovmf-metadata', g1, '--vcpus', '2', '--vmm-type', 'ec2_legacy');
    expect([a.code, a.out, a.err]).toEqual([0, `${G.G1[1]}\n`, '']);
    const bare = join(dir, 'bare.json');
    writeFileSync(bare, doc());
    const b = gmemsim(
      ...['measure', 'snp', '--ovmf-metadata', bare, '--snp-ovmf-hash', G.G2[0], '--vcpus', '2'],
      ...['--vmm-type', 'ec2_legacy'],
    );
    expect([b.code, b.out]).toEqual([0, `${G.G2[1]}\n`]);
  });
  it.each([
    [
      ['--snp-ovmf-hash', G.G1[0], '--vcpus', '1', '--vcpu-type', 'EPYC'],
      /--snp-ovmf-hash without --ovmf needs --ovmf-metadata/,
    ],
    [['--vcpus', '1', '--vcpu-type', 'EPYC'], /^gmemsim: required option '--ovmf <path>' not specified$/m],
  ])('without either: exit 2, one line (%#)', (args, re) => {
    const r = gmemsim('measure', 'snp', ...args);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(re);
    expect(r.err.trim().split('\n')).toHaveLength(1);
  });
});
