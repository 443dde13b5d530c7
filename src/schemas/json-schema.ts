import * as z from 'zod';
import { DomainSchema, InfraSchema, MachineSchema, NetworkPolicySchema } from './infra.js';
import type { SchemaKind } from './schema-kinds.js';

export { SCHEMA_KIND_NAMES, type SchemaKind } from './schema-kinds.js';

/** One JSON Schema document per kind, as in crd-like-schemas/. */
export const SCHEMA_KINDS: Readonly<Record<SchemaKind, { readonly title: string; readonly schema: z.ZodType }>> = {
  infra: { title: 'Infra', schema: InfraSchema },
  domain: { title: 'Domain', schema: DomainSchema },
  machine: { title: 'Machine', schema: MachineSchema },
  'network-policy': { title: 'NetworkPolicy', schema: NetworkPolicySchema },
};

/** The file name of a kind's document in crd-like-schemas/. */
export function schemaFileName(kind: SchemaKind): string {
  return `${kind}.schema.json`;
}

/** The JSON Schema (draft 2020-12) of what a user writes: defaults are optional. */
export function jsonSchemaOf(kind: SchemaKind): Record<string, unknown> {
  const { title, schema } = SCHEMA_KINDS[kind];
  const generated = z.toJSONSchema(schema, { io: 'input', target: 'draft-2020-12' });
  return {
    $schema: generated.$schema,
    $id: `https://anklume.dev/schemas/${schemaFileName(kind)}`,
    title,
    ...Object.fromEntries(Object.entries(generated).filter(([k]) => k !== '$schema' && k !== 'title')),
  };
}

/** Serialised as written to disk: stable, two-space indented, trailing newline. */
export function renderJsonSchema(kind: SchemaKind): string {
  return `${JSON.stringify(jsonSchemaOf(kind), null, 2)}\n`;
}
