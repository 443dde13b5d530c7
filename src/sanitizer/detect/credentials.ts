import { isWordChar, type Push, type TriggeredDetector } from './candidate.js';
import type { CharClass, TextScan } from './text-scan.js';

/**
 * Beyond this length a value after a secret's key is masked without looking at
 * its shape (placeholder, type, code expression): the checks stay bounded per
 * anchor, and a run that long after `password=` is not a placeholder anyone writes.
 */
const MAX_CHECKED_VALUE = 256;

/** A key glued to a hyphen or an underscore is still a key: only a letter or digit before it means it is inside a word. */
function alnumBefore(text: string, at: number): boolean {
  return at > 0 && isWordChar(text.charCodeAt(at - 1)) && text[at - 1] !== '_';
}

/**
 * Credentials. Each detector finds the secret value only: its context stays
 * (`Bearer [REDACTED]`, `password=[REDACTED]`, the PEM armour lines), so the
 * model still knows what kind of thing was there.
 */

/** `credentials.<name>`, made once per name: a new string per secret found was garbage on inputs with a million of them. */
const PATTERN_NAMES = new Map<string, string>();

function secret(push: Push, start: number, end: number, pattern: string): void {
  let name = PATTERN_NAMES.get(pattern);
  if (name === undefined) PATTERN_NAMES.set(pattern, (name = `credentials.${pattern}`));
  push({ start, end, category: 'credentials', pattern: name, kind: 'secret' });
}

