/**
 * The library API as a consumer uses it: a project with gmemsim in its node_modules imports
 * `measureSnp`, `measureTdx`, `checkSnp` from 'gmemsim' (package.json `exports` → dist/index.js and
 * its .d.ts), in JavaScript run by node and in TypeScript checked by tsc. Runs the built code:
 * after changing src/, `npm run build` (or `npx tsc -p tsconfig.build.json`).
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FIRMWARE } from './support/firmware.ts';
import { ROOT } from './support/scenarios.ts';
import { typecheck } from './support/typecheck.ts';

/** measurement.md §4.4 D4 (4 vCPUs), D3 (1 vCPU, 0x21) and §4.5 T1 (single-pass, two-pass) */
const D3 = '5fafce19a1da9324827756044f6a922becd7fb7a5f80f1cd803366eeb7add5a129d0ca53b184313c9f9036e869371a88';
const D4 = '13a6ae9fbaa31c91ade309c36bd5214729438abac318e01176e02a97b8bec11a4bce86b4d2b1fba2ec0481dd24ff525f';
const T1 = 'a7a1f751abc454f9cbab198ca8d2edb2821935df525c74182b5e776cb0929e8c59aefecce725b0d08a5e9d3d3183bd08';
const T1_TWO = 'b90b236113eb4c0d4df4ef590568c14e6028a3a31d7e8ac63dee9845df5008d3ebf82d4f5974e933798f65d7a279b9a9';

function newest(dir: string): number {
  return Math.max(
    0,
    ...readdirSync(dir, { withFileTypes: true }).map((e) =>
      e.isDirectory() ? newest(join(dir, e.name)) : statSync(join(dir, e.name)).mtimeMs,
    ),
  );
}

/** a consumer project: node_modules/gmemsim is this package (as npm links a local dependency) */
function consumer(): string {
  const dir = mkdtempSync(join(tmpdir(), 'gmemsim-consumer-'));
  mkdirSync(join(dir, 'node_modules'));
  symlinkSync(ROOT, join(dir, 'node_modules', 'gmemsim'), 'dir');
  writeFileSync(join(dir, 'package.json'), '{ "type": "module", "private": true }\n');
  return dir;
}

describe("import { measureSnp, measureTdx } from 'gmemsim'", () => {
  it('dist/ is built from the current sources', () => {
    const built = statSync(join(ROOT, 'dist', 'index.js')).mtimeMs;
    for (const d of ['api', 'measure'])
      expect(built, 'dist/ is older than src/: run npm run build').toBeGreaterThanOrEqual(newest(join(ROOT, 'src', d)));
  });
  it('JavaScript: the digests of measurement.md, a warning, a verdict, a MeasureError', () => {
    const dir = consumer();
    writeFileSync(
      join(dir, 'use.mjs'),
      `import { readFileSync } from 'node:fs';
import { measureSnp, measureTdx, checkSnp, MeasureError, QEMU_TDX_VERSIONS } from 'gmemsim';
const fw = (f) => readFileSync(${JSON.stringify(FIRMWARE)} + '/' + f);
const ovmf = fw('OVMF.amdsev.fd');
const out = {
  d4: measureSnp({ ovmf, vcpus: 4, vcpuType: 'EPYC-v4' }).measurement,
  d3: measureSnp({ ovmf, vcpus: 1, vcpuSig: 0x800f12, guestFeatures: 0x21 }).measurement,
  warned: measureSnp({ ovmf, vcpus: 1, vcpuType: 'EPYC-v4', guestFeatures: 0x3 }).warnings.length,
  t1: measureTdx(fw('OVMF.inteltdx.ms.fd')).mrtd,
  t1two: measureTdx(fw('OVMF.inteltdx.ms.fd'), { qemuVersion: '8.2' }).mrtd,
  check: checkSnp({ ovmf, vcpus: 1, vcpuType: 'EPYC-v4' }, '${D4}', 8).matches.map((m) => m.changes),
  rows: QEMU_TDX_VERSIONS.length > 0,
};
try { measureSnp({ ovmf, vcpus: 0, vcpuType: 'EPYC-v4' }); } catch (e) { out.error = e instanceof MeasureError && e.message; }
console.log(JSON.stringify(out));
`,
    );
    const r = spawnSync(process.execPath, ['use.mjs'], { cwd: dir, encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(JSON.parse(r.stdout)).toEqual({
      d4: D4,
      d3: D3,
      warned: 1,
      t1: T1,
      t1two: T1_TWO,
      check: [['--vcpus 4']],
      rows: true,
      error: 'vcpus 0: 1 to 1024 vCPUs',
    });
  });
  it('TypeScript: the declarations type-check a consumer, and reject a wrong call', () => {
    const dir = consumer();
    const ok = `import { measureSnp, measureTdx, type SnpResult, type TdxResult } from 'gmemsim';
const a: SnpResult = measureSnp({ ovmf: new Uint8Array(4096), vcpus: 1, vcpuType: 'EPYC-v4' });
const b: TdxResult = measureTdx(new Uint8Array(4096), { qemuVersion: '10.1' });
export const s: string = a.measurement + b.mrtd + b.order;
`;
    const opts = { types: [], skipLibCheck: true };
    const good = typecheck(dir, ok, opts);
    expect(good.stdout).toBe('');
    expect(good.status).toBe(0);
    const bad = typecheck(dir, `${ok}measureSnp({ vcpus: 1 });\n`, opts);
    expect(bad.status).not.toBe(0);
    expect(bad.stdout).toMatch(/Property 'ovmf' is missing/);
  });
});
