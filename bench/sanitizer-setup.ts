// The sanitizer the engine benchmarks measure: infra.example.yml's dictionary, a fixed secret.
import { readFileSync } from 'node:fs';
import { validateInfraText } from '../src/config/validate.js';
import { buildDictionary, createSanitizer, MemoryMappingStore, type DomainSanitizer, type IdentifierDictionary, type SanitizeMode } from '../src/sanitizer/index.js';

let dictionary: IdentifierDictionary | null = null;

function exampleDictionary(): IdentifierDictionary {
  if (dictionary !== null) return dictionary;
  const result = validateInfraText(readFileSync(new URL('../infra.example.yml', import.meta.url), 'utf8'), { file: 'infra.example.yml' });
  if (!result.ok) throw new Error('infra.example.yml is invalid');
  dictionary = buildDictionary(result.model);
  return dictionary;
}

/** A new sanitizer with an empty mapping: every value is seen for the first time. */
export function benchSanitizer(mode: SanitizeMode): DomainSanitizer {
  return createSanitizer({ domain: 'pro', mode, dictionary: exampleDictionary(), secret: new Uint8Array(32).fill(1), mapping: new MemoryMappingStore() });
}

export const fixture = (name: string): string => readFileSync(new URL(`./fixtures/sanitizer/${name}`, import.meta.url), 'utf8');
