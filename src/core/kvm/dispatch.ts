/**
 * System-call dispatch: which file each ioctl is valid on (kvm_dev_ioctl, kvm_vm_ioctl,
 * kvm_vcpu_ioctl, kvm_gmem_ioctl) and the default errno of an ioctl a file does not know;
 * the generic file syscalls; `attest`.
 */
import { setMemoryAttributes2 } from '../guest_memfd/attributes2.ts';
import { createGuestMemfd } from '../guest_memfd/create.ts';
import {
  gmemFallocate,
  gmemFstat,
  gmemPut,
  gmemReadWrite,
  gmemTruncate,
  vfsFallocateChecks,
} from '../guest_memfd/fops.ts';
import type { HandlerTable, Kernel } from '../kernel.ts';
import { sysLoad, sysMadvise, sysMmap, sysMunmap, sysPin, sysStore, sysUnpin } from '../mm/syscalls.ts';
import type { Op } from '../ops.ts';
import { fail, type Outcome, ok } from '../outcome.ts';
import { cite, defineRules } from '../rule.ts';
import type { FileObject, Vcpu, Vm } from '../state.ts';
import { KVM_API_VERSION, SevCmd, VmType } from '../uapi.ts';
import { setMemoryAttributes } from './attributes.ts';
import { setUserMemoryRegion } from './memslot.ts';
import { guestAccept, guestAccess, guestMapGpa, kvmRunGuest } from './run.ts';
import { checkExtension, createVcpu, createVm, enableCap, kvmRun, preFaultMemory, setCpuid2 } from './vm.ts';

