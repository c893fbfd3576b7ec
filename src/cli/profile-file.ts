/**
 * `--profile-file FILE`: a kernel profile written as a small YAML file - `base:` (a profile name)
 * plus the behaviour fields it changes (src/core/profiles.ts BehaviourFields). A kernel developer
 * weighing a uAPI change writes one and runs `gmemsim diff --profile BASE --profile-file FILE ...`.
 * Every problem is reported as FILE:LINE:COL with the valid names (exit 2).
 */
import { readFileSync } from 'node:fs';
import { basename, extname } from 'node:path';
import { isMap, isScalar, LineCounter, type Node, parseDocument } from 'yaml';
import { z } from 'zod';
import {
  BehaviourFields,
  canonicalName,
  isProfileName,
  type Profile,
  type ProfileBehaviour,
  type ProfileName,
  ProfileNames,
  Profiles,
} from '../core/profiles.ts';
import { DiagnosticsError, fsReason } from './errors.ts';

const sourceZero = z.enum([
  'user-address',
  'null-rejected-by-callback',
  'einval',
  'in-place-or-einval',
  'in-place-always',
]);

/** The zod schema of each field a profile file may set. */
const FieldSchemas: Record<(typeof BehaviourFields)[number], z.ZodType> = {
  era: z.enum(['A', 'B', 'C', 'D', 'D*']),
  summary: z.string(),
  inPlaceSeries: z.boolean(),
  inPlaceDefault: z.boolean(),
  tdxSourceZero: sourceZero,
  snpSourceZero: sourceZero,
  populateGupsSource: z.boolean(),
  mayWritebackSrc: z.boolean(),
  gmemBindOverlap: z.enum(['EINVAL', 'EEXIST']),
  gmemBindOverlapAtCommit: z.boolean(),
  populateZeroesFreshPage: z.boolean(),
  snpFinishBusyOnVcpuCreation: z.boolean(),
  tdxImrByteOverflowChecked: z.boolean(),
  snpNoSrcBeforeRmp: z.boolean(),
  tdxPageAddInPopulate: z.boolean(),
  populateRefusesPrepared: z.boolean(),
};

const META = ['base', 'name', 'description'] as const;

export function validFieldNames(): string[] {
  return [...META, ...BehaviourFields];
}

function message(e: z.ZodError): string {
  const i = e.issues[0];
  if (!i) return 'invalid value';
  if (i.code === 'invalid_value' && 'values' in i) return `expected one of ${(i.values as unknown[]).join(', ')}`;
  if (i.code === 'invalid_type') return `expected ${i.expected}`;
  return i.message;
}

/** Parse and check a profile file's text; the profile it describes, or every problem as FILE:LINE:COL. */
export function parseProfileFile(file: string, text: string): Profile {
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, uniqueKeys: true, prettyErrors: false });
  const errors: string[] = [];
  const at = (offset: number | undefined, msg: string) => {
    const p = lc.linePos(offset ?? 0);
    errors.push(`${file}:${p.line}:${p.col}: ${msg}`);
  };
  for (const e of doc.errors) at(e.pos[0], e.message.split('\n')[0] ?? 'YAML error');
  if (errors.length) throw new DiagnosticsError(errors.join('\n'));
  const root = doc.contents;
  if (!isMap(root)) {
    at(0, `a profile file is a mapping: base: PROFILE plus fields (${validFieldNames().join(', ')})`);
    throw new DiagnosticsError(errors.join('\n'));
  }
  const values: Record<string, unknown> = {};
  let baseName: string | undefined;
  let name: string | undefined;
  for (const pair of root.items) {
    const keyNode = pair.key as Node | null;
    const key = isScalar(keyNode) ? String(keyNode.value) : '';
    const keyAt = keyNode?.range?.[0];
    const valueNode = pair.value as Node | null;
    const valueAt = valueNode?.range?.[0] ?? keyAt;
    const value = isScalar(valueNode) ? valueNode.value : valueNode?.toJSON();
    if (key === 'base') {
      if (typeof value !== 'string' || !isProfileName(value))
        at(valueAt, `base: expected a profile name (${ProfileNames.join(', ')})`);
      else baseName = value;
    } else if (key === 'name') {
      if (typeof value !== 'string' || !/^[A-Za-z0-9._-]+$/.test(value))
        at(valueAt, 'name: expected a name of letters, digits, ".", "_" or "-"');
      else name = value;
    } else if (key === 'description') {
      if (typeof value !== 'string') at(valueAt, 'description: expected text');
    } else if ((BehaviourFields as readonly string[]).includes(key)) {
      const r = FieldSchemas[key as (typeof BehaviourFields)[number]].safeParse(value);
      if (r.success) values[key] = r.data;
      else at(valueAt, `${key}: ${message(r.error)}`);
    } else at(keyAt, `unknown field "${key}" (valid: ${validFieldNames().join(', ')})`);
  }
  if (!baseName && !errors.length) at(0, `base: missing (a profile name: ${ProfileNames.join(', ')})`);
  if (errors.length || !baseName) throw new DiagnosticsError(errors.join('\n'));
  const base = Profiles[baseName as ProfileName];
  const changed = Object.keys(values).filter((k) => k !== 'summary' && k !== 'era');
  const behaviour = values as Partial<ProfileBehaviour>;
  const ownName = name ?? basename(file, extname(file));
  return {
    ...base,
    ...behaviour,
    name: ownName,
    summary: behaviour.summary ?? `${base.summary} (changed by ${basename(file)}: ${changed.join(', ') || 'nothing'})`,
    base: baseName as ProfileName,
    source: {
      ...base.source,
      tree: `profile file ${file} on ${canonicalName(baseName as keyof typeof Profiles)}`,
      commits: [],
      diff: changed.length
        ? changed.map((k) => `${k}: ${JSON.stringify(values[k])}`).join('; ')
        : 'no behaviour field changed',
    },
  };
}

export function loadProfileFile(file: string): Profile {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new DiagnosticsError(`${file}:1:1: cannot read file: ${fsReason(e)}`);
  }
  return parseProfileFile(file, text);
}
