/** A consumer's TypeScript checked by this project's tsc: for the tests of the package's declarations. */
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './scenarios.ts';

/**
 * Write `use.ts` (the source) and a strict tsconfig.json into `dir`, run tsc, return its exit status
 * and what it printed. `types`: the @types packages the consumer has; `skipLibCheck` as a consumer
 * may set it.
 */
export function typecheck(
  dir: string,
  source: string,
  opts: { types: string[]; skipLibCheck?: boolean },
): { status: number | null; stdout: string } {
  writeFileSync(
    join(dir, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        module: 'nodenext',
        moduleResolution: 'nodenext',
        strict: true,
        noEmit: true,
        types: opts.types,
        ...(opts.skipLibCheck ? { skipLibCheck: true } : {}),
        lib: ['es2023'],
      },
      files: ['use.ts'],
    }),
  );
  writeFileSync(join(dir, 'use.ts'), source);
  const r = spawnSync(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', dir], {
    encoding: 'utf8',
  });
  return { status: r.status, stdout: r.stdout };
}
