import { setImmediate as yieldToLoop } from 'node:timers/promises';
import type { DomainSanitizer, Replacement, SanitizeResult } from '../sanitizer/types.js';
import { cidrContains, parseCidr, parseIpv4, type Cidr } from '../shared/ipv4.js';
import { formatPath, RequestShapeError, walkRequest, type Path, type Shape } from './apis/request-shape.js';
import type { JsonObject } from './apis/walk.js';
import { GatewayError } from './errors.js';
import type { SanitizeCache } from './sanitize-cache.js';

/** Binary content a request carried to the cloud because its domain allows it: what the audit log records. */
export interface BinaryPassed {
  readonly what: string;
  readonly bytes: number;
  readonly path: string;
}

export interface RequestSanitizeOptions {
  readonly sanitizer: DomainSanitizer;
  readonly cache: SanitizeCache | undefined;
  /** Where the request goes: binary content and inside URLs matter only on the way to the cloud. */
  readonly route: 'local' | 'cloud';
  /** The domain's `ai_binary: allow`. */
  readonly allowBinary: boolean;
  /** Work this long (ms) before letting other requests run: one domain's large request never stalls the others. */
  readonly sliceMs: number;
}

export interface SanitizedRequest {
  readonly body: Buffer;
  readonly replacements: Replacement[];
  readonly binary: BinaryPassed[];
}

/** Private, loopback, link-local, shared (CGNAT) and unspecified IPv4 ranges: addresses that are inside somewhere. */
const INSIDE_V4: readonly Cidr[] = ['0.0.0.0/8', '10.0.0.0/8', '100.64.0.0/10', '127.0.0.0/8', '169.254.0.0/16', '172.16.0.0/12', '192.168.0.0/16', '192.0.0.0/24', '198.18.0.0/15'].map(
  (c) => parseCidr(c) as Cidr,
);
/** Names that only resolve inside a site (RFC 6761, RFC 6762, RFC 8375, common private suffixes). */
const INSIDE_SUFFIXES = ['.localhost', '.local', '.internal', '.intranet', '.lan', '.home', '.home.arpa', '.corp', '.incus', '.localdomain'];

type Slot = { readonly kind: 'text'; readonly value: string; readonly set: (s: string) => void } | { readonly kind: 'verbatim'; readonly value: string; readonly path: Path };

/**
 * Sanitize a parsed request body by its API's shape (request-shape.ts): every
 * text string through the domain's sanitizer, structure checked to carry no
 * identifier, binary content and URLs the API would fetch refused on the way
 * to the cloud (binary allowed by `ai_binary: allow`, and recorded). The walk
 * only collects; the strings are then sanitized in slices of `sliceMs`,
 * yielding to the event loop between slices, so other domains' requests are
 * served while a large one is worked on. Any refusal or failure throws a
 * GatewayError: nothing is sent.
 */
