/**
 * npm run bench: each figure beside its floor measured in the same run.
 *  1. Scale: a 1 TiB guest_memfd with 20,000 scattered conversions, and the same at 1/10 — time and
 *     heap must grow with the number of conversions (linearly), not with guest size.
 *  2. KVM_TDX_INIT_MEM_REGION of 262,144 pages (1 GiB), with and without MEASURE, beside the floor:
 *     node:crypto hashing the same MRTD records in one stream.
 *  3. gmemsim explore: states/s with 1 and 2 worker threads (default depth 5, and 7).
 *  4. gmemsim measure on the images of ../shared/firmware: in-process (the launch built and run
 *     through the model) beside the floor (bench/floor.mjs: the same records, prepared beforehand,
 *     hashed by node:crypto in one tight loop), goal ×1.3 TDX and ×1.5 SNP; and whole processes,
 *     `node bin/gmemsim.js measure ...` beside `node bench/floor.mjs ...`, goal ×1.3. Both run the
 *     built code (dist/: compiled modules in-process, the bundle for processes); the bench builds it
 *     when src/ is newer.
 *  5. gmemsim measure --expect with a full diagnosis on the largest images, beside a plain measure
 *     (goal ×2), in-process and as whole processes.
 *  6. Long traces: `run`, `run --json` and `view --out` of a 10,000- and a 100,000-step scenario
 *     (bench/trace.ts), time and peak RSS, beside the yaml library parsing the same file.
 * `npm run bench -- model` runs parts 1-3 only, `npm run bench -- measure` part 4, `-- expect` part 5,
 * `-- trace` part 6.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, openSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { arch, cpus, platform, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { createKernel, type Kernel, type Knobs, type Op, type ProfileName } from '../src/core/index.ts';
import { makeOp, type StructValue } from '../src/core/ops.ts';
import { Cap, EncryptCmd, MemoryAttribute, MemslotFlag, TdxFlag } from '../src/core/uapi.ts';
import { nodeSha384 } from '../src/node/host.ts';
import { lcg, traceScenario } from './trace.ts';

const P = 4096n;
const U64_NONE = (1n << 64n) - 1n;
const PRIVATE = MemoryAttribute.KVM_MEMORY_ATTRIBUTE_PRIVATE;

function must(k: Kernel, op: Op): bigint {
  const o = k.step(op);
  if (o.ret < 0n) throw new Error(`bench setup: ${op.op} failed: ${o.errno ?? o.signal} (${o.rule.id})`);
  return o.ret;
}

/** a guest_memfd memslot at GPA 0 covering the whole file */
function bindAtZero(k: Kernel, vm: bigint, gmem: bigint, bytes: bigint): void {
  must(
    k,
    makeOp('KVM_SET_USER_MEMORY_REGION2', {
      fd: vm,
      flags: MemslotFlag.KVM_MEM_GUEST_MEMFD,
      memory_size: bytes,
      guest_memfd: gmem,
    }),
  );
}

function gcNow(): void {
  (globalThis as { gc?: () => void }).gc?.();
}

function heapMiB(): number {
  gcNow();
  return process.memoryUsage().heapUsed / 2 ** 20;
}

function scale(bytes: bigint, conversions: number) {
  const heap0 = heapMiB();
  const t0 = performance.now();
  const k = createKernel('in-place', nodeSha384, { gmem_in_place_conversion: true });
  const vm = must(k, { op: 'KVM_CREATE_VM', fd: 3n, type: 1n });
  const gmem = must(k, { op: 'KVM_CREATE_GUEST_MEMFD', fd: vm, size: bytes, flags: 3n });
  bindAtZero(k, vm, gmem, bytes);
  const map = must(k, { op: 'mmap', addr: 0n, length: bytes, prot: 3n, flags: 1n, fd: gmem, offset: 0n });
  const pages = Number(bytes / P);
  const rnd = lcg(42);
  let stores = 0;
  for (let i = 0; i < conversions; i++) {
    const page = rnd() % (pages - 16);
    const n = 1 + (rnd() % 16);
    const toPrivate = i % 2 === 0;
    if (toPrivate && i % 10 === 0) {
      // write a page through the mapping first (shared pages only)
      const o = k.step({ op: 'store', addr: map + BigInt(page) * P, data: { kind: 'fill', byte: 0x5a, length: P } });
      if (o.ret >= 0n) stores++;
    }
    k.step(
      makeOp('KVM_SET_MEMORY_ATTRIBUTES2', {
        fd: gmem,
        offset: BigInt(page) * P,
        size: BigInt(n) * P,
        attributes: toPrivate ? PRIVATE : 0n,
      }),
    );
  }
  const ms = performance.now() - t0;
  const inode = k.inodes[0]!;
  return { ms, heap: heapMiB() - heap0, runs: inode.attrs.runCount, stores, k };
}

