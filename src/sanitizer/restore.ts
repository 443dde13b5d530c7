import { escapeRegex } from './detect/candidate.js';

const IP_SHAPED = /^\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}(?:\/\d{1,2})?$/;
/** IPv6 and MAC pseudonyms: a colon or a hex digit next to one means it goes on (`2001:db8::1:5`). */
const HEX_COLON_SHAPED = /^[0-9A-Fa-f]*:[0-9A-Fa-f:.]*(?:\/\d{1,3})?$|^[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4}$/;
const WORD = /\w/;

/**
 * Left boundary of a pseudonym that starts with a word character. Inside a JSON
 * string (the raw text of a tool-input delta), an escape such as `\n` right
 * before it is a boundary too: the `n` is not part of a word.
 */
const JSON_ESCAPE_BEFORE = '(?<=(?<!\\\\)(?:\\\\\\\\)*\\\\[nrtbf])';

export interface Matcher {
  readonly regex: RegExp;
  /** Every prefix of every pseudonym: what a stream must hold back at its end. */
  readonly prefixes: ReadonlySet<string>;
  /** Address pseudonyms: `198.18.3.1` + `.` is still undecided (`198.18.3.1.5` is not it). */
  readonly addresses: ReadonlySet<string>;
  /** IPv6 and MAC pseudonyms: `2001:db8::1` + `:` is still undecided. */
  readonly hexColon: ReadonlySet<string>;
  /** First characters of the pseudonyms: most positions can be ruled out with one lookup. */
  readonly firstChars: ReadonlySet<string>;
  readonly maxLength: number;
}

/**
 * The pseudonyms known to one domain's sanitizer and their originals, with one
 * combined matcher (longest first, on word boundaries) rebuilt lazily when
 * pseudonyms were added since it was last built.
 */
export class PseudonymIndex {
  private readonly originals = new Map<string, string>();
  private version = 0;
  private built: { version: number; plain: Matcher; json: Matcher | null } | null = null;

  add(pseudonym: string, original: string): void {
    if (this.originals.get(pseudonym) === original) return;
    this.originals.set(pseudonym, original);
    this.version++;
  }

  get size(): number {
    return this.originals.size;
  }

  originalOf(pseudonym: string): string | undefined {
    return this.originals.get(pseudonym);
  }

  matcher(json: boolean): Matcher | null {
    if (this.originals.size === 0) return null;
    if (this.built?.version !== this.version) this.built = { version: this.version, plain: this.build(false), json: null };
    if (!json) return this.built.plain;
    this.built.json ??= this.build(true);
    return this.built.json;
  }

  private build(json: boolean): Matcher {
    const all = [...this.originals.keys()].sort((a, b) => b.length - a.length || (a < b ? -1 : 1));
    const words: string[] = [];
    const addresses: string[] = [];
    const hexColon: string[] = [];
    const others: string[] = [];
    for (const p of all) {
      if (IP_SHAPED.test(p)) addresses.push(p);
      else if (HEX_COLON_SHAPED.test(p)) hexColon.push(p);
      else if (WORD.test(p[0] ?? '') && WORD.test(p[p.length - 1] ?? '')) words.push(p);
      else others.push(p);
    }
    const left = (inner: string): string => (json ? `(?:(?<!${inner})|${JSON_ESCAPE_BEFORE})` : `(?<!${inner})`);
    const groups: string[] = [];
    for (const p of others) {
      groups.push(`${WORD.test(p[0] ?? '') ? left('\\w') : ''}${escapeRegex(p)}${WORD.test(p[p.length - 1] ?? '') ? '(?!\\w)' : ''}`);
    }
    if (words.length > 0) groups.push(`${left('\\w')}(?:${words.map(escapeRegex).join('|')})(?!\\w)`);
    // `2001:db8::1:5` goes on; `2001:db8::1: ICMP6` (tcpdump) does not.
    if (hexColon.length > 0) groups.push(`${left('[\\w:.]')}(?:${hexColon.map(escapeRegex).join('|')})(?!\\w|:[0-9A-Fa-f:])`);
    // Not a longer number (`198.18.3.1.5`), but tcpdump's `address.port > ` / `address.port: ` (see ip.ts).
    if (addresses.length > 0) groups.push(`${left('[\\w.]')}(?:${addresses.map(escapeRegex).join('|')})(?!\\w|\\.\\d(?!\\d{0,4}(?: > |: )))`);
    const prefixes = new Set<string>();
    for (const p of all) for (let i = 1; i <= p.length; i++) prefixes.add(p.slice(0, i));
    const firstChars = new Set(all.map((p) => p[0] ?? ''));
    return { regex: new RegExp(groups.join('|'), 'g'), prefixes, addresses: new Set(addresses), hexColon: new Set(hexColon), firstChars, maxLength: all[0]?.length ?? 0 };
  }
}

/**
 * Replace every known pseudonym in `text` by its original. `context` is the text
 * that came right before (for the left boundary of a pseudonym at the start).
 */
export function restoreText(index: PseudonymIndex, text: string, options: { escape?: (original: string) => string; context?: string } = {}): string {
  const matcher = index.matcher(options.escape !== undefined);
  if (matcher === null) return text;
  const context = options.context ?? '';
  const escape = options.escape ?? ((s: string) => s);
  const { regex } = matcher;
  const full = context + text;
  regex.lastIndex = context.length;
  let out = '';
  let pos = context.length;
  for (let m = regex.exec(full); m !== null; m = regex.exec(full)) {
    out += full.slice(pos, m.index) + escape(index.originalOf(m[0]) ?? m[0]);
    pos = m.index + m[0].length;
  }
  return out + full.slice(pos);
}