export const R = defineRules('fd', 'syscall', {
  badFd: {
    op: 'any fd',
    errno: 'EBADF',
    reason: 'not an open file descriptor',
    cite: cite.linux('fs/file.c', 'fdget'),
  },
  apiVersion: {
    op: 'KVM_GET_API_VERSION',
    reason: 'the KVM API version, 12 since Linux 2.6.22',
    cite: cite.kvm('kvm_dev_ioctl'),
  },
  apiVersionArg: {
    op: 'KVM_GET_API_VERSION',
    errno: 'EINVAL',
    reason: 'KVM_GET_API_VERSION takes no argument: a non-zero one is refused',
    cite: cite.kvm('kvm_dev_ioctl'),
  },
  vmDead: {
    op: 'VM and vCPU ioctls',
    errno: 'EIO',
    reason: 'the VM is dead (a KVM_BUG_ON fired): VM and vCPU ioctls fail',
    cite: cite.kvm('kvm_vm_ioctl'),
  },
  vcpuMemEncNotTd: {
    op: 'KVM_MEMORY_ENCRYPT_OP',
    errno: 'EINVAL',
    reason: 'a vCPU-scope KVM_MEMORY_ENCRYPT_OP on a vCPU that is not a TD vCPU (Intel host with TDX built in)',
    cite: cite.linux('arch/x86/kvm/vmx/main.c', 'vt_vcpu_mem_enc_unlocked_ioctl'),
  },
  vmIoctlUnknown: {
    op: 'ioctl (default)',
    errno: 'ENOTTY',
    reason: 'the VM fd does not know this ioctl (x86 kvm_arch_vm_ioctl default)',
    cite: cite.x86('kvm_arch_vm_ioctl'),
  },
  vcpuIoctlUnknown: {
    op: 'ioctl (default)',
    errno: 'EINVAL',
    reason: 'the vCPU fd does not know this ioctl (x86 kvm_arch_vcpu_ioctl default)',
    cite: cite.x86('kvm_arch_vcpu_ioctl'),
  },
  devIoctlUnknown: {
    op: 'ioctl (default)',
    errno: 'EINVAL',
    reason: '/dev/kvm does not know this ioctl (kvm_arch_dev_ioctl default)',
    cite: cite.x86('kvm_arch_dev_ioctl'),
  },
  fileIoctlUnknown: {
    op: 'ioctl (default)',
    errno: 'ENOTTY',
    reason: 'this file has no such ioctl',
    cite: cite.linux('fs/ioctl.c', 'vfs_ioctl'),
  },
  efault: {
    op: 'ioctl (struct)',
    errno: 'EFAULT',
    reason: "the ioctl's struct cannot be copied from userspace (copy_from_user fails)",
    cite: cite.kvm('kvm_vm_ioctl'),
  },
  vcpuMemEncNoHook: {
    op: 'KVM_MEMORY_ENCRYPT_OP',
    errno: 'ENOTTY',
    reason:
      'a vCPU-scope KVM_MEMORY_ENCRYPT_OP on a host whose vendor module has no vCPU hook (AMD): kvm_arch_vcpu_ioctl answers ENOTTY',
    cite: cite.x86('kvm_arch_vcpu_ioctl'),
  },
  init2NotSevVm: {
    op: 'KVM_SEV_INIT2',
    errno: 'EINVAL',
    reason: 'KVM_SEV_INIT2 on a VM that is not KVM_X86_SEV_VM, SEV_ES_VM or SNP_VM (an AMD host with SEV)',
    cite: cite.kxSev('sev_guest_init2'),
  },
  noMemEncOp: {
    op: 'KVM_MEMORY_ENCRYPT_OP',
    errno: 'ENOTTY',
    reason: 'KVM_MEMORY_ENCRYPT_OP on a VM that is neither TDX nor SEV',
    cite: cite.x86('kvm_arch_vm_ioctl'),
  },
  fileNoRw: {
    op: 'read/write/pread/pwrite',
    errno: 'EINVAL',
    reason: 'this file has no read/write operations',
    cite: cite.linux('fs/read_write.c', 'vfs_read'),
  },
  fileNoFallocate: {
    op: 'fallocate',
    errno: 'ENODEV',
    reason: 'fallocate on a file whose inode is neither a regular file nor a block device (an anonymous-inode KVM fd)',
    cite: cite.linux('fs/open.c', 'vfs_fallocate'),
  },
  fileNoTruncate: {
    op: 'ftruncate',
    errno: 'EINVAL',
    reason: 'ftruncate of a file that is not a regular file',
    cite: cite.linux('fs/open.c', 'do_sys_ftruncate'),
  },
  fstat: { op: 'fstat', reason: 'file status', cite: cite.linux('fs/stat.c', 'vfs_fstat') },
  closed: {
    op: 'close',
    reason: 'descriptor closed (the file lives while references remain)',
    cite: cite.linux('fs/open.c', 'close_fd'),
  },
  resetSet: {
    op: 'set_vcpu_reset',
    reason:
      "the VMM's reset register state of the vCPU (KVM_SET_SREGS/REGS/FPU/XCRS), which SNP_LAUNCH_FINISH syncs into its VMSA",
    cite: cite.linux('arch/x86/kvm/svm/sev.c', 'sev_es_sync_vmsa'),
  },
  otherMm: {
    op: 'VM and vCPU ioctls',
    errno: 'EIO',
    reason:
      'the calling process is not the one that created the VM (kvm->mm != current->mm), e.g. a forked child (the first check of kvm_vm_ioctl; a dead VM gets -EIO there too)',
    cite: cite.kvm('kvm_vm_ioctl'),
  },
  forked: {
    op: 'fork',
    reason: "a child process with a copy of the parent's mappings; a MAP_SHARED guest_memfd mapping is the same file",
    cite: cite.linux('kernel/fork.c', 'dup_mmap'),
    confidence: 'inferred',
  },
  attestNone: {
    op: 'attest',
    errno: 'EINVAL',
    reason: 'only a TDX or SEV-SNP VM has a launch measurement',
    cite: cite.linux('arch/x86/kvm/x86.c', 'kvm_arch_init_vm'),
    confidence: 'inferred',
  },
});

type Target = { vm: Vm } | { vcpu: Vcpu } | { kvm: true } | { out: Outcome };

/** Resolve an ioctl's fd to the object it must be issued on. */
function target(k: Kernel, fd: bigint, allowed: ('kvm' | 'vm' | 'vcpu')[]): Target {
  const f = k.file(fd);
  if (!f) return { out: fail(R.badFd) };
  const unknown = (x: FileObject): Outcome =>
    fail(
      x.kind === 'vm'
        ? R.vmIoctlUnknown
        : x.kind === 'vcpu'
          ? R.vcpuIoctlUnknown
          : x.kind === 'kvm'
            ? R.devIoctlUnknown
            : R.fileIoctlUnknown,
    );
  if ((f.kind === 'vm' || f.kind === 'vcpu') && (f.kind === 'vm' ? f.vm : f.vcpu.vm).ownerProc !== k.current)
    return { out: fail(R.otherMm) };
  if (f.kind === 'vm' && allowed.includes('vm')) return f.vm.bugged ? { out: fail(R.vmDead) } : { vm: f.vm };
  if (f.kind === 'vcpu' && allowed.includes('vcpu'))
    return f.vcpu.vm.bugged ? { out: fail(R.vmDead) } : { vcpu: f.vcpu };
  if (f.kind === 'kvm' && allowed.includes('kvm')) return { kvm: true };
  if ((f.kind === 'vm' || f.kind === 'vcpu') && (f.kind === 'vm' ? f.vm : f.vcpu.vm).bugged)
    return { out: fail(R.vmDead) };
  return { out: unknown(f) };
}

