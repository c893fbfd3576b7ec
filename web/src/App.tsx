/** The page: header, the step timeline, the selected step, the measurement so far and the page map. */
import { useCallback, useEffect, useMemo, useState } from 'preact/hooks';
import { MapPanel } from './MapView.tsx';
import {
  formatCite,
  type RuleDoc,
  type RunDocument,
  resultText,
  type StepDoc,
  stepFromHash,
  stepStatus,
  Timeline,
  vmTypeName,
} from './model.ts';
import { StepList } from './StepList.tsx';

const STATUS_TEXT = {
  ok: 'ok',
  error: 'error result',
  failed: 'expectation failed',
  violation: 'invariant broken',
} as const;

function isTyping(t: EventTarget | null): boolean {
  return t instanceof HTMLElement && (t.isContentEditable || /^(INPUT|SELECT|TEXTAREA)$/.test(t.tagName));
}

export function App({ doc }: { doc: RunDocument }) {
  const [runIndex, setRunIndex] = useState(0);
  const run = doc.runs[runIndex];
  const timeline = useMemo(() => (run ? new Timeline(run) : null), [run]);
  const n = run?.steps.length ?? 0;
  const [step, setStepRaw] = useState(() => stepFromHash(location.hash, n) ?? 0);
  const problems = useMemo(() => (run ? run.steps.flatMap((s, i) => (stepStatus(s) === 'ok' ? [] : [i])) : []), [run]);

  // every change of the selection goes through a functional update, so keys pressed faster than
  // the page renders each count (a handler may run before the render that follows its predecessor)
  const move = useCallback(
    (to: (cur: number) => number) => setStepRaw((cur) => Math.max(0, Math.min(n - 1, to(cur)))),
    [n],
  );
  const setStep = useCallback((i: number) => move(() => i), [move]);
  const nextProblem = useCallback(
    (dir: 1 | -1) =>
      move((cur) => {
        const list = dir > 0 ? problems : [...problems].reverse();
        return list.find((i) => (dir > 0 ? i > cur : i < cur)) ?? cur;
      }),
    [problems, move],
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
      if (e.altKey || e.ctrlKey || e.metaKey || isTyping(e.target)) return;
      const act: Record<string, () => void> = {
        ArrowRight: () => move((c) => c + 1),
        ArrowDown: () => move((c) => c + 1),
        j: () => move((c) => c + 1),
        ArrowLeft: () => move((c) => c - 1),
        ArrowUp: () => move((c) => c - 1),
        k: () => move((c) => c - 1),
        Home: () => move(() => 0),
        End: () => move(() => n - 1),
        PageDown: () => move((c) => c + 10),
        PageUp: () => move((c) => c - 10),
        n: () => nextProblem(1),
        p: () => nextProblem(-1),
      };
      const f = act[e.key];
      if (!f) return;
      e.preventDefault();
      f();
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [n, move, nextProblem]);

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
            <span>
              kernel profile <code>{run.profile}</code>
            </span>
            <span>
              gmem_in_place_conversion <code>{String(run.gmem_in_place_conversion)}</code>
            </span>
            <span>{n} steps</span>
            <span class={run.ok ? 'badge ok' : 'badge failed'} data-testid="run-result">
              {run.ok ? '✓' : '✗'} {run.expectations} expectations: {held} held
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
          <button type="button" onClick={() => move((c) => c - 1)} disabled={step === 0} aria-label="previous step">
            ←
          </button>
          <span class="pos" aria-live="polite" data-testid="position">
            step {s?.index ?? step + 1} of {n}
          </span>
          <button type="button" onClick={() => move((c) => c + 1)} disabled={step >= n - 1} aria-label="next step">
            →
          </button>
          <button type="button" onClick={() => nextProblem(-1)} disabled={!problems.some((i) => i < step)}>
            ◂ problem
          </button>
          <button type="button" onClick={() => nextProblem(1)} disabled={!problems.some((i) => i > step)}>
            problem ▸
          </button>
          <span class="problems">{problems.length} problem steps</span>
          <span class="keys">keys: ← → or j k step · Home End · n p next/previous problem</span>
        </div>
      </header>
      <main class="main">
        <StepList steps={run.steps} selected={step} onSelect={setStep} />
        <div class="right">
          {s && <StepDetail s={s} />}
          <Measurement timeline={timeline} step={step} />
          <MapPanel timeline={timeline} step={step} />
        </div>
      </main>
    </div>
  );
}

function RuleView({ rule, label }: { rule: RuleDoc; label: string }) {
  return (
    <div class="rule" data-testid={label === 'rule' ? 'rule' : 'cause'}>
      <span class="k">{label}</span>
      <code class="rule-id" data-rule-id={rule.id}>
        {rule.id}
      </code>
      {rule.confidence !== 'read' && <span class="conf">[{rule.confidence.toUpperCase()}]</span>}
      <span class="reason">{rule.reason}</span>
      <div class="cite" data-cite="">
        {formatCite(rule.cite)}
      </div>
    </div>
  );
}

const num = (v: unknown): string =>
  typeof v === 'number' ? (v < 10 && v >= 0 ? String(v) : `0x${v.toString(16)}`) : String(v);

function outText(out: Record<string, unknown>): string[] {
  const parts: string[] = [];
  for (const [k, v] of Object.entries(out)) {
    if (k === 'data' && typeof v === 'object' && v !== null)
      parts.push(
        `data={${Object.entries(v)
          .map(([a, b]) => `${a}=${num(b)}`)
          .join(', ')}}`,
      );
    else if (k === 'bytes' && typeof v === 'string')
      parts.push(v.length > 64 ? `bytes: ${v.slice(0, 64)}… (${v.length / 2} bytes)` : `bytes: ${v}`);
    else if (k === 'mrtd' || k === 'measurement') parts.push(`${k}=${String(v)}`);
    else parts.push(`${k}=${num(v)}`);
  }
  return parts;
}

function StepDetail({ s }: { s: StepDoc }) {
  const status = stepStatus(s);
  return (
    <section class={`detail status-${status}`} data-testid="step-detail" data-step={s.index} data-status={status}>
      <h2>
        Step {s.index} <span class="dim">line {s.line}</span>{' '}
        <span class={`badge ${status}`}>{STATUS_TEXT[status]}</span>
      </h2>
      <pre class="call" data-testid="call">
        {s.call}
      </pre>
      <p class="result" data-testid="result">
        <strong>{resultText(s)}</strong>
        {outText(s.out).map((t) => (
          <span key={t} class="out">
            {t}
          </span>
        ))}
        {s.bound && (
          <span class="out">
            → {s.bound.name} = {num(s.bound.value)}
          </span>
        )}
      </p>
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

function Measurement({ timeline, step }: { timeline: Timeline; step: number }) {
  const launch = timeline.launchAt(step);
  const vms = timeline.run.objects.vms;
  return (
    <section class="measurement" data-testid="measurement" aria-label="measurement so far">
      <h2>Measurement so far</h2>
      {launch.size === 0 && <p class="dim">No launch state in this run (no TDX or SEV-SNP VM).</p>}
      {[...launch].map(([vm, { state, changed }]) => {
        const type = vms.find((v) => String(v.id) === vm)?.type;
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
          </div>
        );
      })}
    </section>
  );
}
