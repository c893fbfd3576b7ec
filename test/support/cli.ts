/** Run the gmemsim command line from the source tree (node --import tsx), as a user would. */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { expect } from 'vitest';
import { ROOT } from './scenarios.ts';

export interface CliResult {
  code: number | null;
  out: string;
  err: string;
}

export function gmemsim(...args: string[]): CliResult {
  return gmemsimEnv({}, ...args);
}

/** gmemsim with extra environment variables */
export function gmemsimEnv(env: Record<string, string>, ...args: string[]): CliResult {
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'src/cli/main.ts'), ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    env: { ...process.env, NO_COLOR: '1', ...env },
    maxBuffer: 64 * 1024 * 1024,
  });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

/** stderr carries a message, not a stack trace */
export const noStack = (s: string): void => expect(s).not.toMatch(/\n\s+at .*\(|Error:|node:internal/);
