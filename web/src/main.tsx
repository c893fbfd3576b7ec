/**
 * Entry of the `gmemsim view` page. The run document comes from a
 * `<script type="application/json" id="gmemsim-run">` block (the self-contained report) or, when the
 * page is served by `gmemsim view FILE`, from `run.json` beside the page.
 */
import { render } from 'preact';
import { App } from './App.tsx';
import { checkDocument, DocumentError, type RunDocument } from './model.ts';
import './style.css';

declare global {
  interface Window {
    /** performance.now() when the first render was in the DOM, and at the next animation frame */
    gmemsimFirstRender?: { dom: number; frame?: number };
  }
}

async function loadDocument(): Promise<RunDocument> {
  const el = document.getElementById('gmemsim-run');
  let data: unknown;
  if (el) {
    try {
      data = JSON.parse(el.textContent ?? '');
    } catch {
      throw new DocumentError('the embedded run document is not valid JSON');
    }
  } else {
    const r = await fetch('run.json', { cache: 'no-store' });
    if (!r.ok) throw new DocumentError(`run.json: HTTP ${r.status}`);
    data = await r.json();
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

const root = document.getElementById('app')!;
loadDocument().then(
  (doc) => {
    render(<App doc={doc} />, root);
    const dom = performance.now();
    window.gmemsimFirstRender = { dom };
    document.documentElement.dataset.ready = '1';
    requestAnimationFrame(() => {
      window.gmemsimFirstRender = { dom, frame: performance.now() };
    });
  },
  (e: unknown) => fail(root, e instanceof Error ? e.message : String(e)),
);
