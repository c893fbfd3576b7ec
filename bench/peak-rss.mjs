/**
 * Preloaded by `npm run bench -- trace` (node --import): writes the process's peak resident set
 * size (KiB, process.resourceUsage().maxRSS) to the file GMEMSIM_BENCH_RSS names when it exits.
 */
import { writeFileSync } from 'node:fs';

const out = process.env.GMEMSIM_BENCH_RSS;
if (out) process.on('exit', () => writeFileSync(out, String(process.resourceUsage().maxRSS)));
