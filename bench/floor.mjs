#!/usr/bin/env node
/**
 * The floor of `npm run bench` for the measure commands: the least a program does to print a launch
 * digest. It reads the image, finds the pages (OVMF footer table, then TDVF or SEV metadata) and
 * hashes the same records as the model with node:crypto in one tight loop. Not part of gmemsim: no
 * model, no checks, only node:fs and node:crypto; the bench checks that its digests equal gmemsim's.
 *
 *   node bench/floor.mjs tdx FIRMWARE [two-pass]        MRTD (QEMU's TDVF sequence)
 *   node bench/floor.mjs snp OVMF VCPUS SIG             launch digest, QEMU, guest features 0x1
 *   node bench/floor.mjs svsm OVMF VCPUS SIG SVSM VARS  launch digest, snp:svsm
 *
 * The bench imports it too: the records are prepared once (untimed) and only their hashing is timed.
 */
import { createHash, hash } from 'node:crypto';
import { readFileSync } from 'node:fs';

const le32 = (b, at) => b.readUInt32LE(at);

/** OVMF footer table: GUID (as stored, hex) → entry data, read backwards from 32 bytes before the end */
function footerTable(img) {
  const out = new Map();
  const tableEnd = img.length - 32;
  const footer = tableEnd - 18;
  const tableStart = tableEnd - img.readUInt16LE(footer);
  let end = footer;
  while (end - tableStart >= 18) {
    const len = img.readUInt16LE(end - 18);
    out.set(img.toString('hex', end - 16, end), img.subarray(end - len, end - 18));
    end -= len;
  }
  return out;
}
/** GUID text → its stored (bytes_le) hex */
const stored = (g) => {
  const h = g.replace(/-/g, '');
  const b = Buffer.from(h, 'hex');
  return Buffer.from([b[3], b[2], b[1], b[0], b[5], b[4], b[7], b[6], ...b.subarray(8)]).toString('hex');
};
const TDX_METADATA = stored('e47a6535-984a-4798-865e-4685a7bf8ec2');
const SEV_METADATA = stored('dc886566-984a-4798-a75e-5585a7bf67cc');
const SEV_ES_RESET = stored('00f771de-1a7e-4fcb-890e-68c77e2fb44e');
const SVSM_INFO = stored('a789a612-0597-4c4b-a49f-cbb1fe9d1ddd');
const PAGE_ADD = Buffer.from('MEM.PAGE.ADD');
const MR_EXTEND = Buffer.from('MR.EXTEND');

/** All MRTD records of QEMU's TDX launch, in order, in one buffer (measurement.md §2.1). */
export function tdxRecords(img, twoPass = false) {
  const off = img.length - le32(footerTable(img).get(TDX_METADATA), 0);
  const n = le32(img, off + 12);
  const sections = [];
  for (let i = 0; i < n; i++) {
    const at = off + 16 + 32 * i;
    const attr = le32(img, at + 28);
    if (attr & 2) continue; // PAGE.AUG
    const type = le32(img, at + 24);
    sections.push({
      data: type <= 1 ? le32(img, at) : -1,
      gpa: Number(img.readBigUInt64LE(at + 8)),
      pages: Number(img.readBigUInt64LE(at + 16)) / 4096,
      measured: (attr & 1) !== 0,
    });
  }
  const size = sections.reduce((t, s) => t + s.pages * (s.measured ? 128 + 16 * 384 : 128), 0);
  const out = Buffer.alloc(size);
  let at = 0;
  const gpa = (v) => {
    out.writeUInt32LE(v % 2 ** 32, at + 16);
    out.writeUInt32LE(Math.floor(v / 2 ** 32), at + 20);
  };
  const add = (a) => {
    out.set(PAGE_ADD, at);
    gpa(a);
    at += 128;
  };
  const extend = (s, p) => {
    for (let c = 0; c < 16; c++) {
      out.set(MR_EXTEND, at);
      gpa(s.gpa + p * 4096 + c * 256);
      if (s.data >= 0) img.copy(out, at + 128, s.data + p * 4096 + c * 256, s.data + p * 4096 + c * 256 + 256);
      at += 384;
    }
  };
  for (const s of sections) {
    for (let p = 0; p < s.pages; p++) {
      add(s.gpa + p * 4096);
      if (s.measured && !twoPass) extend(s, p);
    }
    if (s.measured && twoPass) for (let p = 0; p < s.pages; p++) extend(s, p);
  }
  return out;
}

export const hashTdx = (records) => createHash('sha384').update(records).digest('hex');

