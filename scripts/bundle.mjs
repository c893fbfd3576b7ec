// Bundle the CLI into dist/bundle/ for a fast start (`npm run build` and `prepare` run this after
// tsc). esbuild is what tsx and vite already use.
//
// Layout: one file per thing a process loads, because each extra ES module file costs ~0.5 ms to
// resolve, read and link before anything runs (issue 5's whole-process goal: `gmemsim measure` at
// most 1.3x a minimal Node program). main.js holds commander and the command table; every module
// the CLI imports lazily (`await import(...)`: the commands, the explain table, the scenario
// emitter) becomes its own self-contained bundle, loaded only by the command that
// needs it. esbuild's code splitting would instead cut the shared code into many small chunks
// (a `measure snp` process loaded eleven files).
//
// Bundles share no module instances, so whatever crosses a bundle boundary must not depend on
// module identity. Only src/cli/errors.ts needs it (main.ts tells a UsageError thrown by a command
// by `instanceof`): it is its own file, errors.js, imported by every bundle. What else crosses is
// plain data (scenarios to the emitter, rows to the explain table). test/bundle.test.ts runs the
// built CLI to check this layout.
import { rmSync } from 'node:fs';
import { basename, relative, resolve } from 'node:path';
import { build } from 'esbuild';

const ROOT = resolve(import.meta.dirname, '..');
const OUT = 'dist/bundle';
const SHARED = 'src/cli/errors.ts';

/** output file of an entry: its base name (they are unique across src/) */
const outName = (file) => `${basename(file).replace(/\.[cm]?[jt]s$/, '')}.js`;

const entries = ['src/cli/main.ts', 'src/explore/worker.ts', SHARED];
const seen = new Set(entries);

/**
 * commander requires node:child_process when it loads, for subcommands that are separate
 * executables (gmemsim has none); loading it pulls in net, dgram and tty, ~1.5 ms of every start.
 * Commander gets a stand-in that loads the real module on first use.
 */
const lazyChildProcess = {
  name: 'gmemsim-lazy-child-process',
  setup(b) {
    b.onResolve({ filter: /^(node:)?child_process$/ }, (args) =>
      args.importer.includes(`${'node_modules'}/commander/`) ? { path: 'child_process', namespace: 'lazy' } : undefined,
    );
    b.onLoad({ filter: /.*/, namespace: 'lazy' }, () => ({
      contents:
        "let real; module.exports = new Proxy({}, { get: (_, key) => (real ??= require('node:child_process'))[key] });",
      loader: 'js',
    }));
  },
};

/** lazy imports and the shared module stay external, and each lazily imported file becomes an entry */
const layout = {
  name: 'gmemsim-layout',
  setup(b) {
    b.onResolve({ filter: /.*/ }, async (args) => {
      if (args.kind === 'entry-point' || args.pluginData === 'inner') return undefined;
      const r = await b.resolve(args.path, {
        kind: args.kind,
        importer: args.importer,
        resolveDir: args.resolveDir,
        pluginData: 'inner',
      });
      if (r.errors.length || r.external) return r;
      const file = relative(ROOT, r.path);
      // packages stay inside the bundle that imports them (a CommonJS package needs esbuild's interop)
      if (!file.startsWith('src/')) return r;
      const isShared = file === SHARED && relative(ROOT, args.importer) !== SHARED;
      if (!isShared && args.kind !== 'dynamic-import') return r;
      if (!seen.has(file)) {
        // bundles are named after their source file: two lazy modules of one name would overwrite
        const clash = entries.find((e) => outName(e) === outName(file));
        if (clash) throw new Error(`bundle: ${file} and ${clash} would both be dist/bundle/${outName(file)}`);
        seen.add(file);
        entries.push(file);
      }
      return { path: `./${outName(file)}`, external: true };
    });
  },
};

const REQUIRE = [
  'const require = (id) => {',
  '  const m = process.getBuiltinModule(id);',
  "  if (m === undefined) throw new Error('gmemsim bundle: require(' + JSON.stringify(id) + ') is not a Node built-in');",
  '  return m;',
  '};',
].join('\n');

// chunk names used to carry content hashes: start from an empty folder so stale files do not pile up
rmSync(resolve(ROOT, OUT), { recursive: true, force: true });
for (let i = 0; i < entries.length; i++) {
  const entry = entries[i];
  await build({
    absWorkingDir: ROOT,
    entryPoints: [entry],
    outfile: `${OUT}/${outName(entry)}`,
    bundle: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    logLevel: 'warning',
    plugins: [lazyChildProcess, layout],
    // CommonJS dependencies (commander, cli-progress) call require() for Node's built-in modules
    // (esbuild bundles everything else): give the ESM bundle one. process.getBuiltinModule (Node
    // 20.16) rather than module.createRequire, whose node:module costs a start-up ~1 ms.
    banner: { js: REQUIRE },
  });
}
