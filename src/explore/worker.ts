/** Explorer worker thread: expands batches of paths sent by the main thread. */
import { parentPort, workerData } from 'node:worker_threads';
import { nodeHost } from '../node/host.ts';
import { type ExploreConfig, Explorer } from './explore.ts';

const cfg = workerData as ExploreConfig;
const ex = new Explorer(cfg, (p, k) => nodeHost.createKernel(p, k));
parentPort!.on('message', (msg: { id: number; paths: number[][] }) => {
  parentPort!.postMessage({ id: msg.id, children: ex.expandPaths(msg.paths) });
});
