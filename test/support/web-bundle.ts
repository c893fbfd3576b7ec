/**
 * vitest globalSetup: the view tests need the built page (dist/web/app.js, app.css). `npm ci` builds
 * it through `prepare`; here it is rebuilt when a file under web/ is newer than the bundle, so a test
 * run never checks a stale page.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

const ROOT = join(import.meta.dirname, '..', '..');

function newest(dir: string): number {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    t = Math.max(t, e.isDirectory() ? newest(p) : statSync(p).mtimeMs);
  }
  return t;
}

export default function setup(): void {
  const out = join(ROOT, 'dist', 'web', 'app.js');
  const css = join(ROOT, 'dist', 'web', 'app.css');
  if (existsSync(out) && existsSync(css) && statSync(out).mtimeMs >= newest(join(ROOT, 'web'))) return;
  const r = spawnSync(process.execPath, [join(ROOT, 'node_modules', 'vite', 'bin', 'vite.js'), 'build', 'web'], {
    cwd: ROOT,
    encoding: 'utf8',
    // vitest sets NODE_ENV=test, which would make vite emit the development JSX runtime
    env: { ...process.env, NODE_ENV: 'production' },
  });
  if (r.status !== 0) throw new Error(`vite build web failed:\n${r.stdout}${r.stderr}`);
}
