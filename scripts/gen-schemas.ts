// Writes crd-like-schemas/*.schema.json from the zod schemas (npm run gen:schemas).
// test/unit/json-schema.test.ts fails when these files are stale.
import { writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { SCHEMA_KINDS, renderJsonSchema, schemaFileName, type SchemaKind } from '../src/schemas/json-schema.js';

const dir = fileURLToPath(new URL('../crd-like-schemas/', import.meta.url));
for (const kind of Object.keys(SCHEMA_KINDS) as SchemaKind[]) {
  const path = `${dir}${schemaFileName(kind)}`;
  await writeFile(path, renderJsonSchema(kind));
  console.log(`wrote ${path}`);
}
