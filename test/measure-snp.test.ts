/**
 * gmemsim measure snp (issue 5, SNP): the launch digest of the VMM's SEV-SNP launch sequence run
 * through the model, against the sev-snp-measure vectors of measurement.md §4.2 (S1-S17, S16/S17
 * hardware-derived), §4.3 (G1, G2) and §4.4 (D1-D8 on Debian's OVMF.amdsev.fd); the sequence beside
 * the hand-written vector scenarios; the firmware checks; replay of the emitted scenario; and the
 * command-line contract (sev-snp-measure's flags and refusals, exit codes, output).
 * Firmware is read from ../shared/firmware (pinned by sha256), never copied into the repository.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SevCmd } from '../src/core/uapi.ts';
import { FirmwareError, guidBytes } from '../src/measure/ovmf.ts';
import { cmdlineBytes, sevHashTable } from '../src/measure/sevhashes.ts';
import { parseSevFirmware, SEV_ES_RESET_BLOCK_GUID, sevEsResetEip, svsmEntryOffset } from '../src/measure/sevmeta.ts';
import {
  CPU_SIGS,
  hostSha256,
  measureSnp,
  SnpLaunchError,
  type SnpLaunchInputs,
  snpLaunchScenario,
} from '../src/measure/snp.ts';
import { nodeFileReader, nodeHost } from '../src/node/host.ts';
import { emitScenario } from '../src/scenario/emit.ts';
import { loadScenario } from '../src/scenario/load.ts';
import { type RunResult, runScenario } from '../src/scenario/run.ts';
import { gmemsim, noStack } from './support/cli.ts';
import { FIRMWARE, firmware, sha256 } from './support/firmware.ts';
import { failures, ROOT, run } from './support/scenarios.ts';

/** measurement.md §4.1 */
const FILES: Record<string, string> = {
  'OVMF.amdsev.fd': '3e4fd0b3fe3b2dbe481c3d9e99418a034174f26cbe1f55aa212b0f18c12d2d6f',
  'OVMF.bookworm.fd': '7b456907dd0786d415999e801a1ac4637b8ed4d7cf5378cfc6edbe5e574dd773',
  'fixtures/ovmf_AmdSev_suffix.bin': '8f765dfabc127fc0a938a0744a3103ec15864d7d794eb4c398aa976b6d6ab16c',
  'fixtures/ovmf_OvmfX64_suffix.bin': 'b4c021e085fb83ceffe6571a3d357b4a98773c83c474e47f76c876708fe316da',
  'fixtures/svsm_ovmf.fd': '50d1bf8676c7fb2ff6b8e50cf8fc0491534de27c12d6345a2dcefef51cbac97e',
  'fixtures/svsm.bin': '287fcee67b501b072e4953b5006059d088b454e9197bc318885385acb233d5d1',
};

const image = (file: string) => ({ bytes: firmware(file), file });

const SUFFIX = 'fixtures/ovmf_AmdSev_suffix.bin';
const X64 = 'fixtures/ovmf_OvmfX64_suffix.bin';
const AMDSEV = 'OVMF.amdsev.fd';
const EPYC_V4 = 0x800f12;
const S1_HASH = '086e2e9149ebf45abdc3445fba5b2da8270bdbb04094d7a2c37faaa4b24af3aa16aff8c374c2a55c467a50da6d466b74';
const G1_SEED = 'a58211791a556a630a4319dc9e2ea96cc0e9784dd9f20a4fadf81b26c98d163fcdcb6703884bbbb80d7b1de45b3d84d0';
const G2_SEED = '2027a27bb9f7acfd280e4c7bd68a73973b94bf0756e5b282e004b9395f597b8d0eb4defa7d8f6549375aa4d2b146f0f3';
const EMPTY = new Uint8Array(0);
/** "K": --kernel /dev/null --initrd /dev/null */
const K = { kernel: EMPTY, initrd: EMPTY };

interface Vector {
  id: string;
  /** sev-snp-measure flags the vector was made with, firmware paths relative to ../shared/firmware */
  argv: string[];
  inputs: Partial<SnpLaunchInputs>;
  ld: string;
  /** the hand-written scenario in test/scenarios/snp-vectors with the same launch */
  scenario?: string;
}

const svsmArgs = ['--mode', 'snp:svsm', '--ovmf', 'fixtures/svsm_ovmf.fd', '--svsm', 'fixtures/svsm.bin'];
const svsm = { mode: 'snp:svsm', ovmf: image('fixtures/svsm_ovmf.fd'), svsm: image('fixtures/svsm.bin') } as const;

