/**
 * A second MRTD implementation for tests, independent of gmemsim's model (measurement.md §2.1): the
 * TDVF sections read straight from the descriptor at `desc`, populated in metadata order as QEMU's
 * tdx_init_fw_mem_region does (MR.EXTEND iff attribute bit 0), PAGE.ADD / MR.EXTEND records hashed
 * by node:crypto in one stream. `skipAug` leaves out sections with attribute bit 1 (PAGE.AUG).
 */
import { createHash } from 'node:crypto';

export function tdxByHand(
  img: Uint8Array,
  desc: number,
  order: 'single-pass' | 'two-pass',
  opts: { skipAug?: boolean } = {},
): string {
  const v = new DataView(img.buffer, img.byteOffset, img.byteLength);
  const h = createHash('sha384');
  const rec = (tag: string, gpa: bigint) => {
    const b = Buffer.alloc(128);
    b.write(tag, 0, 'latin1');
    b.writeBigUInt64LE(gpa, 16);
    h.update(b);
  };
  const sec = (i: number) => desc + 16 + 32 * i;
  const n = v.getUint32(desc + 12, true);
  for (let i = 0; i < n; i++) {
    const off = v.getUint32(sec(i), true);
    const gpa = v.getBigUint64(sec(i) + 8, true);
    const pages = Number(v.getBigUint64(sec(i) + 16, true) / 4096n);
    const type = v.getUint32(sec(i) + 24, true);
    const attr = v.getUint32(sec(i) + 28, true);
    if (opts.skipAug && attr & 2) continue;
    const extend = (attr & 1) === 1;
    const data = (p: number) =>
      type <= 1 ? img.subarray(off + p * 4096, off + p * 4096 + 4096) : new Uint8Array(4096);
    const ext = (p: number) => {
      for (let c = 0; c < 16; c++) {
        rec('MR.EXTEND', gpa + BigInt(p * 4096 + c * 256));
        h.update(data(p).subarray(c * 256, c * 256 + 256));
      }
    };
    for (let p = 0; p < pages; p++) {
      rec('MEM.PAGE.ADD', gpa + BigInt(p * 4096));
      if (extend && order === 'single-pass') ext(p);
    }
    if (extend && order === 'two-pass') for (let p = 0; p < pages; p++) ext(p);
  }
  return h.digest('hex');
}
