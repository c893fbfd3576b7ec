/**
 * KVM_SET_MEMORY_ATTRIBUTES2 on a guest_memfd fd ([SER] in-place conversion): kvm_gmem_ioctl,
 * kvm_gmem_set_attributes, __kvm_gmem_set_attributes. No content modes: flags must be 0, and a
 * conversion never rewrites page contents.
 */
import type { Kernel } from '../kernel.ts';
import type { Op } from '../ops.ts';
import { fail, type Outcome, ok } from '../outcome.ts';
import { cite, defineRules, type Rule } from '../rule.ts';
import type { GmemInode } from '../state.ts';
import { KVM_MEMORY_ATTRIBUTE_PRIVATE } from '../uapi.ts';

export const R = defineRules('gmem.attr2', 'KVM_SET_MEMORY_ATTRIBUTES2', {
  notSupported: {
    errno: 'ENOTTY',
    reason:
      'guest_memfd has no KVM_SET_MEMORY_ATTRIBUTES2 without in-place conversion (gmem_in_place_conversion off, or a kernel without the series)',
    cite: cite.serGmem('kvm_gmem_ioctl'),
  },
  flags: {
    errno: 'EINVAL',
    reason: 'flags must be 0: no conversion flags exist (the RFC content modes ZERO/PRESERVE were dropped)',
    cite: cite.serGmem('kvm_gmem_set_attributes'),
  },
  reserved: { errno: 'EINVAL', reason: 'reserved fields must be 0', cite: cite.serGmem('kvm_gmem_set_attributes') },
  noPrivateMem: {
    errno: 'EINVAL',
    reason: 'the owning VM has no private memory (DEFAULT, SEV, SEV-ES)',
    cite: cite.serGmem('kvm_gmem_set_attributes'),
  },
  attributes: {
    errno: 'EINVAL',
    reason: 'attributes other than KVM_MEMORY_ATTRIBUTE_PRIVATE',
    cite: cite.serGmem('kvm_gmem_set_attributes'),
  },
  range: { errno: 'EINVAL', reason: 'size is 0 or offset + size wraps', cite: cite.serGmem('kvm_gmem_set_attributes') },
  align: {
    errno: 'EINVAL',
    reason: 'offset or size not page-aligned',
    cite: cite.serGmem('kvm_gmem_set_attributes'),
  },
  bounds: {
    errno: 'EINVAL',
    reason: 'range extends beyond the guest_memfd size',
    cite: cite.serGmem('kvm_gmem_set_attributes'),
  },
  unchanged: {
    reason: 'every index already has these attributes: nothing to do (no unmap, no refcount check)',
    cite: cite.serGmem('__kvm_gmem_set_attributes'),
  },
  busy: {
    errno: 'EAGAIN',
    reason: 'a page in the range is pinned or otherwise referenced; error_offset names it, no attribute changed',
    cite: cite.serGmem('kvm_gmem_has_outstanding_references'),
  },
  set: {
    reason:
      'attributes stored; host mappings (to private) or KVM private mappings (to shared) removed; contents untouched',
    cite: cite.serGmem('__kvm_gmem_set_attributes'),
  },
});

type Attr2Op = Extract<Op, { op: 'KVM_SET_MEMORY_ATTRIBUTES2' }>;

export function setMemoryAttributes2(k: Kernel, inode: GmemInode, op: Attr2Op, copyIn: () => Rule | null): Outcome {
  if (!k.inPlace) return fail(R.notSupported);
  const fault = copyIn();
  if (fault) return fail(fault);
  if (op.flags !== 0n) return fail(R.flags);
  if (op.reserved.some((r) => r !== 0n)) return fail(R.reserved);
  if (!inode.vm.hasPrivateMem) return fail(R.noPrivateMem);
  if ((op.attributes & ~BigInt(KVM_MEMORY_ATTRIBUTE_PRIVATE)) !== 0n) return fail(R.attributes);
  if (op.size === 0n || op.offset + op.size > 0xffffffffffffffffn) return fail(R.range);
  if (op.offset % 4096n !== 0n || op.size % 4096n !== 0n) return fail(R.align);
  if (op.offset >= inode.sizeBytes || op.offset + op.size > inode.sizeBytes) return fail(R.bounds);
  const start = Number(op.offset / 4096n);
  const end = start + Number(op.size / 4096n);
  const attrs = Number(op.attributes);
  if (inode.attrs.every(start, end, (v) => v === attrs)) return ok(R.unchanged);
  const toPrivate = attrs === KVM_MEMORY_ATTRIBUTE_PRIVATE;
  if (toPrivate) {
    // unmap from every host page table, then refuse while any present page has an extra reference
    if (k.safeguard('unmap-on-private')) inode.hostMapped.delete(start, end);
    if (k.safeguard('pin-check')) {
      let first = -1;
      for (const [idx, n] of inode.pins) {
        if (n > 0 && idx >= start && idx < end && inode.allocated.has(idx) && (first < 0 || idx < first)) first = idx;
      }
      if (first >= 0) return fail(R.busy, { error_offset: BigInt(first) * 4096n });
    }
  }
  k.zapGmemIndices(inode, start, end, { shared: toPrivate, private: !toPrivate });
  if (!toPrivate) k.arch(inode.vm)?.makeShared?.(k, inode, start, end);
  inode.attrs.set(start, end, attrs);
  return ok(R.set);
}
