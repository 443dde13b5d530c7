import { isWordChar } from './detect/candidate.js';

const IP_SHAPED = /^\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}(?:\/\d{1,2})?$/;
/** IPv6 and MAC pseudonyms: a colon or a hex digit next to one means it goes on (`2001:db8::1:5`). */
const HEX_COLON_SHAPED = /^[0-9A-Fa-f]*:[0-9A-Fa-f:.]*(?:\/\d{1,3})?$|^[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4}$/;

/**
 * How a pseudonym's ends are decided. `plain`: a word character at an end
 * must not touch another (a pseudonym is never restored inside a longer
 * word). `address`: not inside a longer dotted number either (`198.18.3.1.5`),
 * but tcpdump's `address.port > ` is fine. `hex`: an IPv6 or MAC pseudonym,
 * which goes on when a colon and a hex digit follow (`2001:db8::1:5`).
 */
export type PseudonymShape = 'plain' | 'address' | 'hex';

/** A node of the pseudonyms' trie: its children by UTF-16 code unit, and the pseudonym that ends here, if any. */
interface TrieNode {
  readonly next: Map<number, TrieNode>;
  /** Set when a pseudonym ends at this node. */
  pseudonym?: { readonly original: string; readonly shape: PseudonymShape };
}

/** A pseudonym found in a text. */
export interface PseudonymMatch {
  readonly start: number;
  readonly end: number;
  readonly original: string;
}

const BACKSLASH = 92;
/** `n r t b f`: the letters of the JSON escapes a pseudonym may follow in raw JSON text. */
const ESCAPE_LETTERS = new Set([110, 114, 116, 98, 102]);

/**
 * The pseudonyms known to one domain's sanitizer and their originals, in a
 * trie. Adding one costs its length; finding the pseudonyms in a text reads
 * the text once and, at each position where one could start, walks the trie
 * as far as the text agrees (never further than the longest pseudonym): the
 * cost does not depend on how many pseudonyms there are. (A combined regex of
 * every pseudonym was rebuilt each time one was added: quadratic over a
 * conversation, and each position tried every alternative.)
 */
export class PseudonymIndex {
  private readonly originals = new Map<string, string>();
  private readonly root: TrieNode = { next: new Map() };
  private longest = 0;
  /** 1 for each UTF-16 code unit a pseudonym starts with: one array read rules most positions out. */
  private readonly firstChars = new Uint8Array(65536);

  add(pseudonym: string, original: string): void {
    if (pseudonym === '') return;
    const known = this.originals.get(pseudonym);
    if (known === original) return;
    this.originals.set(pseudonym, original);
    this.firstChars[pseudonym.charCodeAt(0)] = 1;
    let node = this.root;
    for (let i = 0; i < pseudonym.length; i++) {
      const code = pseudonym.charCodeAt(i);
      let child = node.next.get(code);
      if (child === undefined) node.next.set(code, (child = { next: new Map() }));
      node = child;
    }
    node.pseudonym = { original, shape: shapeOf(pseudonym) };
    this.longest = Math.max(this.longest, pseudonym.length);
  }

  get size(): number {
    return this.originals.size;
  }

  /** The length of the longest pseudonym: a stream never holds back more than this (and a port's few characters). */
  get maxLength(): number {
    return this.longest;
  }

  originalOf(pseudonym: string): string | undefined {
    return this.originals.get(pseudonym);
  }

  /** The shape of a known pseudonym, undefined when `text` is none. */
  shapeOf(text: string): PseudonymShape | undefined {
    return this.originals.has(text) ? this.nodeOf(text, 0)?.pseudonym?.shape : undefined;
  }

  /** Whether `text.slice(from)` is the beginning of a pseudonym (or a whole one). */
  isPrefix(text: string, from: number): boolean {
    return this.nodeOf(text, from) !== null;
  }

  private nodeOf(text: string, from: number): TrieNode | null {
    let node: TrieNode | undefined = this.root;
    for (let i = from; i < text.length && node !== undefined; i++) node = node.next.get(text.charCodeAt(i));
    return node ?? null;
  }

