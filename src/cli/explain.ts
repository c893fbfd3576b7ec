/**
 * `gmemsim measure ... --explain`: one row per measuring call of the launch (call, section and type,
 * GPA range, pages, records the measurement took), plain columns so that two launches diff line by
 * line, then the measurement itself as the last line.
 */
import { hex0x as hex } from '../util/hex.ts';

export interface ExplainRow {
  call: string;
  /** the section or image the call adds */
  what: string;
  /** page type (SNP) or section type and whether it is extended (TDX) */
  type: string;
  gpa: bigint;
  /** pages the call added (from the model) */
  pages: number;
  /** records the measurement took for the call: PAGE_INFO updates, or PAGE.ADD + MR.EXTEND blocks */
  records: number;
  /** one GPA for every page (VMSAs at INITIAL_VMSA_GPA) */
  sameGpa?: boolean;
}

function gpaRange(r: ExplainRow): string {
  if (r.pages === 0) return '-';
  if (r.sameGpa) return `${hex(r.gpa)} ×${r.pages}`;
  return `${hex(r.gpa)}..${hex(r.gpa + BigInt(r.pages) * 4096n - 1n)}`;
}

export function explainTable(rows: ExplainRow[], notes: string[] = []): string {
  const head = ['#', 'call', 'section', 'type', 'GPA range', 'pages', 'records'];
  const body = rows.map((r, i) => [
    String(i + 1),
    r.call,
    r.what,
    r.type,
    gpaRange(r),
    String(r.pages),
    String(r.records),
  ]);
  const total = [
    '',
    'total',
    '',
    '',
    '',
    String(rows.reduce((n, r) => n + r.pages, 0)),
    String(rows.reduce((n, r) => n + r.records, 0)),
  ];
  const all = [head, ...body, total];
  const width = head.map((_, c) => Math.max(...all.map((row) => row[c]!.length)));
  const right = new Set([0, 5, 6]);
  const line = (row: string[]) =>
    row
      .map((cell, c) => (right.has(c) ? cell.padStart(width[c]!) : cell.padEnd(width[c]!)))
      .join('  ')
      .trimEnd();
  return [...all.map(line), ...notes].map((l) => `${l}\n`).join('');
}
