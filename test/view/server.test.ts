/**
 * `gmemsim view FILE [--port N]`: the server binds 127.0.0.1 only, serves the page, its script and
 * style and the run document (the same bytes as `gmemsim run --json`), and refuses everything else.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createViewServer, type LiveState, listen, loadAssets, runDocument, watchRun } from '../../src/cli/view.ts';
import { nodeHost } from '../../src/node/host.ts';
import { renderJson } from '../../src/scenario/report.ts';
import { runScenario } from '../../src/scenario/run.ts';
import { load, loadText, ROOT } from '../support/scenarios.ts';

const EXAMPLE = 'test/scenarios/examples/scenario-format-example.yaml';

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** one HTTP request to host:port with any method, path and Host header */
function http(
  port: number,
  method: string,
  path: string,
  opts: { host?: string; address?: string } = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: opts.address ?? '127.0.0.1',
        port,
        method,
        path,
        headers: { host: opts.host ?? `127.0.0.1:${port}` },
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => {
          body += c;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

describe('the view server', () => {
  const result = runScenario(load(join(ROOT, EXAMPLE)), nodeHost, { trace: true });
  let server: Server;
  let port: number;

  beforeAll(async () => {
    server = createViewServer(runDocument([result]), loadAssets());
    await listen(server, 0);
    port = (server.address() as AddressInfo).port;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  it('listens on 127.0.0.1 and nowhere else', async () => {
    expect((server.address() as AddressInfo).address).toBe('127.0.0.1');
    // another loopback address reaches a server bound to 0.0.0.0, not one bound to 127.0.0.1
    await expect(http(port, 'GET', '/', { address: '127.0.0.2', host: `127.0.0.1:${port}` })).rejects.toThrow(
      /ECONNREFUSED/,
    );
  });

  it('serves the page, its script and style, and the run document of `gmemsim run --json`', async () => {
    const page = await http(port, 'GET', '/');
    expect(page.status).toBe(200);
    expect(page.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(page.headers['content-security-policy']).toContain("default-src 'none'");
    expect(page.headers['x-content-type-options']).toBe('nosniff');
    expect(page.body).toContain('<script type="module" src="app.js"></script>');
    expect(page.body).toContain('<title>gmemsim view — in-place add of a measured TDX page, then a double add</title>');
    const js = await http(port, 'GET', '/app.js');
    expect(js.headers['content-type']).toBe('text/javascript; charset=utf-8');
    expect(js.body).toBe(readFileSync(join(ROOT, 'dist/web/app.js'), 'utf8'));
    const css = await http(port, 'GET', '/app.css');
    expect(css.headers['content-type']).toBe('text/css; charset=utf-8');
    const run = await http(port, 'GET', '/run.json?x=1');
    expect(run.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(run.body).toBe(renderJson([result]));
    const head = await http(port, 'HEAD', '/run.json');
    expect(head.status).toBe(200);
    expect(head.body).toBe('');
    expect(Number(head.headers['content-length'])).toBe(Buffer.byteLength(run.body));
  });

  it.each([
    '/favicon.ico',
    '/nope',
    '/../package.json',
    '/%2e%2e/package.json',
    '/dist/web/app.js',
    '/web/src/main.tsx',
    '/run.json/',
    '//run.json',
    '/index.htm',
  ])('answers 404 to %s', async (path) => {
    const r = await http(port, 'GET', path);
    expect(r.status).toBe(404);
    expect(r.body).toBe('404 not found\n');
  });

  it.each(['POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'])('answers 405 to %s', async (method) => {
    for (const path of ['/', '/run.json', '/nope']) {
      const r = await http(port, method, path);
      expect(r.status).toBe(405);
      expect(r.headers.allow).toBe('GET, HEAD');
    }
  });

  it('answers 403 to a request for another host name (DNS rebinding)', async () => {
    const r = await http(port, 'GET', '/run.json', { host: `evil.example:${port}` });
    expect(r.status).toBe(403);
    expect(r.body).not.toContain('format');
    expect((await http(port, 'GET', '/run.json', { host: `localhost:${port}` })).status).toBe(200);
  });

  it('reports a port in use as a usage error', async () => {
    const other = createViewServer(runDocument([result]), loadAssets());
    await expect(listen(other, port)).rejects.toThrow(`--port ${port}: 127.0.0.1:${port} is already in use`);
  });
});

describe('gmemsim view FILE --port N', () => {
  let child: ChildProcess;
  let url: string;

  beforeAll(async () => {
    child = spawn(
      process.execPath,
      ['--import', 'tsx', join(ROOT, 'src/cli/main.ts'), 'view', EXAMPLE, '--port', '0'],
      {
        cwd: ROOT,
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    url = await new Promise<string>((resolve, reject) => {
      let out = '';
      let err = '';
      child.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        const m = /at (http:\/\/127\.0\.0\.1:\d+\/) \(Ctrl-C to stop[;)]/.exec(out);
        if (m) resolve(m[1]!);
      });
      child.stderr!.on('data', (d: Buffer) => {
        err += d.toString();
      });
      child.on('exit', (code) => reject(new Error(`gmemsim view exited ${code}: ${err}`)));
    });
  });
  afterAll(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });

  it('prints the URL on 127.0.0.1, serves the page, and stops cleanly on SIGTERM', async () => {
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
    const port = Number(new URL(url).port);
    expect((await http(port, 'GET', '/')).status).toBe(200);
    const doc = JSON.parse((await http(port, 'GET', '/run.json')).body);
    expect(doc.format).toBe('gmemsim-run/1');
    expect(doc.runs[0].steps).toHaveLength(16);
    const code = await new Promise<number | null>((resolve) => {
      child.on('exit', (c) => resolve(c));
      child.kill('SIGTERM');
    });
    expect(code).toBe(0);
  });
});

describe('the served view follows its file', () => {
  it('runs the file again when it changes, keeps the last run while it does not load, and says why', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gmemsim-watch-'));
    const file = join(dir, 's.yaml');
    const text = (name: string) => `format: gmemsim/1\nname: ${name}\nsteps:\n  - KVM_CREATE_VM: { type: 0 }\n`;
    const rerun = () => {
      const t = readFileSync(file, 'utf8');
      const doc = runDocument([runScenario(loadText(file, t), nodeHost, { trace: true })]);
      return { doc, sources: { [file]: t }, files: [file] };
    };
    writeFileSync(file, text('one'));
    const live = watchRun([file], rerun(), rerun, 20);
    const server = createViewServer(live, loadAssets());
    await listen(server, 0);
    const port = (server.address() as AddressInfo).port;
    // the next state the watcher reports
    const next = () =>
      new Promise<LiveState>((resolve) => {
        const stop = live.subscribe((s) => {
          stop();
          resolve(s);
        });
      });
    try {
      expect(live.current()).toMatchObject({ version: 1, error: null });
      let changed = next();
      writeFileSync(file, text('two'));
      expect(await changed).toMatchObject({ version: 2, error: null });
      expect(JSON.parse((await http(port, 'GET', '/run.json')).body).runs[0].name).toBe('two');
      expect(JSON.parse((await http(port, 'GET', '/source.json')).body)[file]).toBe(text('two'));

      changed = next();
      writeFileSync(file, 'format: gmemsim/1\nname: three\nsteps: [ { KVM_CREATE_VM: { tpye: 0 } } ]\n');
      const broken = await changed;
      expect(broken.error).toMatch(
        new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:3:\\d+: .*unknown argument "tpye"`),
      );
      expect(JSON.parse((await http(port, 'GET', '/run.json')).body).runs[0].name).toBe('two'); // the last run that loaded

      changed = next();
      writeFileSync(join(dir, 'tmp'), text('four'));
      renameSync(join(dir, 'tmp'), file); // as editors save
      expect(await changed).toMatchObject({ version: 4, error: null });
      expect(JSON.parse((await http(port, 'GET', '/run.json')).body).runs[0].name).toBe('four');
    } finally {
      live.close();
      await new Promise<void>((r) => server.close(() => r()));
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('tells the page over /events: the version and the error, at once and on every change', async () => {
    const doc = runDocument([runScenario(load(join(ROOT, EXAMPLE)), nodeHost, {})]);
    const subs: ((s: LiveState) => void)[] = [];
    let state: LiveState = { version: 1, doc, sources: {}, error: null };
    const server = createViewServer(
      {
        current: () => state,
        subscribe: (f) => {
          subs.push(f);
          return () => {};
        },
      },
      loadAssets(),
    );
    await listen(server, 0);
    const port = (server.address() as AddressInfo).port;
    const events: string[] = [];
    await new Promise<void>((resolve, reject) => {
      const req = request(
        { host: '127.0.0.1', port, path: '/events', headers: { host: `127.0.0.1:${port}` } },
        (res) => {
          expect(res.headers['content-type']).toBe('text/event-stream; charset=utf-8');
          res.setEncoding('utf8');
          res.on('data', (c: string) => {
            events.push(...c.split('\n').filter((l) => l.startsWith('data: ')));
            if (events.length === 1) {
              state = { ...state, version: 2, error: 'x.yaml:3:5: bad' };
              for (const f of subs) f(state);
            } else if (events.length === 2) {
              req.destroy();
              resolve();
            }
          });
        },
      );
      req.on('error', reject);
      req.end();
    });
    expect(events).toEqual(['data: {"version":1,"error":null}', 'data: {"version":2,"error":"x.yaml:3:5: bad"}']);
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  });
});
