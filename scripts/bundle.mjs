// Bundle the CLI (and the explorer's worker) into dist/bundle/ for a fast start: one file to load
// for the common path, the heavy commands split into chunks that load when used. esbuild is what
// tsx and vite already use; `npm run build` (and `prepare`) runs this after tsc.
import { build } from 'esbuild';

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
