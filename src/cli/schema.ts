import { SCHEMA_KINDS, renderJsonSchema, type SchemaKind } from '../schemas/json-schema.js';
import { UsageError } from '../shared/errors.js';
import { EXIT, type CliIo } from './io.js';

/** `anklumectl schema [kind]`: print the JSON Schema generated from the zod schemas. */
export function runSchema(kind: string, io: CliIo): number {
  if (!(kind in SCHEMA_KINDS)) {
    throw new UsageError(`unknown schema kind "${kind}"; expected one of ${Object.keys(SCHEMA_KINDS).join(', ')}`);
  }
  io.stdout(renderJsonSchema(kind as SchemaKind));
  return EXIT.ok;
}
