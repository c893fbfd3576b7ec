/**
 * The built CLI (bin/gmemsim.js → dist/bundle, scripts/bundle.mjs) behaves as the source tree does.
 * The bundle is one self-contained file per lazily loaded module, sharing only errors.js, so these
 * runs cross every bundle boundary: a command (main.js → measure.js), the explain table and the
 * scenario emitter (measure → explain.js, emit.js), a UsageError thrown in a command and recognised
 * by main.js, the explorer's worker threads (worker.js) and its progress bar (cli-progress inside
 * explore.js). `npm ci` builds dist/ (the prepare script); after changing src/, `npm run build`.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { gmemsim } from './support/cli.ts';
import { FIRMWARE } from './support/firmware.ts';
import { ROOT } from './support/scenarios.ts';

const BIN = join(ROOT, 'bin', 'gmemsim.js');

function built(args: string[], nodeArgs: string[] = [], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [...nodeArgs, BIN, ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    env: { ...process.env, NO_COLOR: '1', ...env },
  });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

function newest(dir: string): number {
  return Math.max(
    0,
    ...readdirSync(dir, { withFileTypes: true }).map((e) =>
      e.isDirectory() ? newest(join(dir, e.name)) : statSync(join(dir, e.name)).mtimeMs,
    ),
  );
}

const fw = (f: string) => join(FIRMWARE, f);
const SNP = ['measure', 'snp', '--vcpus', '4', '--vcpu-type', 'EPYC-v4', '--ovmf', fw('OVMF.amdsev.fd')];
const TDX = ['measure', 'tdx', '--firmware', fw('OVMF.inteltdx.ms.fd')];

describe('the built CLI', () => {
  it('is built from the current sources', () => {
    const bundle = statSync(join(ROOT, 'dist', 'bundle', 'main.js')).mtimeMs;
    expect(bundle, 'dist/bundle is older than src/: run npm run build').toBeGreaterThanOrEqual(
      newest(join(ROOT, 'src')),
    );
  });

  it.each([
    ['measure tdx', TDX],
    ['measure tdx --explain', [...TDX, '--explain']],
    ['measure snp --json', [...SNP, '--json']],
    ['measure snp --explain', [...SNP, '--explain']],
  ])('%s prints what the source tree prints', (_, args) => {
    const a = built(args);
    const b = gmemsim(...args);
    expect(a.err).toBe('');
    expect(a.code).toBe(0);
    expect(a.out).toBe(b.out);
  });

  it('replays the scenario that measure --emit-scenario wrote (emit.js, then run.js)', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'gmemsim-bundle-')), 'launch.yaml');
    const m = built([...SNP, '--emit-scenario', file]);
    expect(m.code).toBe(0);
    const r = built(['run', file]);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const [, all, held] = /(\d+) expectations: (\d+) held$/m.exec(r.out) ?? [];
    expect(Number(all)).toBeGreaterThan(0);
    expect(held).toBe(all);
  });

  it('reports a command error thrown in another bundle as one line, exit 2', () => {
    const r = built(['measure', 'snp', '--vcpus', 'many', '--vcpu-type', 'EPYC-v4', '--ovmf', fw('OVMF.amdsev.fd')]);
    expect(r.code).toBe(2);
    expect(r.out).toBe('');
    expect(r.err).toBe('gmemsim: --vcpus many: expected a non-negative integer\n');
  });

  it('explores with worker threads (worker.js) and finds what one thread finds', () => {
    const args = ['explore', '--depth', '3', '--json'];
    const one = JSON.parse(built(args).out);
    const two = built([...args, '--workers', '2']);
    expect(two.code).toBe(0);
    const t = JSON.parse(two.out);
    expect(t).toEqual(one);
  });

  it('draws the explorer progress bar on a terminal (cli-progress inside explore.js)', () => {
    const tty = 'data:text/javascript,Object.defineProperty(process.stderr,"isTTY",{value:true})';
    // drawn from the start, not after a second: the test must not depend on how fast the machine is
    const r = built(['explore', '--depth', '3'], ['--import', tty], { GMEMSIM_PROGRESS_AFTER_MS: '0' });
    expect(r.code).toBe(0);
    expect(r.err).toContain('frontier states');
    expect(r.out).toContain('no invariant broken');
  });
});
