/**
 * The live runner's pieces that need no kernel: what is skipped and why, how the two sides are
 * compared; and, where /dev/kvm is usable, the helper surviving faults and the CLI's documents.
 */
import { describe, expect, it } from 'vitest';
import { Helper, kvmUnavailable } from '../src/node/live/helper.ts';
import type { HostFile } from '../src/node/live/probe.ts';
import { compareSides, encode, type Side } from '../src/node/live/run-live.ts';
import { gmemsim, gmemsimEnv, noStack } from './support/cli.ts';

const host = { vm_types: { mask: 1, names: ['KVM_X86_DEFAULT_VM'] } } as unknown as HostFile;
const side = (s: Partial<Side>): Side => ({ result: 'ret 0', ok: true, fields: {}, ...s });

describe('what cannot run here is skipped with the reason', () => {
  it('a VM type the host lacks', () => {
    const e = encode({ op: 'KVM_CREATE_VM', fd: 3n, type: 5n }, host);
    expect(e).toMatchObject({ skip: expect.stringContaining('KVM_X86_TDX_VM is not offered by this host') });
  });
  it('a VM type no kernel has still runs (both sides say EINVAL)', () => {
    expect(encode({ op: 'KVM_CREATE_VM', fd: 3n, type: 40n }, host)).toEqual({ req: 'create_vm 3 40' });
  });
  it('pin, attest, KVM_RUN and a TDX/SEV struct', () => {
    expect(encode({ op: 'pin', addr: 0n, length: 1n }, host)).toHaveProperty('skip');
    expect(encode({ op: 'attest', fd: 5n }, host)).toHaveProperty('skip');
    expect(encode({ op: 'KVM_RUN', hypercall_ret: 0n, fd: 6n }, host)).toHaveProperty('skip');
    const enc = {
      op: 'KVM_MEMORY_ENCRYPT_OP' as const,
      fd: 5n,
      id: 3n,
      flags: 0n,
      data: { gpa: 1n },
      hw_error: 0n,
      error: 0n,
      sev_fd: 4n,
    };
    expect(encode(enc, host)).toMatchObject({ kind: 'TDX/SNP sub-command struct' });
    expect(encode({ ...enc, data: {} }, host)).toEqual({ req: 'encrypt_op 5 3 0 zbuf 0 0 4' });
  });
  it('a real allocation above the cap', () => {
    const e = encode({ op: 'fallocate', fd: 6n, mode: 1n, offset: 0n, len: 4n << 30n }, host);
    expect(e).toMatchObject({ skip: 'not runnable here: fallocate would allocate 4 GiB (cap 256 MiB)' });
    // a punched hole allocates nothing
    expect(encode({ op: 'fallocate', fd: 6n, mode: 3n, offset: 0n, len: 4n << 30n }, host)).toHaveProperty('req');
    expect(
      encode({ op: 'mmap', addr: 0n, length: 1n << 40n, prot: 3n, flags: 0x8022n, fd: -1n, offset: 0n }, host),
    ).toHaveProperty('skip');
    expect(
      encode({ op: 'mmap', addr: 0n, length: 1n << 40n, prot: 3n, flags: 0x22n, fd: -1n, offset: 0n }, host),
    ).toHaveProperty('req');
  });
});

describe('comparison', () => {
  it('handles compare as success or failure, other values by value', () => {
    const mmap = { op: 'mmap', addr: 0n, length: 1n, prot: 3n, flags: 0x22n, fd: -1n, offset: 0n } as const;
    expect(compareSides(mmap, side({ ret: 0x7f00n }), side({ ret: 0x7e00n }))).toEqual([]);
    const cap = { op: 'KVM_CHECK_EXTENSION', fd: 3n, cap: 235n } as const;
    expect(compareSides(cap, side({ ret: 0x3fn }), side({ ret: 1n }))).toEqual(['ret: model 0x3f, live 1']);
  });
  it('errno and signals exactly; bytes and written-back fields by value', () => {
    const load = { op: 'load', addr: 0n, length: 2n } as const;
    const e = side({ result: 'errno EINVAL', ok: false, errno: 'EINVAL', ret: -1n });
    expect(compareSides(load, e, side({ result: 'SIGBUS', ok: false, signal: 'SIGBUS', ret: -1n }))).toHaveLength(1);
    const a = side({ ret: 2n, bytes: Uint8Array.of(0, 0) });
    expect(compareSides(load, a, side({ ret: 2n, bytes: Uint8Array.of(0, 1) }))[0]).toMatch(/^bytes:/);
    const st = { op: 'fstat', fd: 5n } as const;
    expect(compareSides(st, side({ fields: { st_size: 0x1000n } }), side({ fields: { st_size: 0x2000n } }))).toEqual([
      'st_size: model 0x1000, live 0x2000',
    ]);
  });
});

