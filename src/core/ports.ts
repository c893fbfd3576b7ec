/** Ports: what the pure core needs from outside, supplied by the host (node/ or the browser). */

/** An incremental SHA-384 (node:crypto in Node). */
export interface Sha384 {
  update(data: Uint8Array): void;
  /** fork the running state */
  copy(): Sha384;
  digest(): Uint8Array;
}

export type Sha384Factory = () => Sha384;