/** measurement.md §4.2, §4.3, §4.4; EPYC-v4 and gf 0x1 unless the inputs say otherwise */
const VECTORS: Vector[] = [
  {
    id: 'S1',
    argv: ['--mode', 'snp:ovmf-hash', '--ovmf', SUFFIX],
    inputs: { mode: 'snp:ovmf-hash' },
    ld: S1_HASH,
  },
  {
    id: 'S2',
    argv: ['--vcpus', '1', '--kernel', '/dev/null', '--initrd', '/dev/null', '--append', 'console=ttyS0 loglevel=7'],
    inputs: { kernel: { ...K, append: 'console=ttyS0 loglevel=7' }, guestFeatures: 0x21n },
    ld: '803f691094946e42068aaa3a8f9e26a5c89f36f7b73ecfb28c653360fe4b3aba7e534442e7e1e17895dfe778d0228977',
    scenario: 's02-kernel-append-gf21',
  },
  {
    id: 'S3',
    argv: ['--vcpus', '1', '--kernel', '/dev/null', '--initrd', '/dev/null', '--append', 'console=ttyS0 loglevel=7'],
    inputs: { kernel: { ...K, append: 'console=ttyS0 loglevel=7' } },
    ld: '6d287813eb5222d770f75005c664e34c204f385ce832cc2ce7d0d6f354454362f390ef83a92046c042e706363b4b08fa',
    scenario: 's03-kernel-append-gf1',
  },
  {
    id: 'S4',
    argv: ['--vcpus', '1'],
    inputs: { guestFeatures: 0x21n },
    ld: 'e1e1ca029dd7973ab9513295be68198472dcd4fc834bd9af9b63f6e8a1674dbf281a9278a4a2ebe0eed9f22adbcd0e2b',
    scenario: 's04-no-kernel-gf21',
  },
  {
    id: 'S5',
    argv: ['--vcpus', '1'],
    inputs: {},
    ld: '19358ba9a7615534a9a1e2f0dfc29384dcd4dcb7062ff9c6013b26869a5fc6ecabe033c48dd6f6db5d6d76e7c5df632d',
    scenario: 's05-no-kernel-gf1',
  },
  {
    id: 'S6',
    argv: ['--vcpus', '4', '--kernel', '/dev/null', '--initrd', '/dev/null', '--append', ''],
    inputs: { vcpus: 4, kernel: { ...K, append: '' }, guestFeatures: 0x21n },
    ld: '4953b1fb416fa874980e8442b3706d345926d5f38879134e00813c5d7abcbe78eafe7b422907be0b4698e2414a631942',
    scenario: 's06-4vcpus-kernel-gf21',
  },
  {
    id: 'S7',
    argv: ['--vcpus', '4', '--kernel', '/dev/null', '--initrd', '/dev/null'],
    inputs: { vcpus: 4, kernel: K },
    ld: '5061fffb019493a903613d56d54b94912a1a2f9e4502385f5c194616753720a92441310ba6c4933de877c36e23046ad5',
    scenario: 's07-4vcpus-kernel-gf1',
  },
  {
    id: 'S8',
    argv: ['--vcpus', '1', '--ovmf', X64],
    inputs: { ovmf: image(X64), guestFeatures: 0x21n },
    ld: '28797ae0afaba4005a81e629acebfb59e6687949d6be44007cd5506823b0dd66f146aaae26ff291eed7b493d8a64c385',
  },
  {
    id: 'S9',
    argv: ['--vcpus', '1', '--ovmf', X64],
    inputs: { ovmf: image(X64) },
    ld: 'da0296de8193586a5512078dcd719eccecbd87e2b825ad4148c44f665dc87df21e5b49e21523a9ad993afdb6a30b4005',
  },
  {
    id: 'S10',
    argv: ['--vcpus', '1', '--vmm-type', 'ec2', '--kernel', '/dev/null', '--initrd', '/dev/null'],
    inputs: { vmmType: 'ec2', kernel: K, guestFeatures: 0x21n },
    ld: '0ce9ccc06bab55eebe8abc234f3df6514883977a68a591b71052498ab52b2f1aa415db338033946ef93aa8278c0d67fb',
    scenario: 's10-ec2-gf21',
  },
  {
    id: 'S11',
    argv: ['--vcpus', '1', '--vmm-type', 'ec2', '--kernel', '/dev/null', '--initrd', '/dev/null'],
    inputs: { vmmType: 'ec2', kernel: K },
    ld: '0883bd0eeb716e65b7b977a321c278d1e51b33b5c655fab985443bbcc65c086b9c15e8a0bd8811050dec7e24964e5056',
    scenario: 's11-ec2-gf1',
  },
  {
    id: 'S12',
    // gce needs no vCPU type
    argv: ['--vcpus', '1', '--vmm-type', 'gce', '--kernel', '/dev/null', '--initrd', '/dev/null'],
    inputs: { vmmType: 'gce', vcpuSig: undefined, kernel: K },
    ld: '5da7106cf14cf46b1725ebab123eb9e53bd46a1e9f400cd0c08e7827b04b688ea8b4e403c8404efed4397ea5d5d0722e',
    scenario: 's12-gce-1vcpu',
  },
  {
    id: 'S13',
    argv: ['--vcpus', '4', '--vmm-type', 'gce', '--kernel', '/dev/null', '--initrd', '/dev/null'],
    inputs: { vcpus: 4, vmmType: 'gce', vcpuSig: undefined, kernel: K },
    ld: '5c5debf100fc339f90276e761ee1f1658d08922c3b20e2a2e6c7a6c3370b2452a15a00eae11886a93d6fd1e7ab81e29d',
    scenario: 's13-gce-4vcpus',
  },
  {
    id: 'S14',
    argv: [
      '--vcpus',
      '1',
      '--kernel',
      '/dev/null',
      '--initrd',
      '/dev/null',
      '--append',
      '',
      '--snp-ovmf-hash',
      S1_HASH,
    ],
    inputs: { ovmfHash: S1_HASH, kernel: { ...K, append: '' }, guestFeatures: 0x21n },
    ld: '329c8ce0972ae52343b64d34a434a86f245dfd74f5ed7aae15d22efc78fb9683632b9b50e4e1d7fa41179ef98a7ef198',
    scenario: 's14-seed-gf21',
  },
  {
    id: 'S15',
    argv: [
      '--vcpus',
      '1',
      '--kernel',
      '/dev/null',
      '--initrd',
      '/dev/null',
      '--append',
      '',
      '--snp-ovmf-hash',
      S1_HASH,
    ],
    inputs: { ovmfHash: S1_HASH, kernel: { ...K, append: '' } },
    ld: 'ddc5224521617a536ee7ce9dd6224d1b58a8d4fda1c741f3ac99fc4bfa04ba6e9fc98646d4a07a9079397fa3852819b5',
    scenario: 's15-seed-gf1',
  },
  {
    id: 'S16',
    argv: [...svsmArgs, '--vcpus', '4', '--vars-size', '540672'],
    inputs: { ...svsm, vcpus: 4, varsSize: 540672 },
    ld: '27d154c27b7b359c935e250ec6fee72aa0ae8c1225e3b0e1cf46a9567e938066d7d6f94bbdc4a857818bdb79277a44b2',
  },
  {
    id: 'S17',
    argv: [...svsmArgs, '--vcpus', '2', '--vars-size', '540672'],
    inputs: { ...svsm, vcpus: 2, varsSize: 540672 },
    ld: '9b94745036aafddf4f7f8b00c7513abb5b7703178cb95aaa57928bd963d68d3bfcb715d6019b9167ee2517b11b0d9be7',
  },
  {
    // sev-snp-measure-go testdata: only the seed and the bookworm metadata items matter
    id: 'G1',
    argv: ['--vcpus', '2', '--vmm-type', 'ec2_legacy', '--ovmf', 'OVMF.bookworm.fd', '--snp-ovmf-hash', G1_SEED],
    inputs: { vcpus: 2, vmmType: 'ec2_legacy', ovmf: image('OVMF.bookworm.fd'), ovmfHash: G1_SEED },
    ld: '4c6e33087d08fa770259484dddbef367086a15c3e2cf10038dc97229d39c942671c2e22b300178f8de594a3f2fa59303',
    scenario: 'g1-go-seed-ec2',
  },
  {
    id: 'G2',
    argv: ['--vcpus', '2', '--vmm-type', 'ec2_legacy', '--ovmf', 'OVMF.bookworm.fd', '--snp-ovmf-hash', G2_SEED],
    inputs: { vcpus: 2, vmmType: 'ec2_legacy', ovmf: image('OVMF.bookworm.fd'), ovmfHash: G2_SEED },
    ld: 'c2c84b9364fc9f0f54b04534768c860c6e0e386ad98b96e8b98eca46ac8971d05c531ba48373f054c880cfd1f4a0a84e',
    scenario: 'g2-go-seed-ec2',
  },
  {
    id: 'D1',
    argv: ['--mode', 'snp:ovmf-hash', '--ovmf', AMDSEV],
    inputs: { mode: 'snp:ovmf-hash', ovmf: image(AMDSEV) },
    ld: '9d0dd8be18c86e3fe3bf0038ed75ebf5340bee69fd2632c8ff9409964575960ae1f7e84be387d2e3467bc3508d1e4806',
  },
  {
    id: 'D2',
    argv: ['--vcpus', '1', '--ovmf', AMDSEV],
    inputs: { ovmf: image(AMDSEV) },
    ld: 'd74bd3ea40b240c3228edc5177ce6193561ebff633dbd0be76d6c143b876d65102425c0e2e8a930857c48daa5eacda58',
  },
  {
    id: 'D3',
    argv: ['--vcpus', '1', '--ovmf', AMDSEV, '--guest-features', '0x21'],
    inputs: { ovmf: image(AMDSEV), guestFeatures: 0x21n },
    ld: '5fafce19a1da9324827756044f6a922becd7fb7a5f80f1cd803366eeb7add5a129d0ca53b184313c9f9036e869371a88',
  },
  {
    id: 'D4',
    argv: ['--vcpus', '4', '--ovmf', AMDSEV],
    inputs: { vcpus: 4, ovmf: image(AMDSEV) },
    ld: '13a6ae9fbaa31c91ade309c36bd5214729438abac318e01176e02a97b8bec11a4bce86b4d2b1fba2ec0481dd24ff525f',
  },
  {
    id: 'D5',
    argv: ['--vcpus', '4', '--ovmf', AMDSEV, '--guest-features', '0x21'],
    inputs: { vcpus: 4, ovmf: image(AMDSEV), guestFeatures: 0x21n },
    ld: 'a0edd3ca630eae842e556b4dd9e098621c361570051bc5b9c4181cefb6ab504a1b837f4229149af5a7727d6d2799f765',
  },
  {
    id: 'D6',
    argv: [
      ...['--vcpus', '1', '--ovmf', AMDSEV],
      ...['--kernel', '/dev/null', '--initrd', '/dev/null', '--append', 'console=ttyS0 loglevel=7'],
    ],
    inputs: { ovmf: image(AMDSEV), kernel: { ...K, append: 'console=ttyS0 loglevel=7' } },
    ld: 'fbede50d3ee39abff62f75615d1913b0451bf18482902f20dbc00f9e509833cde0a69cc93b261d1b9c5594a951b90fb1',
  },
  {
    id: 'D7',
    argv: [
      ...['--vcpus', '4', '--ovmf', AMDSEV],
      ...['--kernel', '/dev/null', '--initrd', '/dev/null', '--append', 'console=ttyS0 loglevel=7'],
    ],
    inputs: { vcpus: 4, ovmf: image(AMDSEV), kernel: { ...K, append: 'console=ttyS0 loglevel=7' } },
    ld: 'e9efe1f1af52c0b7590ae2dc20c07b6750a9389e5cd9a50007fc87cc324eedf05d564d291a8a9a2159ab35cb4e16a23a',
  },
  {
    id: 'D8',
    argv: ['--vcpus', '1', '--ovmf', AMDSEV, '--kernel', '/dev/null'],
    inputs: { ovmf: image(AMDSEV), kernel: { kernel: EMPTY } },
    ld: 'dc90224373ef87b56b4da4964a5fbefb3a0cd401f4ff04571c272c491ccd04bdbd91bc2e10665b1f155bb91db7956b74',
  },
];

