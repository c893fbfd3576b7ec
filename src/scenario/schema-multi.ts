/**
 * zod schemas of the "one file, many kernels" extensions (docs/scenario-extensions.md): the knobs of
 * a `kernel.profiles` entry and fragment files. Kept apart from schema.ts, which follows the contract.
 */
import { z } from 'zod';
import { knobSchemaFields } from './schema.ts';

/** the knobs a `kernel.profiles` entry may set beside `profile`: the declared knobs, as in `kernel:` */
export const runKnobsSchema = z.strictObject(knobSchemaFields);

/** A fragment file: steps with `$NAME` parameters, for `include:`. */
export const fragmentSchema = z.strictObject({
  format: z.literal('gmemsim/1-fragment', { error: 'a fragment file has format gmemsim/1-fragment' }),
  name: z
    .string()
    .min(1)
    .regex(/^[^\n]*$/, { error: 'name is one line' }),
  description: z.string().optional(),
  params: z
    .record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, { error: 'a parameter name is an identifier' }), z.unknown())
    .optional(),
  steps: z.array(z.unknown()).min(1, { error: 'a fragment needs at least one step' }),
});
