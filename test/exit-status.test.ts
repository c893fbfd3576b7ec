/**
 * Exit status as a contract (issue 16 item 5, docs/cli.md): explore exits 3 when --max-states
 * stopped it before any violation, and an unwritable --out is refused before the search starts.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { gmemsimIn } from './support/inproc.ts';

const dir = mkdtempSync(join(tmpdir(), 'gmemsim-exit-'));

describe('gmemsim explore exit status', () => {
  it('3 when the state limit was reached with nothing broken', async () => {
    const r = await gmemsimIn('explore', '--max-states', '20', '--json');
    expect(JSON.parse(r.out).result).toBe('limit-reached');
    expect(r.code).toBe(3);
  });

  it('0 when the search completed with nothing broken', async () => {
    const r = await gmemsimIn('explore', '--depth', '1', '--json');
    expect(JSON.parse(r.out).result).toBe('complete');
    expect(r.code).toBe(0);
  });

  it('1 when an invariant broke', async () => {
    const r = await gmemsimIn(
      'explore',
      '--set',
      'safeguard.zero-fresh-pages=off',
      '--profile',
      'yan-proposal',
      '--set',
      'gmem_in_place_conversion=false',
      '--json',
    );
    expect(JSON.parse(r.out).violations.length).toBeGreaterThan(0);
    expect(r.code).toBe(1);
  });

  it.each([
    ['/proc/nope', 'ENOENT'],
    [join(dir, 'a-file'), 'ENOTDIR'],
    [join(dir, 'a-file', 'below'), 'ENOTDIR'],
  ])('--out %s is refused before exploring (%s)', async (out, code) => {
    writeFileSync(join(dir, 'a-file'), '');
    const r = await gmemsimIn('explore', '--out', out);
    expect(r.out).toBe('');
    expect(r.err).toBe(`gmemsim: --out ${out}: cannot write counterexamples there: ${code}\n`);
    expect(r.code).toBe(2);
  });

  it('--out that does not exist yet is created', async () => {
    const r = await gmemsimIn('explore', '--depth', '1', '--out', join(dir, 'new', 'deeper'));
    expect(r.code).toBe(0);
  });
});
