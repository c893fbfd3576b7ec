import Table from 'cli-table3';
import pc from 'picocolors';
import { aliasesOf } from '../core/profiles.ts';
import { TdxCmd } from '../core/uapi.ts';
import { demoProfiles, demoRows } from '../demo/scenarios.ts';
import { nodeHost } from '../node/host.ts';
import { renderText } from '../scenario/report.ts';
import { exitName, type RunResult, runScenario, type StepResult } from '../scenario/run.ts';
import { useColor } from './common.ts';

interface Cell {
  profile: string;
  text: string;
  rules: string[];
  mrtd?: string;
  run?: RunResult;
}

function isImr(r: StepResult): boolean {
  return r.op.op === 'KVM_MEMORY_ENCRYPT_OP' && r.op.id === BigInt(TdxCmd.KVM_TDX_INIT_MEM_REGION);
}

function short(r: StepResult): string {
  const o = r.outcome;
  return o.signal ? o.signal : o.errno ? `-${o.errno}` : String(o.ret);
}

/** a run-time row's steps: those after the launch (attest) that run one of `ops`, but the guest's writes */
function runtimeSteps(run: RunResult, ops: readonly string[]): StepResult[] {
  const at = run.steps.findIndex((x) => x.op.op === 'attest');
  return run.steps
    .slice(at + 1)
    .filter((x) => ops.includes(x.op.op) && !(x.op.op === 'guest_access' && x.op.write === true));
}

/** a run-time step in a cell: the exit it caused, or the call's result; for a read, what the guest read */
function runtimeShort(r: StepResult): string {
  const o = r.outcome;
  if (o.errno || o.signal) return short(r);
  if (o.out.exit) return exitName(BigInt(o.out.exit.reason)).replace(/^KVM_EXIT_/, '');
  const b = o.out.bytes;
  if (r.op.op === 'guest_access' && b) {
    if (b.every((x) => x === 0)) return 'reads zeros';
    const t = new TextDecoder().decode(b);
    return /^[\x20-\x7e]+$/.test(t) ? `reads "${t}"` : `reads ${Buffer.from(b).toString('hex')}`;
  }
  return short(r);
}

export function demoCells() {
  return demoRows.map((row) => ({
    row,
    cells: demoProfiles.map((profile): Cell => {
      const built = row.scenario(profile);
      if (built === null) return { profile, text: 'n/a', rules: ['no in-place conversion in this kernel'] };
      const s = { ...built, file: `demo:${row.id}` };
      const run = runScenario(s, nodeHost);
      const attest = run.steps.find((x) => x.op.op === 'attest');
      const keys = row.cell ? runtimeSteps(run, row.cell.ops) : run.steps.filter(isImr);
      const cell: Cell = {
        profile,
        text: keys.map(row.cell ? runtimeShort : short).join(' → '),
        rules: keys.map((x) => `${x.outcome.rule.id}${x.outcome.cause ? ` (${x.outcome.cause.id})` : ''}`),
        run,
      };
      if (attest?.outcome.out.mrtd) cell.mrtd = attest.outcome.out.mrtd;
      return cell;
    }),
  }));
}

export function demoCommand(opts: { json?: boolean; verbose?: boolean }): number {
  const rows = demoCells();
  if (opts.json) {
    const doc = {
      format: 'gmemsim-demo/1',
      profiles: demoProfiles,
      rows: rows.map(({ row, cells }) => ({
        id: row.id,
        title: row.title,
        question: row.question,
        cells: cells.map((c) => ({ profile: c.profile, result: c.text, rules: c.rules, mrtd: c.mrtd ?? null })),
      })),
    };
    process.stdout.write(`${JSON.stringify(doc, null, 2)}\n`);
    return 0;
  }
  const color = useColor();
  const c = color ? pc : pc.createColors(false);
  const out: string[] = [];
  out.push(c.bold('The source-address ABI of KVM_TDX_INIT_MEM_REGION, as settled in the June 2026 KVM thread'));
  out.push('"An address of 0 for the source means NULL: no source page. A source page is required unless');
  out.push(
    ' guest_memfd in-place conversion is enabled; then the target page is its own source." (Sean Christopherson)',
  );
  out.push('');
  out.push('Each row is one VMM sequence (a gmemsim/1 scenario); each cell is what KVM_TDX_INIT_MEM_REGION returns');
  out.push(
    "under that kernel profile (arrows: successive calls), and the TD's MRTD prefix where the launch completed.",
  );
  out.push(
    'Run-time rows: after the launch, the exit the guest request caused, the conversion call, the re-entry, and what',
  );
  out.push('the guest then reads.');
  out.push('');
  const head = [
    'sequence',
    ...demoProfiles.map((p) => (aliasesOf(p).length ? `${p} (${aliasesOf(p).join(', ')})` : p)),
  ];
  const text = (x: Cell) => (x.mrtd ? `${x.text}\nmrtd ${x.mrtd.slice(0, 8)}` : x.text);
  // a column as wide as its profile's name or an INIT_MEM_REGION cell in one line (at least 15);
  // the longer run-time cells wrap
  const widths = demoProfiles.map((p, i) => {
    const cells = rows.filter(({ row }) => !row.cell).map(({ cells }) => text(cells[i]!));
    return Math.max(13, p.length, ...cells.flatMap((t) => t.split('\n').map((l) => l.length))) + 2;
  });
  const table = new Table({
    head,
    style: { head: color ? ['cyan'] : [], border: color ? ['grey'] : [] },
    wordWrap: true,
    colWidths: [30, ...widths],
  });
  for (const { row, cells } of rows) table.push([row.title, ...cells.map(text)]);
  out.push(table.toString());
  out.push('');
  out.push(c.bold('Which rule decided each cell'));
  for (const { row, cells } of rows) {
    out.push(`${row.title}`);
    out.push(c.dim(`  ${row.question}`));
    const byRule = new Map<string, string[]>();
    for (const cell of cells) {
      const key = cell.rules.join(' → ');
      byRule.set(key, [...(byRule.get(key) ?? []), cell.profile]);
    }
    for (const [rules, profiles] of byRule) out.push(`  ${profiles.join(', ').padEnd(40)} ${rules}`);
  }
  out.push('');
  out.push(`See every step: gmemsim demo --verbose.  Rules: gmemsim rules --ioctl KVM_TDX_INIT_MEM_REGION`);
  if (opts.verbose) {
    out.push('');
    for (const { cells } of rows) {
      const runs = cells.map((x) => x.run).filter((x): x is RunResult => x !== undefined);
      out.push(renderText(runs, { color }));
    }
  }
  process.stdout.write(`${out.join('\n')}\n`);
  return 0;
}
