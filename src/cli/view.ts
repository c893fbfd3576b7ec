/**
 * gmemsim view FILE [--port N] | --out report.html: run a scenario with the page-state trace and
 * draw it (web/, built into dist/web/ by `vite build web`).
 *
 * Served, the view follows the file: a stat poll of the scenario and the data files it read runs
 * it again on a change; `events` (server-sent events) tells the page the new version, or the
 * FILE:LINE:COL error while the file does not load (run.json keeps the last run that did). Beside
 * the run document (the bytes of `gmemsim run --json`) go the scenario's text (`source.json`, or a
 * second JSON block in the report), from which the page shows a step's own lines.
 *
 * Safe by construction: the only HTML made here is a fixed template. Strings from the scenario reach
 * the page as JSON inside a `<script type="application/json">` block, with every `<`, `>` and `&`
 * written as a \u escape so no sequence in them can close the block, and the page puts them into the
 * DOM as text only. The served page and the report carry a Content-Security-Policy that allows only
 * their own script and style (in the report: by hash), and no network.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { basename, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEFAULT_PROFILE, type Knobs, type Profile, type ProfileName } from '../core/profiles.ts';
import { ScenarioError } from '../scenario/load.ts';
import { runJson } from '../scenario/report.ts';
import { type Host, type RunResult, runScenario } from '../scenario/run.ts';
import { checkSetsApply, chooseKernel, DiagnosticsError, loadFiles, parseSets, UsageError } from './common.ts';
import { fsReason } from './errors.ts';
import { startProgress } from './progress.ts';

export interface ViewOptions {
  port?: string;
  out?: string;
  profile?: string;
  profileFile?: string;
  set: string[];
  quiet?: boolean;
}

/** the built page: one script (an ES module with no imports) and one style sheet */
export interface ViewAssets {
  js: string;
  css: string;
}

/** the text of each scenario file, by the name its run carries: the page shows a step's own lines */
export type Sources = Record<string, string>;

/** the run document of `gmemsim run --json` (docs/trace-format.md) */
export function runDocument(results: RunResult[]) {
  return { format: 'gmemsim-run/1', ok: results.every((r) => r.ok), runs: results.map(runJson) };
}

export type RunDocument = ReturnType<typeof runDocument>;

/** dist/web beside dist/cli (the built CLI), or the repository's dist/web (running from src/ with tsx) */
export function assetDirs(): string[] {
  return [new URL('../web/', import.meta.url), new URL('../../dist/web/', import.meta.url)].map((u) =>
    fileURLToPath(u),
  );
}

export function loadAssets(dirs: string[] = assetDirs()): ViewAssets {
  for (const d of dirs) {
    if (existsSync(`${d}app.js`) && existsSync(`${d}app.css`))
      return { js: readFileSync(`${d}app.js`, 'utf8'), css: readFileSync(`${d}app.css`, 'utf8') };
  }
  throw new UsageError('the web page is not built (no dist/web/app.js): run `npm run build`');
}

const HTML_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** text for an HTML element or attribute */
export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => HTML_ESCAPES[c]!);
}

