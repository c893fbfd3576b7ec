/**
 * SEV ioctls on an SNP VM (KVM_MEMORY_ENCRYPT_OP with struct kvm_sev_cmd): sev_mem_enc_ioctl,
 * KVM_SEV_INIT2, SNP_LAUNCH_START, SNP_LAUNCH_UPDATE (with sev_gmem_post_populate and the PSP) and
 * SNP_LAUNCH_FINISH (VMSAs of every vCPU, then finish). kvm-uapi-spec.md §3.10.
 */
import { isBorrowed, newPage, pageBytes, setPage, ZERO_PAGE } from '../guest_memfd/folio.ts';
import { kvmGmemPopulate, type PopulatePage } from '../guest_memfd/populate.ts';
import type { Kernel } from '../kernel.ts';
import { copyFromUser, gup, readRef, writeRef } from '../mm/syscalls.ts';
import { type Op, type SubCmdStruct, structOf } from '../ops.ts';
import { fail, type KResult, kerr, kok, type Outcome, ok } from '../outcome.ts';
import { cite, defineRules, type Rule } from '../rule.ts';
import type { Vm } from '../state.ts';
import { SevCmd } from '../uapi.ts';
import { correctCpuidPage } from './cpuid.ts';
import { FwError, fwErrorByName, INITIAL_VMSA_GPA, SNP_PAGE_TYPE } from './psp.ts';
import {
  measuredOf,
  rmpOf,
  type SnpVm,
  SUPPORTED_VMSA_FEATURES,
  SVM_SEV_FEAT_SNP_ACTIVE,
  snpOf,
  validatedOf,
} from './state.ts';
import { BSP_RESET_EIP, buildVmsa } from './vmsa.ts';

const OP = 'KVM_MEMORY_ENCRYPT_OP (SEV)';
const sev = (fn: string) => cite.kxSev(fn);

