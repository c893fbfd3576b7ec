/**
 * The live kernel port: the C helper (native/kvm-helper.c) that issues a scenario's system calls on
 * the running kernel, built from the project's own source and spoken to over its stdin/stdout
 * (protocol in the C file's header; why a helper and not an FFI: docs/notes/live.md).
 */
import { type ChildProcessWithoutNullStreams, spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { accessSync, constants, existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Why the live kernel cannot be used here: one line for the user, exit 2. */
export class LiveUnavailable extends Error {}

/** The package root: the nearest directory above this module with native/kvm-helper.c. */
export function packageRoot(): string {
  let d = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(d, 'native', 'kvm-helper.c')) && existsSync(join(d, 'package.json'))) return d;
    const up = dirname(d);
    if (up === d) throw new LiveUnavailable('native/kvm-helper.c not found beside this gmemsim installation');
    d = up;
  }
}

export const HELPER_SOURCE = (): string => join(packageRoot(), 'native', 'kvm-helper.c');

/** Where a built helper lives: keyed by the source's hash, so an edited source is rebuilt. */
function candidates(hash: string): string[] {
  const name = `kvm-helper-${hash}`;
  const uid = typeof process.getuid === 'function' ? process.getuid() : 0;
  return [join(packageRoot(), 'build', name), join(tmpdir(), `gmemsim-${uid}`, name)];
}