/** JSON that can stand inside a <script> element: no `<`, `>` or `&`, and no line separators */
export function jsonForScript(value: unknown): string {
  return JSON.stringify(value).replace(
    /[<>&\u2028\u2029]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}

/** the bundle as inline script text: a `</script` or `<!--` inside a string literal must not end the element */
function inlineScript(js: string): string {
  return js.replace(/<\/(script)/gi, '<\\/$1').replace(/<!--/g, '<\\!--');
}

function inlineStyle(css: string): string {
  return css.replace(/<\/(style)/gi, '<\\/$1');
}

const sha256 = (s: string) => `'sha256-${createHash('sha256').update(s, 'utf8').digest('base64')}'`;

function titleOf(doc: RunDocument): string {
  const names = doc.runs.map((r) => r.name);
  return `gmemsim view — ${names.length === 1 ? names[0] : `${names.length} runs`}`;
}

/** ONE self-contained file: the page's script and style inline, the run document embedded; no network */
export function reportHtml(doc: RunDocument, assets: ViewAssets, sources: Sources = {}): string {
  const js = inlineScript(assets.js);
  const css = inlineStyle(assets.css);
  const csp = [
    "default-src 'none'",
    `script-src ${sha256(js)}`,
    `style-src ${sha256(css)}`,
    'img-src data:',
    "connect-src 'none'",
    "base-uri 'none'",
    "form-action 'none'",
  ].join('; ');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="${escapeHtml(csp)}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="gmemsim view">
<title>${escapeHtml(titleOf(doc))}</title>
<style>${css}</style>
</head>
<body>
<div id="app"><noscript>This report draws its page map with JavaScript; the run document is in the page source.</noscript></div>
<script type="application/json" id="gmemsim-run">${jsonForScript(doc)}</script>
<script type="application/json" id="gmemsim-source">${jsonForScript(sources)}</script>
<script type="module">${js}</script>
</body>
</html>
`;
}

/** the page `gmemsim view` serves: it loads app.js and app.css, and fetches run.json */
export function indexHtml(doc: RunDocument): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(titleOf(doc))}</title>
<link rel="stylesheet" href="app.css">
</head>
<body>
<div id="app"><noscript>This page draws its page map with JavaScript: run <code>gmemsim view --out</code> for a file, or <code>gmemsim run --json</code> for the data.</noscript></div>
<script type="module" src="app.js"></script>
</body>
</html>
`;
}

const SERVED_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "connect-src 'self'",
  'img-src data:',
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

interface Resource {
  type: string;
  body: string;
}

/** What the served page shows: the last run that loaded, and the error of the file now, if it does not load. */
export interface LiveState {
  /** counts reloads: the page fetches run.json again when it changes */
  version: number;
  doc: RunDocument;
  sources: Sources;
  /** FILE:LINE:COL diagnostics (or another one-line reason) while the file does not load; else null */
  error: string | null;
}

/** A run document that changes: the served view of a file being edited. */
export interface LiveSource {
  current(): LiveState;
  /** called after every change; returns the function that stops the calls */
  subscribe(f: (s: LiveState) => void): () => void;
}

/** a run document that never changes (tests, and a source for `createViewServer`) */
export function fixedSource(doc: RunDocument, sources: Sources = {}): LiveSource {
  const state: LiveState = { version: 1, doc, sources, error: null };
  return { current: () => state, subscribe: () => () => {} };
}

/** one server-sent event: the state's version and error (the page fetches run.json itself) */
function eventText(s: LiveState): string {
  return `data: ${JSON.stringify({ version: s.version, error: s.error })}\n\n`;
}

/**
 * The view's HTTP server: GET and HEAD of its page, script, style and run document, and the event
 * stream that tells the page the file changed; nothing else (404; other methods 405). It answers
 * only requests addressed to the loopback name it listens on, so a page elsewhere cannot reach it
 * through DNS rebinding.
 */
export function createViewServer(source: RunDocument | LiveSource, assets: ViewAssets): Server {
  const live = 'current' in source ? source : fixedSource(source);
  const html = (): Resource => ({ type: 'text/html; charset=utf-8', body: indexHtml(live.current().doc) });
  let runJsonOf: { version: number; body: string } | null = null;
  const runJson = (): Resource => {
    const s = live.current();
    if (runJsonOf?.version !== s.version)
      runJsonOf = { version: s.version, body: `${JSON.stringify(s.doc, null, 2)}\n` };
    return { type: 'application/json; charset=utf-8', body: runJsonOf.body };
  };
  const routes = new Map<string, () => Resource>([
    ['/', html],
    ['/index.html', html],
    ['/app.js', () => ({ type: 'text/javascript; charset=utf-8', body: assets.js })],
    ['/app.css', () => ({ type: 'text/css; charset=utf-8', body: assets.css })],
    ['/run.json', runJson],
    [
      '/source.json',
      () => ({ type: 'application/json; charset=utf-8', body: `${JSON.stringify(live.current().sources)}\n` }),
    ],
  ]);
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const headers = {
      'Content-Security-Policy': SERVED_CSP,
      'X-Content-Type-Options': 'nosniff',
      'Referrer-Policy': 'no-referrer',
      'Cache-Control': 'no-store',
    };
    const refuse = (code: number, text: string, extra: Record<string, string> = {}) => {
      res.writeHead(code, { ...headers, ...extra, 'Content-Type': 'text/plain; charset=utf-8' });
      res.end(req.method === 'HEAD' ? undefined : `${code} ${text}\n`);
    };
    const port = (server.address() as AddressInfo | null)?.port;
    const host = req.headers.host ?? '';
    if (host !== `127.0.0.1:${port}` && host !== `localhost:${port}`) return refuse(403, 'forbidden host');
    if (req.method !== 'GET' && req.method !== 'HEAD') return refuse(405, 'method not allowed', { Allow: 'GET, HEAD' });
    const url = req.url ?? '';
    const path = url.startsWith('/') ? url.split('?')[0]! : '';
    if (path === '/events') {
      res.writeHead(200, { ...headers, 'Content-Type': 'text/event-stream; charset=utf-8' });
      if (req.method === 'HEAD') return res.end();
      res.write(`retry: 1000\n${eventText(live.current())}`);
      const stop = live.subscribe((s) => res.write(eventText(s)));
      req.on('close', stop);
      return;
    }
    const route = routes.get(path);
    if (!route) return refuse(404, 'not found');
    const r = route();
    res.writeHead(200, { ...headers, 'Content-Type': r.type, 'Content-Length': Buffer.byteLength(r.body) });
    res.end(req.method === 'HEAD' ? undefined : r.body);
  });
  return server;
}

