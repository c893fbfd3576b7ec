/** Node adapters for the core's ports: SHA-384 by node:crypto, files from disk. */
import { createHash, type Hash, hash } from 'node:crypto';
import { dirname, resolve } from 'node:path';
import { createKernel, type Sha384, type Sha384Factory } from '../core/index.ts';
import type { FileReader } from '../scenario/load.ts';
import type { Host } from '../scenario/run.ts';
import { readBounded } from './read.ts';

class NodeSha384 implements Sha384 {
  private readonly h: Hash;
  private finalized = false;
  constructor(h: Hash = createHash('sha384')) {
    this.h = h;
  }
  update(data: Uint8Array): void {
    this.h.update(data);
  }
  copy(): Sha384 {
    // a finalized node:crypto Hash cannot be copied (it throws, and building that error costs more
    // than the explorer's whole clone of a state); nothing uses a finalized hash again
    return this.finalized ? this : new NodeSha384(this.h.copy());
  }
  digest(): Uint8Array {
    this.finalized = true;
    return this.h.digest();
  }
}

export const nodeSha384: Sha384Factory = Object.assign((): Sha384 => new NodeSha384(), {
  oneShot: (b: Uint8Array): Uint8Array => hash('sha384', b, 'buffer'),
});

export const nodeHost: Host = {
  createKernel: (profile, knobs, host) => createKernel(profile, nodeSha384, knobs, host),
  sha256: (b) => createHash('sha256').update(b).digest('hex'),
  sha384: (b) => createHash('sha384').update(b).digest('hex'),
};

/** the largest `{ file: ... }` data source read (firmware images are a few MiB); `/dev/zero` ends there */
export const DATA_FILE_MAX = 256 * 1024 * 1024;

export const nodeFileReader: FileReader = (path, relativeTo) =>
  readBounded(resolve(dirname(relativeTo), path), DATA_FILE_MAX);
