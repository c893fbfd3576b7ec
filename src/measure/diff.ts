/**
 * `gmemsim measure diff`: two launches side by side, record by record, and the first record where
 * they part. The records are the ones the model hashes: the kernel of each launch gets a SHA-384
 * port that keeps a copy of what it is fed (TDX: the TDX module's MRTD stream, cut into
 * TDH.MEM.PAGE.ADD and TDH.MR.EXTEND records; SEV-SNP: every PAGE_INFO the PSP hashes), so what is
 * compared is what the measurement is made of, not a re-derivation. Each record is traced back to
 * the call of the launch that produced it (the populate call whose GPA range holds it).
 */
import { createKernel } from '../core/index.ts';
import type { Sha384, Sha384Factory } from '../core/ports.ts';
import { EncryptCmd } from '../core/uapi.ts';
import type { Scenario } from '../scenario/load.ts';
import { type Host, runScenario } from '../scenario/run.ts';
import { hex0x as hex, toHex } from '../util/hex.ts';
import { FirmwareError } from './ovmf.ts';
import { measureSnp, type SnpCall, type SnpLaunchInputs } from './snp.ts';
import { describeSection } from './tdvf.ts';
import { measureTdx, type TdxLaunchOptions, type TdxPopulateCall } from './tdx.ts';

export interface LaunchRecord {
  /** 0-based position in the measured stream */
  index: number;
  kind: 'MEM.PAGE.ADD' | 'MR.EXTEND' | 'PAGE_INFO';
  gpa: bigint;
  /** SNP: the PAGE_INFO page type */
  pageType?: string;
  /** the call that produced it and what it populates ('KVM_TDX_INIT_MEM_REGION #1, TDVF section 0 (BFV)') */
  call: string;
  /** what is compared: TDX the whole record; SNP the PAGE_INFO without the running digest */
  body: Uint8Array;
}

export interface MeasuredLaunch {
  measurement: string;
  records: LaunchRecord[];
  /** one line: what was launched */
  description: string;
}

/** A host whose kernels' SHA-384 keeps what it hashes: `stream` (updates) and `oneShots` (0x70-byte inputs). */
function recordingHost(host: Host, base: Sha384Factory): { host: Host; stream: Uint8Array[]; pageInfos: Uint8Array[] } {
  const stream: Uint8Array[] = [];
  const pageInfos: Uint8Array[] = [];
  const wrap = (h: Sha384, log: boolean): Sha384 => ({
    update(d) {
      if (log) stream.push(Uint8Array.from(d));
      h.update(d);
    },
    copy: () => h.copy(),
    digest: () => h.digest(),
  });
  const factory: Sha384Factory = Object.assign(() => wrap(base(), true), {
    oneShot: (b: Uint8Array) => {
      if (b.length === 0x70) pageInfos.push(Uint8Array.from(b));
      if (base.oneShot) return base.oneShot(b);
      const h = base();
      h.update(b);
      return h.digest();
    },
  });
  return {
    host: { ...host, createKernel: (profile, knobs) => createKernel(profile, factory, knobs) },
    stream,
    pageInfos,
  };
}

