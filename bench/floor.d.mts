/** Types of bench/floor.mjs (the floor program of the measure benchmarks). */
export function tdxRecords(img: Buffer, twoPass?: boolean): Buffer;
export function hashTdx(records: Buffer): string;
export interface SnpRecords {
  info: Buffer;
  contents: (Buffer | null)[];
}
export function snpRecords(ovmf: Buffer, vcpus: number, sig: number, svsm?: Buffer, varsSize?: number): SnpRecords;
export function hashSnp(records: SnpRecords): string;
