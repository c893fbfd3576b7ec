/**
 * The package as a consumer gets it: `npm pack` (the built dist/, GMEMSIM_PACK_PREBUILT=1), the
 * tarball installed into a scratch project with npm (its dependencies from the npm cache or the
 * registry), then the API imported from 'gmemsim' in JavaScript and type-checked in TypeScript
 * without skipLibCheck (with @types/node), and the `gmemsim` command run from node_modules/.bin. Expectations come from
 * the kernel (the scenario's own `expect:` lines, guest_memfd's size check) and measurement.md.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FIRMWARE } from './support/firmware.ts';
import { ROOT } from './support/scenarios.ts';
import { typecheck } from './support/typecheck.ts';

/** measurement.md §4.5 T1: OVMF.inteltdx.ms.fd, QEMU's single pass */
const T1 = 'a7a1f751abc454f9cbab198ca8d2edb2821935df525c74182b5e776cb0929e8c59aefecce725b0d08a5e9d3d3183bd08';
const EXAMPLE = join(ROOT, 'test/scenarios/examples/scenario-format-example.yaml');
const NPM = process.platform === 'win32' ? 'npm.cmd' : 'npm';

let dir: string;
let tarball: string;
let packed: { path: string }[];
let install: { status: number | null; stderr: string; stdout: string };

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'gmemsim-pack-'));
  const pack = spawnSync(NPM, ['pack', '--json', '--pack-destination', dir], {
    cwd: ROOT,
    encoding: 'utf8',
    env: { ...process.env, GMEMSIM_PACK_PREBUILT: '1' },
  });
  if (pack.status !== 0) throw new Error(`npm pack exited ${pack.status}: ${pack.stderr}`);
  const json = JSON.parse(pack.stdout.slice(pack.stdout.indexOf('[')));
  packed = json[0].files;
  tarball = join(dir, readdirSync(dir).find((f) => f.endsWith('.tgz'))!);
  const project = join(dir, 'consumer');
  spawnSync('mkdir', [project]);
  writeFileSync(join(project, 'package.json'), '{ "name": "consumer", "type": "module", "private": true }\n');
  // with @types/node, as a Node project in TypeScript has it (zod's declarations name the URL global)
  // (the version this project is checked with, so the npm cache of its own install has it)
  const typesNode = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).devDependencies['@types/node'];
  install = spawnSync(
    NPM,
    ['install', tarball, `@types/node@${typesNode}`, '--prefer-offline', '--no-audit', '--no-fund'],
    {
      cwd: project,
      encoding: 'utf8',
    },
  );
}, 600_000);

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('npm pack, npm install, import from gmemsim', () => {
  it('the tarball holds the built code, its types, the page, the schema, the licence; package.json has no scripts', () => {
    const files = packed.map((f) => f.path);
    for (const f of [
      'package.json',
      'README.md',
      'LICENSE',
      'bin/gmemsim.js',
      'dist/index.js',
      'dist/index.d.ts',
      'dist/api/scenario.d.ts',
      'dist/bundle/main.js',
      'dist/web/app.js',
    ])
      expect(files).toContain(f);
    expect(files.some((f) => f.startsWith('schema/'))).toBe(true);
    expect(files.some((f) => f.startsWith('src/') || f.startsWith('test/'))).toBe(false);
    const manifest = spawnSync('tar', ['-xzOf', tarball, 'package/package.json'], { encoding: 'utf8' });
    expect(JSON.parse(manifest.stdout).scripts).toBeUndefined();
  });

  it('installs without a warning', () => {
    expect(install.status, install.stderr).toBe(0);
    expect(install.stderr.split('\n').filter((l) => /warn/i.test(l))).toEqual([]);
  });

  it('JavaScript: a scenario, a kernel stepped by hand, rules, profiles, explore and a measurement', () => {
    const project = join(dir, 'consumer');
    writeFileSync(
      join(project, 'use.mjs'),
      `import { readFileSync } from 'node:fs';
import * as g from 'gmemsim';
const results = g.runScenarioFile(${JSON.stringify(EXAMPLE)});
const k = g.createKernel('v7.1');
const vm = k.step(g.makeOp('KVM_CREATE_VM', { type: 0n }));
const gmem = k.step(g.makeOp('KVM_CREATE_GUEST_MEMFD', { fd: vm.ret, size: 0n, flags: 0n }));
let bad;
try { g.loadScenarioText('bad.yaml', 'format: gmemsim/1\\nname: x\\nsteps: [ { KVM_CREATE_VM: { tpye: 0 } } ]\\n'); }
catch (e) { bad = e instanceof g.ScenarioError && e.diagnostics[0]; }
const ex = await g.explore({ profile: g.DEFAULT_PROFILE, knobs: {}, vm: 'tdx', pages: 1, depth: 2, maxStates: 1000 });
console.log(JSON.stringify({
  runs: results.length,
  ok: results.every((r) => r.ok),
  expectations: results.reduce((n, r) => n + r.expectations, 0),
  text: g.formatRun(results).split('\\n').at(-2),
  json: JSON.parse(g.runJsonText(results)).format,
  vm: vm.ret >= 0n,
  gmem: [gmem.ret.toString(), gmem.errno, gmem.rule.id.split('.')[0]],
  bad: bad && [bad.line, bad.col],
  rules: g.allRules().length > 50 && g.ruleById(gmem.rule.id).id === gmem.rule.id,
  profiles: g.ProfileNames.includes('v6.18') && g.KernelNames.includes(g.DEFAULT_PROFILE),
  explore: [ex.kind, ex.states > 1, ex.violations.length, ex.counterexamples.length],
  mrtd: g.measureTdx(readFileSync(${JSON.stringify(join(FIRMWARE, 'OVMF.inteltdx.ms.fd'))})).mrtd,
}));
`,
    );
    const r = spawnSync(process.execPath, ['use.mjs'], { cwd: project, encoding: 'utf8' });
    expect(r.stderr).toBe('');
    const out = JSON.parse(r.stdout);
    expect(out).toMatchObject({
      runs: 1,
      ok: true,
      json: 'gmemsim-run/1',
      vm: true,
      // kvm_gmem_create: size 0 is not a page-aligned positive size
      gmem: ['-1', 'EINVAL', 'gmem'],
      bad: [3, expect.any(Number)],
      rules: true,
      profiles: true,
      explore: ['complete', true, 0, 0],
      mrtd: T1,
    });
    expect(out.expectations).toBeGreaterThan(10);
    expect(out.text).toMatch(/expectations: \d+ held$/);
  });

  it('TypeScript: the declarations check a consumer without skipLibCheck, and reject a wrong call', () => {
    const project = join(dir, 'consumer');
    const ok = `import { createKernel, makeOp, type Outcome, type RunResult, runScenarioFile, measureTdx } from 'gmemsim';
const k = createKernel('v6.18', { gmem_in_place_conversion: false });
const o: Outcome = k.step(makeOp('KVM_CREATE_VM', { type: 0n }));
const r: RunResult[] = runScenarioFile('x.yaml', { profile: 'v7.3' });
export const s: string = String(o.ret) + r.length + measureTdx(new Uint8Array(4096)).mrtd;
`;
    const good = typecheck(project, ok, { types: ['node'] });
    expect(good.stdout).toBe('');
    expect(good.status).toBe(0);
    const bad = typecheck(project, `${ok}createKernel('v9.9');\n`, { types: ['node'] });
    expect(bad.status).not.toBe(0);
    expect(bad.stdout).toMatch(/'"v9\.9"' is not assignable/);
  });

  it('the gmemsim command from node_modules/.bin', () => {
    const project = join(dir, 'consumer');
    const r = spawnSync(join(project, 'node_modules', '.bin', 'gmemsim'), ['run', EXAMPLE], {
      cwd: project,
      encoding: 'utf8',
    });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/expectations: \d+ held\n$/);
  });
});