/** listen on 127.0.0.1 (never another interface); resolves to the page's URL */
export function listen(server: Server, port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const onError = (e: NodeJS.ErrnoException) => {
      if (e.code === 'EADDRINUSE') reject(new UsageError(`--port ${port}: 127.0.0.1:${port} is already in use`));
      else if (e.code === 'EACCES') reject(new UsageError(`--port ${port}: permission denied`));
      else reject(e);
    };
    server.once('error', onError);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', onError);
      resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
    });
  });
}

function parsePort(v: string | undefined): number {
  if (v === undefined) return 0;
  if (!/^\d{1,5}$/.test(v) || Number(v) > 65535) throw new UsageError(`--port ${v}: expected a port number 0-65535`);
  return Number(v);
}

/** one run of the file: the run document, and every file it read (the scenario and its data files) */
function runFile(
  file: string,
  opts: {
    profile: ProfileName | undefined;
    chosen: Profile | undefined;
    host: Host;
    set: Partial<Knobs>;
    onStep?: (done: number, n: number) => void;
  },
) {
  const [scenario] = loadFiles([file]);
  checkSetsApply(opts.set, opts.chosen ?? scenario!.kernel.profile ?? DEFAULT_PROFILE, scenario!.file);
  const result = runScenario(scenario!, opts.host, {
    ...(opts.profile ? { profile: opts.profile } : {}),
    set: opts.set,
    trace: true,
    ...(opts.onStep ? { onStep: opts.onStep } : {}),
  });
  // the files the scenario read: its data files, and the fragments it includes when the loader lists them
  const sources = (scenario as { sources?: unknown }).sources;
  const read = [
    ...[...scenario!.files.keys()].map((f) => resolve(dirname(file), f)),
    ...(Array.isArray(sources) ? sources.filter((x): x is string => typeof x === 'string') : []),
  ];
  let text = '';
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    // read a moment ago by the loader; without it the page shows no source lines
  }
  return { result, doc: runDocument([result]), sources: { [scenario!.file]: text }, files: [resolve(file), ...read] };
}

/** a load or run failure as the page shows it: the diagnostics (FILE:LINE:COL: …), or the usage error */
export function errorText(e: unknown): string {
  if (e instanceof DiagnosticsError || e instanceof ScenarioError) return e.message;
  if (e instanceof UsageError) return `gmemsim: ${e.message}`;
  return `gmemsim: ${e instanceof Error ? e.message : String(e)}`;
}

/**
 * The served view of a file: runs it again whenever it or a file it read changes (polled by stat,
 * so an editor that writes a new file and renames it over the old one is seen too).
 */
