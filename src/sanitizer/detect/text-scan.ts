/** A set of characters, by UTF-16 code unit. */
export type CharClass = (code: number) => boolean;

interface Found {
  /** Where the search started. */
  readonly from: number;
  /** What it found (-1 or text.length for none, as the method says). */
  readonly at: number;
}

/**
 * Forward searches over one text, remembered. Detectors wake on anchors that
 * may repeat every few characters (`password=password=…`); each then looks
 * ahead for a closing quote, the end of a run or the end of a command. Without
 * memory, each anchor rescans the same stretch and the work is quadratic. A
 * search whose answer is at `a` is valid for every start in [from, a], so
 * anchors read left to right get each answer in constant time, amortised: the
 * text is read once per kind of search.
 */
export class TextScan {
  private readonly found = new Map<unknown, Found>();
  private readonly before = new Map<CharClass, { end: number; start: number }>();

  constructor(readonly text: string) {}

  private remembered(key: unknown, from: number, search: () => number, none: number): number {
    const last = this.found.get(key);
    if (last !== undefined && last.from <= from && (from <= last.at || last.at === none)) return last.at;
    const at = search();
    this.found.set(key, { from, at });
    return at;
  }

  /** text.indexOf(needle, from). */
  indexOf(needle: string, from: number): number {
    return this.remembered(needle, from, () => this.text.indexOf(needle, from), -1);
  }

  /** The first index at or after `from` whose character is not in `cls` (text.length at the end). */
  runEnd(cls: CharClass, from: number): number {
    const { text } = this;
    return this.remembered(cls, from, () => {
      let i = from;
      while (i < text.length && cls(text.charCodeAt(i))) i++;
      return i;
    }, text.length);
  }

  /** The start of the run of `cls` characters that ends at `end` (remembered for the last `end` asked). */
  runStart(cls: CharClass, end: number): number {
    const last = this.before.get(cls);
    if (last?.end === end) return last.start;
    let i = end;
    while (i > 0 && cls(this.text.charCodeAt(i - 1))) i--;
    this.before.set(cls, { end, start: i });
    return i;
  }

  /**
   * The index of the first match of `re` (a global regex) at or after `from`,
   * or -1. Only for patterns whose match at a position does not depend on where
   * the search started (no `^`, no sticky flag).
   */
  search(re: RegExp, from: number): number {
    return this.remembered(re, from, () => {
      re.lastIndex = from;
      return re.exec(this.text)?.index ?? -1;
    }, -1);
  }
}
