/** Per-TD KVM state (struct kvm_tdx) and helpers shared by the TDX ioctl files. */

import type { Kernel } from '../kernel.ts';
import type { ArchVm, Vm } from '../state.ts';
import { TdxModule } from './module.ts';

export type TdState = 'UNINITIALIZED' | 'INITIALIZED' | 'RUNNABLE';

export interface TdxVm extends ArchVm {
  readonly kind: 'tdx';
  state: TdState;
  /** gfn_direct_bits: the shared bit as a GFN bit number (GPA bit 47 → 35, 51 → 39); null before INIT_VM */
  sharedGfnBit: number | null;
  module: TdxModule;
  /**
   * [v6.18] nr_premapped: GFNs that INIT_MEM_REGION mapped in the mirror EPT whose TDH.MEM.PAGE.ADD
   * has not succeeded yet (profile tdxPageAddInPopulate)
   */
  premapped: Set<number>;
}

/** an HKID is assigned: KVM_TDX_INIT_VM succeeded (it is released only when the TD is destroyed) */
export function hkidAssigned(td: TdxVm): boolean {
  return td.state !== 'UNINITIALIZED';
}

export function tdxOf(vm: Vm): TdxVm {
  const t = vm.arch;
  if (t?.kind !== 'tdx') throw new Error('Model invariant violated: not a TD');
  return t as TdxVm;
}

export function newTdx(k: Kernel): TdxVm {
  return {
    kind: 'tdx',
    state: 'UNINITIALIZED',
    sharedGfnBit: null,
    module: new TdxModule(k.sha384()),
    premapped: new Set(),
  };
}

/**
 * The GFN has the TD's shared bit set (kvm_is_gfn_alias; the negation of vt_is_tdx_private_gpa). No
 * GFN has it before KVM_TDX_INIT_VM sets GPAW.
 */
export function isSharedGfn(td: TdxVm, gfn: number): boolean {
  return td.sharedGfnBit !== null && Math.floor(gfn / 2 ** td.sharedGfnBit) % 2 === 1;
}