export const R = defineRules('snp', OP, {
  legacyCmd: {
    errno: 'EPERM',
    reason: 'legacy SEV commands (id < 100) are refused on an SNP guest',
    cite: sev('sev_mem_enc_ioctl'),
  },
  unknownCmd: { errno: 'EINVAL', reason: 'unknown SEV sub-command', cite: sev('sev_mem_enc_ioctl') },
  legacyInit: {
    errno: 'EINVAL',
    reason: 'KVM_SEV_INIT / KVM_SEV_ES_INIT are for KVM_X86_DEFAULT_VM; an SNP VM is initialized with KVM_SEV_INIT2',
    cite: sev('sev_guest_init'),
  },
  legacyNotSev: {
    errno: 'ENOTTY',
    reason: 'a legacy SEV command on a VM that is not an SEV guest (no KVM_SEV_INIT2 yet)',
    cite: sev('sev_mem_enc_ioctl'),
  },
  reqCertsState: {
    op: 'KVM_SEV_SNP_ENABLE_REQ_CERTS',
    errno: 'EINVAL',
    reason: 'certificate requests can be enabled only on an SNP guest before vCPUs exist',
    cite: sev('snp_enable_certs'),
  },
  reqCerts: {
    op: 'KVM_SEV_SNP_ENABLE_REQ_CERTS',
    reason: 'guest certificate requests are forwarded to userspace',
    cite: sev('snp_enable_certs'),
  },
  efault: { errno: 'EFAULT', reason: 'the struct at cmd.data cannot be read', cite: sev('sev_mem_enc_ioctl') },
  init2Flags: {
    op: 'KVM_SEV_INIT2',
    errno: 'EINVAL',
    reason: 'kvm_sev_init.flags must be 0',
    cite: sev('sev_guest_init2'),
  },
  init2Ghcb: {
    op: 'KVM_SEV_INIT2',
    errno: 'EINVAL',
    reason: 'ghcb_version above 2, or 1 for an SNP VM (which needs GHCB v2)',
    cite: sev('sev_guest_init2'),
  },
  init2Vcpus: {
    op: 'KVM_SEV_INIT2',
    errno: 'EINVAL',
    reason: 'KVM_SEV_INIT2 after vCPUs were created',
    cite: sev('sev_guest_init2'),
  },
  init2Features: {
    op: 'KVM_SEV_INIT2',
    errno: 'EINVAL',
    reason: 'vmsa_features the host does not offer (DebugSwap; Secure TSC on SNP VMs)',
    cite: sev('sev_guest_init2'),
  },
  init2: {
    op: 'KVM_SEV_INIT2',
    reason: 'the VM is an active SNP guest (sev_snp_guest())',
    cite: sev('__sev_guest_init'),
  },
  startNotSnp: {
    op: 'KVM_SEV_SNP_LAUNCH_START',
    errno: 'ENOTTY',
    reason: 'SNP_LAUNCH_START on a VM that is not an SNP guest (no KVM_SEV_INIT2)',
    cite: sev('snp_launch_start'),
  },
  startTwice: {
    op: 'KVM_SEV_SNP_LAUNCH_START',
    errno: 'EINVAL',
    reason: 'SNP_LAUNCH_START again: the launch context exists',
    cite: sev('snp_launch_start'),
  },
  startFlags: {
    op: 'KVM_SEV_SNP_LAUNCH_START',
    errno: 'EINVAL',
    reason: 'flags must be 0',
    cite: sev('snp_launch_start'),
  },
  startPolicy: {
    op: 'KVM_SEV_SNP_LAUNCH_START',
    errno: 'EINVAL',
    reason: 'policy bits KVM does not support',
    cite: sev('snp_launch_start'),
  },
  startMbo: {
    op: 'KVM_SEV_SNP_LAUNCH_START',
    errno: 'EINVAL',
    reason: 'policy bit 17 (reserved, must be one) is clear',
    cite: sev('snp_launch_start'),
  },
  startContext: {
    op: 'KVM_SEV_SNP_LAUNCH_START',
    errno: 'ENOTTY',
    reason:
      'creating the launch context (SNP_GCTX_CREATE through sev_fd) failed, e.g. sev_fd is not /dev/sev: any failure is -ENOTTY',
    cite: sev('snp_launch_start'),
  },
  started: {
    op: 'KVM_SEV_SNP_LAUNCH_START',
    reason: 'launch context created, ASID bound; launch digest = 48 zero bytes',
    cite: sev('snp_launch_start'),
  },
  updateNoContext: {
    op: 'KVM_SEV_SNP_LAUNCH_UPDATE',
    errno: 'EINVAL',
    reason: 'SNP_LAUNCH_UPDATE before KVM_SEV_INIT2 / SNP_LAUNCH_START',
    cite: sev('snp_launch_update'),
  },
  updateArgs: {
    op: 'KVM_SEV_SNP_LAUNCH_UPDATE',
    errno: 'EINVAL',
    reason: 'len is 0 or not page-aligned, flags not 0, or type not NORMAL/ZERO/UNMEASURED/SECRETS/CPUID',
    cite: sev('snp_launch_update'),
  },
  updateUaddr: {
    op: 'KVM_SEV_SNP_LAUNCH_UPDATE',
    errno: 'EINVAL',
    reason: 'uaddr not page-aligned, or 0 ("no source page") for a type that needs a source',
    cite: sev('snp_launch_update'),
    eras: 'B,C,D,D*',
  },
  updateUaddrNoInPlace: {
    op: 'KVM_SEV_SNP_LAUNCH_UPDATE',
    errno: 'EINVAL',
    reason:
      'uaddr 0 ("no source page") needs guest_memfd in-place conversion; it is off: the in-place base refuses !uaddr up front (read), the in-place condition is as the final TDX code decides it (the final SNP code was not found; v8 22/46 refused in sev_gmem_post_populate → EIO)',
    cite: cite.serSev('snp_launch_update'),
    confidence: 'inferred',
    eras: 'D',
  },
  updateNoSlot: {
    op: 'KVM_SEV_SNP_LAUNCH_UPDATE',
    errno: 'EINVAL',
    reason: 'gfn_start is not in a guest_memfd memslot',
    cite: sev('snp_launch_update'),
  },
  updateFirstPage: {
    op: 'KVM_SEV_SNP_LAUNCH_UPDATE',
    errno: 'EIO',
    reason:
      'the first page failed inside kvm_gmem_populate: every such error is reported as -EIO (error = firmware status or 0)',
    cite: sev('snp_launch_update'),
  },
  updatedInPlace: {
    op: 'KVM_SEV_SNP_LAUNCH_UPDATE',
    reason:
      'uaddr 0 with gmem in-place conversion: each page is encrypted in place from its own contents; uaddr is not advanced (v8 22/46; the final SNP code was not found)',
    cite: cite.serSev('sev_gmem_post_populate'),
    confidence: 'inferred',
    eras: 'D,D*',
  },
  updated: {
    op: 'KVM_SEV_SNP_LAUNCH_UPDATE',
    reason: 'pages encrypted and measured; gfn_start, uaddr, len written back advanced (a short count is still 0)',
    cite: sev('snp_launch_update'),
  },
  noSource: {
    op: 'sev_gmem_post_populate',
    errno: 'EINVAL',
    reason:
      'no source page for a type that needs one (WARN): the first check of the callback, before the RMP lookup (through v7.2)',
    cite: {
      ...cite.old('arch/x86/kvm/svm/sev.c', 'sev_gmem_post_populate'),
      lines: {
        from: 2333,
        to: 2334,
        source:
          'sev.c blob 74fb15551e83, hunk @@ -2330,9 of the 2026-06-23 source-0 diff (RMP lookup at 2336); believed v7.1',
        at: '8cd9520d35a6c38db6567e97dd93b1f11f185dc6',
      },
    },
    eras: 'A,B',
  },
  copyFault: {
    op: 'sev_gmem_post_populate',
    errno: 'EFAULT',
    reason: 'copy_from_user of the source page failed',
    cite: cite.old('arch/x86/kvm/svm/sev.c', 'sev_gmem_post_populate'),
    eras: 'A',
  },
  alreadyPrivate: {
    op: 'sev_gmem_post_populate',
    errno: 'EEXIST',
    reason: 'the page is already assigned (private) in the RMP',
    cite: sev('sev_gmem_post_populate'),
  },
  badSevFd: {
    op: 'sev_gmem_post_populate',
    errno: 'EBADF',
    reason: 'sev_fd is not /dev/sev: the firmware command cannot be issued; the page is reclaimed',
    cite: sev('sev_gmem_post_populate'),
  },
  fwError: {
    op: 'sev_gmem_post_populate',
    errno: 'EIO',
    reason:
      'the PSP failed SNP_LAUNCH_UPDATE for the page: reclaimed to shared; a rejected CPUID page is copied back to the source',
    cite: sev('sev_gmem_post_populate'),
  },
  finishNotSnp: {
    op: 'KVM_SEV_SNP_LAUNCH_FINISH',
    errno: 'ENOTTY',
    reason: 'SNP_LAUNCH_FINISH on a VM that is not an SNP guest',
    cite: sev('snp_launch_finish'),
  },
  finishNoContext: {
    op: 'KVM_SEV_SNP_LAUNCH_FINISH',
    errno: 'EINVAL',
    reason: 'SNP_LAUNCH_FINISH before SNP_LAUNCH_START',
    cite: sev('snp_launch_finish'),
  },
  finishFlags: {
    op: 'KVM_SEV_SNP_LAUNCH_FINISH',
    errno: 'EINVAL',
    reason: 'flags must be 0',
    cite: sev('snp_launch_finish'),
  },
  finishBusy: {
    when: { snpFinishBusyOnVcpuCreation: true },
    op: 'KVM_SEV_SNP_LAUNCH_FINISH',
    errno: 'EBUSY',
    reason: 'a vCPU is being created (created_vcpus != online_vcpus): the VMSAs cannot all be synced yet',
    cite: sev('snp_launch_update_vmsa'),
  },
  finishVmsaProtected: {
    op: 'KVM_SEV_SNP_LAUNCH_FINISH',
    errno: 'EINVAL',
    reason: 'a vCPU VMSA is already encrypted (guest_state_protected): the launch was finished before',
    cite: sev('sev_es_sync_vmsa'),
  },
  finishBadSevFd: {
    op: 'KVM_SEV_SNP_LAUNCH_FINISH',
    errno: 'EBADF',
    reason: 'the VMSAs are measured through sev_fd, which is not /dev/sev',
    cite: sev('snp_launch_update_vmsa'),
  },
  finishVmsaFw: {
    op: 'KVM_SEV_SNP_LAUNCH_FINISH',
    errno: 'EIO',
    reason:
      "the PSP refused a vCPU's VMSA (LAUNCH_UPDATE type VMSA): the guest is not in the LAUNCH state (a vCPU created after the launch was finished); the VMSA is reclaimed",
    cite: sev('snp_launch_update_vmsa'),
  },
  finishIdBlockNull: {
    op: 'KVM_SEV_SNP_LAUNCH_FINISH',
    errno: 'EINVAL',
    reason:
      'id_block_en with id_block_uaddr or id_auth_uaddr 0 (psp_copy_user_blob), after the VMSAs were measured and protected',
    cite: sev('snp_launch_finish'),
  },
  finishIdBlockFault: {
    op: 'KVM_SEV_SNP_LAUNCH_FINISH',
    errno: 'EFAULT',
    reason:
      'id_block_en and the 96-byte ID block or 4 KiB ID auth cannot be read (memdup_user), after the VMSAs were measured and protected',
    cite: sev('snp_launch_finish'),
  },
  finishFw: {
    op: 'KVM_SEV_SNP_LAUNCH_FINISH',
    errno: 'EIO',
    reason: 'the PSP refused (the guest is not in the LAUNCH state: already finished)',
    cite: sev('snp_launch_finish'),
  },
  finished: {
    op: 'KVM_SEV_SNP_LAUNCH_FINISH',
    reason: 'every vCPU VMSA measured (LAUNCH_UPDATE type VMSA, vCPU order), then SNP_LAUNCH_FINISH',
    cite: sev('snp_launch_finish'),
  },
  finishedIdBlock: {
    op: 'KVM_SEV_SNP_LAUNCH_FINISH',
    reason:
      "finished with an ID block: the firmware's checks of it (its signature by the ID key, its launch digest and policy against the guest's) are not modelled, taken to pass",
    cite: sev('snp_launch_finish'),
  },
});

