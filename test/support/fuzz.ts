/**
 * The input fuzzer of issue 16 item 4: structured mutations of the real scenarios in
 * test/scenarios, and command lines built from every command's flags with hostile values and file
 * inputs. Every case runs in-process (runCli) and must keep the crash-free rule
 * (crashFreeViolation). test/fuzz.test.ts runs a bounded number; `npm run fuzz` runs many more.
 */
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import fc from 'fast-check';
import { isCollection, isMap, isScalar, type Node, parseDocument, visit } from 'yaml';
import { FIRMWARE } from './firmware.ts';
import { crashFreeViolation, gmemsimIn } from './inproc.ts';
import { findScenarios, ROOT } from './scenarios.ts';

/** the corpus: every scenario under test/scenarios (path relative to ROOT, text) */
export const corpus: { file: string; text: string }[] = findScenarios(join(ROOT, 'test', 'scenarios')).map((f) => ({
  file: relative(ROOT, f),
  text: readFileSync(f, 'utf8'),
}));

/** values that have broken parsers before: numbers at every edge, odd strings, odd shapes */
const NASTY_SCALARS: unknown[] = [
  0,
  1,
  -1,
  0x1000,
  1.5,
  -0,
  Number.NaN,
  Number.POSITIVE_INFINITY,
  2 ** 53 + 1,
  2n ** 63n,
  2n ** 64n - 1n,
  2n ** 64n,
  10n ** 40n,
  '',
  ' ',
  '0x',
  '0x1g',
  '-0x1000',
  '1e400',
  '99999999999999999999999999999999999999',
  'vm+',
  'vm+0x',
  'vm-0x1000',
  'kvm',
  'sev',
  'nope+1',
  'KVM_X86_TDX_VM',
  'PROT_READ',
  'SIGBUS',
  'EINVAL',
  'x'.repeat(5000),
  '\u2028\u2029',
  '\u0000',
  '\ud800',
  '💥',
  'true',
  'null',
  true,
  false,
  null,
];

const nastyValue: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(...NASTY_SCALARS) },
  { weight: 1, arbitrary: fc.bigInt({ min: -(2n ** 70n), max: 2n ** 70n }) },
  { weight: 1, arbitrary: fc.string({ maxLength: 12 }) },
  {
    weight: 1,
    arbitrary: fc.constantFrom([], {}, [[]], { hex: 'zz' }, { fill: 1 }, { fill: 0xaa, length: 2n ** 40n }),
  },
  {
    weight: 1,
    arbitrary: fc.jsonValue({ maxDepth: 3 }),
  },
  {
    weight: 1,
    // nesting around the limit (100 collections)
    arbitrary: fc.integer({ min: 90, max: 130 }).map((d) => {
      let v: unknown = 0;
      for (let i = 0; i < d; i++) v = [v];
      return v;
    }),
  },
);