function imr(measure: boolean, pages: number) {
  const k = createKernel('in-place', nodeSha384, { gmem_in_place_conversion: false });
  const vm = must(k, { op: 'KVM_CREATE_VM', fd: 3n, type: 5n });
  const enc = (fd: bigint, id: number, data: StructValue | bigint, flags = 0n): Op =>
    makeOp('KVM_MEMORY_ENCRYPT_OP', { fd, id: BigInt(id), flags, data });
  must(
    k,
    enc(vm, EncryptCmd.KVM_TDX_INIT_VM, {
      xfam: 3n,
      cpuid: { nent: 1n, padding: 0n, entries: [{ function: 0x80000008n, index: 0n, eax: 0x303030n }] },
    }),
  );
  must(k, makeOp('KVM_ENABLE_CAP', { fd: vm, cap: BigInt(Cap.KVM_CAP_SPLIT_IRQCHIP), args: [24n] }));
  const vcpu = must(k, { op: 'KVM_CREATE_VCPU', fd: vm, id: 0n });
  must(k, {
    op: 'KVM_SET_CPUID2',
    fd: vcpu,
    nent: 1n,
    entries: [{ function: 1n, index: 0n, flags: 0n, eax: 0n, ebx: 0n, ecx: 0x200000n, edx: 0n }],
  });
  must(k, enc(vcpu, EncryptCmd.KVM_TDX_INIT_VCPU, 0n));
  const bytes = BigInt(pages) * P;
  const gmem = must(k, { op: 'KVM_CREATE_GUEST_MEMFD', fd: vm, size: bytes, flags: 0n });
  bindAtZero(k, vm, gmem, bytes);
  must(k, { op: 'KVM_SET_MEMORY_ATTRIBUTES', fd: vm, address: 0n, size: bytes, attributes: 8n, flags: 0n });
  const src = must(k, { op: 'mmap', addr: 0n, length: bytes, prot: 3n, flags: 0x22n, fd: U64_NONE, offset: 0n });
  // a firmware-like image: every 64th page written, the rest zero
  for (let p = 0; p < pages; p += 64)
    must(k, { op: 'store', addr: src + BigInt(p) * P, data: { kind: 'fill', byte: (p / 64) & 0xff, length: P } });
  const t0 = performance.now();
  const measureFlag = measure ? TdxFlag.KVM_TDX_MEASURE_MEMORY_REGION : 0n;
  must(
    k,
    enc(vcpu, EncryptCmd.KVM_TDX_INIT_MEM_REGION, { source_addr: src, gpa: 0n, nr_pages: BigInt(pages) }, measureFlag),
  );
  const ms = performance.now() - t0;
  must(k, enc(vm, EncryptCmd.KVM_TDX_FINALIZE_VM, {}));
  const mrtd = k.step({ op: 'attest', fd: vm }).out.mrtd!;
  // floor: the same records, prepared beforehand (untimed), hashed by node:crypto in one stream
  const h = createHash('sha384');
  const per = measure ? 128 + 16 * 384 : 128;
  const chunkPages = 1024;
  const chunk = Buffer.alloc(per * chunkPages);
  let floorMs = 0;
  for (let p0 = 0; p0 < pages; p0 += chunkPages) {
    for (let p = p0; p < p0 + chunkPages; p++) {
      const base = (p - p0) * per;
      chunk.fill(0, base, base + per);
      chunk.write('MEM.PAGE.ADD', base, 'ascii');
      chunk.writeBigUInt64LE(BigInt(p) * P, base + 16);
      if (!measure) continue;
      const byte = p % 64 === 0 ? (p / 64) & 0xff : 0;
      for (let c = 0; c < 16; c++) {
        const off = base + 128 + c * 384;
        chunk.write('MR.EXTEND', off, 'ascii');
        chunk.writeBigUInt64LE(BigInt(p) * P + BigInt(c * 256), off + 16);
        chunk.fill(byte, off + 128, off + 384);
      }
    }
    const f0 = performance.now();
    h.update(chunk);
    floorMs += performance.now() - f0;
  }
  const floorMrtd = h.digest('hex');
  if (floorMrtd !== mrtd) throw new Error('bench: the model MRTD differs from the floor computation');
  return { ms, floorMs };
}

