// The detection + pseudonymisation engine of the sanitizing gateway: pure, no I/O.
export type { Category, DomainSanitizer, IdentifierDictionary, MappingStore, Replacement, SanitizeMode, SanitizeResult, SanitizerOptions, StreamRestorer } from './types.js';
export { buildDictionary } from './dictionary.js';
export { SanitizeError } from './errors.js';
export { MemoryMappingStore } from './memory-store.js';
export { REDACTED } from './mask.js';
export { createSanitizer } from './sanitizer.js';
