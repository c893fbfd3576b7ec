#!/usr/bin/env node
/**
 * npm pack / npm publish hooks: the published package.json has no scripts. A consumer installing
 * the tarball would otherwise be warned about `prepare` (npm's install-scripts check), a script
 * that builds from sources the package does not ship.
 *
 *   node scripts/pack-manifest.mjs prepack    build (unless GMEMSIM_PACK_PREBUILT=1), then save
 *                                             package.json and write it without scripts
 *   node scripts/pack-manifest.mjs postpack   put the saved package.json back
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const root = join(import.meta.dirname, '..');
const manifest = join(root, 'package.json');
const saved = join(root, 'package.json.prepack');

const step = process.argv[2];
if (step === 'prepack') {
  // a pack that stopped half-way left the stripped manifest: start from the saved one
  if (existsSync(saved)) renameSync(saved, manifest);
  if (process.env.GMEMSIM_PACK_PREBUILT !== '1')
    execFileSync('npm', ['run', '-s', 'build'], { cwd: root, stdio: 'inherit' });
  copyFileSync(manifest, saved);
  const pkg = JSON.parse(readFileSync(manifest, 'utf8'));
  delete pkg.scripts;
  writeFileSync(manifest, `${JSON.stringify(pkg, null, 2)}\n`);
} else if (step === 'postpack') {
  if (existsSync(saved)) renameSync(saved, manifest);
} else {
  process.stderr.write('usage: node scripts/pack-manifest.mjs prepack|postpack\n');
  process.exit(2);
}
