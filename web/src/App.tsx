/** The page: header, the step timeline, the selected step, the measurement so far and the page map. */
import { useCallback, useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { MapPanel } from './MapView.tsx';
import {
  citeUrl,
  fmtOffset,
  fmtPages,
  formatCite,
  initialStep,
  isProblem,
  matchStep,
  measurementRecords,
  parseQuery,
  plural,
  type RuleDoc,
  type RunDocument,
  resultLine,
  type Sources,
  type StepDoc,
  stepFromHash,
  stepSource,
  stepStatus,
  Timeline,
  vmTypeName,
} from './model.ts';
import { StepList } from './StepList.tsx';

const STATUS_TEXT = {
  ok: 'ok',
  expected: 'expected result',
  error: 'unexpected error',
  failed: 'expectation failed',
  violation: 'invariant broken',
} as const;

function isTyping(t: EventTarget | null): boolean {
  return t instanceof HTMLElement && (t.isContentEditable || /^(INPUT|SELECT|TEXTAREA)$/.test(t.tagName));
}

export function App({ doc, sources = {}, live = false }: { doc: RunDocument; sources?: Sources; live?: boolean }) {
  const [runIndex, setRunIndex] = useState(0);
  const run = doc.runs[runIndex];
  const timeline = useMemo(() => (run ? new Timeline(run) : null), [run]);
  const n = run?.steps.length ?? 0;
  const [step, setStepRaw] = useState(() => stepFromHash(location.hash, n) ?? (run ? initialStep(run) : 0));
  const [query, setQuery] = useState('');
  const search = useRef<HTMLInputElement>(null);
  const parsed = useMemo(() => parseQuery(query), [query]);
  // the steps the list shows: all, or those the search matches; the keys move among them
  const shown = useMemo(() => {
    const all = run ? run.steps.map((_, i) => i) : [];
    if (!run || !parsed.terms.length || parsed.error) return all;
    return all.filter((i) => matchStep(run.steps[i]!, parsed));
  }, [run, parsed]);
  const filtered = shown.length !== n;
  const problems = useMemo(() => (run ? run.steps.flatMap((s, i) => (isProblem(s) ? [i] : [])) : []), [run]);
  const lines = useMemo(() => (run ? sources[run.file]?.split('\n') : undefined), [run, sources]);
  // n and p visit every step with an errno, a signal or a problem: expected ones too
  const notable = useMemo(() => (run ? run.steps.flatMap((s, i) => (stepStatus(s) === 'ok' ? [] : [i])) : []), [run]);
  const expectedErrors = notable.length - problems.length;

  // every change of the selection goes through a functional update, so keys pressed faster than
  // the page renders each count (a handler may run before the render that follows its predecessor)
  const move = useCallback(
    (to: (cur: number) => number) => setStepRaw((cur) => Math.max(0, Math.min(n - 1, to(cur)))),
    [n],
  );
  const setStep = useCallback((i: number) => move(() => i), [move]);
  /** `by` steps among the shown ones (all of them without a search) */
  const stepBy = useCallback(
    (by: number) =>
      move((cur) => {
        if (!filtered) return cur + by;
        if (!shown.length) return cur;
        const at = shown.findIndex((i) => i >= cur);
        const pos = at < 0 ? shown.length : shown[at] === cur ? at : by > 0 ? at - 1 : at;
        return shown[Math.max(0, Math.min(shown.length - 1, pos + by))]!;
      }),
    [move, filtered, shown],
  );
  const edge = useCallback(
    (last: boolean) => move(() => (filtered && shown.length ? shown[last ? shown.length - 1 : 0]! : last ? n - 1 : 0)),
    [move, filtered, shown, n],
  );
  const nextNotable = useCallback(
    (dir: 1 | -1) =>
      move((cur) => {
        const list = dir > 0 ? notable : [...notable].reverse();
        return list.find((i) => (dir > 0 ? i > cur : i < cur)) ?? cur;
      }),
    [notable, move],
  );

  useEffect(() => {
    try {
      history.replaceState(null, '', `#step=${step + 1}`);
    } catch {
      // some file: URLs refuse history changes; the page works without them
    }
  }, [step]);

  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (e.altKey || e.ctrlKey || e.metaKey) return;
      if (isTyping(e.target)) {
        if (e.key === 'Escape' && e.target === search.current) {
          setQuery('');
          search.current?.blur();
        } else if (e.key === 'Enter' && e.target === search.current) search.current?.blur();
        return;
      }
      const act: Record<string, () => void> = {
        ArrowRight: () => stepBy(1),
        ArrowDown: () => stepBy(1),
        j: () => stepBy(1),
        ArrowLeft: () => stepBy(-1),
        ArrowUp: () => stepBy(-1),
        k: () => stepBy(-1),
        Home: () => edge(false),
        End: () => edge(true),
        PageDown: () => stepBy(10),
        PageUp: () => stepBy(-10),
        n: () => nextNotable(1),
        p: () => nextNotable(-1),
        '/': () => search.current?.focus(),
      };
      const f = act[e.key];
      if (!f) return;
      e.preventDefault();
      f();
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [stepBy, edge, nextNotable]);

  useEffect(() => {
    const onHash = () => {
      const s = stepFromHash(location.hash, n);
      if (s !== null) setStepRaw(s);
    };
    window.addEventListener('hashchange', onHash);
    return () => window.removeEventListener('hashchange', onHash);
  }, [n]);

  useEffect(() => {
    document.title = run ? `gmemsim view — ${run.name}` : 'gmemsim view';
  }, [run]);

  if (!run || !timeline)
    return (
      <p class="fatal" role="alert">
        gmemsim view: the run document has no runs
      </p>
    );
  const s = run.steps[step];
  const held = run.expectations - run.failed;

  return (
    <div class="page">
      <header class="top">
        <div class="title">
          <h1>{run.name}</h1>
          <p class="meta">
            <span data-testid="file">{run.file}</span>
            {live && (
              <span class="live" data-testid="live" title="gmemsim view runs the file again when it changes">
                ● following the file
              </span>
            )}
            <span>
              kernel profile <code>{run.profile}</code>
            </span>
            <span>
              gmem_in_place_conversion <code>{String(run.gmem_in_place_conversion)}</code>
            </span>
            <span>{plural(n, 'step')}</span>
            <span class={run.ok ? 'badge ok' : 'badge failed'} data-testid="run-result">
              {run.ok ? '✓' : '✗'} {plural(run.expectations, 'expectation')}: {held} held
              {run.failed ? `, ${run.failed} failed` : ''}
            </span>
          </p>
        </div>
        <div class="nav">
          {doc.runs.length > 1 && (
            <label>
              run{' '}
              <select
                value={String(runIndex)}
                onChange={(e) => {
                  setRunIndex(Number((e.target as HTMLSelectElement).value));
                  setStepRaw(0);
                }}
              >
                {doc.runs.map((r, i) => (
                  <option key={r.file} value={String(i)}>
                    {r.file}
                  </option>
                ))}
              </select>
            </label>
          )}
          <button type="button" onClick={() => stepBy(-1)} disabled={step === 0} aria-label="previous step">
            ←
          </button>
          <span class="pos" aria-live="polite" data-testid="position">
            step {s?.index ?? step + 1} of {n}
          </span>
          <button type="button" onClick={() => stepBy(1)} disabled={step >= n - 1} aria-label="next step">
            →
          </button>
          <button type="button" onClick={() => nextNotable(-1)} disabled={!notable.some((i) => i < step)}>
            ◂ error
          </button>
          <button type="button" onClick={() => nextNotable(1)} disabled={!notable.some((i) => i > step)}>
            error ▸
          </button>
          <span class={problems.length ? 'problems bad' : 'problems'} data-testid="problems">
            {plural(problems.length, 'problem step')}
            {expectedErrors ? ` · ${plural(expectedErrors, 'expected error')}` : ''}
          </span>
          <label class="search">
            <span class="sr">search steps</span>
            <input
              ref={search}
              type="search"
              value={query}
              placeholder="search: words, op: errno: rule: gpa: status:problem"
              aria-label="search steps"
              data-testid="search"
              spellcheck={false}
              onInput={(e) => setQuery((e.target as HTMLInputElement).value)}
            />
          </label>
          {parsed.terms.length > 0 && (
            <span class={parsed.error ? 'matches bad' : 'matches'} data-testid="matches">
              {parsed.error ?? `${shown.length} of ${plural(n, 'step')} match`}
            </span>
          )}
          <span class="keys">keys: ← → or j k step · Home End · n p next/previous error · / search</span>
        </div>
      </header>
      <main class="main">
        <StepList steps={run.steps} order={shown} selected={step} onSelect={setStep} />
        <div class="right">
          {s && <StepDetail s={s} source={stepSource(lines, run, step)} />}
          <Measurement timeline={timeline} step={step} onStep={setStep} />
          <MapPanel timeline={timeline} step={step} />
        </div>
      </main>
    </div>
  );
}