/** a VM ioctl; `struct` ioctls copy their argument first (inject efault → EFAULT) */
function onVm(k: Kernel, fd: bigint, fn: (vm: Vm) => Outcome, struct = true): Outcome {
  const t = target(k, fd, ['vm']);
  if (!('vm' in t)) return 'out' in t ? t.out : fail(R.devIoctlUnknown);
  if (struct && k.inject.efault) return fail(R.efault);
  return fn(t.vm);
}

function onVcpu(k: Kernel, fd: bigint, fn: (vcpu: Vcpu) => Outcome, struct = true): Outcome {
  const t = target(k, fd, ['vcpu']);
  if (!('vcpu' in t)) return 'out' in t ? t.out : fail(R.devIoctlUnknown);
  if (struct && k.inject.efault) return fail(R.efault);
  return fn(t.vcpu);
}

function memEncOp(k: Kernel, op: Extract<Op, { op: 'KVM_MEMORY_ENCRYPT_OP' }>): Outcome {
  const t = target(k, op.fd, ['vm', 'vcpu']);
  if ('out' in t) return t.out;
  if ('kvm' in t) return fail(R.devIoctlUnknown);
  const vm = 'vm' in t ? t.vm : t.vcpu.vm;
  const vcpu = 'vcpu' in t ? t.vcpu : null;
  const arch = k.arch(vm);
  if (!arch) {
    // the vCPU hook is kvm_intel's (vt_vcpu_mem_enc_unlocked_ioctl); elsewhere there is none
    if (vcpu) return fail(k.host.vendor === 'amd' ? R.vcpuMemEncNoHook : R.vcpuMemEncNotTd);
    // an AMD host with SEV sends every VM's command to sev_mem_enc_ioctl: INIT2 on a VM that is
    // not an SEV type is refused by sev_guest_init2 (selftest sev_init2_tests)
    const sev = (k.host.vmTypes >> VmType.KVM_X86_SEV_VM) & 1;
    if (k.host.vendor === 'amd' && sev && op.id === BigInt(SevCmd.KVM_SEV_INIT2)) return fail(R.init2NotSevVm);
    return fail(R.noMemEncOp);
  }
  return arch.memEncOp(k, op, vm, vcpu);
}

function fileOp(
  k: Kernel,
  fd: bigint,
  gmem: (f: Extract<FileObject, { kind: 'gmem' }>) => Outcome,
  other: () => Outcome,
): Outcome {
  const f = k.file(fd);
  if (!f) return fail(R.badFd);
  return f.kind === 'gmem' ? gmem(f) : other();
}

