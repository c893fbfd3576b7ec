/**
 * The page map at the selected step: one band per guest_memfd (file offsets) and per VM (guest
 * physical addresses). A band has a state row (shared/private, with the step's changes marked) and
 * one labelled row per state bit, each filled with its own colour and pattern, so it reads without
 * colour. Windows zoom from the whole range down to single pages; a window with more ranges than
 * fit is drawn collapsed (widths grow with log(size); squeezed ranges are marked ≈).
 */
import { useMemo, useState } from 'preact/hooks';
import {
  anyMarked,
  BIT,
  bitsOf,
  exitRangeOf,
  fmtAddr,
  fmtOffset,
  fmtPages,
  type Item,
  initialWindow,
  type Label,
  type Layout,
  layoutWindow,
  linkedPages,
  memslotLabels,
  type PageBits,
  pageAtX,
  runsIn,
  type Scale,
  type Space,
  sectionLabels,
  stateNames,
  type Timeline,
  tracksOf,
  vmTypeName,
  xOfPage,
} from './model.ts';

const VIEW_W = 1000;
const LABEL_W = 96;
const MAP_X = LABEL_W;
const MAP_W = VIEW_W - LABEL_W - 6;
const MARK_H = 10;
const STATE_H = 26;
const TRACK_H = 12;
const TRACK_GAP = 3;
const AXIS_H = 18;
const LABEL_ROW_H = 15;
const TEXT_ROWS_MAX = 256;

interface Win {
  lo: number;
  hi: number;
}

const extentOf = (s: Space) => s.bounds[s.bounds.length - 1]!;

function spaceTitle(t: Timeline, s: Space): string {
  if (s.kind === 'gpa') {
    const vm = t.run.objects.vms.find((v) => v.id === s.id);
    return `VM ${s.id}${vm ? ` · ${vmTypeName(vm.type)}` : ''} · guest physical pages`;
  }
  return `guest_memfd ${s.id}${s.vm !== null ? ` (VM ${s.vm})` : ''} · file offsets`;
}

/** the page under the pointer: in which space */
interface Hover {
  key: string;
  page: number;
}

function spaceName(key: string): string {
  const [kind, id] = key.split(':');
  return kind === 'gpa' ? `GPA (VM ${id})` : `guest_memfd ${id} offset`;
}

/** the hovered page in words, and where the same page is on the other side of its memslot */
function HoverLink({ timeline, hover }: { timeline: Timeline; hover: Hover | null }) {
  if (!hover)
    return (
      <p class="hover-link dim" data-testid="hover-link">
        Point at a guest physical address to see its guest_memfd offset, or at an offset to see its GPA.
      </p>
    );
  const s = timeline.space(hover.key);
  if (!s) return null;
  const links = linkedPages(timeline.run, s, hover.page);
  const here = `${spaceName(hover.key)} ${fmtOffset(hover.page)}`;
  return (
    <p class="hover-link" data-testid="hover-link" data-key={hover.key} data-page={hover.page}>
      <strong>{here}</strong>
      {links.length === 0
        ? s.kind === 'gpa'
          ? ' · in no guest_memfd memslot'
          : ' · in no memslot'
        : links.map((l) => (
            <span key={`${l.key}:${l.page}`}>
              {' ↔ '}
              <strong>
                {spaceName(l.key)} {fmtOffset(l.page)}
              </strong>{' '}
              (memslot {l.slot})
            </span>
          ))}
    </p>
  );
}

