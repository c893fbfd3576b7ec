/** Command-line error types (kept tiny: main.ts loads this before anything else). */

/** Bad input on the command line: one line, exit 2. */
export class UsageError extends Error {}

/** Invalid scenario files: each line is FILE:LINE:COL: message. */
export class DiagnosticsError extends UsageError {}

/** why a file operation failed, for the one line: the errno code (ENOENT, EISDIR...) or the message */
export function fsReason(e: unknown): string {
  return (e as NodeJS.ErrnoException).code ?? (e as Error).message;
}
