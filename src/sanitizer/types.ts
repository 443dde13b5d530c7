// The contract between the detection engine (src/sanitizer, pure, no I/O) and
// the HTTP gateway around it (src/gateway). The gateway walks each API's JSON
// and hands the engine one string at a time; the engine never sees a raw body.

/** Detection categories; each one but `infra` is switchable (spec/003 `llm_sanitizer_enable_*`). */
export type Category = 'infra' | 'ip' | 'incus' | 'fqdn' | 'service' | 'ansible' | 'credentials' | 'custom';

export type SanitizeMode = 'mask' | 'pseudonymize';

/** One value found and replaced: what the audit log records. */
export interface Replacement {
  readonly category: Category;
  /** The name of the pattern that matched, e.g. `ip.rfc1918`, `credentials.jwt`, `infra.instance`. */
  readonly pattern: string;
  readonly original: string;
  readonly replacement: string;
}

export interface SanitizeResult {
  readonly text: string;
  readonly replacements: readonly Replacement[];
}

/**
 * The exact identifiers of the declared infrastructure, derived from infra.yml
 * (see buildDictionary). Plain data so the gateway can also load it from its
 * generated config.
 */
export interface IdentifierDictionary {
  readonly domains: readonly string[];
  readonly projects: readonly string[];
  readonly bridges: readonly string[];
  readonly instances: readonly string[];
  readonly addresses: readonly string[];
  readonly subnets: readonly string[];
  readonly fqdns: readonly string[];
}

/**
 * Where pseudonym ↔ original pairs live. The engine only calls these; the
 * gateway persists them on local disk (mode 0600) so restoring survives
 * restarts. Keys are per domain: one domain's pseudonyms never restore in another's answer.
 */
export interface MappingStore {
  originalOf(pseudonym: string): string | undefined;
  pseudonymOf(original: string): string | undefined;
  record(original: string, pseudonym: string): void;
  /**
   * Optional: every pair recorded so far. When present, a sanitizer built on
   * this store can restore pseudonyms recorded before it was built (by an
   * earlier process, or another sanitizer instance on the same store); without
   * it, it restores those it handed out or looked up itself.
   */
  entries?(): Iterable<readonly [original: string, pseudonym: string]>;
}

export interface SanitizerOptions {
  readonly domain: string;
  readonly mode: SanitizeMode;
  /** Categories switched off are not detected; missing keys mean on. */
  readonly categories?: Partial<Record<Exclude<Category, 'infra' | 'custom'>, boolean>>;
  readonly dictionary: IdentifierDictionary;
  /** Per-domain extra patterns (category `custom`). */
  readonly extraPatterns?: readonly { readonly name: string; readonly regex: string }[];
  /** Values never replaced, matched exactly. */
  readonly allow?: readonly string[];
  /** Per-domain secret: pseudonyms are derived from it, deterministic across restarts. */
  readonly secret: Uint8Array;
  /** Required in pseudonymize mode. */
  readonly mapping?: MappingStore;
}

/** Restores pseudonyms in a stream of text fragments that may split a pseudonym anywhere. */
export interface StreamRestorer {
  /** Returns the text that is safe to emit now; holds back a tail that may be the start of a pseudonym. */
  push(fragment: string): string;
  /** End of stream: returns whatever was held back, restored. */
  flush(): string;
}

export interface DomainSanitizer {
  readonly domain: string;
  readonly mode: SanitizeMode;
  /** Throws SanitizeError when it cannot sanitize: the gateway then sends nothing upstream. */
  sanitize(text: string): SanitizeResult;
  /** Pseudonyms back to originals (identity in mask mode). */
  restore(text: string): string;
  /**
   * A restorer for one streamed field. `escape` is applied to each restored
   * original before it is emitted: pass a JSON string escaper for
   * `input_json_delta` / tool-call argument deltas.
   */
  streamRestorer(escape?: (original: string) => string): StreamRestorer;
}