function RuleView({ rule, label }: { rule: RuleDoc; label: string }) {
  const url = citeUrl(rule.cite);
  return (
    <div class="rule" data-testid={label === 'rule' ? 'rule' : 'cause'}>
      <span class="k">{label}</span>
      <code class="rule-id" data-rule-id={rule.id}>
        {rule.id}
      </code>
      {rule.confidence !== 'read' && <span class="conf">[{rule.confidence.toUpperCase()}]</span>}
      <span class="reason">{rule.reason}</span>
      <div class="cite">
        {url ? (
          <a data-cite="" href={url} target="_blank" rel="noopener noreferrer" title={url}>
            {formatCite(rule.cite)}
          </a>
        ) : (
          <span data-cite="">{formatCite(rule.cite)}</span>
        )}
      </div>
    </div>
  );
}

/** what the step's expectation asked for, in a few words, when it asked for an errno or signal */
function expectedText(s: StepDoc): string {
  return s.signal ? `expected ${s.signal}` : s.errno ? `expected ${s.errno}` : 'expected';
}

function StepDetail({ s, source }: { s: StepDoc; source: ReturnType<typeof stepSource> }) {
  const status = stepStatus(s);
  // the call as `run` prints it shortens long data ("…"): the step's own lines say it all
  const shortened = s.call.includes('…');
  return (
    <section class={`detail status-${status}`} data-testid="step-detail" data-step={s.index} data-status={status}>
      <h2>
        Step {s.index} <span class="dim">line {s.line}</span>{' '}
        <span class={`badge ${status}`}>{status === 'expected' ? expectedText(s) : STATUS_TEXT[status]}</span>
      </h2>
      <pre class="call" data-testid="call">
        {s.call}
      </pre>
      {source && (
        <details class="source" data-testid="source" open={shortened}>
          <summary>
            {shortened ? 'the call in full: ' : ''}the scenario's lines {source.from}–
            {source.from + source.lines.length - 1}
          </summary>
          <pre>
            {source.lines.map((l, k) => (
              <span key={String(source.from + k)} class="src-line">
                <span class="ln">{source.from + k}</span>
                {l}
                {'\n'}
              </span>
            ))}
          </pre>
        </details>
      )}
      <pre class="result" data-testid="result">
        <strong>{resultLine(s)}</strong>
      </pre>
      {s.bound && (
        <p class="bound dim" data-testid="bound">
          {s.bound.name} = {typeof s.bound.value === 'number' ? `0x${s.bound.value.toString(16)}` : s.bound.value}
        </p>
      )}
      <RuleView rule={s.rule} label="rule" />
      {s.cause && <RuleView rule={s.cause} label="because" />}
      {s.checks && (
        <div class="checks" data-testid="checks">
          <span class="k">expect</span>
          {s.expect_ok ? <span class="held">✓ held</span> : <span class="broken">✗ failed</span>}
          <ul>
            {s.checks.map((c) => (
              <li key={`${c.what}:${c.expected}`} class={c.ok ? 'ok' : 'bad'}>
                {c.ok ? '✓' : '✗'} {c.what}: expected {c.expected}
                {c.ok ? '' : `, got ${c.actual}`}
              </li>
            ))}
          </ul>
        </div>
      )}
      {s.violations?.map((v) => (
        <p key={v.invariant} class="violation" data-testid="violation">
          ! invariant <code>{v.invariant}</code> broken: {v.detail}
        </p>
      ))}
      {s.note && <p class="note">note: {s.note}</p>}
    </section>
  );
}