type EncOp = Extract<Op, { op: 'KVM_MEMORY_ENCRYPT_OP' }>;

/** SNP_POLICY_MASK_VALID: ABI minor/major, SMT, RSVD_MBO, DEBUG, SINGLE_SOCKET; MIGRATE_MA (18) is always refused */
export const SNP_POLICY_VALID = ((1n << 21n) - 1n) & ~(1n << 18n);
const SNP_POLICY_RSVD_MBO = 1n << 17n;

/** legacy SEV ids that sev_mem_enc_ioctl has no case for (→ -EINVAL) */
const NO_CASE = new Set([10, 14, 19]);

export function sevMemEncOp(k: Kernel, op: EncOp, vm: Vm): Outcome {
  const snp = snpOf(vm);
  const id = op.id;
  // refused before the switch: the kvm_sev_cmd is not copied back (`error` keeps the caller's value)
  if (snp.active && id < 100n) return fail(R.legacyCmd);
  let out: Outcome;
  switch (Number(id)) {
    case SevCmd.KVM_SEV_INIT:
    case SevCmd.KVM_SEV_ES_INIT:
      // the legacy init paths refuse the SNP VM type (they are for KVM_X86_DEFAULT_VM)
      out = fail(R.legacyInit);
      break;
    case SevCmd.KVM_SEV_SNP_ENABLE_REQ_CERTS:
      out = !snp.active || vm.vcpus.length > 0 ? fail(R.reqCertsState) : ok(R.reqCerts);
      break;
    case SevCmd.KVM_SEV_INIT2:
      out = init2(k, vm, snp, structOf(op, 'KVM_SEV_INIT2'));
      break;
    case SevCmd.KVM_SEV_SNP_LAUNCH_START:
      out = launchStart(k, snp, op, structOf(op, 'KVM_SEV_SNP_LAUNCH_START'));
      break;
    case SevCmd.KVM_SEV_SNP_LAUNCH_UPDATE:
      out = launchUpdate(k, vm, snp, structOf(op, 'KVM_SEV_SNP_LAUNCH_UPDATE'), op.sev_fd);
      break;
    case SevCmd.KVM_SEV_SNP_LAUNCH_FINISH:
      out = launchFinish(k, vm, snp, structOf(op, 'KVM_SEV_SNP_LAUNCH_FINISH'), op.sev_fd);
      break;
    default:
      if (id < 100n && !NO_CASE.has(Number(id))) {
        // a legacy SEV command on a VM that is not an SEV guest: its handler says so
        out = fail(R.legacyNotSev);
        break;
      }
      return fail(R.unknownCmd);
  }
  // the kvm_sev_cmd is copied back; `error` is what a firmware command wrote, else the caller's value
  return out;
}