/** the complete command line of a vector: the suffix fixture by default, EPYC-v4 (but for gce), its guest features */
function argvOf(v: Vector): string[] {
  const a = v.argv.map((x, i) => (v.argv[i - 1] === '--ovmf' || v.argv[i - 1] === '--svsm' ? join(FIRMWARE, x) : x));
  const inp = inputsOf(v);
  return [
    ...(a.includes('--ovmf') ? [] : ['--ovmf', join(FIRMWARE, SUFFIX)]),
    ...(inp.vcpuSig === undefined || a.includes('snp:ovmf-hash') ? [] : ['--vcpu-type', 'EPYC-v4']),
    ...(inp.guestFeatures !== 1n && !a.includes('--guest-features')
      ? ['--guest-features', `0x${inp.guestFeatures.toString(16)}`]
      : []),
    ...a,
  ];
}

function inputsOf(v: Vector): SnpLaunchInputs {
  return {
    mode: 'snp',
    ovmf: image(SUFFIX),
    vcpus: 1,
    vcpuSig: EPYC_V4,
    vmmType: 'QEMU',
    guestFeatures: 1n,
    ...v.inputs,
  };
}

const dir = mkdtempSync(join(tmpdir(), 'gmemsim-measure-snp-'));

/** the same, without blocking: for tests that run concurrently */
function gmemsimAsync(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  return new Promise((done) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', join(ROOT, 'src/cli/main.ts'), ...args],
      { cwd: ROOT, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } },
      (e, out, err) => done({ code: e ? Number(e.code ?? 1) : 0, out, err }),
    );
  });
}

