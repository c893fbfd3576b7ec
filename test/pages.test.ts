/**
 * Page memory of the model (src/core/guest_memfd/folio.ts, src/core/mm/syscalls.ts): fresh pages are
 * independent of each other and of what they were copied from; a whole page stored from bytes is a
 * shared view of them, copied before any write, so that the caller's bytes (a scenario's data file)
 * never change. And the PSP gives the same launch digest with or without the port's one-shot hash.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { borrowPage, isBorrowed, newPage, pageBytes, setPage, writePage } from '../src/core/guest_memfd/folio.ts';
import { createKernel, type Sha384 } from '../src/core/index.ts';
import { GmemInode, type Vm } from '../src/core/state.ts';
import { measureSnp } from '../src/measure/snp.ts';
import { nodeHost, nodeSha384 } from '../src/node/host.ts';
import { ROOT } from './support/scenarios.ts';

const NO_FD = (1n << 64n) - 1n;

describe('pages', () => {
  it('newPage: zeros or a copy, independent of its source and of the pages beside it', () => {
    const src = Uint8Array.from({ length: 4096 }, (_, i) => i & 0xff);
    const pages = Array.from({ length: 40 }, (_, i) => (i % 2 ? newPage(src) : newPage()));
    pages[1]![0] = 0xee;
    pages[2]![4095] = 0xee;
    expect(src[0]).toBe(0);
    expect(pages[3]![0]).toBe(0);
    expect(pages[3]![5]).toBe(5);
    expect(pages[4]!.every((b) => b === 0)).toBe(true);
    expect(pages.every((p) => p.length === 4096 && p.constructor === Uint8Array)).toBe(true);
  });

  it('a whole page stored from bytes is a view of them; a later store copies it first', () => {
    const k = createKernel('in-place', nodeSha384);
    const addr = k.step({ op: 'mmap', addr: 0n, length: 0x3000n, prot: 3n, flags: 0x22n, fd: NO_FD, offset: 0n }).ret;
    // a Node Buffer, whose slice() would share its memory: the page must not be one
    const file = Buffer.alloc(0x2000, 0xab);
    expect(k.step({ op: 'store', addr, data: { kind: 'bytes', bytes: file } }).ret).toBe(0x2000n);
    const page = k.mm.anon.get(Number(addr / 4096n))!;
    expect(isBorrowed(page)).toBe(true);
    expect(page.slice(0, 4).constructor).toBe(Uint8Array);
    k.step({ op: 'store', addr: addr + 0x10n, data: { kind: 'fill', byte: 1, length: 4n } });
    k.step({ op: 'store', addr: addr + 0x1ffen, data: { kind: 'bytes', bytes: Uint8Array.of(7, 7, 7, 7) } });
    expect(file.every((b) => b === 0xab)).toBe(true);
    const r = k.step({ op: 'load', addr, length: 0x3000n }).out.bytes!;
    expect([r[0xf], r[0x10], r[0x13], r[0x14]]).toEqual([0xab, 1, 1, 0xab]);
    expect([r[0x1ffd], r[0x1ffe], r[0x1fff], r[0x2000], r[0x2001], r[0x2002]]).toEqual([0xab, 7, 7, 7, 7, 0]);
    // the whole page is replaced by a new view; the old one (and the file) stay as they were
    const again = Buffer.alloc(0x1000, 0xcd);
    k.step({ op: 'store', addr, data: { kind: 'bytes', bytes: again } });
    expect(k.step({ op: 'load', addr, length: 0x20n }).out.bytes!.every((b) => b === 0xcd)).toBe(true);
    expect(file.every((b) => b === 0xab)).toBe(true);
  });

  it('a multi-page store is one borrowed run: pages of it can be written, discarded, unmapped and cloned apart', () => {
    const k = createKernel('in-place', nodeSha384);
    const addr = k.step({ op: 'mmap', addr: 0n, length: 0x5000n, prot: 3n, flags: 0x22n, fd: NO_FD, offset: 0n }).ret;
    const file = Uint8Array.from({ length: 0x4000 + 8 }, (_, i) => (i >> 12) + 1);
    // from byte 8 of the data: pages 0..3 are views at 8, 0x1008, ...; the last 8 bytes go nowhere
    expect(k.step({ op: 'store', addr, data: { kind: 'bytes', bytes: file.subarray(8) } }).ret).toBe(0x4000n);
    const vpn = Number(addr / 4096n);
    expect([0, 1, 2, 3].map((i) => isBorrowed(k.mm.anon.get(vpn + i)!))).toEqual([true, true, true, true]);
    expect(k.mm.anon.get(vpn + 4)).toBeUndefined();
    const fork = k.clone();
    k.step({ op: 'store', addr: addr + 0x1000n, data: { kind: 'fill', byte: 0xee, length: 2n } });
    k.step({ op: 'madvise', addr: addr + 0x2000n, length: 0x1000n, advice: 4n });
    k.step({ op: 'munmap', addr: addr + 0x3000n, length: 0x1000n });
    const at = (kk: typeof k, off: bigint, n = 0x1000n) => kk.step({ op: 'load', addr: addr + off, length: n }).out;
    expect(at(k, 0n).bytes![0xff7]).toBe(1);
    expect(at(k, 0n).bytes![0xff8]).toBe(2);
    expect([...at(k, 0x1000n, 4n).bytes!]).toEqual([0xee, 0xee, 2, 2]);
    expect(at(k, 0x2000n).bytes!.every((b) => b === 0)).toBe(true);
    expect(k.step({ op: 'load', addr: addr + 0x3000n, length: 1n }).signal).toBe('SIGSEGV');
    // each page once: the written one (a copy), then what is left of the run
    expect([...k.mm.anon.entries()].map(([p, b]) => [p - vpn, isBorrowed(b)])).toEqual([
      [1, false],
      [0, true],
    ]);
    // the fork still has the whole run, and the data was never written
    expect([...at(fork, 0x1000n, 4n).bytes!]).toEqual([2, 2, 2, 2]);
    expect(at(fork, 0x3000n).bytes!.every((b, i) => b === (i < 0xff8 ? 4 : 5))).toBe(true);
    expect(file.every((b, i) => b === (i >> 12) + 1)).toBe(true);
  });

  it('a borrowed guest_memfd page (SNP shares the stored image as the private page) is copied before a write', () => {
    const inode = new GmemInode(0, {} as Vm, 0x4000n, 0n);
    const src = new Uint8Array(8192).fill(5);
    setPage(inode, 1, borrowPage(src.subarray(4096)));
    expect(isBorrowed(pageBytes(inode, 1))).toBe(true);
    writePage(inode, 1, 8, 9, 4);
    expect(src.every((b) => b === 5)).toBe(true);
    expect(Array.from(pageBytes(inode, 1).subarray(6, 14))).toEqual([5, 5, 9, 9, 9, 9, 5, 5]);
    expect(isBorrowed(pageBytes(inode, 1))).toBe(false);
  });

  it('copies of a borrowed page (slice, as the explorer clones state) are plain pages of their own', () => {
    const p = borrowPage(Buffer.alloc(4096, 3));
    const c = p.slice();
    c[0] = 1;
    expect(p[0]).toBe(3);
    expect(isBorrowed(c)).toBe(false);
    expect(c.constructor).toBe(Uint8Array);
  });
});

describe('the PSP with and without a one-shot hash', () => {
  it('gives the same launch digest', () => {
    const bytes = new Uint8Array(readFileSync(join(ROOT, '..', 'shared', 'firmware', 'OVMF.amdsev.fd')));
    const inputs = {
      mode: 'snp',
      ovmf: { bytes, file: 'OVMF.amdsev.fd' },
      vcpus: 2,
      vcpuSig: 0x800f12,
      vmmType: 'QEMU',
      guestFeatures: 1n,
    } as const;
    expect(nodeSha384.oneShot).toBeDefined();
    const incremental = (): Sha384 => nodeSha384();
    const host = { ...nodeHost, createKernel: nodeHost.createKernel };
    host.createKernel = (profile, knobs) => createKernel(profile, incremental, knobs);
    expect(measureSnp(inputs, host).measurement).toBe(measureSnp(inputs, nodeHost).measurement);
  });
});
