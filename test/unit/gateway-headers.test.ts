import { describe, expect, it } from 'vitest';
import { clientHeaders, upstreamHeaders } from '../../src/gateway/headers.js';
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

  it('keeps API headers and drops hop-by-hop, Connection-named, forwarding and x-anklume-* headers', () => {
    expect(upstreamHeaders(incoming, { identity: false })).toEqual({ 'anthropic-version': '2023-06-01', 'anthropic-beta': 'b', 'x-api-key': 'k', authorization: 'Bearer k', 'openai-organization': 'org', 'accept-encoding': 'gzip, br' });
  });

  it('injects a server-held key in place of every client key header, and asks for identity when the answer is read', () => {
    const h = upstreamHeaders(incoming, { identity: true, inject: { header: 'authorization', value: 'Bearer real' } });
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