function concat(parts: Uint8Array[]): Uint8Array {
  const n = parts.reduce((a, p) => a + p.length, 0);
  const out = new Uint8Array(n);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

const TAG_ADD = 'MEM.PAGE.ADD';
const TAG_EXTEND = 'MR.EXTEND';

export function tdxLaunchRecords(
  image: Uint8Array,
  opts: Omit<TdxLaunchOptions, 'firmware' | 'mrtd'>,
  host: Host,
  sha: Sha384Factory,
  description: string,
): MeasuredLaunch {
  const rec = recordingHost(host, sha);
  const m = measureTdx(image, opts, rec.host);
  const bytes = concat(rec.stream);
  const view = new DataView(bytes.buffer);
  const callOf = (gpa: bigint): string => {
    const i = m.plan.calls.findIndex((c: TdxPopulateCall) => gpa >= c.gpa && gpa < c.gpa + c.pages * 4096n);
    const c = m.plan.calls[i];
    return c
      ? `KVM_TDX_INIT_MEM_REGION #${i + 1}${c.measured ? ' (MEASURE)' : ''}, ${describeSection(c.section)}`
      : 'no populate call';
  };
  const records: LaunchRecord[] = [];
  const dec = new TextDecoder();
  for (let at = 0; at < bytes.length; ) {
    const tag = dec.decode(bytes.subarray(at, at + 16)).replace(/\0+$/, '');
    const gpa = view.getBigUint64(at + 16, true);
    const len = tag === TAG_EXTEND ? 384 : 128;
    if (tag !== TAG_ADD && tag !== TAG_EXTEND)
      throw new Error(`Model invariant violated: MRTD record ${JSON.stringify(tag)}`);
    records.push({ index: records.length, kind: tag, gpa, call: callOf(gpa), body: bytes.subarray(at, at + len) });
    at += len;
  }
  return { measurement: m.mrtd, records, description };
}

const PAGE_TYPES: Record<number, string> = {
  1: 'NORMAL',
  2: 'VMSA',
  3: 'ZERO',
  4: 'UNMEASURED',
  5: 'SECRETS',
  6: 'CPUID',
};

export function snpLaunchRecords(
  inp: SnpLaunchInputs,
  host: Host,
  sha: Sha384Factory,
  description: string,
): MeasuredLaunch {
  const rec = recordingHost(host, sha);
  const m = measureSnp(inp, rec.host);
  const callOf = (type: string, gpa: bigint, vmsa: number): string => {
    if (type === 'VMSA') return `KVM_SEV_SNP_LAUNCH_FINISH, VMSA of vCPU ${vmsa}`;
    const i = m.plan.calls.findIndex(
      (c: SnpCall) =>
        c.call === 'KVM_SEV_SNP_LAUNCH_UPDATE' &&
        c.type === type &&
        gpa >= c.gpa &&
        gpa < c.gpa + BigInt(c.pages) * 4096n,
    );
    const c = m.plan.calls[i];
    return c ? `KVM_SEV_SNP_LAUNCH_UPDATE #${i + 1}, ${c.what}` : 'no call';
  };
  let vmsas = 0;
  const records = rec.pageInfos.map((p, index): LaunchRecord => {
    const v = new DataView(p.buffer, p.byteOffset, p.byteLength);
    const type = PAGE_TYPES[p[0x62]!] ?? `type ${p[0x62]}`;
    const gpa = v.getBigUint64(0x68, true);
    return {
      index,
      kind: 'PAGE_INFO',
      gpa,
      pageType: type,
      call: callOf(type, gpa, type === 'VMSA' ? vmsas++ : 0),
      body: p.subarray(0x30),
    };
  });
  return { measurement: m.measurement, records, description };
}

export interface LaunchDiff {
  a: MeasuredLaunch;
  b: MeasuredLaunch;
  same: boolean;
  /** records before the first difference (equal in both) */
  common: number;
  /** the first differing record of each (undefined past its end) */
  first?: { a?: LaunchRecord; b?: LaunchRecord; what: string[] };
  /** after the first difference: records at the same position that are equal again, and that differ */
  after: { equal: number; differ: number };
}

const eq = (x: Uint8Array, y: Uint8Array) => x.length === y.length && x.every((v, i) => v === y[i]);

export function diffLaunches(a: MeasuredLaunch, b: MeasuredLaunch): LaunchDiff {
  const n = Math.min(a.records.length, b.records.length);
  let i = 0;
  while (i < n && eq(a.records[i]!.body, b.records[i]!.body)) i++;
  const same = i === a.records.length && i === b.records.length;
  if (same) return { a, b, same: a.measurement === b.measurement, common: i, after: { equal: 0, differ: 0 } };
  const ra = a.records[i];
  const rb = b.records[i];
  const what: string[] = [];
  if (!ra || !rb) what.push(`${ra ? 'B' : 'A'} has no record ${i + 1}: its launch ends there`);
  else {
    if (ra.kind !== rb.kind) what.push(`kind: ${ra.kind} / ${rb.kind}`);
    if (ra.gpa !== rb.gpa) what.push(`GPA: ${hex(ra.gpa)} / ${hex(rb.gpa)}`);
    if (ra.pageType !== rb.pageType) what.push(`page type: ${ra.pageType} / ${rb.pageType}`);
    if (ra.kind === rb.kind && ra.gpa === rb.gpa && ra.pageType === rb.pageType)
      what.push(
        ra.kind === 'PAGE_INFO'
          ? `contents: SHA-384 ${toHex(ra.body.subarray(0, 6))}… / ${toHex(rb.body.subarray(0, 6))}…`
          : `data: the ${ra.kind === 'MR.EXTEND' ? '256-byte chunk' : 'record'} differs`,
      );
  }
  let equal = 0;
  let differ = 0;
  for (let j = i + 1; j < n; j++) {
    if (eq(a.records[j]!.body, b.records[j]!.body)) equal++;
    else differ++;
  }
  return {
    a,
    b,
    same: false,
    common: i,
    first: { ...(ra ? { a: ra } : {}), ...(rb ? { b: rb } : {}), what },
    after: { equal, differ },
  };
}

export function describeRecord(r: LaunchRecord): string {
  const what =
    r.kind === 'MR.EXTEND'
      ? `TDH.MR.EXTEND of chunk ${hex(r.gpa)} (page ${hex(r.gpa & ~0xfffn)})`
      : r.kind === 'MEM.PAGE.ADD'
        ? `TDH.MEM.PAGE.ADD of ${hex(r.gpa)}`
        : `PAGE_INFO ${r.pageType} at ${hex(r.gpa)}`;
  return `#${r.index + 1} ${what}, from ${r.call}`;
}

/**
 * The records of a scenario file's launch (the `attest` step's measurement), each traced to the
 * scenario step during which the model hashed it: for `measure diff ... --vs-scenario FILE`.
 */
export function scenarioLaunchRecords(
  scenario: Scenario,
  platform: 'tdx' | 'snp',
  host: Host,
  sha: Sha384Factory,
  description: string,
): MeasuredLaunch {
  let stepNo = -1;
  const streamSteps: [number, number][] = []; // [byte offset, step]
  const infoSteps: number[] = [];
  const rec = recordingHost(host, sha);
  let streamBytes = 0;
  const stepHost: Host = {
    ...rec.host,
    createKernel: (profile, knobs) => {
      const k = rec.host.createKernel(profile, knobs);
      const step = k.step.bind(k);
      k.step = (op, inject) => {
        stepNo++;
        const before = rec.stream.length;
        const infos = rec.pageInfos.length;
        const out = step(op, inject);
        for (let i = before; i < rec.stream.length; i++) {
          streamSteps.push([streamBytes, stepNo]);
          streamBytes += rec.stream[i]!.length;
        }
        for (let i = infos; i < rec.pageInfos.length; i++) infoSteps.push(stepNo);
        return out;
      };
      return k;
    },
  };
  const result = runScenario(scenario, stepHost);
  const attest = [...result.steps].reverse().find((s) => s.op.op === 'attest');
  const measurement = attest?.outcome.out[platform === 'tdx' ? 'mrtd' : 'measurement'];
  if (typeof measurement !== 'string')
    throw new FirmwareError(
      `the scenario has no attest step that gives ${platform === 'tdx' ? 'an MRTD' : 'a launch digest'}`,
    );
  const stepName = (i: number) => {
    const s = result.steps[i];
    if (!s) return 'no step';
    const op = s.op;
    const id =
      op.op === 'KVM_MEMORY_ENCRYPT_OP'
        ? ` ${Object.entries(EncryptCmd).find(([, v]) => BigInt(v as number) === op.id)?.[0] ?? op.id}`
        : '';
    return `scenario step ${i + 1} (${op.op}${id})`;
  };
  if (platform === 'snp') {
    const records = rec.pageInfos.map((p, index): LaunchRecord => {
      const v = new DataView(p.buffer, p.byteOffset, p.byteLength);
      return {
        index,
        kind: 'PAGE_INFO',
        gpa: v.getBigUint64(0x68, true),
        pageType: PAGE_TYPES[p[0x62]!] ?? `type ${p[0x62]}`,
        call: stepName(infoSteps[index]!),
        body: p.subarray(0x30),
      };
    });
    return { measurement, records, description };
  }
  const bytes = concat(rec.stream);
  const view = new DataView(bytes.buffer);
  const dec = new TextDecoder();
  const records: LaunchRecord[] = [];
  let seg = 0;
  for (let at = 0; at < bytes.length; ) {
    while (seg + 1 < streamSteps.length && streamSteps[seg + 1]![0] <= at) seg++;
    const tag = dec.decode(bytes.subarray(at, at + 16)).replace(/\0+$/, '');
    if (tag !== TAG_ADD && tag !== TAG_EXTEND)
      throw new Error(`Model invariant violated: MRTD record ${JSON.stringify(tag)}`);
    const len = tag === TAG_EXTEND ? 384 : 128;
    records.push({
      index: records.length,
      kind: tag,
      gpa: view.getBigUint64(at + 16, true),
      call: stepName(streamSteps[seg]?.[1] ?? -1),
      body: bytes.subarray(at, at + len),
    });
    at += len;
  }
  return { measurement, records, description };
}
