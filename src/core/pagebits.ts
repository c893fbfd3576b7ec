/** The state bits of a page in the page map (also drawn by the web page, which imports this file). */
export const PAGE = {
  PRIVATE: 1,
  ALLOCATED: 2,
  POPULATED: 4,
  MEASURED: 8,
  PINNED: 16,
  HOST_MAPPED: 32,
  UNDEFINED: 64,
  IN_MEMSLOT: 128,
  /** a private page the guest accepted (TDX: added at build time or TDG.MEM.PAGE.ACCEPT; SNP: Validated in the RMP) */
  ACCEPTED: 256,
} as const;