export const handlers: HandlerTable = {
  KVM_CREATE_VM: (k, op) => {
    const t = target(k, op.fd, ['kvm']);
    return 'kvm' in t ? createVm(k, op) : 'out' in t ? t.out : fail(R.vmIoctlUnknown);
  },
  KVM_GET_API_VERSION: (k, op) => {
    const t = target(k, op.fd, ['kvm']);
    if ('out' in t) return t.out;
    return op.arg !== 0n ? fail(R.apiVersionArg) : ok(R.apiVersion, KVM_API_VERSION);
  },
  KVM_CHECK_EXTENSION: (k, op) => {
    const t = target(k, op.fd, ['kvm', 'vm']);
    if ('out' in t) return t.out;
    return checkExtension(k, 'vm' in t ? t.vm : null, op);
  },
  KVM_ENABLE_CAP: (k, op) => onVm(k, op.fd, (vm) => enableCap(k, vm, op)),
  KVM_CREATE_VCPU: (k, op) => onVm(k, op.fd, (vm) => createVcpu(k, vm, op), false),
  KVM_SET_CPUID2: (k, op) => onVcpu(k, op.fd, (v) => setCpuid2(v, op)),
  KVM_CREATE_GUEST_MEMFD: (k, op) => onVm(k, op.fd, (vm) => createGuestMemfd(k, vm, op)),
  KVM_SET_USER_MEMORY_REGION: (k, op) => onVm(k, op.fd, (vm) => setUserMemoryRegion(k, vm, op)),
  KVM_SET_USER_MEMORY_REGION2: (k, op) => onVm(k, op.fd, (vm) => setUserMemoryRegion(k, vm, op)),
  KVM_SET_MEMORY_ATTRIBUTES: (k, op) =>
    // without CONFIG_KVM_GENERIC_MEMORY_ATTRIBUTES kvm_vm_ioctl has no case: the x86 default answers
    k.host.memoryAttributes
      ? onVm(k, op.fd, (vm) => setMemoryAttributes(k, vm, op))
      : onVm(k, op.fd, () => fail(R.vmIoctlUnknown), false),
  KVM_SET_MEMORY_ATTRIBUTES2: (k, op) => {
    const f = k.file(op.fd);
    if (f?.kind === 'gmem') return setMemoryAttributes2(k, f.inode, op, () => (k.inject.efault ? R.efault : null));
    // not a VM or vCPU ioctl: each file's default answer
    const t = target(k, op.fd, []);
    return 'out' in t ? t.out : fail(R.fileIoctlUnknown);
  },
  KVM_MEMORY_ENCRYPT_OP: memEncOp,
  KVM_RUN: (k, op) => onVcpu(k, op.fd, (v) => kvmRunGuest(k, v, op.hypercall_ret, () => kvmRun(k, v)), false),
  guest_access: (k, op) => onVcpu(k, op.fd, (v) => guestAccess(k, v, op), false),
  guest_map_gpa: (k, op) => onVcpu(k, op.fd, (v) => guestMapGpa(k, v, op.gpa, Number(op.npages), op.to !== 0n), false),
  guest_accept: (k, op) => onVcpu(k, op.fd, (v) => guestAccept(k, v, op.gpa, Number(op.npages)), false),
  KVM_PRE_FAULT_MEMORY: (k, op) => onVcpu(k, op.fd, (v) => preFaultMemory(k, v, op)),
  mmap: sysMmap,
  munmap: sysMunmap,
  store: sysStore,
  load: sysLoad,
  pin: sysPin,
  unpin: sysUnpin,
  madvise: sysMadvise,
  read: (k, op) =>
    fileOp(
      k,
      op.fd,
      () => gmemReadWrite(false, 0n),
      () => fail(R.fileNoRw),
    ),
  write: (k, op) =>
    fileOp(
      k,
      op.fd,
      () => gmemReadWrite(false, 0n),
      () => fail(R.fileNoRw),
    ),
  pread: (k, op) =>
    fileOp(
      k,
      op.fd,
      () => gmemReadWrite(true, op.offset),
      () => fail(R.fileNoRw),
    ),
  pwrite: (k, op) =>
    fileOp(
      k,
      op.fd,
      () => gmemReadWrite(true, op.offset),
      () => fail(R.fileNoRw),
    ),
  fallocate: (k, op) =>
    fileOp(
      k,
      op.fd,
      (f) => {
        const vfs = vfsFallocateChecks(op.mode, op.offset, op.len);
        return vfs ? fail(vfs) : gmemFallocate(k, f.inode, op.mode, op.offset, op.len);
      },
      () => {
        const vfs = vfsFallocateChecks(op.mode, op.offset, op.len);
        return fail(vfs ?? R.fileNoFallocate);
      },
    ),
  ftruncate: (k, op) =>
    fileOp(
      k,
      op.fd,
      () => gmemTruncate(),
      () => fail(R.fileNoTruncate),
    ),
  fstat: (k, op) =>
    fileOp(
      k,
      op.fd,
      (f) => gmemFstat(f.inode),
      () => ok(R.fstat, 0, { st_size: 0n, st_blksize: 4096n }),
    ),
  close: (k, op) => {
    const f = k.file(op.fd);
    if (!f) return fail(R.badFd);
    k.removeFd(Number(op.fd));
    if (f.kind === 'gmem') gmemPut(k, f.inode);
    return ok(R.closed);
  },
  fork: (k) => ok(R.forked, 1000 + k.fork()),
  set_vcpu_reset: (k, op) => {
    const f = k.file(op.fd);
    if (!f) return fail(R.badFd);
    if (f.kind !== 'vcpu') return fail(R.vcpuIoctlUnknown);
    const vmm = (['QEMU', 'ec2', 'gce', 'ec2_legacy', 'svsm'] as const)[Number(op.vmm_type)] ?? 'QEMU';
    f.vcpu.reset = { vmm, eip: Number(op.eip & 0xffffffffn) };
    return ok(R.resetSet);
  },
  attest: (k, op) => {
    const f = k.file(op.fd);
    if (!f) return fail(R.badFd);
    if (f.kind !== 'vm') return fail(R.attestNone);
    const arch = k.arch(f.vm);
    return arch?.attest ? arch.attest(k, f.vm) : fail(R.attestNone);
  },
};