export function watchRun(
  files: string[],
  first: { doc: RunDocument; sources: Sources },
  rerun: () => { doc: RunDocument; sources: Sources; files: string[] },
  interval = 250,
): LiveSource & { close(): void } {
  let state: LiveState = { version: 1, doc: first.doc, sources: first.sources, error: null };
  const subscribers = new Set<(s: LiveState) => void>();
  // A tick compares each watched file's text with the text last seen when its stat (mtime, size,
  // inode) moved, or when it was modified in the last 2 seconds: a stat alone misses a same-size
  // save within one timestamp tick, and the first save can come before the first stat. Otherwise
  // nothing is read, so a large file costs one stat a tick.
  const RECENT_MS = 2000;
  const seen = new Map<string, { text: string | null; stat: string }>();
  const statOf = (f: string): { key: string; mtimeMs: number } | null => {
    try {
      const st = statSync(f);
      return { key: `${st.mtimeMs}:${st.size}:${st.ino}`, mtimeMs: st.mtimeMs };
    } catch {
      return null; // gone for a moment (an editor's rename): the next tick looks again
    }
  };
  const textOf = (f: string): string | null => {
    try {
      return readFileSync(f, 'utf8');
    } catch {
      return null;
    }
  };
  const watch = (list: string[], sources: Sources) => {
    seen.clear();
    // no stat yet: the first tick reads each file and compares it with the text that was run
    for (const f of list) seen.set(f, { text: sources[f] ?? textOf(f), stat: '' });
  };
  const reload = () => {
    try {
      const r = rerun();
      state = { version: state.version + 1, doc: r.doc, sources: r.sources, error: null };
      watch([...new Set([...files.slice(0, 1), ...r.files])], r.sources);
    } catch (e) {
      state = { ...state, version: state.version + 1, error: errorText(e) };
    }
    for (const f of subscribers) f(state);
  };
  const tick = () => {
    let changed = false;
    for (const [f, before] of seen) {
      const st = statOf(f);
      if (!st) continue;
      if (st.key === before.stat && Date.now() - st.mtimeMs > RECENT_MS) continue;
      const now = textOf(f);
      if (now === null) continue;
      seen.set(f, { text: now, stat: st.key });
      if (now !== before.text) changed = true;
    }
    if (changed) reload();
  };
  watch([...new Set(files)], first.sources);
  const timer = setInterval(tick, interval);
  return {
    current: () => state,
    subscribe(f) {
      subscribers.add(f);
      return () => subscribers.delete(f);
    },
    close() {
      clearInterval(timer);
      seen.clear();
      subscribers.clear();
    },
  };
}

export async function viewCommand(file: string, opts: ViewOptions): Promise<number> {
  if (opts.out !== undefined && opts.port !== undefined)
    throw new UsageError('--out writes a file and --port serves the page: give one of them');
  const port = parsePort(opts.port);
  const { name: profile, profile: chosen, host } = await chooseKernel(opts);
  const progress = await startProgress(opts, 'steps');
  const run = {
    profile,
    chosen,
    host,
    set: parseSets(opts.set),
    onStep: (done: number, n: number) => progress.update(done, n, `view ${basename(file)}`),
  };
  const first = runFile(file, run);
  progress.stop();
  const assets = loadAssets();
  if (opts.out !== undefined) {
    const html = reportHtml(first.doc, assets, first.sources);
    try {
      writeFileSync(opts.out, html);
    } catch (e) {
      throw new UsageError(`--out ${opts.out}: cannot write (${fsReason(e)})`);
    }
    const kib = Math.ceil(Buffer.byteLength(html) / 1024);
    process.stdout.write(`gmemsim view: wrote ${opts.out} (${first.result.steps.length} steps, ${kib} KiB)\n`);
    return 0;
  }
  // re-runs after an edit show no progress bar
  const { onStep: _progress, ...rerun } = run;
  const live = watchRun(first.files, first, () => runFile(file, rerun));
  const server = createViewServer(live, assets);
  const url = await listen(server, port);
  process.stdout.write(`gmemsim view: ${file} at ${url} (Ctrl-C to stop; the page follows the file)\n`);
  return new Promise((resolve) => {
    const stop = () => {
      live.close();
      server.close(() => resolve(0));
      server.closeAllConnections();
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
}
