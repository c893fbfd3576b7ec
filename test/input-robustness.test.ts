/**
 * Issue 16 item 4: no input crashes. Each hostile file is one line FILE:LINE:COL: message, exit 2,
 * no stack trace; item 3: `run` of several files, a directory or `-` runs every valid file and
 * reports each invalid one. In-process (runCli) except where a real process is the point.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { gmemsim, noStack } from './support/cli.ts';
import { crashFreeViolation, gmemsimIn } from './support/inproc.ts';
import { ROOT } from './support/scenarios.ts';

const dir = mkdtempSync(join(tmpdir(), 'gmemsim-input-'));
const SMOKE = join(ROOT, 'test/scenarios/smoke.yaml');
const HEAD = 'format: gmemsim/1\nname: x\n';
const VM = 'steps:\n  - KVM_CREATE_VM: { type: 0 }\n';

function file(name: string, content: string | Uint8Array): string {
  const p = join(dir, name);
  writeFileSync(p, content);
  return p;
}

/** exit 2, and stderr is exactly one FILE:LINE:COL line matching `message` */
async function rejected(path: string, line: number, col: number, message: RegExp): Promise<void> {
  const r = await gmemsimIn('run', path);
  expect(crashFreeViolation(r)).toBeUndefined();
  expect(r.code).toBe(2);
  const lines = r.err.trimEnd().split('\n');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(new RegExp(`^${path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:${line}:${col}: `));
  expect(lines[0]).toMatch(message);
}

describe('YAML that once crashed the loader', () => {
  it('an alias before its anchor', async () => {
    const f = file('alias-before.yaml', `${HEAD}steps:\n  - KVM_CREATE_VM: *a\n  - KVM_CREATE_VM: &a { type: 0 }\n`);
    await rejected(f, 4, 20, /alias \*a has no anchor &a before it/);
  });

  it('an alias bomb', async () => {
    let s = `${HEAD}a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n`;
    for (let i = 1; i < 12; i++)
      s += `a${i}: &a${i} [${Array(10)
        .fill(`*a${i - 1}`)
        .join(', ')}]\n`;
    await rejected(file('bomb.yaml', `${s}steps: *a11\n`), 4, 10, /alias bomb/);
  });

  it('a cyclic alias', async () => {
    const f = file('cycle.yaml', `${HEAD}steps:\n  - KVM_CREATE_VM: &m { type: *m }\n`);
    await rejected(f, 4, 31, /refers to a node that contains it/);
  });

  it('20,000-deep nesting, flow and block, with a message that does not depend on the stack', async () => {
    await rejected(
      file('deep.yaml', `${HEAD}steps: ${'['.repeat(20000)}${']'.repeat(20000)}\n`),
      3,
      107,
      /nested deeper than 100 levels/,
    );
    const block = Array.from({ length: 4000 }, (_, i) => `${' '.repeat(i)}- `).join('\n');
    await rejected(file('deep-block.yaml', `${HEAD}steps:\n${block}\n`), 103, 100, /nested deeper than 100 levels/);
  });

  it('an unknown tag is an error, not a silent string', async () => {
    await rejected(
      file('tag.yaml', `${HEAD}steps:\n  - KVM_CREATE_VM: { type: !foo 0 }\n`),
      4,
      28,
      /unknown tag: !foo/,
    );
  });

  it('merge keys and !!binary are refused with a position', async () => {
    const merge = file('merge.yaml', `${HEAD}steps:\n  - KVM_CREATE_VM: { <<: { type: 0 } }\n`);
    const r1 = await gmemsimIn('run', merge);
    expect(r1.code).toBe(2);
    expect(crashFreeViolation(r1)).toBeUndefined();
    const bin = file('binary.yaml', `${HEAD}steps:\n  - KVM_CREATE_VM: { type: !!binary AAA= }\n`);
    const r2 = await gmemsimIn('run', bin);
    expect(r2.code).toBe(2);
    expect(crashFreeViolation(r2)).toBeUndefined();
  });

  it('found by the fuzzer: a huge integer where a name goes (JSON.stringify of a BigInt threw)', async () => {
    const f = file('bigname.yaml', `${HEAD}steps:\n  - KVM_CREATE_VM: { type: [KVM_X86_TDX_VM, ${2n ** 70n}] }\n`);
    const r = await gmemsimIn('run', f);
    expect(crashFreeViolation(r)).toBeUndefined();
    expect(r.code).toBe(2);
  });

  it('found by the fuzzer: a list as a mapping key (a Node warning and a many-line message)', async () => {
    await rejected(
      file('listkey.yaml', `${HEAD}steps:\n  - KVM_CREATE_VM: { [a, b]: 1 }\n`),
      4,
      22,
      /a mapping key is a name/,
    );
  });

  it('found by the fuzzer: a key with a line break stays one line', async () => {
    await rejected(
      file('nlkey.yaml', `${HEAD}steps:\n  - KVM_CREATE_VM: { "a\\nb": 1 }\n`),
      4,
      22,
      /unknown argument "a\\nb"/,
    );
  });

  it('two documents in one file', async () => {
    await rejected(file('two.yaml', `${HEAD}${VM}---\n${HEAD}${VM}`), 5, 1, /one YAML document/);
  });
});