export function MapPanel({ timeline, step }: { timeline: Timeline; step: number }) {
  const [scale, setScale] = useState<Scale>('auto');
  const [wins, setWins] = useState<Record<string, Win>>({});
  const [sel, setSel] = useState<Record<string, { start: number; end: number } | undefined>>({});
  const [hover, setHover] = useState<Hover | null>(null);
  // the pages to mark in each space: the hovered one, and its other side
  const marks = useMemo(() => {
    const m = new Map<string, number>();
    if (!hover) return m;
    m.set(hover.key, hover.page);
    const s = timeline.space(hover.key);
    if (s) for (const l of linkedPages(timeline.run, s, hover.page)) if (!m.has(l.key)) m.set(l.key, l.page);
    return m;
  }, [hover, timeline]);
  return (
    <section class="map" data-testid="map" aria-label="page map">
      <div class="map-head">
        <h2>Page map after step {timeline.run.steps[step]?.index ?? step + 1}</h2>
        <label>
          scale{' '}
          <select
            value={scale}
            onChange={(e) => setScale((e.target as HTMLSelectElement).value as Scale)}
            data-testid="scale"
          >
            <option value="auto">auto</option>
            <option value="linear">linear (to scale)</option>
            <option value="collapsed">collapsed</option>
          </select>
        </label>
      </div>
      <PatternDefs />
      <Legend />
      <HoverLink timeline={timeline} hover={hover} />
      {timeline.spaces.length === 0 && <p class="dim">No guest_memfd or memslot in this run.</p>}
      {timeline.spaces.map((s) => {
        const w = wins[s.key] ?? initialWindow(timeline.run, s);
        return (
          <SpaceMap
            key={s.key}
            timeline={timeline}
            space={s}
            step={step}
            win={w}
            home={initialWindow(timeline.run, s)}
            scale={scale}
            selected={sel[s.key]}
            mark={marks.get(s.key)}
            onHover={(page) => setHover(page === null ? null : { key: s.key, page })}
            onSelect={(r) => setSel({ ...sel, [s.key]: r })}
            onWindow={(nw) => {
              setWins({ ...wins, [s.key]: nw });
              setSel({ ...sel, [s.key]: undefined });
            }}
          />
        );
      })}
    </section>
  );
}

/** fills that differ in texture as well as colour, so the map reads in greyscale and for colour-blind readers */
function PatternDefs() {
  const stripes = (id: string, base: string, line: string, rotate: number, gap = 5, width = 1.6) => (
    <pattern id={id} patternUnits="userSpaceOnUse" width={gap} height={gap} patternTransform={`rotate(${rotate})`}>
      <rect width={gap} height={gap} fill={base} />
      <line x1="0" y1="0" x2="0" y2={gap} stroke={line} stroke-width={width} />
    </pattern>
  );
  return (
    <svg class="defs" width="0" height="0" aria-hidden="true" style={{ position: 'absolute' }}>
      <defs>
        {stripes('p-private', '#5e3c99', '#b9a5dd', 45)}
        {stripes('p-mixed', '#cfe3f7', '#5e3c99', 45, 6, 2.4)}
        {stripes('p-host-mapped', '#e69f00', '#7a4f00', 90, 4, 1.2)}
        {stripes('p-measured', '#009e73', '#c8f0e2', -45)}
        {stripes('p-undefined', '#f0e442', '#7d7410', 0, 4, 1.2)}
        <pattern id="p-pinned" patternUnits="userSpaceOnUse" width="5" height="5">
          <rect width="5" height="5" fill="#d55e00" />
          <path d="M0 0 L5 5 M5 0 L0 5" stroke="#ffd2b3" stroke-width="1" />
        </pattern>
        <pattern id="p-populated" patternUnits="userSpaceOnUse" width="5" height="5">
          <rect width="5" height="5" fill="#0072b2" />
          <circle cx="2.5" cy="2.5" r="1.1" fill="#cfe8ff" />
        </pattern>
      </defs>
    </svg>
  );
}

function Legend() {
  const entries: [string, string][] = [
    ['s-shared', 'shared'],
    ['s-private', 'private'],
    ['s-mixed', 'mixed (a group of ranges)'],
    ['t-allocated', 'allocated (has a folio)'],
    ['t-host-mapped', 'host-mapped'],
    ['t-pinned', 'pinned (long-term)'],
    ['t-populated', 'populated (S-EPT / RMP)'],
    ['t-measured', 'measured'],
    ['t-undefined', 'contents undefined'],
    ['t-in-memslot', 'in a memslot'],
  ];
  return (
    <ul class="legend" aria-label="legend">
      {entries.map(([cls, text]) => (
        <li key={cls}>
          <svg width="22" height="12" aria-hidden="true">
            <rect class={cls} x="0.5" y="0.5" width="21" height="11" />
          </svg>
          {text}
        </li>
      ))}
      <li>
        <svg width="12" height="12" aria-hidden="true">
          <path class="chg-mark" d="M1 2 L11 2 L6 10 Z" />
        </svg>
        changed by this step
      </li>
      <li>≈ drawn narrower than to scale</li>
    </ul>
  );
}

