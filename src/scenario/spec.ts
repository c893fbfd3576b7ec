/**
 * The scenario format's view of the one declaration (core/decl.ts): operation name → its fields,
 * sub-command id → its struct. Nothing is declared here; the loader, the schemas, the emitter and
 * the report read these.
 */
import {
  CpuidFields,
  type FieldDecl,
  type FieldKind,
  type NameTable,
  OpDecls,
  type OpName,
  OpNames,
  SubCmdDecls,
} from '../core/decl.ts';

export type { FieldKind, NameTable };
export { CpuidFields, OpNames };

export type FieldSpec = FieldDecl;
export type ScenarioOpName = OpName;

/** Each operation's fields: name → declaration. */
export const OpSpecs = Object.fromEntries(OpNames.map((n) => [n, OpDecls[n].fields])) as unknown as {
  readonly [N in OpName]: Readonly<Record<string, FieldDecl>>;
};

/** The struct of each KVM_MEMORY_ENCRYPT_OP sub-command that has one, by id (the first declared wins where TDX and SEV ids overlap). */
export const EncStructs: Record<number, { struct: string; fields: Record<string, FieldKind> }> = {};
for (const d of Object.values(SubCmdDecls)) {
  if (!('struct' in d) || EncStructs[d.id]) continue;
  EncStructs[d.id] = {
    struct: d.struct.name,
    fields: Object.fromEntries(Object.entries(d.struct.fields).map(([k, f]) => [k, (f as FieldDecl).kind])),
  };
}

export const StepMetaKeys = ['as', 'as_process', 'expect', 'inject', 'note'] as const;
