/**
 * Progress on stderr for work that can take more than a second (issue 16 item 2): only when stderr
 * is a terminal, never with --json (its stdout is a document; the bar stays off so scripts see
 * nothing new either) or --quiet, and only once the work has run for SHOW_AFTER_MS, so quick
 * commands print exactly what they printed before. The clock and the stream are parameters: tests
 * drive a fake terminal with a fake clock, and nothing here races a timer.
 */
import type { Writable } from 'node:stream';

export const SHOW_AFTER_MS = 1000;

export interface ProgressOptions {
  json?: boolean;
  quiet?: boolean;
}

export interface Progress {
  /** `done` of `total` units; the bar appears on the first update after SHOW_AFTER_MS */
  update(done: number, total: number, label: string): void;
  /** clear the bar (if it was shown) */
  stop(): void;
}

const none: Progress = { update: () => undefined, stop: () => undefined };

type Bar = {
  start(total: number, value: number, payload: object): void;
  update(value: number, payload: object): void;
  setTotal(total: number): void;
  stop(): void;
};

/** whether progress may be drawn at all */
export function progressWanted(o: ProgressOptions, stream: { isTTY?: boolean } = process.stderr): boolean {
  return Boolean(stream.isTTY) && !o.json && !o.quiet;
}

/**
 * A progress reporter for `what` ("steps", "files"...). cli-progress loads only when the bar is
 * first drawn.
 */
export async function startProgress(
  o: ProgressOptions,
  what: string,
  env: { stream?: Writable & { isTTY?: boolean }; now?: () => number } = {},
): Promise<Progress> {
  const stream = env.stream ?? process.stderr;
  if (!progressWanted(o, stream)) return none;
  const now = env.now ?? (() => performance.now());
  const { SingleBar, Presets } = await import('cli-progress');
  // GMEMSIM_PROGRESS_AFTER_MS=0 draws from the start (the bundle test checks the bar is drawn)
  const after = Number(process.env.GMEMSIM_PROGRESS_AFTER_MS ?? SHOW_AFTER_MS);
  const t0 = now();
  let bar: Bar | undefined;
  return {
    update(done, total, label) {
      if (!bar) {
        if (now() - t0 < after) return;
        bar = new SingleBar(
          {
            stream,
            format: `{label} |{bar}| {value}/{total} ${what}`,
            hideCursor: true,
            clearOnComplete: true,
            fps: 10,
          },
          Presets.shades_classic,
        ) as unknown as Bar;
        bar.start(total, done, { label });
        return;
      }
      bar.setTotal(total);
      bar.update(done, { label });
    },
    stop() {
      bar?.stop();
      bar = undefined;
    },
  };
}