/** median of the values */
/** `node ARGS` as a whole process: its wall time and stdout; an exit status not in `ok` stops the bench */
function timedNode(args: string[], ok: number[] = [0]): readonly [number, string] {
  const t0 = performance.now();
  const r = spawnSync(process.execPath, args, { cwd: ROOT, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });
  const ms = performance.now() - t0;
  if (r.status === null || !ok.includes(r.status))
    throw new Error(`bench: node ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  return [ms, r.stdout] as const;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

const ROOT = join(import.meta.dirname, '..');
const FIRMWARE = join(ROOT, '..', 'shared', 'firmware');

/**
 * Build dist/ when a source file is newer than it: the whole-process rows run bin/gmemsim.js (the
 * esbuild bundle in dist/bundle), the in-process rows the compiled modules in dist/ (the code as
 * shipped, not as tsx transpiles it on the fly)
 */
function ensureDist(): void {
  const stamp = (f: string) => {
    try {
      return statSync(join(ROOT, 'dist', f)).mtimeMs;
    } catch {
      return 0;
    }
  };
  const newest = (dir: string): number =>
    Math.max(
      0,
      ...readdirSync(dir, { withFileTypes: true }).map((e) =>
        e.isDirectory() ? newest(join(dir, e.name)) : statSync(join(dir, e.name)).mtimeMs,
      ),
    );
  const src = newest(join(ROOT, 'src'));
  if (src > stamp('measure/tdx.js') || src > stamp('cli/main.js'))
    execFileSync(
      process.execPath,
      [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.build.json'],
      { cwd: ROOT, stdio: 'inherit' },
    );
  if (src > stamp('bundle/main.js'))
    execFileSync(process.execPath, [join(ROOT, 'scripts', 'bundle.mjs')], { cwd: ROOT, stdio: 'inherit' });
}

/** a compiled module of dist/, typed as its source */
async function fromDist<T>(path: string): Promise<T> {
  return (await import(pathToFileURL(join(ROOT, 'dist', path)).href)) as T;
}

interface MeasureCase {
  label: string;
  platform: 'tdx' | 'snp';
  /** the model in-process: the digest */
  model: () => string;
  /** the floor's records, prepared once; and the timed part: hashing them */
  floor: () => () => string;
  /** records the digest takes (for the note) */
  records: string;
  /** gmemsim measure arguments, and bench/floor.mjs arguments */
  cli: string[];
  floorCli: string[];
}

async function measureCases(): Promise<MeasureCase[]> {
  ensureDist();
  const { measureTdx } = await fromDist<typeof import('../src/measure/tdx.ts')>('measure/tdx.js');
  const { measureSnp } = await fromDist<typeof import('../src/measure/snp.ts')>('measure/snp.js');
  const { nodeHost } = await fromDist<typeof import('../src/node/host.ts')>('node/host.js');
  const floor = await import('./floor.mjs');
  const fw = (f: string) => join(FIRMWARE, f);
  const read = (f: string) => readFileSync(fw(f));
  const SIG = 0x800f12; // EPYC-v4
  const cases: MeasureCase[] = [];
  for (const f of ['OVMF.inteltdx.ms.fd', 'OVMF.bookworm.fd']) {
    const img = read(f);
    const records = floor.tdxRecords(img);
    cases.push({
      label: `measure tdx ${f}`,
      platform: 'tdx',
      model: () => measureTdx(img, { firmwareFile: f, order: 'single-pass' }, nodeHost).mrtd,
      floor: () => {
        const r = floor.tdxRecords(img);
        return () => floor.hashTdx(r);
      },
      records: `${(records.length / 2 ** 20).toFixed(1)} MiB of MRTD records`,
      cli: ['tdx', '--firmware', fw(f)],
      floorCli: ['tdx', fw(f)],
    });
  }
  const snp = (label: string, ovmf: string, vcpus: number, svsm?: { file: string; varsSize: number }) => {
    const img = read(ovmf);
    const svsmImg = svsm ? read(svsm.file) : undefined;
    const prep = () => floor.snpRecords(img, vcpus, SIG, svsmImg, svsm?.varsSize);
    cases.push({
      label,
      platform: 'snp',
      model: () =>
        measureSnp(
          {
            mode: svsm ? 'snp:svsm' : 'snp',
            ovmf: { bytes: img, file: ovmf },
            ...(svsm && svsmImg ? { svsm: { bytes: svsmImg, file: svsm.file }, varsSize: svsm.varsSize } : {}),
            vcpus,
            vcpuSig: SIG,
            vmmType: 'QEMU',
            guestFeatures: 1n,
          },
          nodeHost,
        ).measurement,
      floor: () => {
        const r = prep();
        return () => floor.hashSnp(r);
      },
      records: `${prep().contents.length} PAGE_INFO records`,
      cli: [
        'snp',
        ...(svsm ? ['--mode', 'snp:svsm', '--svsm', fw(svsm.file), '--vars-size', String(svsm.varsSize)] : []),
        '--vcpus',
        String(vcpus),
        '--vcpu-type',
        'EPYC-v4',
        '--ovmf',
        fw(ovmf),
      ],
      floorCli: svsm
        ? ['svsm', fw(ovmf), String(vcpus), String(SIG), fw(svsm.file), String(svsm.varsSize)]
        : ['snp', fw(ovmf), String(vcpus), String(SIG)],
    });
  };
  snp('measure snp OVMF.amdsev.fd, 4 vCPUs', 'OVMF.amdsev.fd', 4);
  snp('measure snp OVMF.bookworm.fd, 1 vCPU', 'OVMF.bookworm.fd', 1);
  snp('measure snp snp:svsm (svsm fixtures), 4 vCPUs', 'fixtures/svsm_ovmf.fd', 4, {
    file: 'fixtures/svsm.bin',
    varsSize: 540672,
  });
  return cases;
}

/** time one call, in ms */
function time<T>(f: () => T): [number, T] {
  const t0 = performance.now();
  const v = f();
  return [performance.now() - t0, v];
}

/** 4. gmemsim measure: in-process beside the floor, then whole processes beside the floor program */
async function measureRows(): Promise<string[][]> {
  const out: string[][] = [];
  const cases = await measureCases();
  const RUNS = 21;
  const WARMUP = 25;
  for (const c of cases) {
    const hashRecords = c.floor();
    const want = hashRecords();
    // warm both until the JIT has compiled their hot paths (a TDX launch settles after ~20 runs;
    // the whole-process rows below measure the cold start), then alternate them so that both see
    // the same machine
    for (let i = 0; i < WARMUP; i++) {
      if (c.model() !== want) throw new Error(`bench: ${c.label}: the model's digest differs from the floor's`);
      hashRecords();
    }
    const model: number[] = [];
    const fl: number[] = [];
    // no forced collection between runs: a full GC shrinks the young generation, and the next run
    // would pay for growing it again (a steady state is what a median describes)
    for (let i = 0; i < RUNS; i++) {
      model.push(time(c.model)[0]);
      fl.push(time(hashRecords)[0]);
    }
    const m = median(model);
    const f = median(fl);
    const goal = c.platform === 'tdx' ? 1.3 : 1.5;
    out.push([
      `${c.label}, in-process`,
      `${fmt(m, 2)} ms`,
      `floor ${fmt(f, 2)} ms`,
      `×${fmt(m / f, 2)} of floor (goal ≤ ×${goal})`,
      `median of ${RUNS}; floor: node:crypto hashing the same ${c.records}, prepared beforehand`,
    ]);
  }
  const SPAWNS = 7;
  const run = (args: string[]) => timedNode(args);
  const bare = median(Array.from({ length: SPAWNS }, () => run(['-e', '0'])[0]));
  for (const c of cases) {
    const gm = [join(ROOT, 'bin', 'gmemsim.js'), 'measure', ...c.cli];
    const fp = [join(ROOT, 'bench', 'floor.mjs'), ...c.floorCli];
    const a: number[] = [];
    const b: number[] = [];
    run(gm);
    run(fp);
    for (let i = 0; i < SPAWNS; i++) {
      const [ta, oa] = run(gm);
      const [tb, ob] = run(fp);
      if (oa !== ob) throw new Error(`bench: ${c.label}: gmemsim printed ${oa.trim()}, the floor ${ob.trim()}`);
      a.push(ta);
      b.push(tb);
    }
    const m = median(a);
    const f = median(b);
    out.push([
      `${c.label}, whole process`,
      `${fmt(m)} ms`,
      `floor ${fmt(f)} ms`,
      `×${fmt(m / f, 2)} of floor (goal ≤ ×1.3)`,
      `median of ${SPAWNS} spawns of node bin/gmemsim.js beside node bench/floor.mjs; node -e 0: ${fmt(bare)} ms`,
    ]);
  }
  return out;
}

const rows: string[][] = [];
const fmt = (x: number, d = 1) => x.toFixed(d);
const only = process.argv.slice(2);
const part = (name: string) => only.length === 0 || only.includes(name);

if (part('model')) {
  const small = scale(1n << 37n, 2000);
  // retained heap per attribute run: flat if state grows with runs (the heap figure of 2,000
  // conversions is too small for a ratio of heaps to mean anything)
  const perRun = (r: { heap: number; runs: number }) => fmt((r.heap * 2 ** 20) / r.runs, 0);
  const big = scale(1n << 40n, 20000);
  rows.push([
    '128 GiB guest_memfd, 2,000 conversions',
    `${fmt(small.ms)} ms`,
    `${fmt(small.heap, 2)} MiB heap`,
    `${small.runs} attribute runs`,
    '',
  ]);
  rows.push([
    '1 TiB guest_memfd, 20,000 conversions',
    `${fmt(big.ms)} ms`,
    `${fmt(big.heap, 2)} MiB heap`,
    `${big.runs} attribute runs`,
    `×10 conversions, ×8 size: time ×${fmt(big.ms / small.ms)}; heap per attribute run ${perRun(big)} B vs ${perRun(small)} B`,
  ]);
  const pages = 262144;
  for (const measure of [false, true]) {
    const r = imr(measure, pages);
    rows.push([
      `KVM_TDX_INIT_MEM_REGION 1 GiB${measure ? ' + MEASURE' : ''}`,
      `${fmt(r.ms)} ms (${fmt((r.ms * 1000) / pages, 2)} µs/page)`,
      `floor ${fmt(r.floorMs)} ms (${fmt((r.floorMs * 1000) / pages, 2)} µs/page)`,
      `×${fmt(r.ms / r.floorMs, 2)} of floor`,
      'floor: node:crypto hashing the same records',
    ]);
  }
  // 3. The explorer: states/s with 1 and 2 worker threads, the default exploration and a larger one
  // (depth 7); the compiled modules of dist/, as the CLI runs them (its workers load dist/explore/worker.js)
  ensureDist();
  const { explore } = await fromDist<typeof import('../src/explore/explore.ts')>('explore/explore.js');
  const { workerPool } = await fromDist<typeof import('../src/explore/pool.ts')>('explore/pool.js');
  const host = await fromDist<typeof import('../src/node/host.ts')>('node/host.js');
  const perf = () => performance.now();
  const rate = (o: { states: number; ms: number }) => Math.round((o.states / o.ms) * 1000);
  for (const depth of [5, 7]) {
    const cfg = { profile: 'in-place' as const, knobs: {}, vm: 'tdx' as const, pages: 2, depth, maxStates: 1_000_000 };
    const make = (p: ProfileName, k: Partial<Knobs>) => host.nodeHost.createKernel(p, k);
    const one = await explore(cfg, make, null, undefined, perf);
    // timed from starting the workers (what `--workers 2` makes a user wait for)
    const t0 = perf();
    const pool = workerPool(cfg, 2);
    await pool.ready();
    const two = await explore(cfg, make, pool, undefined, perf);
    two.outcome.ms = perf() - t0;
    await pool.close();
    if (two.outcome.states !== one.outcome.states) throw new Error('bench: 2 workers explored other states');
    rows.push([
      `gmemsim explore (tdx, 2 pages, depth ${depth}${depth === 5 ? ', the default' : ''}), 1 worker`,
      `${fmt(one.outcome.ms, 0)} ms`,
      `${rate(one.outcome)} states/s`,
      `${one.outcome.states} states, ${one.outcome.transitions} transitions`,
      '',
    ]);
    rows.push([
      'same, 2 worker threads',
      `${fmt(two.outcome.ms, 0)} ms`,
      `${rate(two.outcome)} states/s`,
      `×${fmt(one.outcome.ms / two.outcome.ms, 2)} vs 1 worker`,
      'same states; timed from starting the workers',
    ]);
  }
}
/**
 * 5. --expect with a full diagnosis (issue 15): a digest no launch variant reaches, so every variant
 * is tried, on the largest images, beside a plain measurement of the same launch; in-process (dist/)
 * and as whole processes. Goal: within 2× of the plain measurement.
 */
async function expectRows(): Promise<string[][]> {
  ensureDist();
  const { measureSnp } = await fromDist<typeof import('../src/measure/snp.ts')>('measure/snp.js');
  const { measureTdx } = await fromDist<typeof import('../src/measure/tdx.ts')>('measure/tdx.js');
  const { diagnoseSnp, diagnoseTdx } =
    await fromDist<typeof import('../src/measure/diagnose.ts')>('measure/diagnose.js');
  const { nodeHost } = await fromDist<typeof import('../src/node/host.ts')>('node/host.js');
  const out: string[][] = [];
  const NONE = 'ab'.repeat(48);
  const sev = readFileSync(join(FIRMWARE, 'OVMF.amdsev.fd'));
  const tdx = readFileSync(join(FIRMWARE, 'OVMF.inteltdx.ms.fd'));
  const inputs = {
    mode: 'snp',
    ovmf: { bytes: sev, file: 'OVMF.amdsev.fd' },
    vcpus: 4,
    vcpuSig: 0x800f12,
    vmmType: 'QEMU',
    guestFeatures: 1n,
  } as const;
  let tried = 0;
  let runs = 0;
  const cases = [
    {
      label: 'measure snp OVMF.amdsev.fd, 4 vCPUs: --expect, full diagnosis (vCPUs 1..64), in-process',
      plain: () => measureSnp(inputs, nodeHost).measurement,
      expect: () => {
        const d = diagnoseSnp(inputs, NONE, nodeHost);
        tried = d.tried;
        runs = d.modelRuns;
        return d.measured;
      },
      note: () => `${tried} variants compared, ${runs} launches through the model`,
    },
    {
      label: 'measure tdx OVMF.inteltdx.ms.fd: --expect, full diagnosis, in-process',
      plain: () => measureTdx(tdx, { firmwareFile: 'OVMF.inteltdx.ms.fd', order: 'single-pass' }, nodeHost).mrtd,
      expect: () => {
        const d = diagnoseTdx(tdx, { firmwareFile: 'OVMF.inteltdx.ms.fd', order: 'single-pass' }, NONE, nodeHost);
        tried = d.tried;
        runs = d.modelRuns;
        return d.measured;
      },
      note: () => `${tried} variants, ${runs} launches through the model (no PAGE.AUG section: 2 record orders)`,
    },
  ];
  const RUNS = 11;
  for (const c of cases) {
    for (let i = 0; i < 10; i++) if (c.plain() !== c.expect()) throw new Error(`bench: ${c.label}: digests differ`);
    const a: number[] = [];
    const b: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      a.push(time(c.expect)[0]);
      b.push(time(c.plain)[0]);
    }
    const m = median(a);
    const f = median(b);
    out.push([
      c.label,
      `${fmt(m, 2)} ms`,
      `plain ${fmt(f, 2)} ms`,
      `×${fmt(m / f, 2)} of plain (goal ≤ ×2)`,
      `median of ${RUNS}; ${c.note()}`,
    ]);
  }
  const SPAWNS = 5;
  // exit 1 is --expect's mismatch, which the diagnosis here is about
  const run = (args: string[]) => timedNode(args, [0, 1])[0];
  const snpCli = [
    'measure',
    'snp',
    '--vcpus',
    '4',
    '--vcpu-type',
    'EPYC-v4',
    '--ovmf',
    join(FIRMWARE, 'OVMF.amdsev.fd'),
  ];
  const bin = join(ROOT, 'bin', 'gmemsim.js');
  const a: number[] = [];
  const b: number[] = [];
  run([bin, ...snpCli]);
  for (let i = 0; i < SPAWNS; i++) {
    a.push(run([bin, ...snpCli, '--expect', NONE]));
    b.push(run([bin, ...snpCli]));
  }
  out.push([
    'measure snp OVMF.amdsev.fd, 4 vCPUs: --expect, full diagnosis, whole process',
    `${fmt(median(a))} ms`,
    `plain ${fmt(median(b))} ms`,
    `×${fmt(median(a) / median(b), 2)} of plain (goal ≤ ×2)`,
    `median of ${SPAWNS} spawns of node bin/gmemsim.js`,
  ]);
  return out;
}

/**
 * 6. Long traces (issue 16): bench/trace.ts writes a scenario of 10,000 and of 100,000 steps
 * (scattered conversions and populates on a 1 TiB guest_memfd); `run`, `run --json` and
 * `view --out` run it as whole processes (bin/gmemsim.js), each with its wall time and peak RSS
 * (bench/peak-rss.mjs), beside the floor: the yaml library parsing the same file
 * (bench/yaml-floor.mjs). Goal: ten times the steps costs at most about 12 times the time.
 */
async function traceRows(): Promise<string[][]> {
  ensureDist();
  const dir = mkdtempSync(join(tmpdir(), 'gmemsim-bench-'));
  const out: string[][] = [];
  try {
    const rssFile = join(dir, 'rss');
    const proc = (args: string[], stdout: string): { ms: number; rssMiB: number } => {
      const t0 = performance.now();
      const r = spawnSync(
        process.execPath,
        ['--import', pathToFileURL(join(ROOT, 'bench', 'peak-rss.mjs')).href, ...args],
        {
          cwd: ROOT,
          env: { ...process.env, GMEMSIM_BENCH_RSS: rssFile, CI: '' },
          stdio: ['ignore', openSync(stdout, 'w'), 'pipe'],
          maxBuffer: 1 << 26,
        },
      );
      const ms = performance.now() - t0;
      if (r.status !== 0) throw new Error(`bench: node ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
      return { ms, rssMiB: Number(readFileSync(rssFile, 'utf8')) / 1024 };
    };
    const bin = join(ROOT, 'bin', 'gmemsim.js');
    const by: Record<string, Record<number, { ms: number; rssMiB: number }>> = {};
    for (const steps of [10_000, 100_000]) {
      const file = join(dir, `trace-${steps}.yaml`);
      writeFileSync(file, traceScenario(steps));
      const size = statSync(file).size;
      const floor = proc([join(ROOT, 'bench', 'yaml-floor.mjs'), file], join(dir, 'floor.out'));
      const cases: [string, string[]][] = [
        ['run', ['run', file, '--quiet']],
        ['run --json', ['run', file, '--json', '--quiet']],
        ['view --out', ['view', file, '--out', join(dir, 'view.html'), '--quiet']],
      ];
      for (const [label, args] of cases) {
        const r = proc([bin, ...args], join(dir, 'out'));
        (by[label] ??= {})[steps] = r;
        const grew = steps === 100_000 ? by[label]![10_000] : undefined;
        out.push([
          `gmemsim ${label}, ${steps.toLocaleString('en')} steps (1 TiB guest_memfd)`,
          `${fmt(r.ms / 1000, 2)} s, ${fmt(r.rssMiB, 0)} MiB peak RSS`,
          `floor ${fmt(floor.ms / 1000, 2)} s, ${fmt(floor.rssMiB, 0)} MiB`,
          `×${fmt(r.ms / floor.ms, 2)} of floor${grew ? `; ×${fmt(r.ms / grew.ms, 1)} the time of 10,000 steps (goal ≤ ×12)` : ''}`,
          `whole process; floor: yaml parseDocument of the same ${fmt(size / 2 ** 20, 1)} MiB file`,
        ]);
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return out;
}

if (part('measure')) rows.push(...(await measureRows()));
if (part('trace')) rows.push(...(await traceRows()));
if (part('expect')) rows.push(...(await expectRows()));

const cpu = cpus()[0]?.model ?? 'unknown CPU';
process.stdout.write(
  `gmemsim bench — ${new Date().toISOString().slice(0, 10)}, ${cpus().length} × ${cpu}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version} ${platform()}/${arch()}\n\n`,
);
process.stdout.write('| workload | time | beside | detail | note |\n|---|---|---|---|---|\n');
for (const r of rows) process.stdout.write(`| ${r.join(' | ')} |\n`);
