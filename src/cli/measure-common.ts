/**
 * What `gmemsim measure tdx` and `gmemsim measure snp` share: how the scenario names the images, and
 * --emit-scenario (the serializer loads only then). Small on purpose: each command loads only its own
 * launch builder.
 */
import { writeFileSync } from 'node:fs';
import { basename, dirname, relative, resolve, sep } from 'node:path';
import { nodeHost } from '../node/host.ts';
import { readBounded } from '../node/read.ts';
import type { Scenario } from '../scenario/load.ts';
import { fsReason, UsageError } from './errors.ts';

/** How the scenario names a data file: relative to the scenario file's directory, with '/' */
export function firmwareRef(firmware: string, emitScenario: string | undefined): string {
  if (emitScenario === undefined) return basename(firmware);
  const rel = relative(dirname(resolve(emitScenario)), resolve(firmware));
  return rel.split(sep).join('/');
}

/** --emit-scenario: the launch as a scenario file (the serializer loads only then) */
export async function writeScenario(
  file: string,
  plan: { scenario: Scenario; comments: ReadonlyMap<number, readonly string[]> },
): Promise<void> {
  const { emitScenario } = await import('../scenario/emit.ts');
  const text = emitScenario(plan.scenario, { comments: plan.comments });
  try {
    writeFileSync(file, text);
  } catch (e) {
    throw new UsageError(`--emit-scenario ${file}: cannot write file: ${fsReason(e)}`);
  }
}

/** the largest image, kernel or initrd read (2 GiB is where Node's own file reading gives up) */
export const MAX_INPUT_BYTES = 1 << 30;

/** An input file named by a flag, as a plain Uint8Array over its bytes (no copy); unreadable: one line, exit 2 */
export function readInput(flag: string, path: string): Uint8Array {
  try {
    // bounded: a firmware image, kernel or initrd, never `/dev/zero` read to the end
    return readBounded(path, MAX_INPUT_BYTES);
  } catch (e) {
    throw new UsageError(`${flag} ${path}: cannot read file: ${fsReason(e)}`);
  }
}

/** An input image as the emitted scenario's description and --json name it */
export function imageFacts(path: string, bytes: Uint8Array): { path: string; size: number; sha256: string } {
  return { path, size: bytes.length, sha256: nodeHost.sha256(bytes) };
}

/** The description line of an emitted scenario's image */
export const aboutImage = (path: string, bytes: Uint8Array): string =>
  `${basename(path)}, ${bytes.length} bytes, sha256 ${nodeHost.sha256(bytes)}`;
