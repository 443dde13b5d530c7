import { describeError } from '../shared/errors.js';
import { compileCustomPatterns } from './detect/custom.js';
import { infraNames } from './detect/infra.js';
import { createScanner, type SwitchableCategory } from './detect/scan.js';
import { SanitizeError } from './errors.js';
import { maskFor } from './mask.js';
import { TextOccurrences } from './occurrences.js';
import { Pseudonymizer } from './pseudonym.js';
import { PseudonymIndex, restoreText } from './restore.js';
import { createStreamRestorer } from './stream-restore.js';
import type { DomainSanitizer, Replacement, SanitizeMode, SanitizerOptions, StreamRestorer } from './types.js';

const SWITCHABLE: readonly SwitchableCategory[] = ['ip', 'incus', 'fqdn', 'service', 'ansible', 'credentials'];
/** Below this, a secret could be guessed and pseudonyms reversed by anyone who can guess an original. */
const MIN_SECRET_BYTES = 16;

/**
 * A value longer than this is masked even in pseudonymize mode: every
 * pseudonym goes into the restore matcher, and one of hundreds of kilobytes (a
 * path without end) would make it too large to build — no answer of the
 * domain could be restored any more.
 */
const MAX_PSEUDONYMIZED = 1024;

const PASS_THROUGH: StreamRestorer = { push: (fragment) => fragment, flush: () => '' };

/**
 * Build one domain's sanitizer. Throws SanitizeError when the options cannot
 * work (an extra pattern that does not compile, pseudonymize without a mapping
 * store or with a short secret). Build it once per domain and keep it: it
 * remembers the pseudonyms it handed out, which is what restoring looks for.
 */
export function createSanitizer(options: SanitizerOptions): DomainSanitizer {
  const mode: SanitizeMode = options.mode;
  if (mode !== 'mask' && mode !== 'pseudonymize') throw new SanitizeError(`unknown mode ${JSON.stringify(mode)}; expected mask or pseudonymize`);
  const enabled = Object.fromEntries(SWITCHABLE.map((c) => [c, options.categories?.[c] ?? true])) as Record<SwitchableCategory, boolean>;
  const scan = createScanner({
    dictionary: options.dictionary,
    enabled,
    custom: compileCustomPatterns(options.extraPatterns ?? []),
    allow: new Set(options.allow ?? []),
  });

  const index = new PseudonymIndex();
  let pseudonymizer: Pseudonymizer | null = null;
  if (mode === 'pseudonymize') {
    const store = options.mapping;
    if (store === undefined) throw new SanitizeError(`domain ${options.domain}: pseudonymize mode needs a mapping store`);
    if (options.secret.length < MIN_SECRET_BYTES) throw new SanitizeError(`domain ${options.domain}: the pseudonym secret must be at least ${MIN_SECRET_BYTES} bytes`);
    try {
      for (const [original, pseudonym] of store.entries?.() ?? []) index.add(pseudonym, original);
    } catch (err) {
      throw new SanitizeError(`domain ${options.domain}: cannot read the mapping store: ${describeError(err)}`, { cause: err });
    }
    const declared = new Map([...infraNames(options.dictionary).always].map(([name, entry]) => [name, entry.kind]));
    pseudonymizer = new Pseudonymizer({ secret: options.secret, store, domains: [...new Set([...options.dictionary.domains, ...options.dictionary.projects])], declared, onPseudonym: (p, o) => index.add(p, o) });
  }

  return {
    domain: options.domain,
    mode,
    sanitize(text) {
      if (typeof text !== 'string') throw new SanitizeError(`cannot sanitize a ${typeof text}: the engine takes strings`);
      try {
        const found = scan(text);
        if (found.length === 0) return { text, replacements: [] };
        // One replacement per distinct (pattern, original), in order of first sight. Keyed
        // by pattern, then original: a joined key string per value was garbage on every value.
        const seen = new Map<string, Set<string>>();
        const replacements: Replacement[] = [];
        const occurrences = new TextOccurrences(text);
        let out = '';
        let pos = 0;
        for (const c of found) {
          const original = text.slice(c.start, c.end);
          const replacement = c.kind === 'secret' || c.kind === 'generalized' || pseudonymizer === null || original.length > MAX_PSEUDONYMIZED ? maskFor(c, original) : pseudonymizer.pseudonym(original, c.kind, occurrences);
          out += text.slice(pos, c.start) + replacement;
          pos = c.end;
          let originals = seen.get(c.pattern);
          if (originals === undefined) seen.set(c.pattern, (originals = new Set()));
          if (!originals.has(original)) {
            originals.add(original);
            replacements.push({ category: c.category, pattern: c.pattern, original, replacement });
          }
        }
        return { text: out + text.slice(pos), replacements };
      } catch (err) {
        if (err instanceof SanitizeError) throw err;
        throw new SanitizeError(`domain ${options.domain}: sanitizing failed: ${describeError(err)}`, { cause: err });
      }
    },
    restore(text) {
      return pseudonymizer === null ? text : restoreText(index, text);
    },
    streamRestorer(escape) {
      return pseudonymizer === null ? PASS_THROUGH : createStreamRestorer(index, escape);
    },
  };
}
