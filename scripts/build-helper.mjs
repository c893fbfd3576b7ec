// Build the live-kernel helper (native/kvm-helper.c) for `gmemsim run --live` and `gmemsim host`
// (docs/notes/live.md). npm's prepare runs this after the bundle; src/node/live/helper.ts builds
// the same file the same way at first use when this did not (another CC, a read-only checkout).
// The binary is named after the source's hash, so an edited source is never run stale.
// A machine without a C compiler still installs: --live then says what is missing.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';

const ROOT = resolve(import.meta.dirname, '..');
const src = join(ROOT, 'native', 'kvm-helper.c');
const hash = createHash('sha256').update(readFileSync(src)).digest('hex').slice(0, 16);
const dir = join(ROOT, 'build');
const target = join(dir, `kvm-helper-${hash}`);
if (existsSync(target)) process.exit(0);
const cc = process.env.CC || 'cc';
mkdirSync(dir, { recursive: true });
const tmp = `${target}.${process.pid}.tmp`;
const r = spawnSync(cc, ['-O2', '-std=gnu11', '-Wall', '-o', tmp, src], { encoding: 'utf8' });
if (r.error || r.status !== 0) {
  rmSync(tmp, { force: true });
  const why = r.error
    ? `${cc}: ${r.error.code ?? r.error.message}`
    : (r.stderr.split('\n').find((l) => /error/.test(l)) ?? 'failed');
  process.stderr.write(`gmemsim: the KVM helper was not built (${why.trim()}); only --live and host need it\n`);
  process.exit(0);
}
renameSync(tmp, target);
