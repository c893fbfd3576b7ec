/**
 * `gmemsim view --out`: one self-contained HTML file, safe by construction: scenario strings (names,
 * notes, file names, calls) never become markup. And the command's one-line errors (exit 2).
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { escapeHtml, jsonForScript, loadAssets, reportHtml, runDocument } from '../../src/cli/view.ts';
import { nodeHost } from '../../src/node/host.ts';
import { runScenario } from '../../src/scenario/run.ts';
import { gmemsim } from '../support/cli.ts';
import { loadText, ROOT } from '../support/scenarios.ts';
import { EVIL, EVIL_SCENARIO } from './evil.ts';

const dir = mkdtempSync(join(tmpdir(), 'gmemsim-view-'));
const EXAMPLE = 'test/scenarios/examples/scenario-format-example.yaml';

describe('escaping', () => {
  it('escapes HTML text and attribute values', () => {
    expect(escapeHtml(`<a href="x" title='y'>&</a>`)).toBe(
      '&lt;a href=&quot;x&quot; title=&#39;y&#39;&gt;&amp;&lt;/a&gt;',
    );
  });

  it('writes JSON that cannot close its <script> element and parses back to the same value', () => {
    const v = { s: `${EVIL}<!-- -->&\u2028\u2029` };
    const j = jsonForScript(v);
    expect(j).not.toMatch(/[<>&\u2028\u2029]/);
    expect(JSON.parse(j)).toEqual(v);
  });

  it('puts scenario strings into the report as data only: no markup, two JSON blocks, three scripts', () => {
    const file = `${EVIL.replaceAll('/', '')}.yaml`; // a file name with markup (no slash in file names)
    const doc = runDocument([runScenario(loadText(file, EVIL_SCENARIO), nodeHost, { trace: true })]);
    const html = reportHtml(doc, loadAssets());
    expect(new Set(tagsOf(html).map((t) => /^<\/?([a-z!]+)/i.exec(t)![1]!.toLowerCase()))).toEqual(
      new Set(['!doctype', 'html', 'head', 'meta', 'title', 'style', 'body', 'div', 'noscript', 'script']),
    );
    expect(html.match(/<script/gi)).toHaveLength(3);
    expect(html.match(/<\/script/gi)).toHaveLength(3);
    expect(html).toContain('<title>gmemsim view — &lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;');
    const back = JSON.parse(embedded(html));
    expect(back.runs[0].name).toBe(`${EVIL} <!-- & "quotes" 'too' \u2028`);
    expect(back.runs[0].file).toBe(file);
    expect(back.runs[0].steps[0].note).toBe(`${EVIL}<script>alert(2)</script>`);
  });

  it('is self-contained: inline script and style allowed by hash, no network, nothing loaded from elsewhere', () => {
    const assets = loadAssets();
    const doc = runDocument([runScenario(loadText('x.yaml', EVIL_SCENARIO), nodeHost, { trace: true })]);
    const html = reportHtml(doc, assets);
    expect(html).toMatch(/script-src &#39;sha256-[A-Za-z0-9+/=]+&#39;; style-src &#39;sha256-[A-Za-z0-9+/=]+&#39;/);
    expect(html).toContain('connect-src &#39;none&#39;');
    for (const t of tagsOf(html)) expect(t).not.toMatch(/\s(src|href)=|https?:/i);
    // a production build: no development JSX runtime with this machine's paths in it
    expect(assets.js).not.toContain(ROOT);
  });
});

/** the JSON text of the report's run document block */
function embedded(html: string): string {
  const m = /<script type="application\/json" id="gmemsim-run">([^<]*)<\/script>/.exec(html);
  expect(m).not.toBeNull();
  return m![1]!;
}

/** the report's tags: outside the JSON block's data and the page's own script and style text */
function tagsOf(html: string): string[] {
  const markup = html
    .replace(embedded(html), '')
    .replace(/<script type="module">[\s\S]*?<\/script>/, '<script type="module"></script>')
    .replace(/<style>[\s\S]*?<\/style>/, '<style></style>');
  return [...markup.matchAll(/<[^>]*>/g)].map((m) => m[0]);
}

describe('gmemsim view --out', () => {
  it('writes one HTML file with the run document of `gmemsim run --json` embedded', () => {
    const out = join(dir, 'report.html');
    const r = gmemsim('view', EXAMPLE, '--out', out);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^gmemsim view: wrote .*report\.html \(16 steps, \d+ KiB\)\n$/);
    const html = readFileSync(out, 'utf8');
    expect(JSON.parse(embedded(html))).toEqual(JSON.parse(gmemsim('run', '--json', EXAMPLE).out));
  });

  it.each([
    [
      'a missing file',
      ['view', join(dir, 'nope.yaml'), '--out', join(dir, 'x.html')],
      /nope\.yaml:1:1: cannot read file: ENOENT/,
    ],
    ['an invalid file', ['view', 'BAD', '--out', join(dir, 'x.html')], /bad\.yaml:3:\d+: .*unknown argument "tpye"/],
    ['a bad port', ['view', EXAMPLE, '--port', '70000'], /^gmemsim: --port 70000: expected a port number 0-65535$/],
    [
      '--out with --port',
      ['view', EXAMPLE, '--port', '1', '--out', 'x.html'],
      /^gmemsim: --out writes a file and --port/,
    ],
    ['an unwritable --out', ['view', EXAMPLE, '--out', join(dir, 'no', 'such', 'dir.html')], /cannot write \(ENOENT\)/],
    [
      'an unknown profile',
      ['view', EXAMPLE, '--profile', 'nope', '--out', 'x.html'],
      /--profile nope: unknown profile/,
    ],
    ['no file', ['view'], /missing required argument 'file'/],
    ['two files', ['view', EXAMPLE, EXAMPLE], /too many arguments/],
  ])('refuses %s with one line and exit 2', (_what, args, msg) => {
    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, 'format: gmemsim/1\nname: x\nsteps: [ { KVM_CREATE_VM: { tpye: 0 } } ]\n');
    const r = gmemsim(...args.map((a) => (a === 'BAD' ? bad : a)));
    expect(r.code).toBe(2);
    expect(r.out).toBe('');
    const lines = r.err.trimEnd().split('\n');
    expect(lines[0]).toMatch(msg);
    expect(r.err).not.toMatch(/\n\s+at .*\(|node:internal/);
  });
});
