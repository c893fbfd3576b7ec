#!/usr/bin/env node
/**
 * The floor of the long-trace rows of `npm run bench`: reading a scenario file and parsing it with
 * the yaml library (parseDocument, as a tool that reports FILE:LINE:COL must), nothing else. Not
 * part of gmemsim.
 *
 *   node bench/yaml-floor.mjs FILE
 */
import { readFileSync } from 'node:fs';
import { LineCounter, parseDocument } from 'yaml';

const lineCounter = new LineCounter();
const doc = parseDocument(readFileSync(process.argv[2], 'utf8'), { lineCounter, intAsBigInt: true });
if (doc.errors.length) {
  process.stderr.write(`${doc.errors[0].message}\n`);
  process.exit(2);
}