function writable(dir: string): boolean {
  try {
    mkdirSync(dir, { recursive: true });
    accessSync(dir, constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * Build the helper (npm's prepare calls this through scripts/build-helper.mjs; `--live` calls it at
 * first use). Returns the binary's path; throws LiveUnavailable with what is missing.
 */
export function buildHelper(opts: { quiet?: boolean } = {}): string {
  const src = HELPER_SOURCE();
  const hash = createHash('sha256').update(readFileSync(src)).digest('hex').slice(0, 16);
  const places = candidates(hash);
  for (const p of places) if (existsSync(p)) return p;
  const target = places.find((p) => writable(dirname(p)));
  if (!target)
    throw new LiveUnavailable(`no writable directory to build the KVM helper in (tried ${places.join(', ')})`);
  const cc = process.env.CC || 'cc';
  const tmp = `${target}.${process.pid}.tmp`;
  const r = spawnSync(cc, ['-O2', '-std=gnu11', '-Wall', '-o', tmp, src], { encoding: 'utf8' });
  if (r.error && (r.error as NodeJS.ErrnoException).code === 'ENOENT')
    throw new LiveUnavailable(
      `no C compiler: the KVM helper is built from native/kvm-helper.c with ${cc} (install gcc, or set CC)`,
    );
  if (r.status !== 0) {
    rmSync(tmp, { force: true });
    const first = (r.stderr || r.error?.message || '').split('\n').find((l) => /error/.test(l)) ?? 'failed';
    throw new LiveUnavailable(`building native/kvm-helper.c with ${cc} failed: ${first.trim()}`);
  }
  // rename is atomic: concurrent builders (test workers) each install a complete binary
  renameSync(tmp, target);
  if (!opts.quiet) process.stderr.write(`gmemsim: built the KVM helper at ${target}\n`);
  return target;
}

/** The KVM device: /dev/kvm (GMEMSIM_KVM_DEVICE names another path, for tests of the refusal). */
export const kvmDevice = (): string => process.env.GMEMSIM_KVM_DEVICE || '/dev/kvm';

/** Without /dev/kvm, or without permission to open it, the reason in one line (else undefined). */
export function kvmUnavailable(): string | undefined {
  const dev = kvmDevice();
  if (!existsSync(dev)) return `no ${dev} on this machine (KVM is not loaded or not exposed)`;
  try {
    accessSync(dev, constants.R_OK | constants.W_OK);
  } catch {
    return `no permission to open ${dev} (run as root or as a member of the kvm group)`;
  }
  return undefined;
}

export interface Reply {
  /** the request was refused by the helper (not issued), with the reason */
  refused?: string;
  ret: bigint;
  /** errno number, 0 for none */
  errno: number;
  signal?: 'SIGBUS' | 'SIGSEGV';
  /** key=value fields (decimal numbers, or bytes=h:…/f:…) */
  fields: Record<string, string>;
}

function parseReply(line: string): Reply {
  if (line.startsWith('! ')) return { refused: line.slice(2), ret: -1n, errno: 0, fields: {} };
  const parts = line.split(' ');
  if (parts[0] !== '=' || parts.length < 4) throw new Error(`kvm-helper: unexpected reply ${JSON.stringify(line)}`);
  const fields: Record<string, string> = {};
  for (const p of parts.slice(4)) {
    const i = p.indexOf('=');
    if (i > 0) fields[p.slice(0, i)] = p.slice(i + 1);
  }
  const sig = parts[3];
  return {
    ret: BigInt(parts[1]!),
    errno: Number(parts[2]),
    ...(sig === 'SIGBUS' || sig === 'SIGSEGV' ? { signal: sig } : {}),
    fields,
  };
}

/** Decode bytes=h:<hex> | f:<byte>:<len>. */
export function replyBytes(v: string | undefined): Uint8Array | undefined {
  if (v === undefined) return undefined;
  if (v.startsWith('f:')) {
    const [, b, n] = v.split(':');
    return new Uint8Array(Number(n)).fill(Number(b));
  }
  return Uint8Array.from(Buffer.from(v.slice(2), 'hex'));
}

const live = new Set<Helper>();
let exitHook = false;

/** One helper process: one scenario's VMs, files and mappings. */
export class Helper {
  private readonly child: ChildProcessWithoutNullStreams;
  private buf = '';
  private readonly lines: string[] = [];
  private waiter: ((l: string | undefined) => void) | undefined;
  private closed = false;
  private stderr = '';
  kvmFd = -1n;

  private constructor(child: ChildProcessWithoutNullStreams) {
    this.child = child;
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (d: string) => {
      this.buf += d;
      let i = this.buf.indexOf('\n');
      while (i >= 0) {
        this.push(this.buf.slice(0, i));
        this.buf = this.buf.slice(i + 1);
        i = this.buf.indexOf('\n');
      }
    });
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (d: string) => {
      this.stderr += d;
    });
    child.on('close', () => {
      this.closed = true;
      live.delete(this);
      this.push(undefined);
    });
    child.stdin.on('error', () => {});
  }

  private push(l: string | undefined): void {
    const w = this.waiter;
    if (w) {
      this.waiter = undefined;
      w(l);
    } else if (l !== undefined) this.lines.push(l);
  }

  private next(): Promise<string | undefined> {
    const l = this.lines.shift();
    if (l !== undefined || this.closed) return Promise.resolve(l);
    return new Promise((res) => {
      this.waiter = res;
    });
  }

  static async start(): Promise<Helper> {
    const why = kvmUnavailable();
    if (why) throw new LiveUnavailable(why);
    const bin = buildHelper();
    const child = spawn(bin, [kvmDevice()], { stdio: ['pipe', 'pipe', 'pipe'] });
    const h = new Helper(child);
    live.add(h);
    if (!exitHook) {
      exitHook = true;
      // every exit path kills the helpers (their VMs, fds and mappings go with them)
      process.on('exit', () => {
        for (const x of live) x.child.kill('SIGKILL');
      });
    }
    const hello = await h.next();
    if (hello === undefined || !hello.startsWith('gmemsim-kvm-helper 1 ')) {
      h.kill();
      const why = hello?.startsWith('! ') ? hello.slice(2) : `the KVM helper did not start (${h.stderr.trim()})`;
      throw new LiveUnavailable(why);
    }
    h.kvmFd = BigInt(/kvm_fd=(\d+)/.exec(hello)?.[1] ?? '-1');
    return h;
  }

  /** Send one request line, wait for its reply. */
  async call(request: string): Promise<Reply> {
    if (this.closed) throw new Error(`kvm-helper exited (${this.stderr.trim() || 'no message'})`);
    this.child.stdin.write(`${request}\n`);
    const l = await this.next();
    if (l === undefined) throw new Error(`kvm-helper exited during "${request.slice(0, 60)}" (${this.stderr.trim()})`);
    return parseReply(l);
  }

  /** End the helper: closing its stdin ends it; a kill makes sure. */
  kill(): void {
    if (this.closed) return;
    this.child.stdin.end();
    this.child.kill('SIGKILL');
    live.delete(this);
  }
}
