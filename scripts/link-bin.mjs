#!/usr/bin/env node
/**
 * Last step of `prepare` in a checkout: link node_modules/.bin/gmemsim to bin/gmemsim.js, so that
 * `npx gmemsim` runs this checkout's build. Without the link npx does not find the command among
 * the project's dependencies, packs the checkout into its cache and builds it a second time (about
 * half a minute before the README's first demo). Does nothing where there is no node_modules.
 */
import { existsSync, lstatSync, mkdirSync, symlinkSync, unlinkSync } from 'node:fs';
import { join, relative } from 'node:path';

const root = join(import.meta.dirname, '..');
const modules = join(root, 'node_modules');
if (existsSync(modules)) {
  const bin = join(modules, '.bin');
  const link = join(bin, 'gmemsim');
  mkdirSync(bin, { recursive: true });
  try {
    if (lstatSync(link)) unlinkSync(link);
  } catch {
    // no link yet
  }
  symlinkSync(relative(bin, join(root, 'bin', 'gmemsim.js')), link);
}
