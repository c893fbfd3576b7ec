/**
 * A second SEV-SNP launch-digest implementation for tests, independent of gmemsim's model: written
 * from measurement.md §2.2 and §3 alone (footer table, 'ASEV' metadata, PAGE_INFO chain, the VMSA
 * fields of the QEMU, ec2 and gce VMMs), with node:crypto. It is checked against the sev-snp-measure
 * vectors (test/measure-diagnose.test.ts) before any of its digests stands in as an expected value.
 */
import { createHash } from 'node:crypto';

const sha384 = (b: Uint8Array) => createHash('sha384').update(b).digest();
const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest();

function guidLe(g: string): Buffer {
  const h = Buffer.from(g.replace(/-/g, ''), 'hex');
  return Buffer.concat([
    Buffer.from(h.subarray(0, 4)).reverse(),
    Buffer.from(h.subarray(4, 6)).reverse(),
    Buffer.from(h.subarray(6, 8)).reverse(),
    h.subarray(8),
  ]);
}

function table(img: Uint8Array): Map<string, Buffer> {
  const b = Buffer.from(img.buffer, img.byteOffset, img.byteLength);
  const out = new Map<string, Buffer>();
  const end = b.length - 32;
  if (!b.subarray(end - 16, end).equals(guidLe('96b582de-1fb2-45f7-baea-a366c55a082d'))) return out;
  const start = end - b.readUInt16LE(end - 18);
  let at = end - 18;
  while (at - start >= 18) {
    const guid = b.subarray(at - 16, at).toString('hex');
    const len = b.readUInt16LE(at - 18);
    out.set(guid, b.subarray(at - len, at - 18));
    at -= len;
  }
  return out;
}

export interface HandInputs {
  ovmf: Uint8Array;
  vcpus: number;
  sig: number;
  gf: bigint;
  vmm: 'QEMU' | 'ec2' | 'gce';
  kernel?: { kernel: Uint8Array; initrd?: Uint8Array; append?: string };
  /** start from this digest instead of adding the firmware pages */
  seed?: string;
}

/** the launch digest sev-snp-measure's snp mode gives for these inputs */
export function snpByHand(i: HandInputs): string {
  const img = Buffer.from(i.ovmf);
  const t = table(img);
  const get = (g: string) => t.get(guidLe(g).toString('hex'));
  let ld: Buffer = i.seed ? Buffer.from(i.seed, 'hex') : Buffer.alloc(48);
  const info = (type: number, gpa: bigint, contents?: Buffer) => {
    const p = Buffer.alloc(0x70);
    ld.copy(p, 0);
    if (contents) contents.copy(p, 0x30);
    p.writeUInt16LE(0x70, 0x60);
    p[0x62] = type;
    p.writeBigUInt64LE(gpa, 0x68);
    ld = sha384(p);
  };
  const pages = (type: number, gpa: number, size: number, data?: Buffer) => {
    for (let o = 0; o < size; o += 4096)
      info(type, BigInt(gpa + o), data ? sha384(data.subarray(o, o + 4096)) : undefined);
  };
  if (!i.seed) pages(1, 2 ** 32 - img.length, img.length, img);
  const meta = get('dc886566-984a-4798-a75e-5585a7bf67cc')!;
  const d = img.length - meta.readUInt32LE(0);
  const sections = Array.from({ length: img.readUInt32LE(d + 12) }, (_, k) => ({
    gpa: img.readUInt32LE(d + 16 + 12 * k),
    size: img.readUInt32LE(d + 20 + 12 * k),
    type: img.readUInt32LE(d + 24 + 12 * k),
  }));
  for (const s of sections) {
    if (s.type === 1) pages(i.vmm === 'gce' ? 4 : 3, s.gpa, s.size);
    else if (s.type === 2) pages(5, s.gpa, 4096);
    else if (s.type === 3) {
      if (i.vmm !== 'ec2') pages(6, s.gpa, 4096);
    } else if (s.type === 0x10 && i.kernel) {
      const page = Buffer.alloc(4096);
      const at = get('7255371f-3a3b-4b04-927b-1da6efa8d454')!.readUInt32LE(0) & 0xfff;
      guidLe('9438d606-4f22-4cc9-b479-a793d411fd21').copy(page, at);
      page.writeUInt16LE(168, at + 16);
      const entries: [string, Buffer][] = [
        ['97d02dd8-bd20-4c94-aa78-e7714d36ab2a', sha256(Buffer.from(`${i.kernel.append ?? ''}\0`))],
        ['44baf731-3a2f-4bd7-9af1-41e29169781d', sha256(i.kernel.initrd ?? new Uint8Array(0))],
        ['4de79437-abd2-427f-b835-d5b172d2045b', sha256(i.kernel.kernel)],
      ];
      entries.forEach(([g, h], k) => {
        const e = at + 18 + 50 * k;
        guidLe(g).copy(page, e);
        page.writeUInt16LE(50, e + 16);
        h.copy(page, e + 18);
      });
      pages(1, s.gpa, 4096, page);
    } else pages(3, s.gpa, s.size);
  }
  if (i.vmm === 'ec2') for (const s of sections) if (s.type === 3) pages(6, s.gpa, 4096);
  const apEip = get('00f771de-1a7e-4fcb-890e-68c77e2fb44e')!.readUInt32LE(0);
  for (let v = 0; v < i.vcpus; v++) info(2, 0xfffffffff000n, sha384(vmsa(v === 0 ? 0xfffffff0 : apEip, i)));
  return ld.toString('hex');
}

/** the VMSA page of measurement.md §2.2 (QEMU), with the ec2 and gce differences */
export function vmsa(eip: number, i: HandInputs): Buffer {
  const p = Buffer.alloc(4096);
  const ec2 = i.vmm === 'ec2';
  const seg = (off: number, sel: number, attr: number, base: number) => {
    p.writeUInt16LE(sel, off);
    p.writeUInt16LE(attr, off + 2);
    p.writeUInt32LE(0xffff, off + 4);
    p.writeBigUInt64LE(BigInt(base), off + 8);
  };
  for (const off of [0x00, 0x30, 0x40, 0x50]) seg(off, 0, 0x93, 0);
  seg(0x10, 0xf000, ec2 && eip === 0xfffffff0 ? 0x9a : 0x9b, (eip & 0xffff0000) >>> 0);
  seg(0x20, 0, ec2 ? 0x92 : 0x93, 0);
  seg(0x60, 0, 0, 0);
  seg(0x70, 0, 0x82, 0);
  seg(0x80, 0, 0, 0);
  seg(0x90, 0, ec2 ? 0x83 : 0x8b, 0);
  p.writeBigUInt64LE(0x1000n, 0xd0);
  p.writeBigUInt64LE(0x40n, 0x148);
  p.writeBigUInt64LE(0x10n, 0x158);
  p.writeBigUInt64LE(0x400n, 0x160);
  p.writeBigUInt64LE(0xffff0ff0n, 0x168);
  p.writeBigUInt64LE(0x2n, 0x170);
  p.writeBigUInt64LE(BigInt(eip & 0xffff), 0x178);
  p.writeBigUInt64LE(i.vmm === 'gce' ? 0x70106n : 0x0007040600070406n, 0x268);
  p.writeBigUInt64LE(BigInt(i.vmm === 'QEMU' ? i.sig : 0x600), 0x310);
  p.writeBigUInt64LE(i.gf, 0x3b0);
  p.writeBigUInt64LE(1n, 0x3e8);
  if (i.vmm === 'QEMU') {
    p.writeUInt32LE(0x1f80, 0x408);
    p.writeUInt16LE(0x37f, 0x410);
  }
  return p;
}