function itemLabel(s: Space, it: Item, any: number, all: number, changed: boolean): string {
  const range = `${fmtOffset(it.start)}–${fmtOffset(it.end)} (${fmtPages(it.end - it.start)})`;
  const names = any === all ? stateNames(all, s.kind).join(' ') : `mixed: ${stateNames(any, s.kind).join(' ')} in part`;
  return `${range}: ${names}${changed ? '; changed by this step' : ''}`;
}

function SpaceMap(props: {
  timeline: Timeline;
  space: Space;
  step: number;
  win: Win;
  /** the window the space opens on (its memslots) */
  home: Win;
  scale: Scale;
  selected: { start: number; end: number } | undefined;
  /** the page to mark: the one under the pointer, or its other side */
  mark: number | undefined;
  onHover: (page: number | null) => void;
  onSelect: (r: { start: number; end: number } | undefined) => void;
  onWindow: (w: Win) => void;
}) {
  const { timeline, space: s, step, win, home, scale, selected } = props;
  const ext = extentOf(s);
  const exists = timeline.exists(s, step);
  const tracks = tracksOf(s.kind);
  const state = timeline.stateAt(s, step);
  const changed = timeline.changedAt(s, step);
  const layout = layoutWindow(s.bounds, win.lo, win.hi, MAP_W, { scale, state, changed });
  const labelRows = useMemo(
    () => [memslotLabels(timeline.run, s), sectionLabels(timeline.run, s)].filter((r) => r.length > 0),
    [timeline, s],
  );
  const height = labelRows.length * LABEL_ROW_H + MARK_H + STATE_H + 6 + tracks.length * (TRACK_H + TRACK_GAP) + AXIS_H;
  const zoomed = layout.lo > 0 || layout.hi < ext;
  const zoomOut = () => {
    const span = (layout.hi - layout.lo) * 4;
    const mid = (layout.lo + layout.hi) / 2;
    const lo = Math.max(0, Math.floor(mid - span / 2));
    props.onWindow({ lo, hi: Math.min(ext, lo + span) });
  };
  return (
    <div
      class="space"
      data-space={s.key}
      data-exists={exists ? '1' : '0'}
      data-scale={layout.scale}
      data-window={`${layout.lo}-${layout.hi}`}
    >
      <div class="space-head">
        <h3>{spaceTitle(timeline, s)}</h3>
        <span class="dim">
          {ext.toLocaleString('en')} pages ({fmtPages(ext)}) · window {fmtOffset(layout.lo)}–{fmtOffset(layout.hi)} (
          {fmtAddr(layout.lo)} – {fmtAddr(layout.hi)}) · {layout.scale === 'linear' ? 'to scale' : 'collapsed scale'}
          {layout.group > 1 ? ` · too many ranges to draw one by one: each mark covers up to ${layout.group}` : ''}
        </span>
        <span class="zoom">
          <button
            type="button"
            disabled={!selected || (selected.start === layout.lo && selected.end === layout.hi)}
            onClick={() => selected && props.onWindow({ lo: selected.start, hi: selected.end })}
          >
            zoom to selection
          </button>
          <button type="button" disabled={!zoomed} onClick={zoomOut}>
            zoom out
          </button>
          {(home.lo > 0 || home.hi < ext) && (
            <button
              type="button"
              disabled={layout.lo === home.lo && layout.hi === home.hi}
              onClick={() => props.onWindow(home)}
              title="from the first memslot to the end of the last"
            >
              memslots
            </button>
          )}
          <button type="button" disabled={!zoomed} onClick={() => props.onWindow({ lo: 0, hi: ext })}>
            whole range
          </button>
        </span>
      </div>
      {zoomed && (
        <svg class="overview" viewBox={`0 0 ${VIEW_W} 6`} preserveAspectRatio="none" aria-hidden="true">
          <rect class="ov-all" x={MAP_X} y="1" width={MAP_W} height="4" />
          <rect
            class="ov-win"
            x={MAP_X + (layout.lo / ext) * MAP_W}
            y="0"
            width={Math.max(2, ((layout.hi - layout.lo) / ext) * MAP_W)}
            height="6"
          />
        </svg>
      )}
      {exists ? (
        <Band
          layout={layout}
          {...{ s, tracks, state, changed, height, selected, labelRows }}
          exit={s.kind === 'gpa' ? exitRangeOf(timeline.run.steps[step]) : null}
          mark={props.mark}
          onHover={props.onHover}
          onSelect={props.onSelect}
          onZoom={props.onWindow}
        />
      ) : (
        <p class="absent" data-testid="absent">
          not created yet at this step (first appears at step {timeline.run.steps[s.first]?.index})
        </p>
      )}
      {exists && <SelectionInfo s={s} state={state} changed={changed} selected={selected} />}
      {exists && <RangeTable s={s} state={state} changed={changed} lo={layout.lo} hi={layout.hi} />}
    </div>
  );
}

