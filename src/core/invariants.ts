/**
 * The security and integrity invariants of kvm-uapi-spec.md §6 as named checks over the model's
 * state. Tests run them after every step; the explorer (and anyone switching a safeguard off)
 * reports the first one that breaks.
 */

import { pageBytes, ZERO_PAGE } from './guest_memfd/folio.ts';
import type { Kernel } from './kernel.ts';
import { runtimeOf } from './kvm/run.ts';
import type { SnpVm } from './snp/state.ts';
import { gmemIndex } from './state.ts';
import type { TdxVm } from './tdx/state.ts';

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
    description: 'no private guest_memfd page is mapped into a host page table, or touched by the host',
    check(k) {
      for (const a of k.hostAccessed)
        if (!k.gmemIndexShared(a.inode, a.index))
          return `the host touched private guest_memfd ${a.inode.id} index ${a.index}`;
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
            const index = gmemIndex(slot, gfn);
            if (!inode.allocated.has(index)) return `TD gfn ${gfn} mapped to a freed guest_memfd page`;
            if (!k.isPrivateGfn(vm, gfn)) return `TD gfn ${gfn} mapped private but the tracker says shared`;
          }
        }
      }
      return null;
    },
  },
];

/** per-launch integrity audits kept by the TDX module and the PSP */
function audits(k: Kernel): { kind: string; vm: number; a: Record<string, number> }[] {
  const out: { kind: string; vm: number; a: Record<string, number> }[] = [];
  for (const vm of k.vms) {
    if (vm.arch?.kind === 'tdx') out.push({ kind: 'TD', vm: vm.id, a: (vm.arch as TdxVm).module.audit });
    if (vm.arch?.kind === 'snp') out.push({ kind: 'SNP guest', vm: vm.id, a: (vm.arch as SnpVm).psp.audit_ });
  }
  return out;
}

invariants.push(
  {
    name: 'no-pinned-private',
    item: 1,
    description: 'no pinned (DMA-reachable) guest_memfd page is private',
    check(k) {
      for (const inode of k.inodes)
        for (const [index, n] of inode.pins)
          if (n > 0 && inode.allocated.has(index) && !k.gmemIndexShared(inode, index))
            return `guest_memfd ${inode.id} index ${index} is private while pinned by the host`;
      return null;
    },
  },
  {
    name: 'at-most-one-add',
    item: 4,
    description: 'a private GPA is added (measured) at most once while it is mapped',
    check(k) {
      for (const x of audits(k)) if ((x.a.doubleAdds ?? 0) > 0) return `${x.kind} ${x.vm}: a page was added twice`;
      return null;
    },
  },
  {
    name: 'measured-equals-guest',
    item: 5,
    description: 'the bytes measured into an added page are the bytes the guest has',
    check(k) {
      for (const vm of k.vms) {
        if (vm.arch?.kind !== 'tdx') continue;
        for (const [gfn, bytes] of (vm.arch as TdxVm).module.added) {
          const slot = vm.slotForGfn(gfn);
          const inode = slot?.gmem?.inode;
          if (!slot || !inode) continue;
          const now = pageBytes(inode, gmemIndex(slot, gfn));
          if (now !== bytes && !sameBytes(now, bytes))
            return `TD gfn ${gfn} no longer holds the bytes that were measured`;
        }
        // pages added as zeros: still uptodate, and no written page among them holds anything else
        for (const [s, e] of (vm.arch as TdxVm).module.addedZero.runs()) {
          for (const slot of vm.memslots) {
            const inode = slot.gmem?.inode;
            const lo = Math.max(s, slot.baseGfn);
            const hi = Math.min(e, slot.baseGfn + slot.npages);
            if (!inode || lo >= hi) continue;
            const i0 = gmemIndex(slot, lo);
            const i1 = i0 + (hi - lo);
            const missing = inode.uptodate.firstMissing(i0, i1);
            const bad =
              missing >= 0
                ? missing
                : [...inode.content].find(([i, b]) => i >= i0 && i < i1 && !sameBytes(b, ZERO_PAGE))?.[0];
            if (bad !== undefined)
              return `TD gfn ${bad - slot.gmem!.pgoff + slot.baseGfn} no longer holds the bytes that were measured`;
          }
        }
      }
      return null;
    },
  },
  {
    name: 'no-host-data-to-guest',
    item: 6,
    description: 'no page the host never initialized (stale host data) is added to a guest',
    check(k) {
      for (const x of audits(k))
        if ((x.a.staleAdds ?? 0) > 0)
          return `${x.kind} ${x.vm}: a never-cleared page was added: host data reached the guest`;
      return null;
    },
  },
  {
    name: 'nothing-added-after-finalize',
    item: 3,
    description: 'no page is added or measured after the launch is sealed',
    check(k) {
      for (const x of audits(k))
        if ((x.a.addsAfterFinalize ?? x.a.addsAfterFinish ?? 0) > 0)
          return `${x.kind} ${x.vm}: a page was added after the launch was sealed`;
      return null;
    },
  },
);

invariants.push(
  {
    name: 'converted-contents-stay-private',
    item: 11,
    description:
      "what the guest wrote to a private page never reaches the host after the page converts to shared, except where the guest's contents are preserved by design (KVM_X86_SW_PROTECTED_VM in place)",
    check(k) {
      for (const inode of k.inodes) {
        if (inode.guestWritten.runCount === 0) continue;
        const rt = runtimeOf(k, inode.vm);
        if (!rt || rt.preservesContents) continue;
        for (const [s, e] of inode.guestWritten.runs())
          for (let i = s; i < e; i++)
            if (k.gmemIndexShared(inode, i) && inode.allocated.has(i))
              return `guest_memfd ${inode.id} index ${i} is shared and still holds what the guest wrote privately`;
      }
      return null;
    },
  },
  {
    name: 'accepted-stays-accepted',
    item: 12,
    description:
      'a page the guest accepted is never silently replaced: an SNP page Validated in the RMP is assigned to the guest (a new page at its GPA must be validated again)',
    check(k) {
      for (const vm of k.vms) {
        if (vm.arch?.kind !== 'snp') continue;
        const snp = vm.arch as SnpVm;
        for (const [id, v] of snp.validated) {
          const rmp = snp.rmp.get(id);
          for (const [s, e] of v.runs())
            for (let i = s; i < e; i++)
              if (!rmp?.has(i)) return `SNP guest ${vm.id}: guest_memfd ${id} index ${i} is Validated but not assigned`;
        }
      }
      return null;
    },
  },
);

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export function checkInvariants(k: Kernel): Violation[] {
  const out: Violation[] = [];
  for (const inv of invariants) {
    const d = inv.check(k);
    if (d) out.push({ invariant: inv.name, detail: d });
  }
  return out;
}
