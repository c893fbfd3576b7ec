/** Registers every arch module (TDX, SNP) with the core. Import once from a host. */
import { registerArch } from './index.ts';
import { snpArch } from './snp/arch.ts';
import { tdxArch } from './tdx/arch.ts';
import { VmType } from './uapi.ts';

registerArch(VmType.KVM_X86_TDX_VM, tdxArch);
registerArch(VmType.KVM_X86_SNP_VM, snpArch);