function init2(k: Kernel, vm: Vm, snp: SnpVm, d: SubCmdStruct<'KVM_SEV_INIT2'>): Outcome {
  // order of sev_guest_init2 (docs/notes/kernel-snp.md §2); a second INIT2 on an SNP VM never gets
  // here: id 22 < 100 is refused with -EPERM by sev_mem_enc_ioctl once the VM is an SNP guest
  if (k.inject.efault) return fail(R.efault);
  if (vm.vcpus.length > 0) return fail(R.init2Vcpus);
  if (d.flags !== 0n) return fail(R.init2Flags);
  const features = d.vmsa_features;
  if ((features & ~SUPPORTED_VMSA_FEATURES) !== 0n) return fail(R.init2Features);
  const ghcb = d.ghcb_version;
  if (ghcb > 2n || ghcb === 1n) return fail(R.init2Ghcb);
  snp.active = true;
  snp.sevFeatures = features | SVM_SEV_FEAT_SNP_ACTIVE;
  return ok(R.init2);
}

function launchStart(k: Kernel, snp: SnpVm, op: EncOp, d: SubCmdStruct<'KVM_SEV_SNP_LAUNCH_START'>): Outcome {
  if (!snp.active) return fail(R.startNotSnp);
  if (k.inject.efault) return fail(R.efault);
  if (snp.context) return fail(R.startTwice);
  if (d.flags !== 0n) return fail(R.startFlags);
  const policy = d.policy;
  if ((policy & ~SNP_POLICY_VALID) !== 0n) return fail(R.startPolicy);
  if ((policy & SNP_POLICY_RSVD_MBO) === 0n) return fail(R.startMbo);
  if (k.file(op.sev_fd)?.kind !== 'sev') return fail(R.startContext);
  snp.context = true;
  const seed = k.inject.snp_digest_seed;
  if (seed) snp.psp.ld = Uint8Array.from(seed);
  return ok(R.started, 0, { error: 0n }); // the firmware's LAUNCH_START wrote status 0
}