/** the measuring calls of a run: each LAUNCH_UPDATE (gfn, pages, type), the seed, INIT2 features, each reset */
function launchCalls(r: RunResult): string[] {
  const out: string[] = [];
  for (const s of r.steps) {
    const op = s.op;
    if (op.op === 'set_vcpu_reset') out.push(`reset ${op.vmm_type} ${op.eip.toString(16)}`);
    if (op.op !== 'KVM_MEMORY_ENCRYPT_OP' || typeof op.data === 'bigint') continue;
    const d = op.data as Record<string, bigint>;
    if (op.id === BigInt(SevCmd.KVM_SEV_INIT2)) out.push(`init2 ${d.vmsa_features ?? 0n}`);
    if (op.id === BigInt(SevCmd.KVM_SEV_SNP_LAUNCH_START))
      out.push(`start ${s.step.inject?.snp_digest_seed?.toLowerCase() ?? ''}`);
    if (op.id === BigInt(SevCmd.KVM_SEV_SNP_LAUNCH_UPDATE))
      out.push(`update ${d.gfn_start!.toString(16)} ${d.len!.toString(16)} ${d.type}`);
  }
  return out;
}

describe('the firmware files are the ones the vectors were made on', () => {
  it.each(Object.entries(FILES))('%s has sha256 %s', (file, want) => {
    expect(sha256(firmware(file))).toBe(want);
  });
});

describe.each(VECTORS)('$id', (v) => {
  it('the launch digest from the model equals the vector', () => {
    const m = measureSnp(inputsOf(v), nodeHost);
    expect(failures(m.result)).toBe('');
    expect(m.measurement).toBe(v.ld);
    // every PAGE_INFO the PSP took is a page of a call of the plan
    expect(m.pspUpdates).toBe(m.plan.calls.reduce((n, c) => n + c.pages, 0));
  });
  if (v.scenario) {
    it(`issues the measuring calls of test/scenarios/snp-vectors/${v.scenario}.yaml`, () => {
      const built = measureSnp(inputsOf(v), nodeHost).result;
      const hand = run(join(ROOT, 'test', 'scenarios', 'snp-vectors', `${v.scenario}.yaml`));
      expect(failures(hand)).toBe('');
      // the same calls in the same order; the hand-written files create the vCPUs and reset them first
      const order = (xs: string[]) => [
        ...xs.filter((x) => x.startsWith('reset')),
        ...xs.filter((x) => !x.startsWith('reset')),
      ];
      expect(order(launchCalls(built))).toEqual(order(launchCalls(hand)));
    });
  }
});

