/** A pool of explorer workers (worker_threads); results come back in the order of the paths. */
import { Worker } from 'node:worker_threads';
import type { ExploreConfig, Pool } from './explore.ts';
import type { Child } from './search.ts';

export function workerPool(cfg: ExploreConfig, size: number): Pool {
  const dev = import.meta.url.endsWith('.ts');
  const url = new URL(dev ? './worker.ts' : './worker.js', import.meta.url);
  // under tsx (development, tests) the worker registers tsx's loader before importing the TypeScript entry
  const boot = dev
    ? `import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))}).then((m) => { m.register(); return import(${JSON.stringify(url.href)}); })`
    : '';
  const workers = Array.from({ length: size }, () =>
    dev ? new Worker(boot, { eval: true, workerData: cfg }) : new Worker(url, { workerData: cfg }),
  );
  let next = 0;
  const pending = new Map<number, (c: Child[]) => void>();
  for (const w of workers) {
    w.on('message', (m: { id: number; children: Child[] }) => {
      pending.get(m.id)?.(m.children);
      pending.delete(m.id);
    });
    w.on('error', (e) => {
      throw e;
    });
  }
  const run = (w: Worker, paths: number[][]) =>
    new Promise<Child[]>((resolve) => {
      const id = next++;
      pending.set(id, resolve);
      w.postMessage({ id, paths });
    });
  return {
    size,
    async expand(paths) {
      const per = Math.ceil(paths.length / size);
      const parts = await Promise.all(
        workers.map((w, i) => {
          const slice = paths.slice(i * per, (i + 1) * per);
          return slice.length ? run(w, slice).then((cs) => cs.map((c) => ({ ...c, parent: c.parent + i * per }))) : [];
        }),
      );
      return parts.flat();
    },
    async ready() {
      await Promise.all(workers.map((w) => run(w, [])));
    },
    async close() {
      await Promise.all(workers.map((w) => w.terminate()));
    },
  };
}