const VALID_TYPES = new Set<number>([1, 3, 4, 5, 6]);

function launchUpdate(
  k: Kernel,
  vm: Vm,
  snp: SnpVm,
  d: SubCmdStruct<'KVM_SEV_SNP_LAUNCH_UPDATE'>,
  sevFd: bigint,
): Outcome {
  if (!snp.active || !snp.context) return fail(R.updateNoContext);
  if (k.inject.efault) return fail(R.efault);
  let gfn = d.gfn_start;
  let uaddr = d.uaddr;
  let len = d.len;
  const type = Number(d.type);
  const flags = d.flags;
  // len == 0 is refused up front since 5b66e335ead6 (Sept 2025), older than every modelled kernel
  const lenBad = len === 0n || len % 4096n !== 0n;
  if (lenBad || flags !== 0n || !VALID_TYPES.has(type)) return fail(R.updateArgs);
  const rule = k.profile.snpSourceZero;
  const zeroType = type === SNP_PAGE_TYPE.ZERO;
  // the source: ZERO pages never use uaddr; otherwise the era decides what 0 means
  let src: bigint | null = zeroType ? null : uaddr;
  if (!zeroType) {
    if (k.profile.populateGupsSource && uaddr % 4096n !== 0n) return fail(R.updateUaddr);
    if (uaddr === 0n) {
      if (rule === 'einval') return fail(R.updateUaddr);
      if (rule === 'in-place-or-einval' && !k.inPlace) return fail(R.updateUaddrNoInPlace);
      if (rule !== 'user-address') src = null;
    }
  }
  const slot = vm.slotForGfn(Number(gfn));
  if (!slot?.gmem) return fail(R.updateNoSlot);
  const npages = Number(len / 4096n);
  let fwError = 0n;
  const res = kvmGmemPopulate(
    k,
    vm,
    Number(gfn),
    src,
    npages,
    k.profile.mayWritebackSrc && type === SNP_PAGE_TYPE.CPUID,
    (p) => {
      const r = postPopulate(k, vm, snp, p, type, zeroType, sevFd);
      if (!r.ok && r.rule === R.fwError)
        fwError = BigInt(k.inject.snp_fw_error_at_page ? fwErrorCode(k) : FwError.INVALID_GUEST_STATE);
      return r;
    },
  );
  if (res.count === 0 && res.error) {
    // every first-page failure is flattened to -EIO; params are not written back
    return fail(R.updateFirstPage, { error: fwError }, res.error.cause ?? res.error.rule);
  }
  const done = BigInt(res.count);
  gfn += done;
  len -= done * 4096n;
  // [SER] uaddr advances only when a source was given; ZERO never advances it
  if (!zeroType && !(src === null && k.profile.inPlaceSeries)) uaddr += done * 4096n;
  const inPlace = src === null && !zeroType;
  return ok(inPlace ? R.updatedInPlace : R.updated, 0, { data: { gfn_start: gfn, uaddr, len }, pages: res.count });
}

