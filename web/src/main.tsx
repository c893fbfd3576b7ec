/**
 * Entry of the `gmemsim view` page. The run document comes from a
 * `<script type="application/json" id="gmemsim-run">` block (the self-contained report) or, when the
 * page is served by `gmemsim view FILE`, from `run.json` beside the page; then the page follows the
 * file: the server's event stream (`events`) says when it changed, and whether it still loads.
 */
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { App } from './App.tsx';
import { checkDocument, DocumentError, type RunDocument, type Sources } from './model.ts';
import './style.css';

declare global {
  interface Window {
    /** performance.now() when the first render was in the DOM, and at the next animation frame */
    gmemsimFirstRender?: { dom: number; frame?: number };
  }
}

async function fetchDocument(version?: number): Promise<RunDocument> {
  const r = await fetch(version === undefined ? 'run.json' : `run.json?v=${version}`, { cache: 'no-store' });
  if (!r.ok) throw new DocumentError(`run.json: HTTP ${r.status}`);
  return checkDocument(await r.json());
}

/** the scenario files' text (for a step's own lines); the page works without it */
async function fetchSources(version?: number): Promise<Sources> {
  try {
    const r = await fetch(version === undefined ? 'source.json' : `source.json?v=${version}`, { cache: 'no-store' });
    return r.ok ? checkSources(await r.json()) : {};
  } catch {
    return {};
  }
}

function checkSources(x: unknown): Sources {
  if (typeof x !== 'object' || x === null || Array.isArray(x)) return {};
  return Object.fromEntries(Object.entries(x).filter((e): e is [string, string] => typeof e[1] === 'string'));
}

function embeddedSources(): Sources {
  try {
    return checkSources(JSON.parse(document.getElementById('gmemsim-source')?.textContent ?? '{}'));
  } catch {
    return {};
  }
}

function embeddedDocument(el: HTMLElement): RunDocument {
  let data: unknown;
  try {
    data = JSON.parse(el.textContent ?? '');
  } catch {
    throw new DocumentError('the embedded run document is not valid JSON');
  }
  return checkDocument(data);
}

function fail(root: HTMLElement, message: string): void {
  const p = document.createElement('p');
  p.className = 'fatal';
  p.setAttribute('role', 'alert');
  p.textContent = `gmemsim view: ${message}`;
  root.replaceChildren(p);
  document.documentElement.dataset.ready = 'error';
}

interface LiveEvent {
  version: number;
  error: string | null;
}

/** The served page: the run, the file's error while it does not load, and a new run when it changes. */
function Live({ first, sources }: { first: RunDocument; sources: Sources }) {
  const [doc, setDoc] = useState({ version: 1, doc: first, sources });
  const [error, setError] = useState<string | null>(null);
  const [connected, setConnected] = useState(true);
  useEffect(() => {
    if (typeof EventSource === 'undefined') return;
    const es = new EventSource('events');
    let shown = 1;
    let wanted = 1;
    es.onmessage = (m: MessageEvent<string>) => {
      setConnected(true);
      const e = JSON.parse(m.data) as LiveEvent;
      setError(e.error);
      if (e.error !== null || e.version <= wanted) {
        document.documentElement.dataset.version = String(e.version);
        return;
      }
      wanted = e.version;
      Promise.all([fetchDocument(e.version), fetchSources(e.version)]).then(
        ([d, src]) => {
          if (e.version < shown) return;
          shown = e.version;
          setDoc({ version: e.version, doc: d, sources: src });
          document.documentElement.dataset.version = String(e.version);
        },
        (err: unknown) => setError(err instanceof Error ? err.message : String(err)),
      );
    };
    es.onerror = () => setConnected(false);
    return () => es.close();
  }, []);
  return (
    <>
      {error !== null && (
        <div class="live-error" role="alert" data-testid="live-error">
          <strong>The file no longer loads; the page shows its last run that did.</strong>
          <pre>{error}</pre>
        </div>
      )}
      {!connected && (
        <p class="live-off" data-testid="live-off">
          gmemsim view has stopped: the page no longer follows the file.
        </p>
      )}
      <App key={doc.version} doc={doc.doc} sources={doc.sources} live />
    </>
  );
}

function rendered(): void {
  const dom = performance.now();
  window.gmemsimFirstRender = { dom };
  document.documentElement.dataset.ready = '1';
  requestAnimationFrame(() => {
    window.gmemsimFirstRender = { dom, frame: performance.now() };
  });
}

const root = document.getElementById('app')!;
const el = document.getElementById('gmemsim-run');
if (el) {
  try {
    render(<App doc={embeddedDocument(el)} sources={embeddedSources()} live={false} />, root);
    rendered();
  } catch (e) {
    fail(root, e instanceof Error ? e.message : String(e));
  }
} else
  Promise.all([fetchDocument(), fetchSources()]).then(
    ([doc, sources]) => {
      render(<Live first={doc} sources={sources} />, root);
      rendered();
    },
    (e: unknown) => fail(root, e instanceof Error ? e.message : String(e)),
  );
