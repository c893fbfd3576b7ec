/** The gmemsim process (../shared/spec/cli.md): runs the command line of program.ts. */
import { runCli } from './program.ts';

// a reader that goes away (`gmemsim rules | head`) is not an error
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw e;
});

process.exitCode = await runCli(process.argv.slice(2));
