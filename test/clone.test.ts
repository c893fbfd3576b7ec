/** Kernel.clone(): a branch evolves independently of its parent (the explorer relies on it). */

import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { nodeHost } from '../src/node/host.ts';
import { runScenario } from '../src/scenario/run.ts';
import { load, loadText, ROOT } from './support/scenarios.ts';

describe('Kernel.clone', () => {
  it('a clone continues exactly like the original, and does not disturb it', () => {
    const s = load(join(ROOT, 'test/scenarios/examples/scenario-format-example.yaml'));
    const cut = 12; // after the conversion to private, before the first INIT_MEM_REGION
    const head = { ...s, steps: s.steps.slice(0, cut) };
    const r = runScenario(head, nodeHost);
    const original = r.kernel;
    const branch = original.clone();
    const full = runScenario(s, nodeHost);
    const rest = full.steps.slice(cut).map((x) => x.op);
    const viaBranch = rest.map((op) => branch.step(op));
    expect(viaBranch.map((o) => [o.ret, o.errno, o.rule.id, o.out.mrtd])).toEqual(
      full.steps.slice(cut).map((x) => [x.outcome.ret, x.outcome.errno, x.outcome.rule.id, x.outcome.out.mrtd]),
    );
    // the original was not advanced by the branch: its first INIT_MEM_REGION still succeeds
    const again = original.step(rest[0]!);
    expect(again.ret).toBe(0n);
  });

  it('shares page contents with its parent copy-on-write: a write on either side stays on that side', () => {
    const text = `format: gmemsim/1
name: written pages, then a clone
kernel: { profile: in-place }
steps:
  - KVM_CREATE_VM: { type: KVM_X86_SW_PROTECTED_VM }
    as: vm
  - KVM_CREATE_GUEST_MEMFD: { fd: vm, size: 0x2000, flags: [GUEST_MEMFD_FLAG_MMAP, GUEST_MEMFD_FLAG_INIT_SHARED] }
    as: g
  - mmap: { fd: g, length: 0x2000, prot: [PROT_READ, PROT_WRITE], flags: [MAP_SHARED] }
    as: map
  - mmap: { length: 0x1000, prot: [PROT_READ, PROT_WRITE], flags: [MAP_PRIVATE, MAP_ANONYMOUS] }
    as: anon
  - store: { addr: map, data: { fill: 0x11, length: 0x2000 } }
  - store: { addr: anon, data: { fill: 0x22, length: 0x1000 } }
`;
    const r = runScenario(loadText('inline.yaml', text), nodeHost);
    const parent = r.kernel;
    const map = r.steps[2]!.outcome.ret;
    const anon = r.steps[3]!.outcome.ret;
    const child = parent.clone();
    const write = (k: typeof parent, addr: bigint, byte: number) =>
      k.step({ op: 'store', addr, data: { kind: 'fill', byte, length: 8n } });
    const first = (k: typeof parent, addr: bigint) => k.step({ op: 'load', addr, length: 1n }).out.bytes![0];
    write(child, map, 0x33);
    write(child, anon, 0x44);
    write(parent, map + 0x1000n, 0x55);
    expect([first(parent, map), first(parent, anon), first(parent, map + 0x1000n)]).toEqual([0x11, 0x22, 0x55]);
    expect([first(child, map), first(child, anon), first(child, map + 0x1000n)]).toEqual([0x33, 0x44, 0x11]);
    // a second clone of the child, written again, leaves the child alone
    const grandchild = child.clone();
    write(grandchild, map, 0x66);
    expect([first(child, map), first(grandchild, map)]).toEqual([0x33, 0x66]);
  });
});