function Band(props: {
  layout: Layout;
  s: Space;
  tracks: ReturnType<typeof tracksOf>;
  state: PageBits;
  changed: Uint8Array | null;
  height: number;
  selected: { start: number; end: number } | undefined;
  labelRows: Label[][];
  /** the GFN range this step's exit is about (a fault, a conversion request) */
  exit: { start: number; end: number; what: string } | null;
  mark: number | undefined;
  onHover: (page: number | null) => void;
  onSelect: (r: { start: number; end: number } | undefined) => void;
  onZoom: (w: Win) => void;
}) {
  const { layout, s, tracks, state, changed, height, selected, labelRows } = props;
  const top = labelRows.length * LABEL_ROW_H;
  const stateY = top + MARK_H;
  const trackY = (i: number) => top + MARK_H + STATE_H + 6 + i * (TRACK_H + TRACK_GAP);
  const axisY = trackY(tracks.length);
  // axis labels at range starts, where there is room: the address in units, exact in its tooltip
  const ticks: { x: number; text: string; exact: string }[] = [];
  let lastX = -1e9;
  const endText = fmtAddr(layout.hi);
  const endX = MAP_X + MAP_W;
  const textW = (t: string) => t.length * 6.2 + 10;
  let lastW = 0;
  for (const it of layout.items) {
    const x = MAP_X + it.x;
    const text = fmtAddr(it.start);
    // (a tick that would read as its neighbour, at three decimals, is left out)
    if (text === ticks[ticks.length - 1]?.text || text === endText) continue;
    if (x - lastX >= lastW && endX - textW(endText) - x >= textW(text)) {
      ticks.push({ x, text, exact: fmtOffset(it.start) });
      lastX = x;
      lastW = textW(text);
    }
  }
  return (
    // biome-ignore lint/a11y/useSemanticElements: an SVG drawing, which HTML's <fieldset> cannot be
    <svg
      class="band"
      viewBox={`0 0 ${VIEW_W} ${height}`}
      role="group"
      aria-label={`page ranges, ${layout.items.length} shown`}
      onMouseMove={(e) => {
        const r = (e.currentTarget as SVGSVGElement).getBoundingClientRect();
        const x = ((e.clientX - r.left) / r.width) * VIEW_W - MAP_X;
        props.onHover(x >= 0 && x < MAP_W ? pageAtX(layout, x) : null);
      }}
      onMouseLeave={() => props.onHover(null)}
    >
      {labelRows.map((row, i) => (
        <LabelRow key={row[0]?.kind ?? i} row={row} layout={layout} y={i * LABEL_ROW_H} />
      ))}
      <text class="tl" x={LABEL_W - 6} y={stateY + STATE_H / 2 + 4}>
        state
      </text>
      {tracks.map((t, i) => (
        <text key={t.name} class="tl small" x={LABEL_W - 6} y={trackY(i) + TRACK_H - 2}>
          {t.name}
        </text>
      ))}
      {layout.items.map((it, index) => {
        const { any, all } = bitsOf(state, it.a, it.b);
        const chg = anyMarked(changed, it.a, it.b);
        const mixedPrivate = (any & BIT.PRIVATE) !== (all & BIT.PRIVATE);
        const noSlot = s.kind === 'gpa' && !(any & (BIT.IN_MEMSLOT | BIT.PRIVATE));
        const cls = mixedPrivate ? 's-mixed' : any & BIT.PRIVATE ? 's-private' : noSlot ? 's-none' : 's-shared';
        const word = mixedPrivate ? 'mixed' : any & BIT.PRIVATE ? 'private' : noSlot ? 'no memslot' : 'shared';
        const x = MAP_X + it.x;
        const w = Math.max(it.w, 0.8);
        const isSel = selected !== undefined && selected.start === it.start && selected.end === it.end;
        const label = itemLabel(s, it, any, all, chg);
        const names = any === all ? stateNames(all, s.kind) : ['mixed', ...stateNames(any, s.kind)];
        return (
          // biome-ignore lint/a11y/useSemanticElements: a shape inside SVG, which cannot hold an HTML <button>
          <g
            key={index}
            role="button"
            tabIndex={-1}
            aria-pressed={isSel}
            aria-label={label}
            class={`item${isSel ? ' selected' : ''}`}
            data-item=""
            data-start={it.start}
            data-end={it.end}
            data-bits={any}
            data-bits-all={all}
            data-state={names.join(' ')}
            data-changed={chg ? '1' : '0'}
            onClick={() => props.onSelect(isSel ? undefined : { start: it.start, end: it.end })}
            onDblClick={() => props.onZoom({ lo: it.start, hi: it.end })}
            onKeyDown={(e) => {
              if (e.key === 'Enter') props.onZoom({ lo: it.start, hi: it.end });
              else if (e.key === ' ') props.onSelect({ start: it.start, end: it.end });
            }}
          >
            <title>{label}</title>
            {chg && (
              <path
                class="chg-mark"
                d={`M${x + w / 2 - 5} ${top} L${x + w / 2 + 5} ${top} L${x + w / 2} ${top + MARK_H - 1} Z`}
              />
            )}
            <rect class={`st ${cls}${chg ? ' chg' : ''}`} x={x} y={stateY} width={w} height={STATE_H} />
            {w >= 56 && (
              <text class="st-text" x={x + w / 2} y={stateY + STATE_H / 2 + 4}>
                {it.squeezed ? `≈ ${word}` : word}
              </text>
            )}
            {w < 56 && it.squeezed && w >= 10 && (
              <text class="st-text" x={x + w / 2} y={stateY + STATE_H / 2 + 4}>
                ≈
              </text>
            )}
            {tracks.map((t, i) => {
              if (!(any & t.bit)) return null;
              const part = !(all & t.bit);
              return (
                <rect
                  key={t.name}
                  class={`t-${t.name}${part ? ' part' : ''}`}
                  x={x}
                  y={trackY(i) + (part ? TRACK_H / 2 : 0)}
                  width={w}
                  height={part ? TRACK_H / 2 : TRACK_H}
                />
              );
            })}
          </g>
        );
      })}
      <line class="axis" x1={MAP_X} x2={endX} y1={axisY} y2={axisY} />
      {ticks.map((t) => (
        <g key={t.x}>
          <title>{t.exact}</title>
          <line class="axis" x1={t.x} x2={t.x} y1={axisY} y2={axisY + 4} />
          <text class="tick" x={t.x} y={axisY + 14} data-exact={t.exact}>
            {t.text}
          </text>
        </g>
      ))}
      <line class="axis" x1={endX} x2={endX} y1={axisY} y2={axisY + 4} />
      <text class="tick end" x={endX} y={axisY + 14} data-exact={fmtOffset(layout.hi)}>
        {endText}
      </text>
      {props.exit && <ExitMark layout={layout} exit={props.exit} y={stateY} />}
      {props.mark !== undefined && <HoverMark layout={layout} page={props.mark} y1={top} y2={axisY} />}
    </svg>
  );
}

