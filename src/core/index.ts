/** The pure core's public surface. */
import type { ArchOps } from './arch.ts';
import { Kernel } from './kernel.ts';
import { handlers } from './kvm/dispatch.ts';
import type { Sha384Factory } from './ports.ts';
import { type Knobs, type ProfileName, Profiles } from './profiles.ts';

export { allRules, ruleById } from './catalogue.ts';
export { Errno, type ErrnoName } from './errno.ts';
export { Kernel, KVM_FD, SEV_FD } from './kernel.ts';
export type { Data, Inject, Op, OpName } from './ops.ts';
export type { Out, Outcome } from './outcome.ts';
export type { Sha384, Sha384Factory } from './ports.ts';
export {
  DEFAULT_PROFILE,
  isProfileName,
  type Knobs,
  type Profile,
  type ProfileName,
  ProfileNames,
  Profiles,
} from './profiles.ts';
export { type Cite, formatCite, type Rule } from './rule.ts';

const archTable: Partial<Record<number, ArchOps>> = {};

/** TDX and SNP register their arch hooks for their VM types. */
export function registerArch(vmType: number, ops: ArchOps): void {
  archTable[vmType] = ops;
}

export function createKernel(profile: ProfileName, sha384: Sha384Factory, knobs: Partial<Knobs> = {}): Kernel {
  return new Kernel({ profile: Profiles[profile], knobs, sha384, handlers, arch: archTable });
}
