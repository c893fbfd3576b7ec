/** Ports: what the pure core needs from outside, supplied by the host (node/ or the browser). */

/** An incremental SHA-384 (node:crypto in Node). */
export interface Sha384 {
  update(data: Uint8Array): void;
  /** fork the running state (after digest(), may return itself: a finalized hash is not used again) */
  copy(): Sha384;
  digest(): Uint8Array;
}

/** Makes a fresh SHA-384; may also offer a one-shot digest (the same bytes, without a running state). */
export interface Sha384Factory {
  (): Sha384;
  /** SHA-384 of `data` at once: what `f()` given `update(data)` would `digest()` */
  oneShot?: (data: Uint8Array) => Uint8Array;
}
