/**
 * The example of scenario-format.md, end to end, with its MRTD checked against an independent
 * computation of the TDX-module records (measurement.md §2.1) written here, not taken from the model.
 */
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { failures, ROOT, run } from './support/scenarios.ts';

/** MRTD = SHA-384 over 128-byte records: "MEM.PAGE.ADD"+GPA, then per 256-byte chunk "MR.EXTEND"+GPA and the chunk. */
function independentMrtd(pages: { gpa: bigint; bytes: Uint8Array; measure: boolean }[]): string {
  const h = createHash('sha384');
  const record = (tag: string, gpa: bigint) => {
    const r = Buffer.alloc(128);
    r.write(tag, 0, 'ascii');
    r.writeBigUInt64LE(gpa, 16);
    return r;
  };
  for (const p of pages) {
    h.update(record('MEM.PAGE.ADD', p.gpa));
    if (!p.measure) continue;
    for (let c = 0; c < 16; c++) {
      h.update(record('MR.EXTEND', p.gpa + BigInt(c * 256)));
      h.update(p.bytes.subarray(c * 256, c * 256 + 256));
    }
  }
  return h.digest('hex');
}

describe('scenario-format.md example', () => {
  const r = run(join(ROOT, 'test/scenarios/examples/scenario-format-example.yaml'));
  it('runs green end to end', () => {
    expect(failures(r)).toBe('');
  });
  it('its MRTD is one PAGE.ADD of GPA 0x1000 and 16 MR.EXTEND of 0xaa bytes', () => {
    const attest = r.steps.at(-1)!;
    expect(attest.op.op).toBe('attest');
    const want = independentMrtd([{ gpa: 0x1000n, bytes: new Uint8Array(4096).fill(0xaa), measure: true }]);
    expect(attest.outcome.out.mrtd).toBe(want);
  });
  it('a failed first add leaves the MRTD of no records (SHA-384 of nothing)', () => {
    expect(independentMrtd([])).toBe(createHash('sha384').digest('hex'));
  });
});
