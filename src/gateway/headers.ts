import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';

/**
 * Headers across the proxy (llm-apis.md §4.4, RFC 9110 §7.6.1). API headers
 * pass through (anthropic-version, anthropic-beta, x-api-key, authorization,
 * openai-*, x-stainless-*, user-agent…); hop-by-hop ones never do, nor the
 * headers named in `Connection`. Forwarding headers are dropped too: they
 * would carry internal addresses out. `x-anklume-*` are the gateway's own.
 */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);
const REQUEST_DROP = new Set(['host', 'content-length', 'expect', 'forwarded', 'via', 'x-real-ip']);

/** Names listed in the Connection header (they are hop-by-hop for this connection). */
function connectionTokens(headers: IncomingHttpHeaders): Set<string> {
  const value = headers.connection;
  const text = Array.isArray(value) ? value.join(',') : (value ?? '');
  return new Set(
    text
      .split(',')
      .map((t) => t.trim().toLowerCase())
      .filter((t) => t !== ''),
  );
}

export interface UpstreamHeaderOptions {
  /** When set, replaces the client's key headers (credential injection). */
  readonly inject?: { readonly header: 'x-api-key' | 'authorization'; readonly value: string } | undefined;
  /** We must read the answer (to restore it): ask for it uncompressed. */
  readonly identity: boolean;
}

/** The headers sent upstream for a client request. */
export function upstreamHeaders(incoming: IncomingHttpHeaders, options: UpstreamHeaderOptions): OutgoingHttpHeaders {
  const named = connectionTokens(incoming);
  const out: OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(incoming)) {
    if (value === undefined) continue;
    if (HOP_BY_HOP.has(name) || named.has(name) || REQUEST_DROP.has(name) || name.startsWith('x-forwarded-') || name.startsWith('x-anklume-')) continue;
    out[name] = value;
  }
  if (options.inject !== undefined) {
    delete out['x-api-key'];
    delete out.authorization;
    delete out['api-key'];
    out[options.inject.header] = options.inject.value;
  }
  if (options.identity) out['accept-encoding'] = 'identity';
  return out;
}

/** The headers sent back to the client; `rewritten` drops the length (the body changes size). */
export function clientHeaders(incoming: IncomingHttpHeaders, options: { rewritten: boolean }): OutgoingHttpHeaders {
  const named = connectionTokens(incoming);
  const out: OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(incoming)) {
    if (value === undefined) continue;
    if (HOP_BY_HOP.has(name) || named.has(name)) continue;
    if (options.rewritten && (name === 'content-length' || name === 'content-encoding')) continue;
    out[name] = value;
  }
  return out;
}
