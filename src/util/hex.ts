/** Hex encoding without Node's Buffer (the same code runs in the browser). */
export function toHex(b: Uint8Array): string {
  let s = '';
  for (let i = 0; i < b.length; i++) s += b[i]!.toString(16).padStart(2, '0');
  return s;
}

export function fromHex(h: string): Uint8Array {
  const out = new Uint8Array(h.length >> 1);
  for (let i = 0; i < out.length; i++) out[i] = Number.parseInt(h.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/** An integer as C writes an address: 0x and lowercase hex digits */
export const hex0x = (n: number | bigint): string => `0x${n.toString(16)}`;
