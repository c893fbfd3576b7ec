#!/usr/bin/env node
/**
 * `npm run prepare` (npm ci and npm install run it): build dist/ (tsc, the page with vite, the CLI
 * bundle, the live-kernel helper) unless it is newer than every input, then link
 * node_modules/.bin/gmemsim. The freshness check matters for `npx gmemsim` in a checkout: npx
 * installs the project itself into its cache (the package's own bin) and runs `prepare` there again;
 * with dist/ up to date that is a check, not a second build. `npm run build` always builds.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const root = join(import.meta.dirname, '..');
const stamp = join(root, 'dist', '.build-stamp');
const INPUTS = [
  'src',
  'web',
  'native',
  'scripts',
  'package.json',
  'package-lock.json',
  'tsconfig.json',
  'tsconfig.build.json',
];

function newest(path) {
  if (!existsSync(path)) return 0;
  const st = statSync(path);
  if (!st.isDirectory()) return st.mtimeMs;
  let m = st.mtimeMs;
  for (const e of readdirSync(path)) if (e !== 'node_modules' && e !== 'dist') m = Math.max(m, newest(join(path, e)));
  return m;
}

const built = existsSync(stamp) ? statSync(stamp).mtimeMs : 0;
const inputs = Math.max(...INPUTS.map((p) => newest(join(root, p))));
const run = (file, args) => execFileSync(process.execPath, [file, ...args], { cwd: root, stdio: 'inherit' });
if (built > inputs && process.env.GMEMSIM_FORCE_BUILD !== '1') {
  process.stdout.write('gmemsim: dist/ is newer than its sources; not building again (npm run build does)\n');
} else {
  run(join(root, 'node_modules', 'typescript', 'bin', 'tsc'), ['-p', 'tsconfig.build.json']);
  run(join(root, 'node_modules', 'vite', 'bin', 'vite.js'), ['build', 'web']);
  run(join(root, 'scripts', 'bundle.mjs'), []);
  run(join(root, 'scripts', 'build-helper.mjs'), []);
  writeFileSync(stamp, 'dist/ built by scripts/prepare.mjs from the sources older than this file\n');
}
run(join(root, 'scripts', 'link-bin.mjs'), []);