// Regexes of the hot paths are made once here: a regex literal in a function is a new object at every call.
const PLACEHOLDER_START = /^[$%{<*[]/;
const PLACEHOLDER_MASK = /^(?:x+|\.+|-+|_+|\*+)$/i;
const PLACEHOLDER_CONSTANT = /^[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+$/; // YOUR_API_KEY, MY_TOKEN
const PLACEHOLDER_WORDS = /^(?:your|my|the|some|example|dummy|placeholder|redacted|changeme_?here)[-_ ]/i;
const FLAG_BEFORE = /--[A-Za-z0-9-]+$/;
const CALL_OR_INDEX = /[([]/;
const ANY_DIGIT = /\d/;

/** Values that stand for a secret rather than being one: templates, variables, masks. */
function isPlaceholder(value: string): boolean {
  if (value.length > MAX_CHECKED_VALUE) return false;
  return PLACEHOLDER_START.test(value) || PLACEHOLDER_MASK.test(value) || PLACEHOLDER_CONSTANT.test(value) || PLACEHOLDER_WORDS.test(value);
}

/** RFC 6750 b64token characters. */
const isTokenChar: CharClass = (c) => isBase64Char(c) || c === 46 || c === 126 || c === 61;

/** `Bearer <token>` (RFC 6750), wherever it appears. */
export function bearerDetector(): TriggeredDetector {
  return {
    trigger: '(?:[Bb]earer|BEARER)[ \\t]+',
    detect(text, at, anchorEnd, push, scan) {
      if (alnumBefore(text, at)) return null;
      const end = scan.runEnd(isTokenChar, anchorEnd);
      const value = text.slice(anchorEnd, end);
      // "a Bearer token", "Bearer authentication": a word is not a token; a token has a digit or is long.
      if (value.length < 8 || isPlaceholder(value) || (value.length < 24 && !ANY_DIGIT.test(value))) return null;
      secret(push, anchorEnd, end, 'bearer');
      return end;
    },
  };
}

/** Words that, as the value of `password:` or `token=`, are a type, a keyword or a reference, not a secret. */
const NOT_SECRETS = new Set(
  `null none nil undefined true false yes no on off str string int integer number bool boolean bytes any unknown
  object optional required secret secrets password passwd token env file prompt stdin input hidden masked redacted
  text char varchar`.split(/\s+/),
);
const KEY_SEPARATOR = /(\\?["'])?[ \t]*(?::=|[=:])[ \t]*/y;
const FLAG_SEPARATOR = /[ \t]+|=/y;
const SCHEME = /(?:bearer|basic|token|digest|apikey|api-key)[ \t]+/iy;
const QUOTED = /(\\?["'])/y;
/** What an unquoted value is made of: anything up to a space, quote, or the punctuation that ends a value in code, a URL or a shell line. */
const isUnquotedChar: CharClass = (c) =>
  !(c <= 32 || c === 34 || c === 39 || c === 96 || c === 38 || c === 59 || c === 44 || c === 41 || c === 125 || c === 93 || c === 60 || c === 62 || c === 127);
const CODE_EXPRESSION = /^[A-Za-z_$][\w$]*(?:\.[A-Za-z_$][\w$]*)+$/;

const KEYWORDS = ['password', 'passwd', 'passphrase', 'secret', 'secret[_-]?key', 'token', 'api[_-]?key', 'apikey', 'access[_-]?key', 'private[_-]?key', 'authorization']
  .flatMap((k) => [`[${k[0]?.toUpperCase()}${k[0]}]${k.slice(1).replace(/key/g, '[Kk]ey')}`, k.toUpperCase()])
  .join('|');

function keyPattern(keyword: string): string {
  if (keyword.startsWith('pass')) return 'password';
  if (keyword.startsWith('secret')) return 'secret';
  if (keyword === 'token' || keyword === 'authorization') return keyword;
  return 'api-key';
}

/**
 * `password=…`, `db_password: …`, `"api_key": "…"`, `x-api-key: …`,
 * `Authorization: Basic …`, `--token …`, `?access_token=…`. The key must end
 * with the keyword (`max_tokens`, `password_hash`, `secretRef` are not keys of
 * a secret); the value must not be a placeholder, a type (`password: string`),
 * a keyword or a code expression (`password=args.password`).
 */
export function keyValueDetector(): TriggeredDetector {
  return {
    // Capitalised, lower- and upper-case spellings (no `i` flag: it slows the combined scan).
    trigger: `(?:${KEYWORDS})(?![A-Za-z0-9_])`,
    detect(text, at, anchorEnd, push, scan) {
      const keyword = text.slice(at, anchorEnd).toLowerCase();
      const pattern = keyPattern(keyword);
      const isFlag = text.startsWith('--', at - 2) || (at >= 2 && FLAG_BEFORE.test(text.slice(Math.max(0, at - 40), at)));
      let pos = anchorEnd;
      // Sticky tests: a match ends at lastIndex, and no match array is made.
      KEY_SEPARATOR.lastIndex = pos;
      if (KEY_SEPARATOR.test(text)) pos = KEY_SEPARATOR.lastIndex;
      else if (isFlag) {
        FLAG_SEPARATOR.lastIndex = pos;
        if (!FLAG_SEPARATOR.test(text)) return null;
        pos = FLAG_SEPARATOR.lastIndex;
      } else return null;
      if (pattern === 'authorization') {
        SCHEME.lastIndex = pos;
        if (SCHEME.test(text)) pos = SCHEME.lastIndex;
      }
      const found = readValue(text, pos, scan);
      if (found === null) return null;
      const { start, end } = found;
      const value = text.slice(start, end);
      if (value.length <= MAX_CHECKED_VALUE && (value.length < 4 || isPlaceholder(value) || NOT_SECRETS.has(value.toLowerCase()))) return null;
      secret(push, start, end, pattern);
      // A long run is masked whole: the keywords inside it need no second look.
      return value.length > MAX_CHECKED_VALUE ? end : anchorEnd;
    },
  };
}

/**
 * The value after a key's separator: quoted (up to its closing quote, on the
 * same line) or unquoted (up to a space or closing punctuation, without a
 * sentence's final dots and colons). Null for a code expression
 * (`password=args.password`, `token=get_token()`) or no value at all.
 */
export function readValue(text: string, pos: number, scan: TextScan): { start: number; end: number } | null {
  // Most values start with no quote: no regex match for them.
  const first = text.charCodeAt(pos);
  QUOTED.lastIndex = pos;
  const quote = first === 34 || first === 39 || first === 92 ? QUOTED.exec(text)?.[1] : undefined;
  if (quote !== undefined) {
    const start = pos + quote.length;
    const close = scan.indexOf(quote, start);
    const newline = scan.indexOf('\n', start);
    if (close < 0 || (newline >= 0 && newline < close)) return null;
    return { start, end: close };
  }
  let end = scan.runEnd(isUnquotedChar, pos);
  if (end - pos <= MAX_CHECKED_VALUE) {
    const value = text.slice(pos, end);
    if (CODE_EXPRESSION.test(value) || CALL_OR_INDEX.test(value)) return null;
  }
  while (end > pos && (text.charCodeAt(end - 1) === 46 || text.charCodeAt(end - 1) === 58)) end--;
  return end > pos ? { start: pos, end } : null;
}

const PEM_END = /-----END ([A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?)-----/y;
const BASE64_LINE = /^[A-Za-z0-9+/=]+$/;
/** `Proc-Type: 4,ENCRYPTED`, `DEK-Info: …` headers of an encrypted PEM key. */
const HEADER_LINE = /^[A-Za-z-]+: \S.*$/;

/** A whole PEM or OpenSSH private key: the body between the armour lines. A key cut short is masked to its last line. */
export function privateKeyDetector(): TriggeredDetector {
  return {
    trigger: '-----BEGIN [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----',
    detect(text, _at, anchorEnd, push, scan) {
      const label = text.slice(_at + 11, anchorEnd - 5);
      const footer = `-----END ${label}-----`;
      const endAt = scan.indexOf(footer, anchorEnd);
      let bodyEnd: number;
      let resume: number;
      if (endAt >= 0) {
        bodyEnd = endAt;
        resume = endAt + footer.length;
      } else {
        // No footer: mask every following line that can belong to a key.
        bodyEnd = anchorEnd;
        let afterHeader = true;
        for (let lineStart = text[anchorEnd] === '\n' ? anchorEnd + 1 : anchorEnd; lineStart <= text.length; ) {
          const nl = text.indexOf('\n', lineStart);
          const lineEnd = nl < 0 ? text.length : nl;
          const line = text.slice(lineStart, lineEnd).replace(/\r$/, '');
          PEM_END.lastIndex = lineStart;
          // Key lines are base64; an empty line only separates the headers of an encrypted key from its body.
          const header = HEADER_LINE.test(line);
          if (PEM_END.test(text) || !(BASE64_LINE.test(line) || header || (line === '' && afterHeader))) break;
          afterHeader = header;
          bodyEnd = lineEnd;
          if (nl < 0) break;
          lineStart = nl + 1;
        }
        resume = bodyEnd;
      }
      let start = anchorEnd;
      while (start < bodyEnd && /\s/.test(text[start] ?? '')) start++;
      let end = bodyEnd;
      while (end > start && /\s/.test(text[end - 1] ?? '')) end--;
      if (end > start) secret(push, start, end, 'private-key');
      return resume;
    },
  };
}

const isBase64UrlChar: CharClass = (c) => (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || (c >= 48 && c <= 57) || c === 95 || c === 45;

/** JSON Web Tokens: base64url `{"` header and payload (both start with `eyJ`), then a signature. */
export function jwtDetector(): TriggeredDetector {
  return {
    trigger: 'eyJ',
    detect(text, at, _anchorEnd, push, scan) {
      if (alnumBefore(text, at)) return null;
      // eyJ<8+ chars>.eyJ<8+ chars>.<signature>, each part a run read once.
      const headerEnd = scan.runEnd(isBase64UrlChar, at + 3);
      if (headerEnd - at < 11 || text.charCodeAt(headerEnd) !== 46 || !text.startsWith('eyJ', headerEnd + 1)) return null;
      const payloadEnd = scan.runEnd(isBase64UrlChar, headerEnd + 4);
      if (payloadEnd - headerEnd < 12 || text.charCodeAt(payloadEnd) !== 46) return null;
      const end = scan.runEnd(isBase64UrlChar, payloadEnd + 1);
      secret(push, at, end, 'jwt');
      return end;
    },
  };
}

const isAlnum: CharClass = (c) => (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || (c >= 48 && c <= 57);
const isAlnumUnderscore: CharClass = (c) => isAlnum(c) || c === 95;
const isAlnumDash: CharClass = (c) => isAlnum(c) || c === 45;
const DIGIT = /\d/g;
const TWO_LETTERS = /[A-Za-z]{2}/g;

interface VendorFormat {
  readonly name: string;
  /** The documented prefix, sticky; a fixed-length key is all prefix (`body` null). */
  readonly prefix: RegExp;
  readonly body: CharClass | null;
  readonly min: number;
}

/** Vendor key formats, each with its documented prefix and the characters of its body. */
const VENDORS: readonly VendorFormat[] = [
  { name: 'anthropic-key', prefix: /sk-ant-/y, body: isBase64UrlChar, min: 20 },
  { name: 'openai-key', prefix: /sk-(?:proj-|svcacct-|admin-)?/y, body: isBase64UrlChar, min: 20 },
  { name: 'github-token', prefix: /gh[pousr]_/y, body: isAlnum, min: 30 },
  { name: 'github-token', prefix: /github_pat_/y, body: isAlnumUnderscore, min: 22 },
  { name: 'aws-access-key', prefix: /(?:AKIA|ASIA)[0-9A-Z]{16}(?![0-9A-Za-z])/y, body: null, min: 0 },
  { name: 'slack-token', prefix: /xox[abprs]-/y, body: isAlnumDash, min: 10 },
  { name: 'gitlab-token', prefix: /glpat-/y, body: isBase64UrlChar, min: 20 },
  { name: 'google-api-key', prefix: /AIza[0-9A-Za-z_-]{35}/y, body: null, min: 0 },
  { name: 'stripe-key', prefix: /[rs]k_(?:live|test)_/y, body: isAlnum, min: 16 },
  { name: 'huggingface-token', prefix: /hf_/y, body: isAlnum, min: 30 },
  { name: 'npm-token', prefix: /npm_[A-Za-z0-9]{36}/y, body: null, min: 0 },
];

export function vendorKeyDetector(): TriggeredDetector {
  return {
    trigger: '(?:sk-|gh[pousr]_|github_pat_|AKIA|ASIA|xox[abprs]-|glpat-|AIza|[rs]k_(?:live|test)_|hf_|npm_)',
    detect(text, at, _anchorEnd, push, scan) {
      if (alnumBefore(text, at)) return null;
      for (const { name, prefix, body, min } of VENDORS) {
        prefix.lastIndex = at;
        const m = prefix.exec(text);
        if (m === null) continue;
        const bodyStart = at + m[0].length;
        const end = body === null ? bodyStart : scan.runEnd(body, bodyStart);
        if (end - bodyStart < min) continue;
        // `sk-` is also the start of ordinary kebab-case words: a key has digits and letters.
        if (name === 'openai-key' && !(inRange(scan, DIGIT, 1, at + 3, end) && inRange(scan, TWO_LETTERS, 2, at + 3, end))) continue;
        secret(push, at, end, name);
        return end;
      }
      return null;
    },
  };
}

/** Whether `re` (matching `length` characters) matches inside [from, end). */
function inRange(scan: TextScan, re: RegExp, length: number, from: number, end: number): boolean {
  const i = scan.search(re, from);
  return i >= 0 && i + length <= end;
}

// A run starts after a character that cannot be in one (or at the very start):
// matching that character first is 3x faster in V8 than a leading lookbehind.
/** Characters of a base64 (or base64url) run, `=` padding aside. */
function isBase64Char(c: number): boolean {
  return (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || (c >= 48 && c <= 57) || c === 43 || c === 47 || c === 95 || c === 45;
}

/**
 * Long base64 (or base64url) runs that look random: upper and lower case and
 * digits, high entropy. Not hashes: all-hex runs (git SHAs, sha256 digests,
 * UUIDs) and SRI integrity strings (`sha512-…`, as in package-lock.json) are
 * left alone, as are paths and kebab/snake/camel identifiers, whose entropy is
 * low or which lack a character class.
 */
/** The shortest base64 body worth a look: shorter runs are words, not keys. */
const MIN_BASE64_BODY = 32;

function isSegmentChar(c: number): boolean {
  return isBase64Char(c) || c === 61;
}

/**
 * Long base64 runs that look random. A segment is a maximal run of base64
 * characters and `=`; it counts when it is at least 32 characters with at
 * most two `=` of padding at its end. Such a segment covers one position in
 * every 32, so only those positions are probed, and a segment is read whole
 * only where a probe lands in one: prose (short words) is read about once in
 * eight characters instead of character by character, the slowest part of the
 * engine on a long conversation. Each character is read a bounded number of times.
 */
export function scanBase64(text: string, push: Push): void {
  const n = text.length;
  let probe = MIN_BASE64_BODY - 1;
  while (probe < n) {
    if (!isSegmentChar(text.charCodeAt(probe))) {
      probe += MIN_BASE64_BODY;
      continue;
    }
    // The previous segment ended before the last probe: going back stops there at the latest.
    let start = probe;
    while (start > 0 && isSegmentChar(text.charCodeAt(start - 1))) start--;
    let end = probe + 1;
    while (end < n && isSegmentChar(text.charCodeAt(end))) end++;
    checkSegment(text, start, end, push);
    // The next segment starts after `end`: 32 characters of it cover one of these probes.
    probe = end + MIN_BASE64_BODY;
  }
}

/** A segment is a secret when it is a base64 body of 32 or more, then at most two `=`, and looks random. */
function checkSegment(text: string, start: number, end: number, push: Push): void {
  let bodyEnd = start;
  while (bodyEnd < end && isBase64Char(text.charCodeAt(bodyEnd))) bodyEnd++;
  if (bodyEnd - start < MIN_BASE64_BODY || end - bodyEnd > 2) return;
  for (let i = bodyEnd; i < end; i++) if (text.charCodeAt(i) !== 61) return;
  if (looksLikeSecret(text.slice(start, end))) secret(push, start, end, 'base64');
}

export function looksLikeSecret(run: string): boolean {
  if (/^sha(?:1|224|256|384|512)-/i.test(run)) return false;
  const body = run.replace(/=+$/, '');
  if (/^[0-9a-fA-F-]+$/.test(body)) return false;
  if (!/[a-z]/.test(body) || !/[A-Z]/.test(body)) return false;
  let digits = 0;
  let slashes = 0;
  const counts = new Map<string, number>();
  for (const c of body) {
    if (c >= '0' && c <= '9') digits++;
    else if (c === '/') slashes++;
    counts.set(c, (counts.get(c) ?? 0) + 1);
  }
  if (digits < 2 || slashes > 1 + body.length / 16) return false;
  let entropy = 0;
  for (const n of counts.values()) {
    const p = n / body.length;
    entropy -= p * Math.log2(p);
  }
  return entropy >= 4.2;
}
