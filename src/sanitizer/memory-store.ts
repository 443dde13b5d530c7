import type { MappingStore } from './types.js';

/** A MappingStore in memory: for tests, the CLI preview, and as the cache under a file-backed store. */
export class MemoryMappingStore implements MappingStore {
  private readonly byOriginal = new Map<string, string>();
  private readonly byPseudonym = new Map<string, string>();

  constructor(entries: Iterable<readonly [original: string, pseudonym: string]> = []) {
    for (const [original, pseudonym] of entries) this.record(original, pseudonym);
  }

  originalOf(pseudonym: string): string | undefined {
    return this.byPseudonym.get(pseudonym);
  }

  pseudonymOf(original: string): string | undefined {
    return this.byOriginal.get(original);
  }

  record(original: string, pseudonym: string): void {
    this.byOriginal.set(original, pseudonym);
    this.byPseudonym.set(pseudonym, original);
  }

  entries(): IterableIterator<[string, string]> {
    return this.byOriginal.entries();
  }

  get size(): number {
    return this.byOriginal.size;
  }
}
