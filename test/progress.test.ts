/**
 * Progress (issue 16 item 2): on a terminal only, never with --json or --quiet, and only after a
 * second of work. A fake terminal and a fake clock: nothing here waits or races a timer.
 */
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { progressWanted, SHOW_AFTER_MS, startProgress } from '../src/cli/progress.ts';
import { gmemsimIn } from './support/inproc.ts';

class FakeTerminal extends Writable {
  isTTY = true;
  columns = 100;
  text = '';
  override _write(chunk: Buffer, _enc: string, cb: () => void): void {
    this.text += chunk.toString();
    cb();
  }
  cursorTo(_x: number, _y?: number, cb?: () => void): boolean {
    cb?.();
    return true;
  }
  clearLine(_dir: number, cb?: () => void): boolean {
    cb?.();
    return true;
  }
  moveCursor(_dx: number, _dy: number, cb?: () => void): boolean {
    cb?.();
    return true;
  }
}

describe('progress', () => {
  it('only on a terminal, never with --json or --quiet', () => {
    expect(progressWanted({}, { isTTY: true })).toBe(true);
    expect(progressWanted({}, { isTTY: false })).toBe(false);
    expect(progressWanted({}, {})).toBe(false);
    expect(progressWanted({ json: true }, { isTTY: true })).toBe(false);
    expect(progressWanted({ quiet: true }, { isTTY: true })).toBe(false);
  });

  it('draws nothing in the first second, then a bar, cleared at the end', async () => {
    const stream = new FakeTerminal();
    let t = 0;
    const p = await startProgress({}, 'steps', { stream, now: () => t });
    t = SHOW_AFTER_MS - 1;
    p.update(10, 100, 'run big.yaml');
    expect(stream.text).toBe('');
    t = SHOW_AFTER_MS;
    p.update(20, 100, 'run big.yaml');
    expect(stream.text).toContain('run big.yaml');
    expect(stream.text).toContain('20/100 steps');
    p.update(100, 100, 'run big.yaml');
    p.stop();
  });

  it('--quiet draws nothing even on a terminal', async () => {
    const stream = new FakeTerminal();
    let t = 0;
    const p = await startProgress({ quiet: true }, 'steps', { stream, now: () => t });
    t = 10 * SHOW_AFTER_MS;
    p.update(1, 2, 'x');
    p.stop();
    expect(stream.text).toBe('');
  });

  it('run, view and explore take --quiet', async () => {
    expect((await gmemsimIn('run', '--quiet', 'test/scenarios/smoke.yaml')).code).toBe(0);
    expect((await gmemsimIn('explore', '--quiet', '--depth', '1')).code).toBe(0);
    expect((await gmemsimIn('view', '--help')).out).toContain('--quiet');
  });
});