const why = kvmUnavailable();

describe('on the running kernel', () => {
  if (why) {
    it.skip(`skipped: ${why}`, () => {});
    return;
  }
  it('the helper survives SIGSEGV and SIGBUS and keeps its VM', async () => {
    const h = await Helper.start();
    try {
      const vm = await h.call(`create_vm ${h.kvmFd} 0`);
      expect(vm.ret).toBeGreaterThan(0n);
      expect((await h.call('load 0 8')).signal).toBe('SIGSEGV');
      const g = await h.call(`create_guest_memfd ${vm.ret} 4096 1`);
      const m = await h.call(`mmap 0 8192 3 1 ${g.ret} 0`);
      // MMAP without INIT_SHARED: the fault is SIGBUS; past EOF too
      expect((await h.call(`load ${m.ret} 1`)).signal).toBe('SIGBUS');
      expect((await h.call(`store ${m.ret + 4096n} f:1:1`)).signal).toBe('SIGBUS');
      expect((await h.call(`check_extension ${vm.ret} 234`)).ret).toBe(1n);
      // the runner's own memory is not the scenario's to write or unmap
      expect((await h.call('munmap 0 0x7ffffffff000')).refused).toMatch(/runner itself/);
    } finally {
      h.kill();
    }
  });
  it('gmemsim host --json is a host file', () => {
    const r = gmemsim('host', '--json');
    expect(r.code).toBe(0);
    const h = JSON.parse(r.out) as HostFile;
    expect(h.format).toBe('gmemsim-host/1');
    expect(h.vm_types.mask & 1).toBe(1);
    expect(h.caps.system.KVM_CAP_GUEST_MEMFD).toBe(1);
    expect(Object.keys(h.facts).sort()).toEqual(
      [
        'address_spaces',
        'cap_sys_rawio',
        'memory_attributes_ioctl',
        'mmap_min_addr',
        'pre_fault_memory',
        'sev',
        'sev_es',
        'sev_snp',
        'smm',
        'sw_protected_vm',
        'tdp',
        'tdx',
      ].sort(),
    );
  });
  it('run --live configures the model with this host (--host live): the host-dependent steps agree', () => {
    const r = gmemsim('run', '--live', 'test/scenarios/host/host-dependent.yaml');
    noStack(r.err);
    expect(r.out).toMatch(/\d+ agree, 0 differ, 0 not runnable here\n$/);
  });
  it('run --live --json carries both sides of every step and the summary', () => {
    const r = gmemsim('run', '--live', '--json', 'test/scenarios/gmem/a09-mmap-supported.yaml');
    noStack(r.err);
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.out);
    expect(doc.format).toBe('gmemsim-live/1');
    const steps = doc.files[0].steps;
    expect(steps.every((s: { verdict: string }) => s.verdict === 'agree')).toBe(true);
    expect(steps[4].model.bytes).toBe(steps[4].live.bytes);
    expect(doc.summary).toBe(`${steps.length} agree, 0 differ, 0 not runnable here`);
  });
  it('a differing step is marked and the run exits 1', () => {
    // the model's host of old (every VM type, TDP, memory attributes) is not this machine's
    const r = gmemsim('run', '--live', '--host', 'model', 'test/scenarios/host/host-dependent.yaml');
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/<<< DIFFERS/);
    expect(r.out).toMatch(/\d+ agree, \d+ differ, 0 not runnable here\n$/);
  });
});

describe('without KVM', () => {
  it('host and run --live say what is missing in one line, exit 2', () => {
    const env = { GMEMSIM_KVM_DEVICE: '/nonexistent/kvm' };
    for (const args of [['host'], ['run', '--live', 'test/scenarios/smoke.yaml']]) {
      const r = gmemsimEnv(env, ...args);
      expect(r.code).toBe(2);
      expect(r.out).toBe('');
      expect(r.err).toMatch(/^gmemsim (host|run --live): no \/nonexistent\/kvm on this machine .*\n$/);
      noStack(r.err);
    }
  });
});
