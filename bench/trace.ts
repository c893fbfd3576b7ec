/**
 * The long-trace workload of `npm run bench -- trace` (issue 16): a TD with a 1 TiB guest_memfd
 * (in-place conversion on), then STEPS steps of scattered private↔shared conversions
 * (KVM_SET_MEMORY_ATTRIBUTES2 on the guest_memfd), a store through the mapping now and then, and a
 * KVM_TDX_INIT_MEM_REGION of a page just made private every tenth conversion. Deterministic (an
 * LCG), so 10,000 and 100,000 steps are the same kind of trace at two lengths.
 *
 *   node --import tsx bench/trace.ts STEPS > FILE.yaml
 */

const TIB = 1n << 40n;
const PAGES = Number(TIB / 4096n);

/** deterministic pseudo-random numbers (LCG); bench/run.ts uses it too */
export function lcg(seed: number): () => number {
  let x = seed >>> 0;
  return () => {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    return x;
  };
}

const hex = (n: bigint | number) => `0x${n.toString(16)}`;

/** the scenario text of a trace with `steps` steps after the set-up */
export function traceScenario(steps: number): string {
  const out: string[] = [
    'format: gmemsim/1',
    `name: "bench: ${steps} scattered conversions and populates on a 1 TiB guest_memfd"`,
    'kernel: { profile: in-place, gmem_in_place_conversion: true }',
    'steps:',
    '  - include: tdx-td-ready',
    `    with: { vcpu: vcpu, gmem_size: ${hex(TIB)}, gmem_flags: [GUEST_MEMFD_FLAG_MMAP, GUEST_MEMFD_FLAG_INIT_SHARED], private: false }`,
    `  - mmap: { length: ${hex(TIB)}, prot: [PROT_READ, PROT_WRITE], flags: [MAP_SHARED], fd: gmem, offset: 0 }`,
    '    as: map',
  ];
  const rnd = lcg(16);
  let i = 0;
  // a region of 65,536 pages where the conversions fall: scattered, and they meet each other
  // (a conversion splits or merges the runs of earlier ones), as a guest's boot does
  const base = rnd() % (PAGES - 65536);
  while (i < steps) {
    const page = base + (rnd() % 65536);
    const n = 1 + (rnd() % 8);
    const toPrivate = rnd() % 2 === 0;
    if (!toPrivate && i % 7 === 0 && i + 1 < steps) {
      out.push(`  - store: { addr: map+${hex(BigInt(page) * 4096n)}, data: { fill: 0x5a, length: 0x1000 } }`);
      i++;
    }
    out.push(
      `  - KVM_SET_MEMORY_ATTRIBUTES2: { fd: gmem, offset: ${hex(BigInt(page) * 4096n)}, size: ${hex(BigInt(n) * 4096n)}, attributes: ${toPrivate ? '[KVM_MEMORY_ATTRIBUTE_PRIVATE]' : '0'} }`,
    );
    i++;
    if (toPrivate && i % 10 === 0 && i < steps) {
      out.push(
        '  - KVM_MEMORY_ENCRYPT_OP:',
        '      fd: vcpu',
        '      id: KVM_TDX_INIT_MEM_REGION',
        '      flags: [KVM_TDX_MEASURE_MEMORY_REGION]',
        `      data: { source_addr: 0, gpa: ${hex(BigInt(page) * 4096n)}, nr_pages: 1 }`,
      );
      i++;
    }
  }
  return `${out.join('\n')}\n`;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const steps = Number(process.argv[2] ?? 10000);
  if (!Number.isSafeInteger(steps) || steps < 1) {
    process.stderr.write('usage: node --import tsx bench/trace.ts STEPS\n');
    process.exit(2);
  }
  process.stdout.write(traceScenario(steps));
}
