/**
 * gmemsim view FILE [--port N] | --out report.html: run a scenario with the page-state trace and
 * draw it (web/, built into dist/web/ by `vite build web`).
 *
 * Safe by construction: the only HTML made here is a fixed template. Strings from the scenario reach
 * the page as JSON inside a `<script type="application/json">` block, with every `<`, `>` and `&`
 * written as a \u escape so no sequence in them can close the block, and the page puts them into the
 * DOM as text only. The served page and the report carry a Content-Security-Policy that allows only
 * their own script and style (in the report: by hash), and no network.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { basename } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEFAULT_PROFILE } from '../core/profiles.ts';
import { runJson } from '../scenario/report.ts';
import { type RunResult, runScenario } from '../scenario/run.ts';
import { checkSetsApply, chooseKernel, loadFiles, parseSets, UsageError } from './common.ts';
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
export function reportHtml(doc: RunDocument, assets: ViewAssets): string {
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

/**
 * The view's HTTP server: GET and HEAD of its page, script, style and run document, nothing else
 * (404; other methods 405). It answers only requests addressed to the loopback name it listens on,
 * so a page elsewhere cannot reach it through DNS rebinding.
 */
export function createViewServer(doc: RunDocument, assets: ViewAssets): Server {
  const html: Resource = { type: 'text/html; charset=utf-8', body: indexHtml(doc) };
  const routes = new Map<string, Resource>([
    ['/', html],
    ['/index.html', html],
    ['/app.js', { type: 'text/javascript; charset=utf-8', body: assets.js }],
    ['/app.css', { type: 'text/css; charset=utf-8', body: assets.css }],
    ['/run.json', { type: 'application/json; charset=utf-8', body: `${JSON.stringify(doc, null, 2)}\n` }],
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
    const r = routes.get(path);
    if (!r) return refuse(404, 'not found');
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

export async function viewCommand(file: string, opts: ViewOptions): Promise<number> {
  if (opts.out !== undefined && opts.port !== undefined)
    throw new UsageError('--out writes a file and --port serves the page: give one of them');
  const port = parsePort(opts.port);
  const { name: profile, profile: chosen, host } = await chooseKernel(opts);
  const set = parseSets(opts.set);
  const [scenario] = loadFiles([file]);
  checkSetsApply(set, chosen ?? scenario!.kernel.profile ?? DEFAULT_PROFILE, scenario!.file);
  const assets = loadAssets();
  const progress = await startProgress(opts, 'steps');
  const label = `view ${basename(file)}`;
  const result = runScenario(scenario!, host, {
    ...(profile ? { profile } : {}),
    set,
    trace: true,
    onStep: (done, n) => progress.update(done, n, label),
  });
  progress.stop();
  const doc = runDocument([result]);
  if (opts.out !== undefined) {
    const html = reportHtml(doc, assets);
    try {
      writeFileSync(opts.out, html);
    } catch (e) {
      throw new UsageError(`--out ${opts.out}: cannot write (${fsReason(e)})`);
    }
    const kib = Math.ceil(Buffer.byteLength(html) / 1024);
    process.stdout.write(`gmemsim view: wrote ${opts.out} (${result.steps.length} steps, ${kib} KiB)\n`);
    return 0;
  }
  const server = createViewServer(doc, assets);
  const url = await listen(server, port);
  process.stdout.write(`gmemsim view: ${file} at ${url} (Ctrl-C to stop)\n`);
  return new Promise((resolve) => {
    const stop = () => {
      server.close(() => resolve(0));
      server.closeAllConnections();
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
}
