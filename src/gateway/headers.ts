import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';
import type { ApiFormat } from './errors.js';

/**
 * Headers across the proxy (llm-apis.md §4.4, RFC 9110 §7.6.1). Requests:
 * an allow list per API (below). Answers: everything but hop-by-hop headers
 * and those named in `Connection`.
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

/**
 * Request headers that may go upstream, per API: what the official SDKs
 * (@anthropic-ai/sdk 1.12, openai 6.49, recorded against a loopback server;
 * OpenClaw's providers use the same SDKs), Claude Code (llm-apis.md §4.4) and
 * the Ollama clients send and the APIs need. Anything else is dropped: a
 * header nobody thought of never reaches a cloud.
 */
const COMMON = ['accept', 'accept-language', 'content-type', 'user-agent', 'accept-encoding'];
const STAINLESS = ['retry-count', 'timeout', 'lang', 'package-version', 'os', 'arch', 'runtime', 'runtime-version', 'helper-method', 'helper', 'async', 'poll-helper', 'custom-poll-interval'].map((h) => `x-stainless-${h}`);
const ALLOWED: Readonly<Record<ApiFormat, ReadonlySet<string>>> = {
  anthropic: new Set([...COMMON, ...STAINLESS, 'anthropic-version', 'anthropic-beta', 'anthropic-dangerous-direct-browser-access', 'x-api-key', 'authorization', 'x-app', 'x-claude-code-session-id']),
  openai: new Set([...COMMON, ...STAINLESS, 'authorization', 'openai-organization', 'openai-project', 'openai-beta', 'idempotency-key']),
  ollama: new Set([...COMMON, 'authorization']),
};
/** Credentials pass as they are (the engine would mask them); every other allowed value is text the domain's sanitizer sees. */
const CREDENTIALS = new Set(['x-api-key', 'authorization']);

export interface UpstreamHeaderOptions {
  /** The API whose allow list applies. */
  readonly api: ApiFormat;
  /** When set, replaces the client's key headers (credential injection). */
  readonly inject?: { readonly header: 'x-api-key' | 'authorization'; readonly value: string } | undefined;
  /** We must read the answer (to restore it): ask for it uncompressed. */
  readonly identity: boolean;
  /** On sanitized routes: each allowed value but credentials goes through the domain's sanitizer. */
  readonly rewrite?: ((value: string) => string) | undefined;
}

/** The headers sent upstream for a client request: the API's allow list, nothing else. */
export function upstreamHeaders(incoming: IncomingHttpHeaders, options: UpstreamHeaderOptions): OutgoingHttpHeaders {
  const allowed = ALLOWED[options.api];
  const named = connectionTokens(incoming);
  const out: OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(incoming)) {
    if (value === undefined || !allowed.has(name) || named.has(name)) continue;
    const rewrite = options.rewrite;
    out[name] = rewrite === undefined || CREDENTIALS.has(name) ? value : Array.isArray(value) ? value.map(rewrite) : rewrite(value);
  }
  if (options.inject !== undefined) {
    delete out['x-api-key'];
    delete out.authorization;
    out[options.inject.header] = options.inject.value;
  }
  if (options.identity) out['accept-encoding'] = 'identity';
  return out;
}

/** Query parameters each endpoint knows, with the values they take; any other is dropped. */
const QUERY: Readonly<Record<string, Readonly<Record<string, RegExp>>>> = {
  // Claude Code calls /v1/messages?beta=true.
  'anthropic.messages': { beta: /^(true|false)$/ },
  'anthropic.count_tokens': { beta: /^(true|false)$/ },
  'anthropic.models': { beta: /^(true|false)$/, limit: /^\d{1,4}$/, after_id: /^[\w.:-]{1,200}$/, before_id: /^[\w.:-]{1,200}$/ },
};

/** The query string sent upstream (`?a=b`, or ''): known parameters with well-formed values only. */
export function upstreamQuery(endpoint: string, search: string): string {
  const known = QUERY[endpoint] ?? {};
  const out = new URLSearchParams();
  for (const [name, value] of new URLSearchParams(search)) {
    const shape = Object.hasOwn(known, name) ? known[name] : undefined;
    if (shape !== undefined && shape.test(value)) out.append(name, value);
  }
  const text = out.toString();
  return text === '' ? '' : `?${text}`;
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