export async function sanitizeRequestBody(shape: Shape, body: JsonObject, options: RequestSanitizeOptions): Promise<SanitizedRequest> {
  const { sanitizer, cache, route } = options;
  const slots: Slot[] = [];
  const finishers: (() => void)[] = [];
  const binary: BinaryPassed[] = [];
  // Keys and types repeat in every message: each distinct one is checked once.
  const checked = new Set<string>();
  try {
    walkRequest(body, shape, {
      text: (value, _path, set) => slots.push({ kind: 'text', value, set }),
      verbatim: (value, path) => {
        if (checked.has(value)) return;
        checked.add(value);
        // The walk's path changes as it goes on: this one is kept for an error message.
        slots.push({ kind: 'verbatim', value, path: [...path] });
      },
      binary: (what, bytes, path) => {
        if (route !== 'cloud') return;
        if (!options.allowBinary) {
          throw new GatewayError(
            403,
            'binary_refused',
            `${formatPath(path)}: ${what} content cannot be sanitized and this request goes to the cloud; nothing was sent. Describe it in text, or set ai_binary: allow on domain ${sanitizer.domain} (each one is then audited)`,
          );
        }
        binary.push({ what, bytes, path: formatPath(path) });
      },
      url: (value, path) => {
        if (route !== 'cloud') return;
        const why = insideUrl(value, sanitizer);
        if (why !== null) throw new GatewayError(403, 'url_refused', `${formatPath(path)}: the API would fetch this URL itself, and it ${why}; nothing was sent`);
      },
      after: (fn) => finishers.push(fn),
    });
  } catch (err) {
    if (err instanceof RequestShapeError) throw new GatewayError(400, 'invalid_request', `${formatPath(err.path)}: ${err.message}; nothing was sent`);
    throw err;
  }

  const replacements: Replacement[] = [];
  const sanitize = (text: string): SanitizeResult => sanitizer.sanitize(text);
  let sliceStart = performance.now();
  for (let i = 0; i < slots.length; i++) {
    const slot = slots[i] as Slot;
    if (slot.kind === 'text') {
      const result = cache === undefined ? sanitize(slot.value) : cache.get(slot.value, sanitize);
      // A loop, not push(...): one string can hold more distinct values than a call takes arguments.
      for (const r of result.replacements) replacements.push(r);
      if (result.text !== slot.value) slot.set(result.text);
    } else {
      const result = sanitize(slot.value);
      // A pseudonym this domain was given before (a signed thinking block quoting one) is not an identifier.
      const found = result.replacements.find((r) => sanitizer.restore(r.original) === r.original);
      if (found !== undefined) {
        throw new GatewayError(
          400,
          'identifier_in_structure',
          `${formatPath(slot.path)}: this field must reach the API unchanged (an id, a name, a type, a signed thinking block) but it holds a value the gateway hides (${found.category}); nothing was sent`,
        );
      }
    }
    // Nothing left after the last one: no point giving the loop away then.
    if (i < slots.length - 1 && performance.now() - sliceStart >= options.sliceMs) {
      await yieldToLoop();
      sliceStart = performance.now();
    }
  }
  for (let i = finishers.length - 1; i >= 0; i--) finishers[i]?.();
  return { body: Buffer.from(JSON.stringify(body)), replacements, binary };
}

/** Why a URL points inside (a private or declared address, an inside name, an identifier in it), or null when it is public. */
export function insideUrl(value: string, sanitizer: DomainSanitizer): string | null {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return 'is not a valid URL';
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return `uses the ${url.protocol} scheme (only http and https are fetched)`;
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1').toLowerCase();
  const v4 = parseIpv4(host.startsWith('::ffff:') ? host.slice(7) : host);
  if (v4 !== null && INSIDE_V4.some((c) => cidrContains(c, v4))) return 'points at a private address';
  if (host.includes(':') && insideV6(host)) return 'points at a private IPv6 address';
  if (!host.includes('.') && v4 === null && !host.includes(':')) return 'names a host without a domain (an inside name)';
  if (host === 'localhost' || INSIDE_SUFFIXES.some((s) => host.endsWith(s))) return 'names an inside host';
  if (url.username !== '' || url.password !== '') return 'carries credentials';
  const result = sanitizer.sanitize(value);
  if (result.replacements.length > 0) return `holds a value the gateway hides (${result.replacements[0]?.category ?? 'identifier'})`;
  return null;
}

/** Loopback, unspecified, unique-local (fc00::/7), link-local (fe80::/10) and IPv4-mapped IPv6. */
function insideV6(host: string): boolean {
  const h = host.split('%')[0] ?? host;
  if (h === '::1' || h === '::') return true;
  const first = h.split(':')[0] ?? '';
  const word = first === '' ? 0 : Number.parseInt(first, 16);
  if ((word & 0xfe00) === 0xfc00 || (word & 0xffc0) === 0xfe80) return true;
  // ::ffff:0a00:0001 and friends (the URL parser writes mapped IPv4 in hex).
  return h.startsWith('::ffff:');
}