/** the injected firmware failure's status code: INVALID_PARAM where it names none, or SUCCESS */
function fwErrorCode(k: Kernel): number {
  return fwErrorByName(k.inject.snp_fw_error_at_page!.error) || FwError.INVALID_PARAM;
}

/** sev_gmem_post_populate for one page */
function postPopulate(
  k: Kernel,
  _vm: Vm,
  snp: SnpVm,
  p: PopulatePage,
  type: number,
  zeroType: boolean,
  sevFd: bigint,
): KResult<void> {
  const rmp = rmpOf(snp, p.inode);
  const wasAssigned = rmp.has(p.index);
  // through v7.2 the "no source" WARN is the callback's first statement, before the RMP lookup
  // (docs/notes/releases.md §2.5); same -EIO for userspace either way, another deciding rule
  const noSrc = !zeroType && (k.profile.populateGupsSource ? p.srcPage === null : !p.srcVa);
  if (noSrc && k.profile.snpNoSrcBeforeRmp && k.profile.snpSourceZero === 'null-rejected-by-callback')
    return kerr(R.noSource);
  if (wasAssigned && k.safeguard('double-add')) return kerr(R.alreadyPrivate);
  // the bytes that go into the page, and the source page a rejected CPUID table is written back to
  let bytes: Uint8Array | null = null;
  let srcRef = p.srcPage;
  if (!zeroType) {
    if (!k.profile.populateGupsSource) {
      // Era A: the callback copies from the user address itself
      if (p.srcVa === null || p.srcVa === 0n) return kerr(R.noSource);
      const g = gup(k, p.srcVa, false);
      if (!g.ok) return kerr(R.copyFault, g.cause ?? g.rule);
      bytes = readRef(g.value, k.mm);
      srcRef = g.value; // Era A writes a rejected CPUID table back with copy_to_user
    } else if (p.srcPage) bytes = readRef(p.srcPage, k.mm);
    else if (k.profile.snpSourceZero === 'null-rejected-by-callback') return kerr(R.noSource);
    else bytes = pageBytes(p.inode, p.index); // in place: the page's current contents
  }
  // rmp_make_private, then the firmware's SNP_LAUNCH_UPDATE
  rmp.add(p.index);
  validatedOf(snp, p.inode).add(p.index); // SNP_LAUNCH_UPDATE leaves the page validated
  const gpa = BigInt(p.gfn) * 4096n;
  const inj = k.inject.snp_fw_error_at_page;
  if (k.file(sevFd)?.kind !== 'sev') {
    // the firmware command is issued through sev_fd: -EBADF, the page is reclaimed
    rmp.delete(p.index);
    validatedOf(snp, p.inode).delete(p.index);
    return kerr(R.badSevFd);
  }
  const fwFails =
    (inj !== undefined && inj.page === k.stepPages) || (snp.psp.state !== 'LAUNCH' && k.safeguard('finalized-lock'));
  if (fwFails) {
    rmp.delete(p.index); // snp_page_reclaim
    validatedOf(snp, p.inode).delete(p.index);
    if (type === SNP_PAGE_TYPE.CPUID && inj && fwErrorCode(k) === FwError.INVALID_PARAM && srcRef && bytes)
      writeRef(k, srcRef, correctCpuidPage(bytes));
    return kerr(R.fwError);
  }
  const page = zeroType ? ZERO_PAGE : (bytes ?? ZERO_PAGE);
  // the private page: the source's bytes (a shared view of a stored image stays shared: copy-on-write)
  setPage(p.inode, p.index, page === ZERO_PAGE || isBorrowed(page) ? page : newPage(page));
  snp.psp.audit(type, p.inode, p.index, page, wasAssigned);
  snp.psp.launchUpdate(type, gpa, page);
  if (type === SNP_PAGE_TYPE.NORMAL) measuredOf(snp, p.inode).add(p.index);
  return kok(undefined);
}

