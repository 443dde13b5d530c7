import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { SCHEMA_KINDS, renderJsonSchema, schemaFileName, type SchemaKind } from '../../src/schemas/json-schema.js';

describe('crd-like-schemas/', () => {
  for (const kind of Object.keys(SCHEMA_KINDS) as SchemaKind[]) {
    it(`${schemaFileName(kind)} matches the zod schema (run npm run gen:schemas when this fails)`, () => {
      const onDisk = readFileSync(new URL(`../../crd-like-schemas/${schemaFileName(kind)}`, import.meta.url), 'utf8');
      expect(onDisk).toBe(renderJsonSchema(kind));
    });
  }

  it('rejects unknown keys in every object, so editors flag typos too', () => {
    const schema = JSON.parse(renderJsonSchema('machine')) as { additionalProperties: unknown; properties: Record<string, unknown> };
    expect(schema.additionalProperties).toBe(false);
    expect(Object.keys(schema.properties)).toContain('os_image');
  });
});