  /**
   * The first pseudonym in `text` at or after `from`, on its boundaries, or
   * null. At one position the longest one wins. `json`: the text is raw JSON
   * (a tool-input delta), where an escape such as `\n` right before a
   * pseudonym is a boundary too: its `n` is not part of a word.
   */
  find(text: string, from: number, json: boolean): PseudonymMatch | null {
    if (this.longest === 0) return null;
    for (let start = from; start < text.length; start++) {
      if (!this.mayStartAt(text, start, json)) continue;
      const startsInWord = start > 0 && isWordChar(text.charCodeAt(start - 1)) && !(json && escapeBefore(text, start));
      let best: PseudonymMatch | null = null;
      let node = this.root.next.get(text.charCodeAt(start));
      for (let end = start + 1; node !== undefined; end++) {
        const found = node.pseudonym;
        if (found !== undefined && leftBoundary(text, start, found.shape, startsInWord) && rightBoundary(text, end, found.shape)) {
          best = { start, end, original: found.original };
        }
        node = end < text.length ? node.next.get(text.charCodeAt(end)) : undefined;
      }
      if (best !== null) return best;
    }
    return null;
  }

  /**
   * Whether a pseudonym may start at `start`: its first character starts one,
   * and it is not a word character right after another (most positions are
   * inside a word). Cheap: no trie walk.
   */
  mayStartAt(text: string, start: number, json: boolean): boolean {
    const code = text.charCodeAt(start);
    if (this.firstChars[code] !== 1) return false;
    if (start === 0 || !isWordChar(code) || !isWordChar(text.charCodeAt(start - 1))) return true;
    return json && escapeBefore(text, start);
  }
}

function shapeOf(pseudonym: string): PseudonymShape {
  if (IP_SHAPED.test(pseudonym)) return 'address';
  if (HEX_COLON_SHAPED.test(pseudonym)) return 'hex';
  return 'plain';
}

/** Whether a JSON escape (`\n`, `\t`…, its backslash not itself escaped) ends right before `at`. */
function escapeBefore(text: string, at: number): boolean {
  if (at < 2 || !ESCAPE_LETTERS.has(text.charCodeAt(at - 1)) || text.charCodeAt(at - 2) !== BACKSLASH) return false;
  let backslashes = 1;
  while (at - 2 - backslashes >= 0 && text.charCodeAt(at - 2 - backslashes) === BACKSLASH) backslashes++;
  return backslashes % 2 === 1;
}

const DOT = 46;
const COLON = 58;

/** `startsInWord`: the character before `start` is a word character that is not a JSON escape's letter. */
function leftBoundary(text: string, start: number, shape: PseudonymShape, startsInWord: boolean): boolean {
  if (startsInWord) return !isWordChar(text.charCodeAt(start)) && shape === 'plain';
  if (shape === 'plain' || start === 0) return true;
  const before = text.charCodeAt(start - 1);
  // `2001:db8::1` inside `fd00:2001:db8::1`, `198.18.3.1` inside `10.198.18.3.1`: part of something longer.
  if (before === DOT) return false;
  return shape === 'address' || before !== COLON;
}

function isHexOrColon(code: number): boolean {
  return (code >= 48 && code <= 58) || (code >= 65 && code <= 70) || (code >= 97 && code <= 102);
}

function isDigit(code: number): boolean {
  return code >= 48 && code <= 57;
}

function rightBoundary(text: string, end: number, shape: PseudonymShape): boolean {
  if (end >= text.length) return true;
  const after = text.charCodeAt(end);
  if (isWordChar(after) && isWordChar(text.charCodeAt(end - 1))) return false;
  if (shape === 'plain') return true;
  if (isWordChar(after)) return false;
  // `2001:db8::1:5` goes on; `2001:db8::1: ICMP6` (tcpdump) does not.
  if (shape === 'hex') return !(after === COLON && end + 1 < text.length && isHexOrColon(text.charCodeAt(end + 1)));
  // Not a longer number (`198.18.3.1.5`), but tcpdump's `address.port > ` / `address.port: ` (see detect/ip.ts).
  if (after !== DOT || end + 1 >= text.length || !isDigit(text.charCodeAt(end + 1))) return true;
  // Up to four more digits, then ` > ` or `: `: a port.
  let i = end + 2;
  while (i < text.length && i < end + 6 && isDigit(text.charCodeAt(i))) i++;
  return text.startsWith(' > ', i) || text.startsWith(': ', i);
}

/**
 * Replace every known pseudonym in `text` by its original. `context` is the text
 * that came right before (for the left boundary of a pseudonym at the start).
 */
export function restoreText(index: PseudonymIndex, text: string, options: { escape?: (original: string) => string; context?: string } = {}): string {
  if (index.size === 0) return text;
  const context = options.context ?? '';
  const escape = options.escape;
  const full = context === '' ? text : context + text;
  let out = '';
  let pos = context.length;
  for (let m = index.find(full, pos, escape !== undefined); m !== null; m = index.find(full, pos, escape !== undefined)) {
    out += full.slice(pos, m.start) + (escape === undefined ? m.original : escape(m.original));
    pos = m.end;
  }
  return pos === context.length ? text : out + full.slice(pos);
}
