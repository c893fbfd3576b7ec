// Bundle the CLI (and the explorer's worker) into dist/bundle/ for a fast start: one file to load
// for the common path, the heavy commands split into chunks that load when used. esbuild is what
// tsx and vite already use; `npm run build` (and `prepare`) runs this after tsc.
import { rmSync } from 'node:fs';
import { build } from 'esbuild';

// chunk names carry content hashes: start from an empty folder so stale chunks do not pile up
rmSync('dist/bundle', { recursive: true, force: true });

await build({
  entryPoints: ['src/cli/main.ts', 'src/explore/worker.ts'],
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  outdir: 'dist/bundle',
  entryNames: '[name]',
  logLevel: 'warning',
  // CommonJS dependencies (commander) call require(): give the ESM bundle one
  banner: {
    js: "import { createRequire as __gmemsimRequire } from 'node:module'; const require = __gmemsimRequire(import.meta.url);",
  },
});