/** an outline around the GPA range the step's exit is about, named above it */
function ExitMark({
  layout,
  exit,
  y,
}: {
  layout: Layout;
  exit: { start: number; end: number; what: string };
  y: number;
}) {
  const lo = Math.max(exit.start, layout.lo);
  const hi = Math.min(exit.end, layout.hi);
  if (lo >= hi) return null;
  const x1 = xOfPage(layout, lo);
  const x2 = xOfPage(layout, hi);
  if (x1 === null || x2 === null) return null;
  const w = Math.max(x2 - x1, 3);
  return (
    <g class="exit-mark" data-testid="exit-mark" data-start={exit.start} data-end={exit.end} pointer-events="none">
      <title>{`${exit.what}: GPA ${fmtAddr(exit.start)}–${fmtAddr(exit.end)}`}</title>
      <rect x={MAP_X + x1 - 1} y={y - 1} width={w + 2} height={STATE_H + 2} />
      <text x={MAP_X + x1 + w / 2} y={y - 3}>
        {exit.what}
      </text>
    </g>
  );
}

/** a line at the page under the pointer, or at the same page seen from the other side of its memslot */
function HoverMark({ layout, page, y1, y2 }: { layout: Layout; page: number; y1: number; y2: number }) {
  const x = xOfPage(layout, page + 0.5);
  if (x === null) return null;
  return (
    <line class="hover-mark" data-page={page} x1={MAP_X + x} x2={MAP_X + x} y1={y1} y2={y2} pointer-events="none" />
  );
}

