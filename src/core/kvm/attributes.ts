/**
 * KVM_SET_MEMORY_ATTRIBUTES (VM ioctl): per-VM ("out-of-place") private/shared tracking by gfn,
 * kvm_vm_ioctl_set_mem_attributes. No memslot is required; page contents are not touched.
 */
import type { Kernel } from '../kernel.ts';
import type { Op } from '../ops.ts';
import { fail, type Outcome, ok } from '../outcome.ts';
import { cite, defineRules } from '../rule.ts';
import type { Vm } from '../state.ts';
import { KVM_MEMORY_ATTRIBUTE_PRIVATE } from '../uapi.ts';

export const R = defineRules('attr', 'KVM_SET_MEMORY_ATTRIBUTES', {
  flags: { errno: 'EINVAL', reason: 'flags must be 0', cite: cite.kvm('kvm_vm_ioctl_set_mem_attributes') },
  unsupported: {
    errno: 'EINVAL',
    reason:
      'attributes not supported by this VM (PRIVATE needs a private-memory VM, and none with in-place conversion)',
    cite: cite.kvm('kvm_vm_ioctl_set_mem_attributes'),
  },
  range: {
    errno: 'EINVAL',
    reason: 'size is 0 or address + size wraps',
    cite: cite.kvm('kvm_vm_ioctl_set_mem_attributes'),
  },
  align: {
    errno: 'EINVAL',
    reason: 'address or size not page-aligned',
    cite: cite.kvm('kvm_vm_ioctl_set_mem_attributes'),
  },
  unchanged: {
    reason: 'every gfn in the range already has these attributes: nothing to do',
    cite: cite.kvm('kvm_vm_set_mem_attributes'),
  },
  set: {
    reason: 'attributes stored; KVM mappings of the other kind zapped in the range',
    cite: cite.kvm('kvm_vm_set_mem_attributes'),
  },
});

/** kvm_supported_mem_attributes: PRIVATE for private-memory VMs; [SER] 0 with in-place conversion */
export function supportedVmAttributes(k: Kernel, vm: Vm | null): number {
  if (k.inPlace) return 0;
  if (vm === null || vm.hasPrivateMem) return KVM_MEMORY_ATTRIBUTE_PRIVATE;
  return 0;
}

export function setMemoryAttributes(k: Kernel, vm: Vm, op: Extract<Op, { op: 'KVM_SET_MEMORY_ATTRIBUTES' }>): Outcome {
  if (op.flags !== 0n) return fail(R.flags);
  if ((op.attributes & ~BigInt(supportedVmAttributes(k, vm))) !== 0n) return fail(R.unsupported);
  if (op.size === 0n || op.address + op.size > 0xffffffffffffffffn) return fail(R.range);
  if (op.address % 4096n !== 0n || op.size % 4096n !== 0n) return fail(R.align);
  const start = Number(op.address / 4096n);
  const end = start + Number(op.size / 4096n);
  const attrs = Number(op.attributes);
  if (vm.memAttrs.every(start, end, (v) => (v ?? 0) === attrs)) return ok(R.unchanged);
  const toPrivate = (attrs & KVM_MEMORY_ATTRIBUTE_PRIVATE) !== 0;
  k.zapGfns(vm, start, end, { shared: toPrivate, private: !toPrivate });
  vm.memAttrs.set(start, end, attrs === 0 ? undefined : attrs);
  return ok(R.set);
}