const DIGEST_KEYS = new Set(['mrtd', 'ld', 'measurement']);

function Measurement({ timeline, step, onStep }: { timeline: Timeline; step: number; onStep: (i: number) => void }) {
  const launch = timeline.launchAt(step);
  const vms = timeline.run.objects.vms;
  const records = useMemo(() => measurementRecords(timeline.run), [timeline]);
  const [open, setOpen] = useState(true);
  return (
    <section class="measurement" data-testid="measurement" aria-label="measurement so far">
      <h2>Measurement so far</h2>
      {launch.size === 0 && <p class="dim">No launch state in this run (no TDX or SEV-SNP VM).</p>}
      {[...launch].map(([vm, { state, changed }]) => {
        const type = vms.find((v) => String(v.id) === vm)?.type;
        const mine = records.filter((r) => r.vm === vm);
        const done = mine.filter((r) => r.step <= step);
        return (
          <div key={vm} class="vm" data-launch-vm={vm}>
            <h3>
              VM {vm}
              {type !== undefined ? ` · ${vmTypeName(type)}` : ''}
            </h3>
            <dl>
              {Object.entries(state).map(([k, v]) => (
                <div key={k} class={changed.has(k) ? 'kv changed' : 'kv'} data-key={k}>
                  <dt>{k}</dt>
                  <dd class={DIGEST_KEYS.has(k) ? 'digest' : ''}>
                    {String(v)}
                    {changed.has(k) && <span class="chg-text"> (changed by this step)</span>}
                  </dd>
                </div>
              ))}
            </dl>
            {mine.length > 0 && (
              <details
                class="records"
                open={open}
                data-testid="records"
                onToggle={(e) => setOpen((e.currentTarget as HTMLDetailsElement).open)}
              >
                <summary>
                  records: {done.length} of the {plural(mine.length, 'step')} that add to the measurement so far
                </summary>
                <table>
                  <thead>
                    <tr>
                      <th>step</th>
                      <th>section</th>
                      <th>guest pages</th>
                      <th>records</th>
                      <th>{mine[0]?.digestKey ?? 'digest'} after</th>
                    </tr>
                  </thead>
                  <tbody>
                    {mine.map((r) => (
                      <tr
                        key={r.step}
                        data-record-step={timeline.run.steps[r.step]?.index}
                        class={`${r.step === step ? 'sel' : ''}${r.step > step ? ' later' : ''}`}
                      >
                        <td>
                          <button type="button" class="link" onClick={() => onStep(r.step)}>
                            {timeline.run.steps[r.step]?.index}
                          </button>
                        </td>
                        <td>{r.section ?? ''}</td>
                        <td>
                          {r.ranges
                            .slice(0, 3)
                            .map(([a, b]) => `${fmtOffset(a)}–${fmtOffset(b)} (${fmtPages(b - a)})`)
                            .join(', ')}
                          {r.ranges.length > 3 ? ` +${r.ranges.length - 3}` : ''}
                        </td>
                        <td>{r.added.join(', ')}</td>
                        <td class="digest" title={r.digest ?? ''}>
                          {r.digest ? `${r.digest.slice(0, 12)}…` : ''}
                        </td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </details>
            )}
          </div>
        );
      })}
    </section>
  );
}
