import { describe, expect, it } from 'vitest';
import { clientHeaders, upstreamHeaders, upstreamQuery } from '../../src/gateway/headers.js';
import { errorBody, GatewayError } from '../../src/gateway/errors.js';
import { upstreamUrl } from '../../src/gateway/upstream.js';

describe('upstreamHeaders', () => {
  const incoming = {
    host: 'gw:8089',
    connection: 'keep-alive, X-Private',
    'x-private': 'p',
    'keep-alive': 'timeout=5',
    'transfer-encoding': 'chunked',
    'content-length': '12',
    'proxy-authorization': 'x',
    upgrade: 'h2c',
    te: 'trailers',
    trailer: 'x',
    'x-forwarded-for': '10.110.0.10',
    forwarded: 'for=10.110.0.10',
    via: '1.1 x',
    'x-anklume-escalate': 'true',
    'anthropic-version': '2023-06-01',
    'anthropic-beta': 'b',
    'x-api-key': 'k',
    authorization: 'Bearer k',
    'openai-organization': 'org',
    'accept-encoding': 'gzip, br',
  };

  it('keeps only the API’s own headers: hop-by-hop, Connection-named, forwarding, x-anklume-* and any other header are dropped', () => {
    const withUnknown = { ...incoming, 'x-internal-host': 'pro-dev.corp', referer: 'http://10.110.0.10/', cookie: 'sid=1', 'x-stainless-lang': 'js', 'x-claude-code-session-id': 'a1b2' };
    expect(upstreamHeaders(withUnknown, { api: 'anthropic', identity: false })).toEqual({
      'anthropic-version': '2023-06-01',
      'anthropic-beta': 'b',
      'x-api-key': 'k',
      authorization: 'Bearer k',
      'accept-encoding': 'gzip, br',
      'x-stainless-lang': 'js',
      'x-claude-code-session-id': 'a1b2',
    });
    expect(upstreamHeaders(withUnknown, { api: 'openai', identity: false })).toEqual({ authorization: 'Bearer k', 'openai-organization': 'org', 'accept-encoding': 'gzip, br', 'x-stainless-lang': 'js' });
  });

  it('on sanitized routes, sends allowed values through the sanitizer, credentials excepted', () => {
    const h = upstreamHeaders({ 'user-agent': 'tool on pro-dev', 'x-api-key': 'pro-dev-key' }, { api: 'anthropic', identity: false, rewrite: (v) => v.replace('pro-dev', 'HIDDEN') });
    expect(h).toEqual({ 'user-agent': 'tool on HIDDEN', 'x-api-key': 'pro-dev-key' });
  });

  it('injects a server-held key in place of every client key header, and asks for identity when the answer is read', () => {
    const h = upstreamHeaders(incoming, { api: 'anthropic', identity: true, inject: { header: 'authorization', value: 'Bearer real' } });
    expect(h.authorization).toBe('Bearer real');
    expect(h['x-api-key']).toBeUndefined();
    expect(h['accept-encoding']).toBe('identity');
  });
});

it('clientHeaders drops hop-by-hop headers, and the length and encoding of a rewritten body', () => {
  const up = { connection: 'close, x-hop', 'x-hop': '1', 'content-length': '10', 'content-encoding': 'gzip', 'content-type': 'application/json', 'request-id': 'r' };
  expect(clientHeaders(up, { rewritten: false })).toEqual({ 'content-length': '10', 'content-encoding': 'gzip', 'content-type': 'application/json', 'request-id': 'r' });
  expect(clientHeaders(up, { rewritten: true })).toEqual({ 'content-type': 'application/json', 'request-id': 'r' });
});

it('upstreamQuery passes the known parameters with well-formed values, drops every other', () => {
  expect(upstreamQuery('anthropic.messages', '?beta=true')).toBe('?beta=true');
  expect(upstreamQuery('anthropic.messages', '?beta=true&host=10.110.0.10&debug=1')).toBe('?beta=true');
  expect(upstreamQuery('anthropic.messages', '?beta=10.110.0.10')).toBe('');
  expect(upstreamQuery('openai.chat_completions', '?beta=true')).toBe('');
  expect(upstreamQuery('anthropic.models', '?limit=20&after_id=claude-x')).toBe('?limit=20&after_id=claude-x');
  expect(upstreamQuery('ollama.chat', '')).toBe('');
});

it('upstreamUrl keeps a base path prefix and the client query', () => {
  expect(upstreamUrl('https://api.anthropic.com', '/v1/messages?beta=true').href).toBe('https://api.anthropic.com/v1/messages?beta=true');
  expect(upstreamUrl('http://proxy.example/llm/', '/v1/chat/completions').href).toBe('http://proxy.example/llm/v1/chat/completions');
});

it('errorBody speaks each API’s error envelope', () => {
  const e = new GatewayError(413, 'request_too_large', 'too big');
  expect(errorBody('anthropic', e, 'req_1')).toEqual({ type: 'error', error: { type: 'request_too_large', message: 'too big' }, request_id: 'req_1' });
  expect(errorBody('openai', e, 'req_1')).toEqual({ error: { message: 'too big', type: 'invalid_request_error', param: null, code: 'request_too_large' } });
  expect(errorBody('ollama', e, 'req_1')).toEqual({ error: 'too big' });
  expect(errorBody('anthropic', new GatewayError(504, 'upstream_timeout', 't'), 'r')).toMatchObject({ error: { type: 'timeout_error' } });
});
