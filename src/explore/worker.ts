/** Explorer worker thread: expands batches of paths sent by the main thread. */
import { parentPort, workerData } from 'node:worker_threads';
import { createKernel } from '../core/index.ts';
import { nodeHost, nodeSha384 } from '../node/host.ts';
import { type ExploreConfig, Explorer } from './explore.ts';

const cfg = workerData as ExploreConfig;
// a --profile-file's profile travels in the config (plain data); its kernels come from it
const ex = new Explorer(cfg, (p, k) =>
  cfg.custom ? createKernel(cfg.custom, nodeSha384, k) : nodeHost.createKernel(p, k),
);
parentPort!.on('message', (msg: { id: number; paths: number[][] }) => {
  parentPort!.postMessage({ id: msg.id, children: ex.expandPaths(msg.paths) });
});
