import { hostFromFacts } from '../core/host.ts';
/** `gmemsim run --live FILE...`: each step in the model and on the running kernel, compared. */
import { Helper, LiveUnavailable } from '../node/live/helper.ts';
import { probeHost } from '../node/live/probe.ts';
import { type LiveFileResult, type LiveStep, runLive, type Side, summaryLine } from '../node/live/run-live.ts';
import { formatCall, wrap } from '../scenario/report.ts';
import { DiagnosticsError, expandInputs, loadFiles, parseProfile, parseSets } from './common.ts';
import { resolveHost } from './hostopt.ts';

function side(s: Side | undefined): string {
  return s ? s.result : '-';
}

/** a step as `run` prints one (80 columns: the call wrapped), then the model's and the kernel's result */
function renderStep(st: LiveStep, call: string): string {
  const head = wrap(call, `  ${String(st.index + 1).padStart(3)}  `, '          ');
  if (st.verdict === 'skipped')
    return [...head, ...wrap(`model ${side(st.model)}   live: not run: ${st.reason}`, '       ', '         ')].join(
      '\n',
    );
  const mark = st.verdict === 'differ' ? '   <<< DIFFERS' : '';
  const lines = [
    ...head,
    ...wrap(`model ${side(st.model)} [${st.rule}]   live ${side(st.live)}${mark}`, '       ', '         '),
  ];
  for (const d of st.verdict === 'differ' ? st.differences : []) lines.push(...wrap(d, '         ', '           '));
  return lines.join('\n');
}

const bytesJson = (b: Uint8Array | undefined) => (b ? Buffer.from(b).toString('hex') : undefined);
function sideJson(s: Side | undefined) {
  if (!s) return null;
  return {
    result: s.result,
    ok: s.ok,
    ...(s.ret !== undefined ? { ret: s.ret.toString() } : {}),
    ...(s.errno ? { errno: s.errno } : {}),
    ...(s.signal ? { signal: s.signal } : {}),
    ...(s.bytes ? { bytes: bytesJson(s.bytes) } : {}),
    ...(Object.keys(s.fields).length
      ? { fields: Object.fromEntries(Object.entries(s.fields).map(([k, v]) => [k, `0x${v.toString(16)}`])) }
      : {}),
  };
}

export async function liveCommand(
  files: string[],
  opts: { json?: boolean; profile?: string; set: string[]; host?: string },
): Promise<number> {
  const profile = parseProfile('--profile', opts.profile);
  const set = parseSets(opts.set);
  // the same inputs as `run`: files, directories (recursively) and `-`
  const { files: found, errors } = expandInputs(files);
  if (errors.length) throw new DiagnosticsError(errors.join('\n'));
  const scenarios = loadFiles(found);
  let results: LiveFileResult[];
  let host: Awaited<ReturnType<typeof probeHost>>;
  try {
    host = await probeHost();
    results = [];
    // the model runs on this host's configuration (--host live) unless --host names another
    for (const s of scenarios)
      results.push(
        await runLive(s, host, Helper.start, {
          ...(profile ? { profile } : {}),
          set,
          host: (await resolveHost(opts.host)) ?? hostFromFacts(`live ${host.kernel.release}`, host),
        }),
      );
  } catch (e) {
    if (e instanceof LiveUnavailable) {
      process.stderr.write(`gmemsim run --live: ${e.message}\n`);
      return 2;
    }
    throw e;
  }
  const summary = summaryLine(results);
  if (opts.json) {
    const doc = {
      format: 'gmemsim-live/1',
      host: {
        release: host.kernel.release,
        vendor: host.vendor,
        vm_types: host.vm_types,
        facts: host.facts,
      },
      files: results.map((r) => ({
        file: r.file,
        name: r.name,
        profile: r.profile,
        agree: r.agree,
        differ: r.differ,
        not_runnable: r.skipped,
        steps: r.steps.map((st) => ({
          step: st.index + 1,
          line: st.line,
          op: st.op,
          verdict: st.verdict,
          model: { ...sideJson(st.model), rule: st.rule },
          live: sideJson(st.live),
          ...(st.reason ? { reason: st.reason } : {}),
          ...(st.differences.length ? { differences: st.differences } : {}),
        })),
      })),
      summary,
    };
    process.stdout.write(`${JSON.stringify(doc, null, 2)}\n`);
  } else {
    const out: string[] = [
      `live kernel ${host.kernel.release}, CPU ${host.vendor.cpu}, KVM module ${host.vendor.kvm_modules.join(', ') || 'none'}, VM types 0x${host.vm_types.mask.toString(16)}`,
    ];
    for (const [i, r] of results.entries()) {
      out.push('', `${r.file}: ${r.name}  [model profile ${r.profile}]`);
      const s = scenarios[i]!;
      for (const st of r.steps) out.push(renderStep(st, formatCall(s.steps[st.index]!)));
      out.push(`  ${r.agree} agree, ${r.differ} differ, ${r.skipped} not runnable here`);
    }
    out.push('', summary);
    process.stdout.write(`${out.join('\n')}\n`);
  }
  return results.some((r) => r.differ > 0) ? 1 : 0;
}
