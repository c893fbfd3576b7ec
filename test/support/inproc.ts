/**
 * Run a gmemsim command line in this process (runCli of src/cli/program.ts), capturing what it
 * writes to stdout and stderr: ~100 times faster than a process, for the fuzzer and input tests.
 * Calls must not overlap (the capture replaces process.stdout.write and process.stderr.write).
 */
import { runCli } from '../../src/cli/program.ts';
import type { CliResult } from './cli.ts';

let busy = false;

export async function gmemsimIn(...args: string[]): Promise<CliResult & { thrown?: unknown }> {
  if (busy) throw new Error('gmemsimIn: overlapping calls');
  busy = true;
  const out: string[] = [];
  const err: string[] = [];
  const stdout = process.stdout.write;
  const stderr = process.stderr.write;
  const noColor = process.env.NO_COLOR;
  const sink =
    (to: string[]) =>
    (chunk: string | Uint8Array, ...rest: unknown[]): boolean => {
      to.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8'));
      const cb = rest.find((r) => typeof r === 'function') as (() => void) | undefined;
      cb?.();
      return true;
    };
  process.stdout.write = sink(out) as typeof process.stdout.write;
  process.stderr.write = sink(err) as typeof process.stderr.write;
  process.env.NO_COLOR = '1';
  try {
    const code = await runCli(args);
    return { code, out: out.join(''), err: err.join('') };
  } catch (e) {
    // an exception escaping runCli is what a process would print as a stack trace
    return { code: 1, out: out.join(''), err: `${err.join('')}${(e as Error)?.stack ?? String(e)}\n`, thrown: e };
  } finally {
    process.stdout.write = stdout;
    process.stderr.write = stderr;
    if (noColor === undefined) delete process.env.NO_COLOR;
    else process.env.NO_COLOR = noColor;
    busy = false;
  }
}

/** a diagnostic line: FILE:LINE:COL: message */
const POSITIONED = /^.+:\d+:\d+: ./;
/** a flag or usage message (gmemsim's own, or commander's with its hint line) */
const FLAG_MESSAGE = /^(gmemsim: \S|error: \S|\(run with --help for usage\)$)/;
const STACK =
  /\n\s+at .*[(:]|node:internal|\b(Type|Reference|Range|Syntax)Error\b|Maximum call stack|is not a function|of undefined/;

/**
 * The crash-free rule (issue 16): exit 0, 1 or 2 (explore also 3); never a stack trace; on exit 2 every stderr line
 * is a diagnostic (FILE:LINE:COL: ...) or a flag message, or the command's help. Returns what is
 * wrong, or undefined.
 */
export function crashFreeViolation(
  r: CliResult & { thrown?: unknown },
  argv: readonly string[] = [],
): string | undefined {
  if (r.thrown !== undefined) {
    const t = r.thrown as Error;
    return `threw: ${t?.stack?.split('\n').slice(0, 5).join(' | ') ?? String(t)}`;
  }
  // 3: explore stopped at --max-states (docs/cli.md)
  const codes = argv[0] === 'explore' ? [0, 1, 2, 3] : [0, 1, 2];
  if (!codes.includes(r.code ?? -1)) return `exit ${r.code}`;
  if (STACK.test(`\n${r.err}`)) return `stack trace or JavaScript error on stderr: ${r.err.slice(0, 300)}`;
  if (r.code === 2) {
    if (r.err.startsWith('Usage:')) return undefined;
    const lines = r.err.split('\n').filter((l) => l !== '');
    if (!lines.length) return 'exit 2 with nothing on stderr';
    const bad = lines.find((l) => !POSITIONED.test(l) && !FLAG_MESSAGE.test(l));
    if (bad !== undefined)
      return `exit 2, stderr line is neither FILE:LINE:COL: nor a flag message: ${bad.slice(0, 200)}`;
  }
  return undefined;
}
