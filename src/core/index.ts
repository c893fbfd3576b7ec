/** The pure core's public surface. */
import type { ArchOps } from './arch.ts';
import type { HostConfig } from './host.ts';
import { Kernel } from './kernel.ts';
import { handlers } from './kvm/dispatch.ts';
import type { Sha384Factory } from './ports.ts';
import { type Knobs, type Profile, type ProfileName, Profiles } from './profiles.ts';
import { snpArch } from './snp/arch.ts';
import { sevArch } from './snp/sev_vm.ts';
import { tdxArch } from './tdx/arch.ts';
import { VmType } from './uapi.ts';

export { allRules, ruleById } from './catalogue.ts';
export { Errno, type ErrnoName } from './errno.ts';
export { Kernel, KVM_FD, SEV_FD } from './kernel.ts';
export type { Data, Inject, Op, OpName } from './ops.ts';
export type { Out, Outcome } from './outcome.ts';
export type { Sha384, Sha384Factory } from './ports.ts';
export {
  aliasesOf,
  canonicalName,
  DEFAULT_PROFILE,
  isProfileName,
  type KernelName,
  KernelNames,
  Kernels,
  type Knobs,
  type Profile,
  ProfileAliases,
  type ProfileName,
  ProfileNames,
  Profiles,
} from './profiles.ts';
export { type Cite, formatCite, type Rule } from './rule.ts';

/**
 * The arch hooks of each VM type (kvm_x86_ops): a literal, so that every kernel the core creates
 * answers TDX and SNP ioctls whatever else its caller imported. Other VM types have none.
 */
const archTable: Readonly<Partial<Record<number, ArchOps>>> = Object.freeze({
  [VmType.KVM_X86_TDX_VM]: tdxArch,
  [VmType.KVM_X86_SEV_VM]: sevArch,
  [VmType.KVM_X86_SEV_ES_VM]: sevArch,
  [VmType.KVM_X86_SNP_VM]: snpArch,
});

/** A kernel of a named profile, or of a profile object (a --profile-file's), on a host configuration. */
export function createKernel(
  profile: ProfileName | Profile,
  sha384: Sha384Factory,
  knobs: Partial<Knobs> = {},
  host?: HostConfig,
): Kernel {
  const p = typeof profile === 'string' ? Profiles[profile] : profile;
  return new Kernel({ profile: p, knobs, sha384, handlers, arch: archTable, ...(host ? { host } : {}) });
}