describe('the sequence', () => {
  it('adds the firmware first, then the metadata in table order (KernelHashes last in sid), then the VMSAs', () => {
    const m = measureSnp(inputsOf(VECTORS.find((v) => v.id === 'D7')!), nodeHost);
    expect(m.plan.calls.map((c) => [c.what, c.type, c.gpa.toString(16), c.pages])).toEqual([
      ['OVMF image', 'NORMAL', 'ffc00000', 1024],
      ['OVMF SEV metadata section 0 (SNP_SEC_MEM)', 'ZERO', '800000', 9],
      ['OVMF SEV metadata section 1 (SNP_SEC_MEM)', 'ZERO', '80a000', 3],
      ['OVMF SEV metadata section 2 (SNP_SECRETS)', 'SECRETS', '80d000', 1],
      ['OVMF SEV metadata section 3 (CPUID)', 'CPUID', '80e000', 1],
      ['OVMF SEV metadata section 4 (SVSM_CAA)', 'ZERO', '80f000', 1],
      ['OVMF SEV metadata section 5 (SNP_SEC_MEM)', 'ZERO', '811000', 31],
      ['OVMF SEV metadata section 6 (SNP_KERNEL_HASHES)', 'NORMAL', '810000', 1],
      ['VMSA', 'VMSA', 'fffffffff000', 4],
    ]);
    // every source is the memslot's shared backing: never 0, even for ZERO pages (QEMU passes the hva)
    for (const c of m.plan.calls.filter((x) => x.call === 'KVM_SEV_SNP_LAUNCH_UPDATE')) {
      const op = m.result.steps[c.step]!.op;
      if (op.op !== 'KVM_MEMORY_ENCRYPT_OP' || typeof op.data !== 'object') throw new Error(`step ${c.step}: ${op.op}`);
      expect(op.data.uaddr).toBeGreaterThan(0n);
    }
    expect(m.plan.eips).toEqual([0xfffffff0, 0x80b004, 0x80b004, 0x80b004]);
  });
  it('snp:ovmf-hash finishes the launch with no vCPUs: the digest after the firmware pages', () => {
    const m = measureSnp(inputsOf(VECTORS[0]!), nodeHost);
    expect(m.plan.vcpus).toBe(0);
    expect(m.plan.calls.map((c) => [c.call, c.pages])).toEqual([
      ['KVM_SEV_SNP_LAUNCH_UPDATE', 1],
      ['KVM_SEV_SNP_LAUNCH_FINISH', 0],
    ]);
    // and it is the prefix --snp-ovmf-hash stands for: S5 from the seed equals S5 from the image
    const seeded = measureSnp({ ...inputsOf(VECTORS.find((v) => v.id === 'S5')!), ovmfHash: m.measurement }, nodeHost);
    expect(seeded.measurement).toBe(VECTORS.find((v) => v.id === 'S5')!.ld);
  });
  it('D1 seeds D2: the Debian image measured through its own OVMF hash', () => {
    const d1 = VECTORS.find((v) => v.id === 'D1')!.ld;
    const m = measureSnp({ ...inputsOf(VECTORS.find((v) => v.id === 'D2')!), ovmfHash: d1 }, nodeHost);
    expect(m.measurement).toBe(VECTORS.find((v) => v.id === 'D2')!.ld);
    expect(m.plan.calls[0]!.what).toBe('OVMF SEV metadata section 0 (SNP_SEC_MEM)');
  });
  it('ec2 with the current VMSA (RDX 0x600) gives the §4.3 variants of G1 and G2', () => {
    for (const [id, prefix] of [
      ['G1', '1c146f30'],
      ['G2', 'ef89452c'],
    ] as const) {
      const v = VECTORS.find((x) => x.id === id)!;
      expect(measureSnp({ ...inputsOf(v), vmmType: 'ec2' }, nodeHost).measurement.slice(0, 8)).toBe(prefix);
    }
  });
  it('ec2 adds the CPUID page after every other metadata page, gce SNP_SEC_MEM as UNMEASURED', () => {
    const ec2 = measureSnp(inputsOf(VECTORS.find((v) => v.id === 'S10')!), nodeHost);
    expect(ec2.plan.calls.map((c) => c.type)).toEqual([
      'NORMAL',
      'ZERO',
      'ZERO',
      'SECRETS',
      'ZERO',
      'NORMAL',
      'ZERO',
      'CPUID',
      'VMSA',
    ]);
    const gce = measureSnp(inputsOf(VECTORS.find((v) => v.id === 'S12')!), nodeHost);
    expect(gce.plan.calls.map((c) => c.type).slice(1, 3)).toEqual(['UNMEASURED', 'UNMEASURED']);
  });
  it('snp:svsm: the SVSM below the variable store, its own metadata at GPA 0, every vCPU at the SVSM entry', () => {
    const m = measureSnp(inputsOf(VECTORS.find((v) => v.id === 'S17')!), nodeHost);
    expect(m.plan.calls.map((c) => [c.what, c.type, c.gpa.toString(16), c.pages])).toEqual([
      ['OVMF image', 'NORMAL', 'ffc84000', 892],
      ['SVSM image', 'NORMAL', 'ffaea000', 278],
      ['SVSM SEV metadata section 0 (SNP_SEC_MEM)', 'ZERO', '0', 158],
      ['SVSM SEV metadata section 1 (SNP_SECRETS)', 'SECRETS', '9e000', 1],
      ['SVSM SEV metadata section 2 (CPUID)', 'CPUID', '9f000', 1],
      ['VMSA', 'VMSA', 'fffffffff000', 2],
    ]);
    expect(m.plan.eips).toEqual([0xffaea000, 0xffaea000]);
    expect(m.plan.sevFeatures).toBe(1n);
  });
  it('a section of size 0 gets no call (OVMF.inteltdx.ms.fd carries two)', () => {
    const img = image('OVMF.inteltdx.ms.fd');
    const m = measureSnp({ ...inputsOf(VECTORS[4]!), ovmf: img }, nodeHost);
    expect(m.plan.skipped.map((s) => [s.index, s.type])).toEqual([
      [4, 'SVSM_CAA'],
      [5, 'SNP_SEC_MEM'],
    ]);
    expect(m.plan.calls.map((c) => c.type)).toEqual(['NORMAL', 'ZERO', 'ZERO', 'SECRETS', 'CPUID', 'VMSA']);
  });
  it('guest features beyond what KVM_SEV_INIT2 accepts are measured past the model, which names why KVM refuses them', () => {
    // the scenario KVM would run is refused at KVM_SEV_INIT2 by rule snp.init2Features ...
    const inp = { ...inputsOf(VECTORS[4]!), guestFeatures: 0x3n };
    const plan = snpLaunchScenario(inp, hostSha256(nodeHost));
    const r = runScenario(plan.scenario, nodeHost);
    expect(r.steps.find((x) => !x.ok)?.outcome.rule.id).toBe('snp.init2Features');
    // ... so measureSnp measures the VMSAs after the launch KVM takes (test/measure-parity.test.ts has the values)
    expect(measureSnp(inp, nodeHost).beyondKvm).toMatch(/0x2, which KVM_SEV_INIT2 refuses/);
  });
});

