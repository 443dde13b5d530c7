const WORD_RUN = /\w+/g;
const FIRST_WORD_RUN = /\w+/;
const ADDRESS_PREFIX = /\d{1,3}\.\d{1,3}\.\d{1,3}\./g;

/**
 * Whether a candidate pseudonym already appears in the text being sanitized
 * (it would then be "restored" in the answer where it was never replaced).
 * `text.includes(candidate)` for each new value read the whole text once per
 * value: quadratic on a long text full of new values. Restoring finds a
 * pseudonym only on word boundaries, so its first run of word characters is a
 * whole word of the text wherever it could be restored: the text's words are
 * indexed once, lazily, and only a candidate whose first word is there is
 * searched for. Address prefixes (`198.18.5.`) are indexed on their own: their
 * first word (`198`) is too common to rule anything out.
 */
export class TextOccurrences {
  private words: Set<string> | null = null;
  private prefixes: Set<string> | null = null;

  constructor(private readonly text: string) {}

  /** Whether `candidate` may appear in the text (never false when it does at a word boundary). */
  mayContain(candidate: string): boolean {
    const first = FIRST_WORD_RUN.exec(candidate)?.[0];
    if (first === undefined) return this.text.includes(candidate);
    this.words ??= collect(this.text, WORD_RUN, () => true);
    return this.words.has(first) && this.text.includes(candidate);
  }

  /** Whether an address of the /24 `a.b.c` appears in the text (at an address boundary). */
  hasAddressIn(prefix: string): boolean {
    this.prefixes ??= collect(this.text, ADDRESS_PREFIX, (at) => at === 0 || !/[\w.]/.test(this.text[at - 1] ?? ''));
    return this.prefixes.has(`${prefix}.`);
  }
}

function collect(text: string, re: RegExp, keep: (at: number) => boolean): Set<string> {
  const found = new Set<string>();
  re.lastIndex = 0;
  for (let m = re.exec(text); m !== null; m = re.exec(text)) if (keep(m.index)) found.add(m[0]);
  return found;
}
