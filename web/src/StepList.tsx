/**
 * The timeline: one row per step (mark, number, strace-like call; result and rule below). Only the
 * rows in view are in the DOM, so a run of thousands of steps renders as fast as a short one.
 */
import { useLayoutEffect, useRef, useState } from 'preact/hooks';
import { resultLine, type StepDoc, stepStatus } from './model.ts';

const ROW_H = 42;
const OVERSCAN = 8;

const MARK = { ok: ' ', expected: ' ', error: ' ', failed: '✗', violation: '!' } as const;

export function StepList({
  steps,
  order,
  selected,
  onSelect,
}: {
  steps: StepDoc[];
  /** the steps to list (0-based indices, ascending): all of them, or those a search matched */
  order: number[];
  selected: number;
  onSelect: (i: number) => void;
}) {
  const box = useRef<HTMLDivElement>(null);
  const [top, setTop] = useState(0);
  const [height, setHeight] = useState(800);

  useLayoutEffect(() => {
    const el = box.current;
    if (!el) return;
    const measure = () => setHeight(el.clientHeight || 800);
    measure();
    window.addEventListener('resize', measure);
    return () => window.removeEventListener('resize', measure);
  }, []);

  // keep the selected row in view; the DOM is touched only when it must scroll (reading the scroll
  // position would force a layout of the whole page on every step)
  useLayoutEffect(() => {
    const el = box.current;
    if (!el) return;
    const pos = order.indexOf(selected);
    if (pos < 0) return;
    const y = pos * ROW_H;
    let to: number | null = null;
    if (y < top) to = y;
    else if (y + ROW_H > top + height) to = y + ROW_H - height;
    if (to === null) return;
    el.scrollTop = to;
    setTop(to);
  }, [selected, order]);

  const first = Math.max(0, Math.floor(top / ROW_H) - OVERSCAN);
  const last = Math.min(order.length, Math.ceil((top + height) / ROW_H) + OVERSCAN);
  const rows = [];
  for (let p = first; p < last; p++) {
    const i = order[p]!;
    const s = steps[i]!;
    const status = stepStatus(s);
    const mark = s.checks ? (s.expect_ok ? '✓' : '✗') : MARK[status];
    rows.push(
      // The listbox keeps the focus and points at the selected row (aria-activedescendant); the page's
      // keys (← → j k Home End) move the selection, so a row needs neither focus nor a key handler.
      // biome-ignore lint/a11y/useFocusableInteractive: options of an aria-activedescendant listbox
      // biome-ignore lint/a11y/useKeyWithClickEvents: the listbox's keys select
      <div
        key={i}
        id={`step-row-${s.index}`}
        role="option"
        aria-selected={i === selected}
        aria-posinset={p + 1}
        aria-setsize={order.length}
        class={`row status-${status}${i === selected ? ' sel' : ''}`}
        style={{ top: `${p * ROW_H}px`, height: `${ROW_H}px` }}
        title={`${s.call}\n${resultLine(s)}\n${s.rule.id}`}
        data-step={s.index}
        data-status={status}
        onClick={() => onSelect(i)}
      >
        <div class="l1">
          <span class="mark" aria-hidden="true">
            {s.violations?.length ? '!' : mark}
          </span>
          <span class="num">{s.index}</span>
          <span class="call">{s.call}</span>
        </div>
        <div class="l2">
          <span class="res">{resultLine(s)}</span>
          <span class="rid">{s.rule.id}</span>
        </div>
      </div>,
    );
  }
  const sel = steps[selected];
  return (
    <div
      class="steps"
      ref={box}
      role="listbox"
      tabIndex={0}
      aria-label="steps"
      aria-activedescendant={sel && order.includes(selected) ? `step-row-${sel.index}` : undefined}
      onScroll={(e) => setTop((e.currentTarget as HTMLDivElement).scrollTop)}
    >
      <div class="spacer" style={{ height: `${order.length * ROW_H}px` }}>
        {rows}
        {order.length === 0 && <p class="dim none">No step matches the search.</p>}
      </div>
    </div>
  );
}