/** memslots, or the firmware sections steps named, as labelled spans above the band */
function LabelRow({ row, layout, y }: { row: Label[]; layout: Layout; y: number }) {
  const kind = row[0]?.kind ?? 'memslot';
  return (
    <g class={`labels ${kind}`} data-labels={kind}>
      <text class="tl small" x={LABEL_W - 6} y={y + LABEL_ROW_H - 4}>
        {kind === 'memslot' ? 'memslots' : 'sections'}
      </text>
      {row.map((l) => {
        const a = Math.max(l.start, layout.lo);
        const b = Math.min(l.end, layout.hi);
        if (b <= a) return null;
        const x0 = xOfPage(layout, a);
        const x1 = xOfPage(layout, b);
        if (x0 === null || x1 === null) return null;
        const w = Math.max(1, x1 - x0);
        const room = Math.floor((w - 6) / 6.2);
        const text = room >= l.text.length ? l.text : room >= 3 ? `${l.text.slice(0, room - 1)}…` : '';
        return (
          <g key={`${l.start}:${l.text}`} data-label={l.text} data-start={l.start} data-end={l.end}>
            <title>{l.title}</title>
            <rect class="label-box" x={MAP_X + x0} y={y + 1} width={w} height={LABEL_ROW_H - 3} />
            {text && (
              <text class="label-text" x={MAP_X + x0 + 3} y={y + LABEL_ROW_H - 5}>
                {text}
              </text>
            )}
          </g>
        );
      })}
    </g>
  );
}

function SelectionInfo(props: {
  s: Space;
  state: PageBits;
  changed: Uint8Array | null;
  selected: { start: number; end: number } | undefined;
}) {
  const { s, state, changed, selected } = props;
  if (!selected)
    return (
      <p class="sel-info dim">
        Click a range to see it here; double-click it, or “zoom to selection”, to look inside it.
      </p>
    );
  const runs = runsIn(s, state, selected.start, selected.end);
  const text = runs
    .slice(0, 4)
    .map((r) => `${fmtOffset(r[0])}–${fmtOffset(r[1])}: ${stateNames(r[2], s.kind).join(' ')}`)
    .join('; ');
  const chg = runs.length && changed ? ' · changed by this step' : '';
  return (
    <p class="sel-info" data-testid="selection">
      selected {fmtOffset(selected.start)}–{fmtOffset(selected.end)} ({fmtPages(selected.end - selected.start)}): {text}
      {runs.length > 4 ? ` … ${runs.length - 4} more ranges` : ''}
      {chg}
    </p>
  );
}

function RangeTable(props: { s: Space; state: PageBits; changed: Uint8Array | null; lo: number; hi: number }) {
  const { s, state, changed, lo, hi } = props;
  const [open, setOpen] = useState(false);
  const runs = runsIn(s, state, lo, hi);
  const rows = runs.slice(0, TEXT_ROWS_MAX);
  const chgRuns = changed ? runsIn(s, changed, lo, hi).filter((r) => r[2]) : [];
  const isChanged = (a: number, b: number) => chgRuns.some((r) => r[0] < b && r[1] > a);
  return (
    <details class="ranges" open={open} onToggle={(e) => setOpen((e.currentTarget as HTMLDetailsElement).open)}>
      <summary>
        ranges in the window as text ({runs.length}
        {runs.length > rows.length ? `, first ${rows.length} shown` : ''})
      </summary>
      <table>
        <thead>
          <tr>
            <th>from</th>
            <th>to</th>
            <th>size</th>
            <th>state</th>
            <th>this step</th>
          </tr>
        </thead>
        <tbody>
          {(open ? rows : []).map((r) => (
            <tr key={r[0]} data-start={r[0]} data-end={r[1]} data-state={stateNames(r[2], s.kind).join(' ')}>
              <td>{fmtOffset(r[0])}</td>
              <td>{fmtOffset(r[1])}</td>
              <td>{fmtPages(r[1] - r[0])}</td>
              <td>{stateNames(r[2], s.kind).join(' ')}</td>
              <td>{isChanged(r[0], r[1]) ? 'changed' : ''}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </details>
  );
}
