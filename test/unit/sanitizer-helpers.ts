// Shared by the sanitizer-*.test.ts files: the engine built on infra.example.yml.
import { readFileSync } from 'node:fs';
import { validateInfraText } from '../../src/config/validate.js';
import { buildDictionary, createSanitizer, MemoryMappingStore, type DomainSanitizer, type IdentifierDictionary, type SanitizerOptions } from '../../src/sanitizer/index.js';

let example: IdentifierDictionary | null = null;

/** Parsed once: property tests build hundreds of sanitizers. */
export function exampleDictionary(): IdentifierDictionary {
  if (example !== null) return example;
  const result = validateInfraText(readFileSync(new URL('../../infra.example.yml', import.meta.url), 'utf8'), { file: 'infra.example.yml' });
  if (!result.ok) throw new Error('infra.example.yml is invalid');
  example = buildDictionary(result.model);
  return example;
}

export const SECRET = new Uint8Array(32).fill(7);

export function sanitizer(options: Partial<SanitizerOptions> = {}): DomainSanitizer {
  return createSanitizer({ domain: 'pro', mode: 'mask', dictionary: exampleDictionary(), secret: SECRET, mapping: new MemoryMappingStore(), ...options });
}

/** What mask mode replaces in `text`, as `pattern original` strings. */
export function found(text: string, options: Partial<SanitizerOptions> = {}): string[] {
  return sanitizer(options)
    .sanitize(text)
    .replacements.map((r) => `${r.pattern} ${r.original}`);
}
