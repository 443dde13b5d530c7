import { isWordChar } from './detect/candidate.js';
import { isHexOrColon } from './detect/ipv6.js';

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

interface Entry {
  readonly original: string;
  readonly shape: PseudonymShape;
}

/**
 * A node of the pseudonyms' radix tree: the edge into it is labelled with a
 * string (a run of characters no other pseudonym branches off), so the tree
 * has at most two nodes per pseudonym (a node per character took 3 KB per
 * pseudonym: 31 MB for 10 000).
 */
interface RadixNode {
  /** The characters on the edge into this node (the root's is empty). */
  label: string;
  /** Children by the first UTF-16 code unit of their label; null for a leaf. */
  edges: Map<number, RadixNode> | null;
  /** Set when a pseudonym ends at this node. */
  entry: Entry | null;
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
  private readonly entries = new Map<string, Entry>();
  private readonly root: RadixNode = { label: '', edges: new Map(), entry: null };
  private longest = 0;
  /** 1 for each UTF-16 code unit a pseudonym starts with: one array read rules most positions out. */
  private readonly firstChars = new Uint8Array(65536);

  add(pseudonym: string, original: string): void {
    if (pseudonym === '') return;
    const known = this.entries.get(pseudonym);
    if (known?.original === original) return;
    const entry: Entry = { original, shape: shapeOf(pseudonym) };
    this.entries.set(pseudonym, entry);
    this.firstChars[pseudonym.charCodeAt(0)] = 1;
    this.longest = Math.max(this.longest, pseudonym.length);
    let node = this.root;
    let i = 0;
    while (i < pseudonym.length) {
      const code = pseudonym.charCodeAt(i);
      node.edges ??= new Map();
      const child = node.edges.get(code);
      if (child === undefined) {
        node.edges.set(code, { label: pseudonym.slice(i), edges: null, entry });
        return;
      }
      const { label } = child;
      let common = 1;
      while (common < label.length && i + common < pseudonym.length && label.charCodeAt(common) === pseudonym.charCodeAt(i + common)) common++;
      if (common < label.length) {
        // The new pseudonym leaves the edge part way: split it there.
        const middle: RadixNode = { label: label.slice(0, common), edges: new Map([[label.charCodeAt(common), child]]), entry: null };
        child.label = label.slice(common);
        node.edges.set(code, middle);
        node = middle;
      } else {
        node = child;
      }
      i += common;
    }
    node.entry = entry;
  }

  get size(): number {
    return this.entries.size;
  }

  /** The length of the longest pseudonym: a stream never holds back more than this (and a port's few characters). */
  get maxLength(): number {
    return this.longest;
  }

  originalOf(pseudonym: string): string | undefined {
    return this.entries.get(pseudonym)?.original;
  }

  /** The shape of a known pseudonym, undefined when `text` is none. */
  shapeOf(text: string): PseudonymShape | undefined {
    return this.entries.get(text)?.shape;
  }

  /** Whether `text.slice(from)` is the beginning of a pseudonym (or a whole one). */
  isPrefix(text: string, from: number): boolean {
    let node = this.root;
    let pos = from;
    while (pos < text.length) {
      const child = node.edges?.get(text.charCodeAt(pos));
      if (child === undefined) return false;
      const rest = text.length - pos;
      if (rest <= child.label.length) return text.startsWith(child.label.slice(0, rest), pos);
      if (!text.startsWith(child.label, pos)) return false;
      pos += child.label.length;
      node = child;
    }
    return true;
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
      let node = this.root;
      let end = start;
      for (let child = node.edges?.get(text.charCodeAt(end)); child !== undefined && text.startsWith(child.label, end); child = node.edges?.get(text.charCodeAt(end))) {
        node = child;
        end += child.label.length;
        const found = node.entry;
        if (found !== null && leftBoundary(text, start, found.shape, startsInWord) && rightBoundary(text, end, found.shape)) {
          best = { start, end, original: found.original };
        }
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