/** one edit of the YAML document: the node to touch is picked by index among all nodes */
const structural = fc.oneof(
  fc.record({ kind: fc.constant('replace' as const), at: fc.nat(), value: nastyValue }),
  fc.record({ kind: fc.constant('remove' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('duplicate-item' as const), at: fc.nat() }),
  fc.record({
    kind: fc.constant('rename-key' as const),
    at: fc.nat(),
    key: fc.constantFrom(
      '',
      '<<',
      'as',
      'expect',
      'note',
      'inject',
      'kernel',
      'steps',
      'fd',
      'Fd',
      'typo',
      '__proto__',
      'constructor',
    ),
  }),
);
type Structural = typeof structural extends fc.Arbitrary<infer T> ? T : never;

/** one edit of the text or bytes */
const textual = fc.oneof(
  fc.record({
    kind: fc.constant('insert' as const),
    at: fc.nat(),
    what: fc.constantFrom(
      '*a ',
      '&a ',
      '*a',
      '&a [*a] ',
      '<<: *a\n',
      '!!binary ',
      '!!set ',
      '!!omap ',
      '!!timestamp ',
      '!!float ',
      '!!int ',
      '!!str ',
      '!foo ',
      '!<tag:yaml.org,2002:js/function> ',
      '? ',
      ': ',
      '- ',
      '{',
      '}',
      '[',
      ']',
      ',',
      '"',
      "'",
      '|',
      '>',
      '#',
      '%YAML 1.1\n---\n',
      '---\n',
      '...\n',
      '\t',
      '\0',
      '\ufeff',
      '\r',
      '[[[[[[[[[[[[[[[[[[[[',
      '9'.repeat(400),
      '0x',
    ),
  }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('delete-line' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('swap-lines' as const), at: fc.nat(), with: fc.nat() }),
  fc.record({ kind: fc.constant('indent-line' as const), at: fc.nat(), by: fc.integer({ min: -4, max: 4 }) }),
  fc.record({ kind: fc.constant('crlf' as const) }),
  fc.record({ kind: fc.constant('bom' as const) }),
  fc.record({ kind: fc.constant('flip-byte' as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
  fc.record({
    kind: fc.constant('bomb' as const),
    width: fc.integer({ min: 2, max: 12 }),
    depth: fc.integer({ min: 1, max: 10 }),
  }),
  fc.record({ kind: fc.constant('deep' as const), depth: fc.integer({ min: 95, max: 25_000 }) }),
);
type Textual = typeof textual extends fc.Arbitrary<infer T> ? T : never;

export interface ScenarioCase {
  source: number;
  structural: Structural[];
  textual: Textual[];
  json: boolean;
}

export const scenarioCase: fc.Arbitrary<ScenarioCase> = fc.record({
  source: fc.nat({ max: corpus.length - 1 }),
  structural: fc.array(structural, { maxLength: 3 }),
  textual: fc.array(textual, { maxLength: 2 }),
  json: fc.boolean(),
});

function applyStructural(text: string, edits: Structural[]): string {
  if (!edits.length) return text;
  const doc = parseDocument(text, { intAsBigInt: true });
  for (const e of edits) {
    let n = 0;
    const count = (() => {
      let c = 0;
      visit(doc, { Node: () => void c++ });
      return c;
    })();
    if (!count) break;
    const target = e.at % count;
    visit(doc, {
      Node(_key, node: Node) {
        if (n++ !== target) return undefined;
        if (e.kind === 'replace') return doc.createNode(e.value);
        if (e.kind === 'remove') return visit.REMOVE;
        if (e.kind === 'duplicate-item' && isCollection(node) && node.items.length)
          node.items.push(node.items[target % node.items.length] as never);
        if (e.kind === 'rename-key' && isMap(node) && node.items.length) {
          const pair = node.items[target % node.items.length]!;
          if (isScalar(pair.key)) pair.key.value = e.key;
        }
        return visit.BREAK;
      },
    });
  }
  return doc.toString({ lineWidth: 0 });
}

function applyTextual(bytes: Buffer, edits: Textual[]): Buffer {
  let b = bytes;
  for (const e of edits) {
    const lines = () => b.toString('latin1').split('\n');
    const fromLines = (ls: string[]) => Buffer.from(ls.join('\n'), 'latin1');
    switch (e.kind) {
      case 'insert': {
        const at = e.at % (b.length + 1);
        b = Buffer.concat([b.subarray(0, at), Buffer.from(e.what, 'utf8'), b.subarray(at)]);
        break;
      }
      case 'truncate':
        b = b.subarray(0, e.at % (b.length + 1));
        break;
      case 'delete-line': {
        const ls = lines();
        ls.splice(e.at % ls.length, 1);
        b = fromLines(ls);
        break;
      }
      case 'swap-lines': {
        const ls = lines();
        const i = e.at % ls.length;
        const j = e.with % ls.length;
        [ls[i], ls[j]] = [ls[j]!, ls[i]!];
        b = fromLines(ls);
        break;
      }
      case 'indent-line': {
        const ls = lines();
        const i = e.at % ls.length;
        ls[i] = e.by >= 0 ? ' '.repeat(e.by) + ls[i] : ls[i]!.slice(-e.by);
        b = fromLines(ls);
        break;
      }
      case 'crlf':
        b = Buffer.from(b.toString('latin1').replace(/\n/g, '\r\n'), 'latin1');
        break;
      case 'bom':
        b = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), b]);
        break;
      case 'flip-byte':
        if (b.length) {
          b = Buffer.from(b);
          b[e.at % b.length] = e.value;
        }
        break;
      case 'bomb': {
        let s = `\nb0: &b0 [${Array(e.width).fill('x').join(', ')}]\n`;
        for (let i = 1; i <= e.depth; i++)
          s += `b${i}: &b${i} [${Array(e.width)
            .fill(`*b${i - 1}`)
            .join(', ')}]\n`;
        b = Buffer.concat([b, Buffer.from(s)]);
        break;
      }
      case 'deep':
        b = Buffer.concat([b, Buffer.from(`\ndeep: ${'['.repeat(e.depth)}${']'.repeat(e.depth)}\n`)]);
        break;
    }
  }
  return b;
}

/** the bytes of a mutated scenario */
export function mutatedScenario(c: ScenarioCase): Buffer {
  const src = corpus[c.source]!;
  return applyTextual(Buffer.from(applyStructural(src.text, c.structural)), c.textual);
}

/** a scratch directory for one fuzzing session, holding odd inputs the command lines name */
export function workspace(): { dir: string; inputs: string[]; outs: string[] } {
  const dir = mkdtempSync(join(tmpdir(), 'gmemsim-fuzz-'));
  const put = (name: string, b: string | Uint8Array) => {
    const p = join(dir, name);
    writeFileSync(p, b);
    return p;
  };
  mkdirSync(join(dir, 'adir'));
  const scen = join(ROOT, 'test', 'scenarios');
  const inputs = [
    join(scen, 'smoke.yaml'),
    join(scen, 'gmem'),
    join(dir, 'missing.yaml'),
    join(dir, 'adir'),
    '/dev/null',
    '/dev/zero',
    '/proc/self/status',
    put('empty.yaml', ''),
    put('rand.bin', Buffer.from(Array.from({ length: 70_000 }, (_, i) => (i * 2654435761) >>> 24))),
    put('alias.yaml', 'format: gmemsim/1\nname: x\nsteps: *a\n'),
    put('truncated.fd', readFileSync(join(FIRMWARE, 'OVMF.inteltdx.ms.fd')).subarray(0, 3 << 20)),
    put('tail.fd', readFileSync(join(FIRMWARE, 'OVMF.amdsev.fd')).subarray(-65536)),
    join(FIRMWARE, 'OVMF.inteltdx.ms.fd'),
    join(FIRMWARE, 'OVMF.amdsev.fd'),
    '',
    '-x',
    '\u00e9',
  ];
  const outs = [
    join(dir, 'out'),
    join(dir, 'out.html'),
    '/proc/nope',
    join(dir, 'adir'),
    '/dev/null',
    join(dir, 'rand.bin', 'x'),
    '',
  ];
  return { dir, inputs, outs };
}

const FLAG_VALUES = [
  '',
  '0',
  '1',
  '2',
  '-1',
  '0x10',
  '1e3',
  '99999999999999999999',
  'in-place',
  'mainline',
  'nope',
  'tdx',
  'snp',
  'sw-protected',
  'hex',
  'base64',
  'EPYC-v4',
  'gmem_in_place_conversion=false',
  'mmap_min_addr=0x1000',
  'mmap_min_addr=0x800000000000',
  'safeguard.nope=off',
  'tdx_measure_order=two-pass',
  '=',
  'x=y=z',
  '--json',
  '\u0000',
];

/** a command and the flags it takes (values: an index into FLAG_VALUES, an input or an out path) */
const COMMANDS: { cmd: string[]; flags: [string, 'value' | 'input' | 'out' | 'none'][]; files: number }[] = [
  {
    cmd: ['run'],
    flags: [
      ['--json', 'none'],
      ['--profile', 'value'],
      ['--set', 'value'],
    ],
    files: 3,
  },
  {
    cmd: ['diff'],
    flags: [
      ['--json', 'none'],
      ['--profile', 'value'],
      ['--set', 'value'],
    ],
    files: 2,
  },
  {
    cmd: ['rules'],
    flags: [
      ['--ioctl', 'value'],
      ['--profile', 'value'],
      ['--json', 'none'],
      ['--markdown', 'none'],
    ],
    files: 0,
  },
  { cmd: ['schema'], flags: [], files: 0 },
  {
    cmd: ['explore', '--max-states', '40', '--depth', '2'],
    flags: [
      ['--profile', 'value'],
      ['--set', 'value'],
      ['--vm', 'value'],
      ['--pages', 'value'],
      ['--json', 'none'],
      ['--out', 'out'],
      ['--list-safeguards', 'none'],
      ['--max-states', 'value'],
      ['--depth', 'value'],
    ],
    files: 0,
  },
  {
    cmd: ['measure', 'tdx'],
    flags: [
      ['--firmware', 'input'],
      ['--two-pass-add-pages', 'none'],
      ['--output-format', 'value'],
      ['--emit-scenario', 'out'],
      ['--json', 'none'],
      ['--explain', 'none'],
    ],
    files: 0,
  },
  {
    cmd: ['measure', 'snp'],
    flags: [
      ['--mode', 'value'],
      ['--vcpus', 'value'],
      ['--vcpu-type', 'value'],
      ['--vcpu-sig', 'value'],
      ['--vcpu-family', 'value'],
      ['--vmm-type', 'value'],
      ['--ovmf', 'input'],
      ['--kernel', 'input'],
      ['--initrd', 'input'],
      ['--append', 'value'],
      ['--guest-features', 'value'],
      ['--snp-ovmf-hash', 'value'],
      ['--svsm', 'input'],
      ['--vars-size', 'value'],
      ['--vars-file', 'input'],
      ['--output-format', 'value'],
      ['--emit-scenario', 'out'],
      ['--json', 'none'],
      ['--explain', 'none'],
    ],
    files: 0,
  },
  // never serves: --out is always given (with --port as well it is a usage error)
  {
    cmd: ['view', '--out', ''],
    flags: [
      ['--out', 'out'],
      ['--port', 'value'],
      ['--profile', 'value'],
      ['--set', 'value'],
    ],
    files: 1,
  },
  {
    cmd: [],
    flags: [
      ['--version', 'none'],
      ['--help', 'none'],
      ['--nope', 'none'],
    ],
    files: 0,
  },
];

export interface ArgvCase {
  command: number;
  flags: { flag: number; value: number }[];
  files: number[];
}

export const argvCase: fc.Arbitrary<ArgvCase> = fc.record({
  command: fc.nat({ max: COMMANDS.length - 1 }),
  flags: fc.array(fc.record({ flag: fc.nat(), value: fc.nat() }), { maxLength: 5 }),
  files: fc.array(fc.nat(), { maxLength: 3 }),
});

/** the argv of a case, given the workspace's inputs and out paths */
export function argvOf(c: ArgvCase, ws: { dir: string; inputs: string[]; outs: string[] }): string[] {
  const spec = COMMANDS[c.command]!;
  const argv = [...spec.cmd];
  if (argv[0] === 'view') argv[2] = join(ws.dir, 'view.html');
  for (const f of c.flags) {
    if (!spec.flags.length) break;
    const [flag, kind] = spec.flags[f.flag % spec.flags.length]!;
    argv.push(flag);
    if (kind === 'value') {
      let v = FLAG_VALUES[f.value % FLAG_VALUES.length]!;
      // keep the explorer small: only small or invalid limits
      if ((flag === '--max-states' || flag === '--depth') && /^[0-9]+$/.test(v) && Number(v) > 50) v = 'x';
      argv.push(v);
    } else if (kind === 'input') argv.push(ws.inputs[f.value % ws.inputs.length]!);
    else if (kind === 'out') argv.push(ws.outs[f.value % ws.outs.length]!);
  }
  for (const i of c.files.slice(0, spec.files)) argv.push(ws.inputs[i % ws.inputs.length]!);
  return argv;
}

export interface Finding {
  argv: string[];
  problem: string;
  input?: Buffer;
}

let findings = 0;

/** run one scenario case; a finding if it breaks the crash-free rule */
export async function checkScenario(c: ScenarioCase, dir: string): Promise<Finding | undefined> {
  const bytes = mutatedScenario(c);
  const file = join(dir, `case${c.json ? '.json' : '.yaml'}`);
  writeFileSync(file, bytes);
  const argv = ['run', ...(c.json ? ['--json'] : []), file];
  const r = await gmemsimIn(...argv);
  const problem = crashFreeViolation(r);
  if (!problem) return undefined;
  // keep the input: the case file is overwritten by the next case
  const kept = join(dir, `finding-${++findings}${c.json ? '.json' : '.yaml'}`);
  writeFileSync(kept, bytes);
  return { argv: ['run', ...(c.json ? ['--json'] : []), kept], problem, input: bytes };
}

/** run one command-line case; a finding if it breaks the crash-free rule */
export async function checkArgv(c: ArgvCase, ws: ReturnType<typeof workspace>): Promise<Finding | undefined> {
  const argv = argvOf(c, ws);
  const r = await gmemsimIn(...argv);
  const problem = crashFreeViolation(r, argv);
  return problem ? { argv, problem } : undefined;
}
