/**
 * A scale scenario for the view: a 1 TiB guest_memfd of a KVM_X86_SW_PROTECTED_VM (in-place
 * profile, mmap-able, INIT_SHARED) bound to a memslot, with scattered KVM_SET_MEMORY_ATTRIBUTES2
 * conversions of 1-16 pages, every second one back to shared over part of an earlier one (and a store through the mapping before every fifth conversion to
 * private). Deterministic: the same arguments give the same file.
 */
const PAGE = 4096;

/** deterministic pseudo-random numbers (the LCG of bench/run.ts) */
function lcg(seed: number): () => number {
  let x = seed >>> 0;
  return () => {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    return x;
  };
}

const hex = (n: number) => `0x${n.toString(16)}`;

export function scaleScenario(opts: { bytes?: number; conversions?: number; seed?: number } = {}): string {
  const bytes = opts.bytes ?? 2 ** 40;
  const conversions = opts.conversions ?? 2000;
  const pages = bytes / PAGE;
  const rnd = lcg(opts.seed ?? 42);
  const out = [
    'format: gmemsim/1',
    `name: ${bytes >= 2 ** 40 ? `${bytes / 2 ** 40} TiB` : `${bytes / 2 ** 30} GiB`} guest_memfd of a KVM_X86_SW_PROTECTED_VM with ${conversions} scattered in-place conversions`,
    'kernel: { profile: in-place, gmem_in_place_conversion: true }',
    'steps:',
    '  - KVM_CREATE_VM: { type: KVM_X86_SW_PROTECTED_VM }',
    '    as: vm',
    '    expect: ok',
    `  - KVM_CREATE_GUEST_MEMFD: { fd: vm, size: ${hex(bytes)}, flags: [GUEST_MEMFD_FLAG_MMAP, GUEST_MEMFD_FLAG_INIT_SHARED] }`,
    '    as: gmem',
    '    expect: ok',
    '  - KVM_SET_USER_MEMORY_REGION2:',
    `      { fd: vm, slot: 0, flags: [KVM_MEM_GUEST_MEMFD], guest_phys_addr: 0, memory_size: ${hex(bytes)}, userspace_addr: 0, guest_memfd: gmem, guest_memfd_offset: 0 }`,
    '    expect: ok',
    `  - mmap: { fd: gmem, length: ${hex(bytes)}, prot: [PROT_READ, PROT_WRITE], flags: [MAP_SHARED] }`,
    '    as: mem',
    '    expect: ok',
  ];
  const made: number[] = [];
  for (let i = 0; i < conversions; i++) {
    const toPrivate = i % 2 === 0;
    // a conversion back to shared overlaps an earlier private range, so ranges split and merge
    const page = toPrivate || !made.length ? rnd() % (pages - 32) : made[rnd() % made.length]! + (rnd() % 16);
    const n = 1 + (rnd() % 16);
    if (toPrivate) made.push(page);
    if (toPrivate && i % 10 === 0)
      out.push(`  - store: { addr: mem+${hex(page * PAGE)}, data: { fill: 0x5a, length: 0x1000 } }`);
    out.push(
      `  - KVM_SET_MEMORY_ATTRIBUTES2: { fd: gmem, offset: ${hex(page * PAGE)}, size: ${hex(n * PAGE)}, attributes: ${toPrivate ? '[KVM_MEMORY_ATTRIBUTE_PRIVATE]' : 0}, flags: 0 }`,
    );
  }
  return `${out.join('\n')}\n`;
}
