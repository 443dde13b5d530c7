import { chmodSync, closeSync, existsSync, mkdirSync, openSync, readFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { MappingStore } from '../sanitizer/types.js';

/**
 * The pseudonym ↔ original pairs of one domain, on local disk only: an
 * append-only JSON-lines journal (mode 0600), one `{"o":…,"p":…}` per pair,
 * read back whole at start. Appending makes each new pair durable with one
 * small write and never rewrites what is there; a line torn by a crash is
 * skipped on load (pseudonyms are deterministic from the domain's secret, so
 * the next request that meets the value records it again).
 */
export class FileMappingStore implements MappingStore {
  readonly path: string;
  private readonly byOriginal = new Map<string, string>();
  private readonly byPseudonym = new Map<string, string>();
  private fd: number | null;

  constructor(path: string) {
    this.path = path;
    if (existsSync(path)) this.load(readFileSync(path, 'utf8'));
    this.fd = openSync(path, 'a', 0o600);
    // openSync's mode applies only on creation; an older file is tightened too.
    chmodSync(path, 0o600);
  }

  /** The store of `domain` under `dir` (created 0700). */
  static forDomain(dir: string, domain: string): FileMappingStore {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    return new FileMappingStore(join(dir, `${domain}.jsonl`));
  }

  get size(): number {
    return this.byOriginal.size;
  }

  originalOf(pseudonym: string): string | undefined {
    return this.byPseudonym.get(pseudonym);
  }

  pseudonymOf(original: string): string | undefined {
    return this.byOriginal.get(original);
  }

  /** Every pair, so a sanitizer built after a restart restores pseudonyms handed out before it. */
  entries(): Iterable<readonly [original: string, pseudonym: string]> {
    return this.byOriginal.entries();
  }

  record(original: string, pseudonym: string): void {
    if (this.byOriginal.get(original) === pseudonym && this.byPseudonym.get(pseudonym) === original) return;
    this.set(original, pseudonym);
    if (this.fd === null) throw new Error(`mapping store ${this.path} is closed`);
    writeSync(this.fd, `${JSON.stringify({ o: original, p: pseudonym })}\n`);
  }

  close(): void {
    if (this.fd !== null) closeSync(this.fd);
    this.fd = null;
  }

  private set(original: string, pseudonym: string): void {
    this.byOriginal.set(original, pseudonym);
    this.byPseudonym.set(pseudonym, original);
  }

  private load(text: string): void {
    for (const line of text.split('\n')) {
      if (line === '') continue;
      try {
        const pair = JSON.parse(line) as { o?: unknown; p?: unknown };
        if (typeof pair.o === 'string' && typeof pair.p === 'string') this.set(pair.o, pair.p);
      } catch {
        // A torn last line after a crash: see the class comment.
      }
    }
  }
}