describe('bytes that are not a scenario', () => {
  it('Latin-1 text: the first byte that is not UTF-8', async () => {
    const f = file(
      'latin1.yaml',
      Buffer.concat([Buffer.from(`${HEAD}description: caf`), Buffer.from([0xe9]), Buffer.from(`\n${VM}`)]),
    );
    await rejected(f, 3, 17, /not UTF-8 text \(byte 0xe9\)/);
  });

  it('UTF-16 text', async () => {
    await rejected(file('utf16.yaml', Buffer.from(`\ufeff${HEAD}${VM}`, 'utf16le')), 1, 1, /UTF-16/);
  });

  it('a BOM and CRLF line ends are fine', async () => {
    const r = await gmemsimIn('run', file('bom-crlf.yaml', `\ufeff${HEAD}${VM}`.replace(/\n/g, '\r\n')));
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
  });

  it('a device that never ends, and a file over the size limit', async () => {
    await rejected('/dev/zero', 1, 1, /cannot read file: larger than 32 MiB/);
    const big = file('big.yaml', `${HEAD}${VM}${'#'.repeat(33 * 1024 * 1024)}\n`);
    await rejected(big, 1, 1, /cannot read file: larger than 32 MiB/);
  });

  it('a {file:} data source that never ends', async () => {
    const f = file('zero-data.yaml', `${HEAD}steps:\n  - write: { fd: 1, data: { file: /dev/zero } }\n`);
    const r = await gmemsimIn('run', f);
    expect(crashFreeViolation(r)).toBeUndefined();
    expect(r.code).toBe(2);
  });

  it('a firmware image that never ends', async () => {
    const r = await gmemsimIn('measure', 'tdx', '--firmware', '/dev/zero');
    expect(r.code).toBe(2);
    expect(r.err).toBe('gmemsim: --firmware /dev/zero: cannot read file: larger than 1024 MiB\n');
  });
});

describe('run of many files', () => {
  const good = file('good.yaml', `${HEAD}${VM}`);
  const bad = file('bad.yaml', `${HEAD}steps:\n  - KVM_CREATE_VM: { type: KVM_X86_NOPE_VM }\n`);

  it('runs every valid file, reports each invalid one, exits 2 and ends with a grand total', async () => {
    const r = await gmemsimIn('run', good, bad, SMOKE, join(dir, 'missing.yaml'));
    expect(r.code).toBe(2);
    expect(r.err.trimEnd().split('\n')).toEqual([
      expect.stringMatching(/bad\.yaml:4:\d+: /),
      `${join(dir, 'missing.yaml')}:1:1: cannot read file: ENOENT`,
    ]);
    expect(r.out).toContain(`${good}: x`);
    expect(r.out).toContain(`${SMOKE}: gmem basics`);
    expect(r.out.trimEnd().split('\n').at(-1)).toBe('total: 2 files run, 2 invalid, 10 steps, 7 expectations: 7 held');
  });

  it('one valid file prints exactly its report (no total)', async () => {
    const r = await gmemsimIn('run', good);
    expect(r.out).not.toContain('total:');
    expect(r.code).toBe(0);
  });

  it('a directory: its *.yaml, *.yml and *.json files, recursively, sorted', async () => {
    const d = join(dir, 'tree');
    mkdirSync(join(d, 'b', 'c'), { recursive: true });
    writeFileSync(join(d, 'b', 'c', 'one.yml'), `${HEAD.replace('x', 'one')}${VM}`);
    writeFileSync(join(d, 'a.yaml'), `${HEAD.replace('x', 'a')}${VM}`);
    writeFileSync(
      join(d, 'b', 'two.json'),
      JSON.stringify({ format: 'gmemsim/1', name: 'two', steps: [{ KVM_CREATE_VM: { type: 0 } }] }),
    );
    writeFileSync(join(d, 'notes.txt'), 'not a scenario');
    const r = await gmemsimIn('run', d);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const heads = r.out.split('\n').filter((l) => l.startsWith(d));
    expect(heads).toEqual([
      `${join(d, 'a.yaml')}: a`,
      `${join(d, 'b', 'c', 'one.yml')}: one`,
      `${join(d, 'b', 'two.json')}: two`,
    ]);
    expect(r.out.trimEnd().split('\n').at(-1)).toBe('total: 3 files run, 3 steps, 0 expectations: 0 held');
  });

  it('an empty directory is a diagnostic', async () => {
    const d = join(dir, 'empty');
    mkdirSync(d);
    const r = await gmemsimIn('run', d);
    expect(r.code).toBe(2);
    expect(r.err).toBe(`${d}:1:1: no scenario files (*.yaml, *.yml, *.json) in this directory\n`);
  });

  it('- reads the scenario from standard input (a real process)', () => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'src/cli/main.ts'), 'run', '-'], {
      cwd: ROOT,
      input: readFileSync(SMOKE),
      encoding: 'utf8',
      env: { ...process.env, NO_COLOR: '1' },
    });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^<stdin>: gmem basics\n/);
  });

  it('- with bad input names <stdin>, in a real process with no stack trace', () => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'src/cli/main.ts'), 'run', '-'], {
      cwd: ROOT,
      input: `${HEAD}steps:\n  - KVM_CREATE_VM: *nope\n`,
      encoding: 'utf8',
    });
    expect(r.status).toBe(2);
    expect(r.stderr).toBe('<stdin>:4:20: alias *nope has no anchor &nope before it\n');
  });

  it('the alias crash, in a real process: one line, exit 2', () => {
    const r = gmemsim('run', file('alias-proc.yaml', `${HEAD}steps:\n  - KVM_CREATE_VM: *a\n`));
    noStack(r.err);
    expect(r.code).toBe(2);
  });
});
