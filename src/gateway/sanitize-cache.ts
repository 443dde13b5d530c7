import type { SanitizeResult } from '../sanitizer/types.js';

/**
 * Remembers what long strings sanitized to, per domain. A coding assistant
 * resends its whole conversation on every turn, so all but the newest
 * message were sanitized before; replaying the result costs a map lookup
 * instead of a scan. Sound because sanitizing is a function of the text once
 * a value has its pseudonym: the mapping only grows, a recorded pair never
 * changes, and the engine's options are fixed for the process's life.
 * Least recently used entries go first once `maxBytes` (UTF-16 size of
 * inputs and outputs) is reached; short strings are not worth remembering.
 */
export class SanitizeCache {
  private readonly entries = new Map<string, SanitizeResult>();
  private bytes = 0;

  constructor(
    private readonly maxBytes: number,
    private readonly minLength = 256,
  ) {}

  /** The cached result of `text`, else `sanitize(text)` (remembered when long enough). */
  get(text: string, sanitize: (text: string) => SanitizeResult): SanitizeResult {
    if (text.length < this.minLength || this.maxBytes === 0) return sanitize(text);
    const hit = this.entries.get(text);
    if (hit !== undefined) {
      // Map order is insertion order: re-inserting marks it most recently used.
      this.entries.delete(text);
      this.entries.set(text, hit);
      return hit;
    }
    const result = sanitize(text);
    const size = 2 * (text.length + result.text.length);
    if (size > this.maxBytes) return result;
    this.entries.set(text, result);
    this.bytes += size;
    for (const [key, value] of this.entries) {
      if (this.bytes <= this.maxBytes) break;
      this.entries.delete(key);
      this.bytes -= 2 * (key.length + value.text.length);
    }
    return result;
  }

  get size(): number {
    return this.entries.size;
  }
}
