/**
 * The security and integrity invariants of kvm-uapi-spec.md §6 as named checks over the model's
 * state. Tests run them after every step; the explorer (and anyone switching a safeguard off)
 * reports the first one that breaks.
 */
import type { Kernel } from './kernel.ts';
import type { TdxVm } from './tdx/state.ts';
import { KVM_MEMORY_ATTRIBUTE_PRIVATE } from './uapi.ts';

export interface Violation {
  invariant: string;
  detail: string;
}

export interface Invariant {
  readonly name: string;
  /** kvm-uapi-spec.md §6 item */
  readonly item: number;
  readonly description: string;
  check(k: Kernel): string | null;
}

export const invariants: Invariant[] = [
  {
    name: 'host-never-maps-private',
    item: 1,
    description: 'no guest_memfd page that is private is mapped into a host page table',
    check(k) {
      for (const inode of k.inodes) {
        for (const [s, e] of inode.hostMapped.runs()) {
          for (let i = s; i < e; i++) {
            if (!k.gmemIndexShared(inode, i)) return `guest_memfd ${inode.id} index ${i} is private but host-mapped`;
          }
        }
      }
      return null;
    },
  },
  {
    name: 'bindings-exclusive',
    item: 9,
    description: 'a guest_memfd index is bound to at most one memslot, of its own VM, and the slot points back',
    check(k) {
      for (const inode of k.inodes) {
        const bs = [...inode.bindings].sort((a, b) => a.start - b.start);
        for (let i = 0; i < bs.length; i++) {
          const b = bs[i]!;
          if (i > 0 && bs[i - 1]!.end > b.start) return `guest_memfd ${inode.id}: bindings overlap at index ${b.start}`;
          if (b.slot.vm !== inode.vm) return `guest_memfd ${inode.id} bound to a memslot of another VM`;
          if (b.slot.gmem?.inode !== inode)
            return `memslot ${b.slot.id} does not point back at guest_memfd ${inode.id}`;
          if (!b.slot.vm.memslots.includes(b.slot)) return `guest_memfd ${inode.id} bound to a deleted memslot`;
          if (b.end > inode.npages) return `guest_memfd ${inode.id}: binding beyond the file size`;
        }
      }
      return null;
    },
  },
  {
    name: 'private-mappings-are-backed',
    item: 10,
    description:
      'every private KVM mapping (S-EPT entry) is of a private gfn whose memslot is bound to a live, allocated guest_memfd page',
    check(k) {
      for (const vm of k.vms) {
        if (vm.arch?.kind !== 'tdx') continue;
        const td = vm.arch as TdxVm;
        for (const [s, e] of td.module.sept.runs()) {
          for (let gfn = s; gfn < e; gfn++) {
            const slot = vm.slotForGfn(gfn);
            const inode = slot?.gmem?.inode;
            if (!slot || !inode) return `TD gfn ${gfn} mapped without a guest_memfd memslot`;
            const index = gfn - slot.baseGfn + slot.gmem!.pgoff;
            if (!inode.allocated.has(index)) return `TD gfn ${gfn} mapped to a freed guest_memfd page`;
            if (!k.isPrivateGfn(vm, gfn)) return `TD gfn ${gfn} mapped private but the tracker says shared`;
          }
        }
      }
      return null;
    },
  },
];

export function checkInvariants(k: Kernel): Violation[] {
  const out: Violation[] = [];
  for (const inv of invariants) {
    const d = inv.check(k);
    if (d) out.push({ invariant: inv.name, detail: d });
  }
  return out;
}

export { KVM_MEMORY_ATTRIBUTE_PRIVATE };
