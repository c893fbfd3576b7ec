/** A canonical text of the model's state: two states with the same text behave the same. */
import { isBorrowed, pageBytes, STALE_PAGE, ZERO_PAGE } from '../core/guest_memfd/folio.ts';
import type { Kernel } from '../core/kernel.ts';
import type { RangeMap, RangeSet } from '../core/ranges.ts';
import type { SnpVm } from '../core/snp/state.ts';
import type { TdxVm } from '../core/tdx/state.ts';
import { toHex as hex } from '../util/hex.ts';

/** fingerprints of pages that can no longer change (shared, copy-on-write): states share them */
const FNV = new WeakMap<Uint8Array, string>();

/** fingerprint of page contents (32-bit words; pages are 4 KiB-aligned buffers) */
function fnv(b: Uint8Array): string {
  if (b === ZERO_PAGE) return 'z';
  if (b === STALE_PAGE) return 's';
  const fixed = isBorrowed(b);
  const known = fixed ? FNV.get(b) : undefined;
  if (known !== undefined) return known;
  const f = fnvOf(b);
  if (fixed) FNV.set(b, f);
  return f;
}

function fnvOf(b: Uint8Array): string {
  const words =
    b.byteOffset % 4 === 0 && b.length % 4 === 0 ? new Uint32Array(b.buffer, b.byteOffset, b.length / 4) : null;
  let h = 0x811c9dc5;
  if (words) for (let i = 0; i < words.length; i++) h = Math.imul(h ^ words[i]!, 0x01000193);
  else for (let i = 0; i < b.length; i++) h = Math.imul(h ^ b[i]!, 0x01000193);
  return (h >>> 0).toString(36);
}

const runs = (s: RangeSet) => [...s.runs()].map(([a, b]) => `${a}-${b}`).join(',');
const mapRuns = (m: RangeMap<number>) => [...m.runs()].map(([a, b, v]) => `${a}-${b}:${v}`).join(',');
const toHex = (b: Uint8Array) => hex(b.subarray(0, 8));

export function canonical(k: Kernel): string {
  const out: string[] = [];
  for (const [fd, f] of k.openFds()) out.push(`fd${fd}=${f.kind}`);
  for (const inode of k.inodes) {
    const pages: string[] = [];
    for (const [s, e] of inode.allocated.runs())
      for (let i = s; i < e; i++) pages.push(`${i}:${fnv(pageBytes(inode, i))}`);
    out.push(
      `g${inode.id}|r${inode.refs}${inode.released ? 'x' : ''}|a${mapRuns(inode.attrs)}|p${pages.join(',')}|u${runs(inode.undefinedContent)}|w${runs(inode.guestWritten)}|q${runs(inode.guestUndefined)}|h${runs(inode.hostMapped)}|n${[...inode.pins].sort().join(',')}|b${inode.bindings.map((b) => `${b.slot.id}@${b.start}`).join(',')}`,
    );
  }
  for (const vm of k.vms) {
    for (const v of vm.vcpus)
      if (v.run)
        out.push(
          `vcpu${v.id}|${JSON.stringify(v.run, (_k, x) => (typeof x === 'bigint' ? x.toString() : x instanceof Uint8Array ? fnv(x) : x))}`,
        );
    out.push(
      `vm${vm.id}|hc${vm.hypercallExitEnabled}|m${mapRuns(vm.memAttrs)}|s${vm.memslots.map((s) => `${s.id}:${s.baseGfn}+${s.npages}:${s.gmem ? (s.gmem.inode?.id ?? 'closed') : '-'}`).join(',')}|${vm.preFaultAllowed ? 'P' : ''}${vm.bugged ? 'B' : ''}`,
    );
    if (vm.arch?.kind === 'tdx') {
      const td = vm.arch as TdxVm;
      out.push(
        `td|${td.state}|${mapRuns(td.module.sept)}|${td.module.pageAdds}/${td.module.extends}|${toHex(td.module.peek())}|${Object.values(td.module.audit).join(',')}`,
      );
    }
    if (vm.arch?.kind === 'snp') {
      const snp = vm.arch as SnpVm;
      const rmp = [...snp.rmp].map(([id, r]) => `${id}:${runs(r)}`).join(';');
      const val = [...snp.validated].map(([id, r]) => `${id}:${runs(r)}`).join(';');
      out.push(
        `snp|${snp.active}|${snp.context}|${snp.psp.state}|${toHex(snp.psp.ld)}|${rmp}|v${val}|${Object.values(snp.psp.audit_).join(',')}`,
      );
    }
  }
  out.push(`vma${k.mm.vmas.map((v) => `${v.start}-${v.end}:${v.inode?.id ?? 'a'}`).join(',')}`);
  out.push(
    `anon${[...k.mm.anon.entries()].map(([p, b]) => `${p}:${fnv(b)}`).join(',')}|${[...k.mm.anonPins].join(',')}`,
  );
  return out.join('\n');
}