describe('SEV metadata and the hash table', () => {
  it('reads the sid OVMF.amdsev.fd metadata of measurement.md §3, in table order', () => {
    const fw = parseSevFirmware(firmware(AMDSEV));
    expect(fw.sections.map((s) => [s.gpa.toString(16), s.size.toString(16), s.type])).toEqual([
      ['800000', '9000', 'SNP_SEC_MEM'],
      ['80a000', '3000', 'SNP_SEC_MEM'],
      ['80d000', '1000', 'SNP_SECRETS'],
      ['80e000', '1000', 'CPUID'],
      ['80f000', '1000', 'SVSM_CAA'],
      ['811000', '1f000', 'SNP_SEC_MEM'],
      ['810000', '1000', 'SNP_KERNEL_HASHES'],
    ]);
    expect(sevEsResetEip(fw)).toBe(0x80b004);
    expect(svsmEntryOffset(parseSevFirmware(firmware('fixtures/svsm.bin'), 'SVSM'))).toBe(0);
  });
  it('the hash table of measurement.md §2.2 (kernel=/dev/null, initrd=/dev/null, "console=ttyS0 loglevel=7")', () => {
    const h = (b: Uint8Array) => createHash('sha256').update(b).digest();
    const t = sevHashTable({
      kernel: h(EMPTY),
      initrd: h(EMPTY),
      cmdline: h(cmdlineBytes('console=ttyS0 loglevel=7')),
    });
    const x = Buffer.from(t).toString('hex');
    expect(t).toHaveLength(176);
    expect(x.startsWith('06d63894224fc94cb479a793d411fd21a800d82dd09720bd944caa78e7714d36ab2a3200321c8eec')).toBe(true);
    expect(x.endsWith('b8550000000000000000')).toBe(true);
  });
  it('cpu_sig and the --vcpu-type table', () => {
    expect(CPU_SIGS['EPYC-v4']).toBe(0x800f12);
    expect(CPU_SIGS['EPYC-Rome']).toBe(0x830f10);
    expect(CPU_SIGS['EPYC-Milan']).toBe(0xa00f11);
    expect(CPU_SIGS['EPYC-Genoa']).toBe(0xa10f10);
    expect(CPU_SIGS['EPYC-Turin']).toBe(0xb00f00);
  });

  /** OVMF.amdsev.fd edited: 'ASEV' descriptor at 0x3ffa3c, sections from 0x3ffa4c */
  const DESC = 0x3ffa3c;
  const SEC = (i: number) => DESC + 16 + 12 * i;
  function edited(edit: (v: DataView, b: Uint8Array) => void): Uint8Array {
    const b = firmware(AMDSEV).slice();
    edit(new DataView(b.buffer), b);
    return b;
  }
  const resetGuid = (b: Uint8Array) => {
    const g = guidBytes(SEV_ES_RESET_BLOCK_GUID);
    for (let i = b.length - 4096; i < b.length - 16; i++) if (g.every((x, j) => b[i + j] === x)) return i;
    throw new Error('no reset block GUID');
  };
  const cases: [string, (v: DataView, b: Uint8Array) => void, RegExp, SnpLaunchInputs['kernel']?][] = [
    [
      'bad signature',
      (v) => v.setUint32(DESC, 0x46564454, true),
      /no 'ASEV' signature at 0x3ffa3c .*wrong SEV metadata signature/,
    ],
    ['version 2', (v) => v.setUint32(DESC + 8, 2, true), /OVMF SEV metadata version 2 is not supported/],
    ['Length too short', (v) => v.setUint32(DESC + 4, 0x40, true), /Length 0x40 is too short for its 7 sections/],
    ['unknown section type', (v) => v.setUint32(SEC(4) + 8, 5, true), /section 4: unknown section type 0x5/],
    [
      'unaligned base',
      (v) => v.setUint32(SEC(0), 0x800800, true),
      /section 0 \(SNP_SEC_MEM\): base 0x800800 is not 4 KiB/,
    ],
    [
      'unaligned size',
      (v) => v.setUint32(SEC(5) + 4, 0x1f010, true),
      /section 5 \(SNP_SEC_MEM\): size 0x1f010 is not a multiple/,
    ],
    ['no SEV-ES reset block', (_v, b) => (b[resetGuid(b)]! ^= 0xff), /no SEV-ES reset block \(GUID 00f771de/],
    [
      'a kernel hashes section of two pages, with a kernel',
      (v) => v.setUint32(SEC(6) + 4, 0x2000, true),
      /section 6 \(SNP_KERNEL_HASHES\): size 0x2000, but the SEV hash table page is one 4 KiB page/,
      { kernel: EMPTY },
    ],
    [
      'overlapping sections (KVM refuses the second add)',
      (v) => v.setUint32(SEC(5), 0x80f000, true),
      /the model refused the launch: KVM_SEV_SNP_LAUNCH_UPDATE of OVMF SEV metadata section 5 \(SNP_SEC_MEM\) at GPA 0x80f000, 31 pages: -EIO \(snp\.updateFirstPage: .*; cause snp\.alreadyPrivate/,
    ],
    [
      'metadata over the firmware itself',
      (v) => v.setUint32(SEC(0), 0xffc00000, true),
      /the model refused the launch: KVM_SEV_SNP_LAUNCH_UPDATE of OVMF SEV metadata section 0 .* -EIO/,
    ],
  ];
  it.each(cases)('refuses an image with %s, in one line', (_name, edit, re, kernel) => {
    let err: unknown;
    try {
      measureSnp({ ...inputsOf(VECTORS[4]!), vcpus: 2, ovmf: { bytes: edited(edit), file: 'x.fd' }, kernel }, nodeHost);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(FirmwareError);
    expect((err as Error).message).toMatch(re);
    expect((err as Error).message).not.toContain('\n');
  });
  it('an image that is not a whole number of pages, or no image at all', () => {
    const bad = (bytes: Uint8Array) => () =>
      measureSnp({ ...inputsOf(VECTORS[0]!), ovmf: { bytes, file: 'x' } }, nodeHost);
    expect(bad(new Uint8Array(4097))).toThrow(/0x1001 bytes, not a whole number of 4 KiB pages/);
    expect(bad(EMPTY)).toThrow(/the OVMF image is empty/);
    // snp:ovmf-hash, like sev-snp-measure, hashes any whole-page file (no footer table needed)
    expect(
      measureSnp({ ...inputsOf(VECTORS[0]!), ovmf: { bytes: new Uint8Array(8192), file: 'x' } }, nodeHost).plan
        .calls[0]!.pages,
    ).toBe(2);
  });
  it('an error says which image is to blame', () => {
    try {
      measureSnp({ ...inputsOf(VECTORS[15]!), svsm: { bytes: new Uint8Array(4096), file: 's' } }, nodeHost);
    } catch (e) {
      expect(e).toBeInstanceOf(SnpLaunchError);
      expect((e as SnpLaunchError).source).toBe('svsm');
      expect((e as Error).message).toMatch(/the SVSM footer table has no SVSM info entry/);
    }
    expect.assertions(3);
  });
});

describe('the emitted scenario', () => {
  it.each(['D7', 'S16', 'D1', 'S14', 'G1'])(
    '%s replays under runScenario and gmemsim run with the same digest',
    (id) => {
      const v = VECTORS.find((x) => x.id === id)!;
      const file = join(dir, `${id}.yaml`);
      const r = gmemsim('measure', 'snp', ...argvOf(v), '--emit-scenario', file);
      expect(r.err).toBe('');
      expect(r.code).toBe(0);
      expect(r.out).toBe(`${v.ld}\n`);
      const text = readFileSync(file, 'utf8');
      expect(statSync(file).size).toBeLessThan(20_000); // images are referenced, not inlined
      if (!v.inputs.ovmfHash)
        expect(text).toMatch(
          /data: \{ file: "(\.\.\/)+.*shared\/firmware\/(fixtures\/)?[^"]+", offset: 0, length: \d+ \}/,
        );
      else expect(text).toContain(`inject: { snp_digest_seed: ${v.inputs.ovmfHash} }`);
      expect(text).toContain(`measurement: "${v.ld}"`);
      const res = runScenario(loadScenario(file, text, nodeFileReader), nodeHost);
      expect(failures(res)).toBe('');
      expect(res.steps.at(-1)!.outcome.out.measurement).toBe(v.ld);
      const replay = gmemsim('run', file);
      expect(replay.code).toBe(0);
      expect(replay.out).toMatch(/expectations: (\d+) held\n$/);
    },
  );
  it('is the scenario measureSnp ran, with the digest asserted', () => {
    const inp = inputsOf(VECTORS.find((v) => v.id === 'S7')!);
    const m = measureSnp(inp, nodeHost);
    const plan = snpLaunchScenario(inp, hostSha256(nodeHost), { measurement: m.measurement });
    const text = emitScenario(plan.scenario, { comments: plan.comments });
    const plain = text.replace(/\n {4}expect: \{ measurement: "[0-9a-f]{96}" \}/, '');
    expect(plain).toBe(emitScenario(m.plan.scenario, { comments: m.plan.comments }));
    // and the file reads back as the steps that ran
    const loaded = loadScenario('s7.yaml', text, (f) => (f === inp.ovmf.file ? inp.ovmf.bytes : EMPTY));
    const steps = loaded.steps.map(({ line: _, ...rest }) => rest);
    expect(steps.slice(0, -1)).toEqual(m.plan.scenario.steps.slice(0, -1).map(({ line: _, ...rest }) => rest));
    expect(steps.at(-1)!.expect).toEqual({ measurement: m.measurement });
  });
});

describe("gmemsim measure snp takes sev-snp-measure's command line", () => {
  it.concurrent.each(VECTORS.map((v) => [v.id, v] as const))('%s', async (_id, v) => {
    const r = await gmemsimAsync('measure', 'snp', ...argvOf(v));
    expect(r.err).toBe('');
    expect(r.out).toBe(`${v.ld}\n`);
    expect(r.code).toBe(0);
  });
});

describe('gmemsim measure snp', () => {
  const D = join(FIRMWARE, AMDSEV);
  const d = (id: string) => VECTORS.find((v) => v.id === id)!.ld;
  it('prints the 96 hex digits and a newline only, deterministically', () => {
    const a = gmemsim('measure', 'snp', '--vcpus', '4', '--vcpu-type', 'EPYC-v4', '--ovmf', D);
    expect(a.code).toBe(0);
    expect(a.out).toBe(`${d('D4')}\n`);
    expect(a.err).toBe('');
    expect(gmemsim('measure', 'snp', '--vcpus', '4', '--vcpu-type', 'EPYC-v4', '--ovmf', D).out).toBe(a.out);
  });
  it('takes the signature as --vcpu-sig or --vcpu-family/model/stepping, and base64 output', () => {
    const sig = gmemsim(
      'measure',
      'snp',
      '--vcpus',
      '4',
      '--vcpu-sig',
      '0x800f12',
      '--ovmf',
      D,
      '--output-format',
      'base64',
    );
    expect(sig.code).toBe(0);
    expect(sig.out).toBe(`${Buffer.from(d('D4'), 'hex').toString('base64')}\n`);
    const fms = ['--vcpu-family', '23', '--vcpu-model', '1', '--vcpu-stepping', '2'];
    expect(gmemsim('measure', 'snp', '--vcpus', '4', ...fms, '--ovmf', D).out).toBe(`${d('D4')}\n`);
  });
  it('--vcpu-stepping keeps its low 4 bits, as sev-snp-measure cpu_sig does (23, 0, 0x12 -> 0x800f02)', () => {
    const fms = ['--vcpu-family', '23', '--vcpu-model', '0', '--vcpu-stepping', '18'];
    const r = gmemsim('measure', 'snp', '--vcpus', '1', ...fms, '--ovmf', D, '--json');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out).vcpu_sig).toBe('0x800f02');
  });
  it('--mode snp:ovmf-hash prints hex, as sev-snp-measure does, whatever --output-format says', () => {
    const r = gmemsim('measure', 'snp', '--mode', 'snp:ovmf-hash', '--ovmf', D, '--output-format', 'base64');
    expect(r.code).toBe(0);
    expect(r.out).toBe(`${d('D1')}\n`);
  });
  it('--json prints one document with the digest and every measuring call', () => {
    const r = gmemsim(
      'measure',
      'snp',
      '--vcpus',
      '1',
      '--vcpu-type',
      'EPYC-v4',
      '--ovmf',
      D,
      '--kernel',
      '/dev/null',
      '--json',
    );
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.out);
    expect(doc.measurement).toBe(d('D8'));
    expect(doc.records).toBe(1024 + 9 + 3 + 1 + 1 + 1 + 31 + 1 + 1);
    expect(doc.calls[0]).toEqual({
      call: 'KVM_SEV_SNP_LAUNCH_UPDATE',
      what: 'OVMF image',
      type: 'NORMAL',
      gpa: '0xffc00000',
      pages: 1024,
    });
    expect(doc.calls.at(-1)).toEqual({
      call: 'KVM_SEV_SNP_LAUNCH_FINISH',
      what: 'VMSA',
      type: 'VMSA',
      gpa: '0xfffffffff000',
      pages: 1,
    });
    expect(doc.calls).toHaveLength(9);
  });
  it('--explain prints the per-call table, then the digest', () => {
    const r = gmemsim('measure', 'snp', '--vcpus', '4', '--vcpu-type', 'EPYC-v4', '--ovmf', D, '--explain');
    expect(r.code).toBe(0);
    const lines = r.out.trimEnd().split('\n');
    expect(lines.at(-1)).toBe(d('D4'));
    expect(lines[0]).toMatch(/^#\s+call\s+section\s+type\s+GPA range\s+pages\s+records$/);
    expect(lines[1]).toMatch(
      /^1\s+KVM_SEV_SNP_LAUNCH_UPDATE\s+OVMF image\s+NORMAL\s+0xffc00000\.\.0xffffffff\s+1024\s+1024$/,
    );
    expect(lines[9]).toMatch(/^9\s+KVM_SEV_SNP_LAUNCH_FINISH\s+VMSA\s+VMSA\s+0xfffffffff000 ×4\s+4\s+4$/);
    expect(lines[10]).toMatch(/^\s+total\s+1075\s+1075$/);
  });
  it('offers exactly the --vcpu-type names of the signature table', () => {
    const help = gmemsim('measure', 'snp', '--help').out.replace(/\s+/g, ' ');
    const choices = /--vcpu-type <name> .*?\(choices: (.*?)\)/.exec(help)![1]!;
    expect(choices.split(', ').map((c) => JSON.parse(c))).toEqual(Object.keys(CPU_SIGS));
  });
  it('measure tdx --explain prints the same kind of table', () => {
    const r = gmemsim('measure', 'tdx', '--firmware', join(FIRMWARE, 'OVMF.inteltdx.ms.fd'), '--explain');
    expect(r.code).toBe(0);
    const lines = r.out.trimEnd().split('\n');
    expect(lines[1]).toMatch(
      /^1\s+KVM_TDX_INIT_MEM_REGION\s+TDVF section 0\s+BFV \+MR\.EXTEND\s+0xffc84000\.\.0xffffffff\s+892\s+15164$/,
    );
    expect(lines[7]).toMatch(/^\s+total\s+1050\s+15322$/);
    expect(lines.at(-1)).toBe(
      'a7a1f751abc454f9cbab198ca8d2edb2821935df525c74182b5e776cb0929e8c59aefecce725b0d08a5e9d3d3183bd08',
    );
  });

  const S = join(FIRMWARE, SUFFIX);
  const X = join(FIRMWARE, X64);
  it.each([
    ['no --ovmf', ['--vcpus', '1', '--vcpu-type', 'EPYC-v4'], /required option '--ovmf <path>'/],
    ['no --vcpus', ['--ovmf', S, '--vcpu-type', 'EPYC-v4'], /^gmemsim: missing --vcpus N in guest mode 'snp'$/m],
    [
      'no vCPU type for QEMU',
      ['--ovmf', S, '--vcpus', '1'],
      /missing --vcpu-type or --vcpu-sig or --vcpu-family in guest mode 'snp'/,
    ],
    ['an unknown VMM type', ['--ovmf', S, '--vcpus', '1', '--vmm-type', 'xen'], /unknown VMM type 'xen'/],
    ['an unknown vCPU type', ['--ovmf', S, '--vcpus', '1', '--vcpu-type', 'EPYC-v9'], /argument 'EPYC-v9' is invalid/],
    ['--mode sev', ['--ovmf', S, '--mode', 'sev'], /argument 'sev' is invalid/],
    [
      '--initrd without --kernel',
      ['--ovmf', S, '--vcpus', '1', '--vcpu-type', 'EPYC', '--initrd', '/dev/null'],
      /--kernel required when using --initrd/,
    ],
    [
      '--append without --kernel',
      ['--ovmf', S, '--vcpus', '1', '--vcpu-type', 'EPYC', '--append', 'x'],
      /--kernel required when using --append/,
    ],
    [
      'a kernel for a firmware without SNP_KERNEL_HASHES',
      ['--ovmf', X, '--vcpus', '1', '--vcpu-type', 'EPYC-v4', '--kernel', '/dev/null'],
      /^gmemsim: --ovmf .*ovmf_OvmfX64_suffix\.bin: Kernel specified but OVMF metadata doesn't include SNP_KERNEL_HASHES section$/m,
    ],
    [
      'snp:svsm without --vars-size',
      ['--ovmf', S, '--mode', 'snp:svsm', '--vcpus', '1', '--vcpu-type', 'EPYC'],
      /snp:svsm mode requires --vars-size or --vars-file/,
    ],
    [
      'snp:svsm for ec2',
      ['--ovmf', S, '--mode', 'snp:svsm', '--vcpus', '1', '--vmm-type', 'ec2', '--vars-size', '4096', '--svsm', S],
      /SVSM mode is only implemented for QEMU/,
    ],
    [
      'a short --snp-ovmf-hash',
      ['--ovmf', S, '--vcpus', '1', '--vcpu-type', 'EPYC', '--snp-ovmf-hash', 'abcd'],
      /--snp-ovmf-hash abcd: a launch digest is 96 hex digits/,
    ],
    [
      'guest features without SNPActive, written as a scenario',
      ['--ovmf', S, '--vcpus', '1', '--vcpu-type', 'EPYC', '--guest-features', '0x20', '--emit-scenario', '/dev/null'],
      /--emit-scenario \/dev\/null: guest features 0x20 lack bit 0 \(SNPActive\).*cannot be written as a scenario/,
    ],
    [
      'a bad --vcpus',
      ['--ovmf', S, '--vcpus', 'four', '--vcpu-type', 'EPYC'],
      /--vcpus four: expected a non-negative integer/,
    ],
    [
      'a missing file',
      ['--ovmf', join(dir, 'nope.fd'), '--vcpus', '1', '--vcpu-type', 'EPYC'],
      /--ovmf .*nope\.fd: cannot read file: ENOENT/,
    ],
    [
      'a missing kernel',
      ['--ovmf', S, '--vcpus', '1', '--vcpu-type', 'EPYC', '--kernel', join(dir, 'nope')],
      /--kernel .*nope: cannot read file: ENOENT/,
    ],
    [
      'a file that is not OVMF',
      ['--ovmf', join(ROOT, 'package.json'), '--vcpus', '1', '--vcpu-type', 'EPYC'],
      /not a whole number of 4 KiB pages/,
    ],
    [
      '--explain with --json',
      ['--ovmf', S, '--vcpus', '1', '--vcpu-type', 'EPYC', '--json', '--explain'],
      /--explain and --json cannot be combined/,
    ],
  ])('exits 2 for %s, in one line', (_name, args, re) => {
    const r = gmemsim('measure', 'snp', ...args);
    expect(r.code).toBe(2);
    expect(r.out).toBe('');
    expect(r.err).toMatch(re);
    expect(r.err.split('\n').filter((l) => l && !l.startsWith('(run with --help')).length).toBe(1);
    noStack(r.err);
  });
  it('a firmware without an SEV-ES reset block is refused by name (a 4 KiB page of zeros)', () => {
    const f = join(dir, 'zeros.fd');
    writeFileSync(f, new Uint8Array(4096));
    const r = gmemsim('measure', 'snp', '--ovmf', f, '--vcpus', '1', '--vcpu-type', 'EPYC');
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/^gmemsim: --ovmf .*zeros\.fd: the OVMF footer table has no SEV-ES reset block/);
    // while snp:ovmf-hash measures it, as sev-snp-measure does
    expect(gmemsim('measure', 'snp', '--mode', 'snp:ovmf-hash', '--ovmf', f).code).toBe(0);
  });
});