function launchFinish(
  k: Kernel,
  vm: Vm,
  snp: SnpVm,
  d: SubCmdStruct<'KVM_SEV_SNP_LAUNCH_FINISH'>,
  sevFd: bigint,
): Outcome {
  if (!snp.active) return fail(R.finishNotSnp);
  if (!snp.context) return fail(R.finishNoContext);
  if (k.inject.efault) return fail(R.efault);
  if (d.flags !== 0n) return fail(R.finishFlags);
  // snp_launch_update_vmsa: [KX] not while a vCPU is being created; then each vCPU's VMSA, in vCPU
  // index order: sev_es_sync_vmsa refuses one that is already protected, then the PSP measures it
  // through this command's sev_fd
  if (k.inject.vcpu_creation_in_progress && k.profile.snpFinishBusyOnVcpuCreation) return fail(R.finishBusy);
  for (const vcpu of vm.vcpus) {
    if (vcpu.guestStateProtected) return fail(R.finishVmsaProtected);
    if (k.file(sevFd)?.kind !== 'sev') return fail(R.finishBadSevFd);
    if (snp.psp.state !== 'LAUNCH') return fail(R.finishVmsaFw, { error: BigInt(FwError.INVALID_GUEST_STATE) });
    const reset = vcpu.reset ?? { vmm: 'QEMU', eip: BSP_RESET_EIP };
    const leaf1 = vcpu.cpuid.find((e) => e.function === 1 && e.index === 0);
    const legacy = reset.vmm === 'ec2_legacy';
    const vmsa = buildVmsa({
      eip: reset.eip,
      signature: leaf1?.eax ?? 0,
      sevFeatures: snp.sevFeatures,
      vmm: reset.vmm === 'ec2_legacy' ? 'ec2' : reset.vmm,
      ec2LegacyRdx: legacy,
    });
    snp.psp.launchUpdate(SNP_PAGE_TYPE.VMSA, INITIAL_VMSA_GPA, vmsa);
    vcpu.guestStateProtected = true;
  }
  // the ID block and its authentication are copied only now: a failure leaves the VMSAs measured
  const idBlock = d.id_block_en !== 0n;
  if (idBlock)
    for (const [field, len] of [
      ['id_block_uaddr', ID_BLOCK_SIZE],
      ['id_auth_uaddr', ID_AUTH_SIZE],
    ] as const) {
      const at = d[field];
      if (at === 0n) return fail(R.finishIdBlockNull);
      if (!copyFromUser(k, at, len)) return fail(R.finishIdBlockFault);
    }
  if (snp.psp.state !== 'LAUNCH') return fail(R.finishFw, { error: BigInt(FwError.INVALID_GUEST_STATE) });
  snp.psp.state = 'RUNNING';
  vm.preFaultAllowed = true;
  // the firmware's LAUNCH_FINISH wrote status 0
  return ok(idBlock ? R.finishedIdBlock : R.finished, 0, { error: 0n });
}

/** KVM_SEV_SNP_ID_BLOCK_SIZE and KVM_SEV_SNP_ID_AUTH_SIZE (uapi) */
const ID_BLOCK_SIZE = 96;
const ID_AUTH_SIZE = 4096;

export type { Rule };