/** the initial VMSA (sev-snp-measure vmsa.py): QEMU's at reset, or the SVSM's 64-bit one */
function vmsa(eip, sig, features, svsm) {
  const p = Buffer.alloc(4096);
  const seg = (o, sel, attrib, limit, base = 0) => {
    p.writeUInt16LE(sel, o);
    p.writeUInt16LE(attrib, o + 2);
    p.writeUInt32LE(limit, o + 4);
    p.writeBigUInt64LE(BigInt(base), o + 8);
  };
  const flat = [16, 0xc93, 0xffffffff];
  seg(0x00, ...(svsm ? flat : [0, 0x93, 0xffff]));
  seg(0x10, ...(svsm ? [8, 0xc9b, 0xffffffff] : [0xf000, 0x9b, 0xffff, (eip & 0xffff0000) >>> 0]));
  for (const o of [0x20, 0x30, 0x40]) seg(o, ...(svsm ? flat : [0, 0x93, 0xffff]));
  seg(0x50, 0, 0x93, 0xffff);
  seg(0x60, 0, 0, 0xffff);
  seg(0x70, 0, 0x82, 0xffff);
  seg(0x80, 0, 0, 0xffff);
  seg(0x90, 0, 0x8b, 0xffff);
  const q = (o, v) => p.writeBigUInt64LE(BigInt(v), o);
  q(0xd0, 0x1000);
  q(0x148, 0x40);
  q(0x158, svsm ? 0x11 : 0x10);
  q(0x160, 0x400);
  q(0x168, 0xffff0ff0);
  q(0x170, 2);
  q(0x178, svsm ? eip >>> 0 : eip & 0xffff);
  q(0x268, 0x0007040600070406n);
  q(0x310, sig);
  q(0x3b0, features);
  q(0x3e8, 1);
  p.writeUInt32LE(0x1f80, 0x408);
  if (!svsm) p.writeUInt16LE(0x37f, 0x410);
  return p;
}

/** SNP_LAUNCH_UPDATE page types of the SEV metadata sections (QEMU, no kernel hashes) */
const SECTION_TYPE = { 1: 3, 2: 5, 3: 6, 4: 3, 16: 3 };

/**
 * The PAGE_INFO records of an SNP launch (QEMU -bios; with `svsm`, coconut QEMU's snp:svsm): each
 * record's tail (length, type, GPA) filled in, and the page whose digest goes into it (or null).
 */
export function snpRecords(ovmf, vcpus, sig, svsm, varsSize = 0) {
  const pages = [];
  const image = (img, gpa) => {
    for (let p = 0; p < img.length / 4096; p++)
      pages.push([1, gpa + p * 4096, img.subarray(p * 4096, p * 4096 + 4096)]);
  };
  const metadata = (img) => {
    const off = img.length - le32(footerTable(img).get(SEV_METADATA), 0);
    for (let i = 0; i < le32(img, off + 12); i++) {
      const at = off + 16 + 12 * i;
      const type = SECTION_TYPE[le32(img, at + 8)];
      const size = type === 5 || type === 6 ? 4096 : le32(img, at + 4);
      for (let p = 0; p < size / 4096; p++) pages.push([type, le32(img, at) + p * 4096, null]);
    }
  };
  const ovmfGpa = 2 ** 32 - ovmf.length;
  image(ovmf, ovmfGpa);
  const eips = [];
  if (svsm) {
    const gpa = ovmfGpa - varsSize - svsm.length;
    image(svsm, gpa);
    metadata(svsm);
    for (let i = 0; i < vcpus; i++) eips.push(gpa + le32(footerTable(svsm).get(SVSM_INFO), 0));
  } else {
    metadata(ovmf);
    const ap = le32(footerTable(ovmf).get(SEV_ES_RESET), 0);
    for (let i = 0; i < vcpus; i++) eips.push(i === 0 ? 0xfffffff0 : ap);
  }
  for (const eip of eips) pages.push([2, 0xfffffffff000, vmsa(eip, sig, 1, Boolean(svsm))]);
  const info = Buffer.alloc(0x70 * pages.length);
  pages.forEach(([type, gpa], i) => {
    info.writeUInt16LE(0x70, i * 0x70 + 0x60);
    info[i * 0x70 + 0x62] = type;
    info.writeBigUInt64LE(BigInt(gpa), i * 0x70 + 0x68);
  });
  return { info, contents: pages.map((p) => p[2]) };
}

/** The launch digest: LD = SHA-384(PAGE_INFO) per page, from 48 zero bytes. */
export function hashSnp({ info, contents }) {
  let ld = Buffer.alloc(48);
  for (let i = 0; i < contents.length; i++) {
    const rec = info.subarray(i * 0x70, i * 0x70 + 0x70);
    rec.set(ld, 0);
    if (contents[i]) rec.set(hash('sha384', contents[i], 'buffer'), 0x30);
    ld = hash('sha384', rec, 'buffer');
  }
  return ld.toString('hex');
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [cmd, file, ...rest] = process.argv.slice(2);
  const img = readFileSync(file);
  let out;
  if (cmd === 'tdx') out = hashTdx(tdxRecords(img, rest[0] === 'two-pass'));
  else if (cmd === 'snp') out = hashSnp(snpRecords(img, Number(rest[0]), Number(rest[1])));
  else out = hashSnp(snpRecords(img, Number(rest[0]), Number(rest[1]), readFileSync(rest[2]), Number(rest[3])));
  process.stdout.write(`${out}\n`);
}
