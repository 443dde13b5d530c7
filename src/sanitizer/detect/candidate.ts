import type { Category } from '../types.js';
import type { TextScan } from './text-scan.js';

/**
 * How a found value is replaced. The detector decides what the value is; the
 * mode (mask or pseudonymize) decides what it becomes.
 */
export type ValueKind =
  /** A dotted-quad IPv4 address. */
  | 'ip'
  /** An address with a `/prefix`. */
  | 'cidr'
  /** An IPv6 address (any notation). */
  | 'ip6'
  /** An IPv6 address with a `/prefix`. */
  | 'cidr6'
  /** A MAC address (colon, dash or dot notation). */
  | 'mac'
  /** A domain (or Incus project) name. */
  | 'domain'
  /** A bridge, `net-<x>`. */
  | 'bridge'
  /** An instance name, `<domain>-<machine>` or any machine name. */
  | 'instance'
  /** A host name of unknown shape (one label or dotted), e.g. an ansible_host value. */
  | 'host'
  /** `<labels>.<internal|corp|local|lan>`: the suffix is kept. */
  | 'fqdn'
  /** A file-system path (Incus socket paths). */
  | 'path'
  /** A name found by its context (Ansible group, host, inventory). */
  | 'name'
  /** A credential or a packet's contents: masked in both modes, never restored. */
  | 'secret'
  /** Replaced by a generalisation in both modes (its `marker`, e.g. `OpenSSH 9.x`), never restored. */
  | 'generalized'
  /** A per-domain extra pattern: letters stay letters, digits stay digits. */
  | 'custom';

/** One value a detector found: the span is exactly what gets replaced (its context stays). */
export interface Candidate {
  readonly start: number;
  readonly end: number;
  readonly category: Category;
  /** e.g. `ip.rfc1918-c`, `credentials.bearer`. */
  readonly pattern: string;
  readonly kind: ValueKind;
  /** The mask marker, when the kind's default marker is not the right one. */
  readonly marker?: string;
}

export type Push = (candidate: Candidate) => void;

/**
 * A detector that wakes on a short anchor. All anchors of all enabled detectors
 * are joined into one regex, so the text is scanned once for all of them; the
 * detector then looks at the anchor's surroundings with sticky regexes.
 */
export interface TriggeredDetector {
  /**
   * Regex source of the anchor, without capturing groups. It starts with a
   * literal or a small character class, never with a lookbehind: V8 skips
   * through the text quickly only when every alternative of the combined regex
   * has a known first character (measured: 200 MB/s against 25 MB/s with
   * leading lookbehinds). Boundaries before the anchor are checked in `detect`.
   */
  readonly trigger: string;
  /**
   * Called for each anchor found at [at, anchorEnd).
   * Returns where the scan for the next anchor resumes, or null when nothing is
   * there after all: then the other detectors whose anchor starts at the same
   * place get their turn. Detectors resume right after their anchor, not after
   * what they found, so that anchors inside a found value (a `password=` after
   * a JWT, a declared name inside an incus command) are found too and the
   * overlap ranking decides; only a PEM block and long secret runs are skipped whole.
   *
   * Work per anchor must not depend on how far the text goes on: a look ahead
   * (to a closing quote, the end of a run or of a command) goes through `scan`,
   * which remembers it, or is bounded by a fixed length. Anchors can repeat
   * every few characters; a detector that rescans is quadratic.
   */
  readonly detect: (text: string, at: number, anchorEnd: number, push: Push, scan: TextScan) => number | null;
}

/** A DNS-safe label; sticky (`y`), so it matches only at the position asked. */
export const LABEL_AT = /[a-z0-9](?:[a-z0-9-]*[a-z0-9])?/y;

/** What the sticky `pattern` matches at `at`, when it is a whole identifier there (no identifier character right after it). */
export function wholeNameAt(text: string, at: number, pattern: RegExp = LABEL_AT): string | null {
  pattern.lastIndex = at;
  const m = pattern.exec(text);
  if (m === null) return null;
  const end = at + m[0].length;
  if (end < text.length && isIdentChar(text.charCodeAt(end))) return null;
  return m[0];
}

/** `\w` plus the hyphen: the characters an identifier is made of. */
export function isIdentChar(code: number): boolean {
  return (code >= 48 && code <= 57) || (code >= 65 && code <= 90) || (code >= 97 && code <= 122) || code === 95 || code === 45;
}

/** `0-9`, `a-f`, `A-F`. */
export function isHexDigit(code: number): boolean {
  return (code >= 48 && code <= 57) || (code >= 97 && code <= 102) || (code >= 65 && code <= 70);
}

export function isWordChar(code: number): boolean {
  return (code >= 48 && code <= 57) || (code >= 65 && code <= 90) || (code >= 97 && code <= 122) || code === 95;
}

/** Whether the character before `at` continues an identifier (so nothing starts at `at`). */
export function identBefore(text: string, at: number): boolean {
  return at > 0 && isIdentChar(text.charCodeAt(at - 1));
}

export function escapeRegex(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&');
}

/** Lower-case letters, digits and inner hyphens: Incus and DNS names. */
export const DNS_NAME = /^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$/;
