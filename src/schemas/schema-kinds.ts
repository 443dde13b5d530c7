/** The kinds `anklumectl schema` prints (without loading zod: the CLI's help lists them). */
export const SCHEMA_KIND_NAMES = ['infra', 'domain', 'machine', 'network-policy'] as const;

export type SchemaKind = (typeof SCHEMA_KIND_NAMES)[number];
