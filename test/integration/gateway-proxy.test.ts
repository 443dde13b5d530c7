import http from 'node:http';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import type { SanitizerEngine } from '../../src/gateway/runtime.js';
import { json, realEngine, SOURCE, startFakeLlmUpstream, startTestGateway, type FakeLlmUpstream, type TestGateway } from '../helpers/fake-llm-upstream.js';
import { CLOSED_LOOPBACK_URL } from '../helpers/closed-port.js';

// Transport and failure behaviour of the gateway (issue 7 items 1 and 7):
// headers, streaming without buffering, client disconnects, upstream errors,
// and every error the gateway answers itself, in each API's own format.

/** The real engine, made to throw on a marker: the gateway's fail-closed path under test. */
const engine: SanitizerEngine = {
  buildDictionary: (m) => realEngine.buildDictionary(m),
  createSanitizer(o) {
    const s = realEngine.createSanitizer(o);
    return {
      domain: s.domain,
      mode: s.mode,
      sanitize: (t) => {
        if (t.includes('FAIL-THE-SANITIZER')) throw new Error('engine failure for the test');
        return s.sanitize(t);
      },
      restore: (t) => s.restore(t),
      streamRestorer: (e) => s.streamRestorer(e),
    };
  },
};

let upstream: FakeLlmUpstream;
let gw: TestGateway;

beforeAll(async () => {
  upstream = await startFakeLlmUpstream();
  gw = await startTestGateway({ upstream, engine, config: { limits: { body_bytes: 4096 }, upstreams: { timeout_ms: 300 } } });
});
afterAll(async () => {
  await gw.close();
  await upstream.close();
});
beforeEach(() => {
  upstream.requests.length = 0;
  upstream.override(undefined);
});

const messages = (content: string): unknown => ({ model: 'm', max_tokens: 10, messages: [{ role: 'user', content }] });

/** A raw HTTP request (fetch would add and hide headers). */
function request(options: { path: string; method?: string; headers?: http.OutgoingHttpHeaders; body?: string | Buffer; chunked?: boolean }): Promise<{ status: number; headers: http.IncomingHttpHeaders; text: string }> {
  return new Promise((resolve, reject) => {
    const url = new URL(options.path, gw.url);
    const req = http.request(url, { method: options.method ?? 'POST', headers: { 'x-anklume-test-source': SOURCE.client, 'content-type': 'application/json', ...options.headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    if (options.chunked === true && options.body !== undefined) {
      // Send a chunked body in pieces; the gateway may answer (and close) before the end.
      const body = Buffer.from(options.body);
      for (let i = 0; i < body.length; i += 1024) req.write(body.subarray(i, i + 1024));
      req.end();
    } else req.end(options.body);
  });
}

describe('headers', () => {
  it('passes API headers through and strips hop-by-hop, Connection-named and forwarding headers', async () => {
    await request({
      path: '/v1/messages?beta=true',
      headers: {
        'anthropic-version': '2023-06-01',
        'anthropic-beta': 'prompt-caching-2024-07-31',
        'x-api-key': 'sk-ant-client',
        'user-agent': 'claude-cli/2.1',
        'x-stainless-lang': 'js',
        connection: 'keep-alive, x-hop-custom',
        'x-hop-custom': 'secret-hop',
        'keep-alive': 'timeout=5',
        te: 'trailers',
        'proxy-authorization': 'Basic eA==',
        'x-forwarded-for': '10.110.0.10',
        'x-anklume-task': 'triage',
      },
      body: JSON.stringify(messages('hi')),
    });
    const seen = upstream.requests[0];
    expect(seen?.url).toBe('/v1/messages?beta=true');
    expect(seen?.headers).toMatchObject({ 'anthropic-version': '2023-06-01', 'anthropic-beta': 'prompt-caching-2024-07-31', 'x-api-key': 'sk-ant-client', 'user-agent': 'claude-cli/2.1', 'x-stainless-lang': 'js' });
    for (const h of ['x-hop-custom', 'keep-alive', 'te', 'proxy-authorization', 'x-forwarded-for', 'x-anklume-task', 'x-anklume-test-source']) expect(seen?.headers, h).not.toHaveProperty(h);
    // The body was rewritten: the length is the new one.
    expect(Number(seen?.headers['content-length'])).toBe(Buffer.byteLength(seen?.raw ?? ''));
  });

  it('strips hop-by-hop headers of the answer and keeps the others', async () => {
    upstream.override((_req, res) => {
      json(res, 200, { type: 'message', content: [] }, { connection: 'close, x-upstream-hop', 'x-upstream-hop': '1', 'request-id': 'req_up', 'anthropic-ratelimit-requests-remaining': '9' });
      return true;
    });
    const res = await request({ path: '/v1/messages', body: JSON.stringify(messages('hi')) });
    expect(res.headers['x-upstream-hop']).toBeUndefined();
    expect(res.headers['request-id']).toBe('req_up');
    expect(res.headers['anthropic-ratelimit-requests-remaining']).toBe('9');
  });

  it('injects the keys of anthropic_key_file and openai_key_file instead of the client’s (cloud routes only)', async () => {
    const keyFile = join(gw.dir, 'anthropic.key');
    const openaiKeyFile = join(gw.dir, 'openai.key');
    writeFileSync(keyFile, 'sk-ant-real-key\n', { mode: 0o600 });
    writeFileSync(openaiKeyFile, 'sk-openai-real\n', { mode: 0o600 });
    const g = await startTestGateway({ upstream, engine, config: { upstreams: { anthropic_key_file: keyFile, openai_key_file: openaiKeyFile } } });
    try {
      const clientKeys = { 'x-api-key': 'dummy', authorization: 'Bearer dummy' };
      await fetch(`${g.url}/v1/messages`, { method: 'POST', headers: { 'x-anklume-test-source': SOURCE.client, ...clientKeys }, body: JSON.stringify(messages('hi')) });
      expect(upstream.requests[0]?.headers['x-api-key']).toBe('sk-ant-real-key');
      expect(upstream.requests[0]?.headers.authorization).toBeUndefined();
      await fetch(`${g.url}/v1/chat/completions`, { method: 'POST', headers: { 'x-anklume-test-source': SOURCE.client, ...clientKeys }, body: JSON.stringify({ model: 'm', messages: [] }) });
      expect(upstream.requests[1]?.headers.authorization).toBe('Bearer sk-openai-real');
      expect(upstream.requests[1]?.headers['x-api-key']).toBeUndefined();
      // The local Ollama never gets the cloud key.
      await fetch(`${g.url}/v1/messages`, { method: 'POST', headers: { 'x-anklume-test-source': SOURCE.pro, ...clientKeys }, body: JSON.stringify(messages('hi')) });
      expect(upstream.requests[2]?.headers['x-api-key']).toBe('dummy');
    } finally {
      await g.close();
    }
  });
});

describe('streaming', () => {
  it('passes each event on as it arrives: the client reads the first before the upstream has finished', async () => {
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    upstream.override(async (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write('event: message_start\ndata: {"type":"message_start","message":{"content":[]}}\n\n');
      await held;
      res.end('event: message_stop\ndata: {"type":"message_stop"}\n\n');
      return true;
    });
    const res = await fetch(`${gw.url}/v1/messages`, { method: 'POST', headers: { 'x-anklume-test-source': SOURCE.client }, body: JSON.stringify({ ...(messages('hi') as object), stream: true }) });
    const reader = res.body!.getReader();
    const first = await reader.read();
    expect(new TextDecoder().decode(first.value)).toContain('message_start');
    release();
    let rest = '';
    for (let r = await reader.read(); !r.done; r = await reader.read()) rest += new TextDecoder().decode(r.value);
    expect(rest).toContain('message_stop');
  });

  it('a client that disconnects aborts the upstream call', async () => {
    upstream.override((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write('event: ping\ndata: {"type":"ping"}\n\n');
      // Never ends on its own.
      return true;
    });
    const abort = new AbortController();
    const res = await fetch(`${gw.url}/v1/messages`, { method: 'POST', headers: { 'x-anklume-test-source': SOURCE.client }, body: JSON.stringify({ ...(messages('hi') as object), stream: true }), signal: abort.signal });
    const reader = res.body!.getReader();
    await reader.read();
    abort.abort();
    await vi.waitFor(() => expect(upstream.requests[0]?.aborted).toBe(true));
    await vi.waitFor(() => expect(gw.server.metrics.activeStreams).toBe(0));
  });
});

it('a client that disconnects while the upstream has not answered yet aborts the upstream call too', async () => {
  upstream.override(() => true);
  const abort = new AbortController();
  const pending = fetch(`${gw.url}/v1/messages`, { method: 'POST', headers: { 'x-anklume-test-source': SOURCE.client }, body: JSON.stringify(messages('hi')), signal: abort.signal }).catch((err: unknown) => err);
  await vi.waitFor(() => expect(upstream.requests).toHaveLength(1));
  abort.abort();
  expect(await pending).toBeInstanceOf(Error);
  await vi.waitFor(() => expect(upstream.requests[0]?.aborted).toBe(true));
});

describe('upstream errors come back as they are', () => {
  it('status and body of an upstream error pass through, pseudonyms restored', async () => {
    upstream.override((req, res) => {
      json(res, 429, { type: 'error', error: { type: 'rate_limit_error', message: `slow down about ${req.body.messages[0].content}` }, request_id: 'req_x' }, { 'retry-after': '7' });
      return true;
    });
    const res = await request({ path: '/v1/messages', body: JSON.stringify(messages('host pro-dev')) });
    expect(res.status).toBe(429);
    expect(res.headers['retry-after']).toBe('7');
    expect(JSON.parse(res.text)).toEqual({ type: 'error', error: { type: 'rate_limit_error', message: 'slow down about host pro-dev' }, request_id: 'req_x' });
    expect(upstream.requests[0]?.raw).not.toContain('pro-dev');
  });

  it('a raw route passes an error body byte for byte', async () => {
    upstream.override((_req, res) => {
      res.writeHead(529, { 'content-type': 'application/json' });
      res.end('{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}');
      return true;
    });
    const res = await request({ path: '/v1/messages', headers: { 'x-anklume-test-source': SOURCE.rawcloud }, body: JSON.stringify(messages('hi')) });
    expect(res.status).toBe(529);
    expect(res.text).toBe('{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}');
  });
});

describe('errors the gateway answers itself, in the API’s own format', () => {
  it('sanitizing fails: 500, nothing upstream (Anthropic, OpenAI)', async () => {
    const a = await request({ path: '/v1/messages', body: JSON.stringify(messages('FAIL-THE-SANITIZER on pro-dev')) });
    expect(a.status).toBe(500);
    expect(JSON.parse(a.text)).toMatchObject({ type: 'error', error: { type: 'api_error', message: expect.stringContaining('nothing was sent upstream') } });
    const o = await request({ path: '/v1/chat/completions', body: JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'FAIL-THE-SANITIZER' }] }) });
    expect(o.status).toBe(500);
    expect(JSON.parse(o.text)).toMatchObject({ error: { type: 'server_error', code: 'sanitize_failed' } });
    expect(upstream.requests).toHaveLength(0);
  });

  it('sanitizing fails on an Ollama request: {error} and nothing upstream', async () => {
    writeFileSync(gw.holderFile, 'vault');
    const r = await request({ path: '/api/chat', headers: { 'x-anklume-test-source': SOURCE.vault }, body: JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'FAIL-THE-SANITIZER' }] }) });
    expect(r.status).toBe(500);
    expect(JSON.parse(r.text)).toEqual({ error: expect.stringContaining('sanitizing the request failed') });
    expect(upstream.requests).toHaveLength(0);
  });

  it.each([
    ['/v1/messages', (j: any) => expect(j).toMatchObject({ type: 'error', error: { type: 'invalid_request_error' } })],
    ['/v1/chat/completions', (j: any) => expect(j).toMatchObject({ error: { type: 'invalid_request_error', code: 'invalid_json' } })],
    ['/api/generate', (j: any) => expect(j).toEqual({ error: expect.stringContaining('not valid JSON') })],
  ])('malformed JSON on %s: 400', async (path, check) => {
    writeFileSync(gw.holderFile, 'vault');
    const r = await request({ path, headers: { 'x-anklume-test-source': SOURCE.vault }, body: '{"model": "m", "messages": [' });
    expect(r.status).toBe(400);
    check(JSON.parse(r.text));
    expect(upstream.requests).toHaveLength(0);
  });

  it('a body over the limit: 413 from its declared length, and from a chunked body as soon as it passes the limit', async () => {
    const big = JSON.stringify(messages('x'.repeat(10_000)));
    const declared = await request({ path: '/v1/messages', body: big });
    expect(declared.status).toBe(413);
    expect(JSON.parse(declared.text)).toMatchObject({ type: 'error', error: { type: 'request_too_large' } });
    const chunked = await request({ path: '/v1/messages', body: big, chunked: true, headers: { 'transfer-encoding': 'chunked' } });
    expect(chunked.status).toBe(413);
    expect(upstream.requests).toHaveLength(0);
  });

  it('an upstream that does not answer in time: 504', async () => {
    upstream.override(() => true);
    const r = await request({ path: '/v1/chat/completions', body: JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'hi' }] }) });
    expect(r.status).toBe(504);
    expect(JSON.parse(r.text)).toMatchObject({ error: { code: 'upstream_timeout' } });
  });

  it('an unreachable upstream: 502', async () => {
    const g = await startTestGateway({ upstream, engine, config: { upstreams: { anthropic: CLOSED_LOOPBACK_URL } } });
    try {
      const res = await fetch(`${g.url}/v1/messages`, { method: 'POST', headers: { 'x-anklume-test-source': SOURCE.client }, body: JSON.stringify(messages('hi')) });
      expect(res.status).toBe(502);
      expect(((await res.json()) as any).error).toMatchObject({ type: 'api_error', message: expect.stringContaining('unreachable') });
    } finally {
      await g.close();
    }
  });

  it('an endpoint the gateway does not serve: 404 in the format of its path', async () => {
    const r = await request({ path: '/api/pull', body: '{}' });
    expect(r.status).toBe(404);
    expect(JSON.parse(r.text)).toEqual({ error: expect.stringContaining('does not serve POST /api/pull') });
  });
});

describe('detection settings from the gateway config', () => {
  it('applies a domain’s extra patterns and allow list, and a category switched off', async () => {
    const g = await startTestGateway({
      upstream,
      config: { patterns: { ip: false }, domains: { client: { extra_patterns: [{ name: 'ticket', regex: 'ACME-\\d{4,}' }], allow: ['client-gw'] } } },
    });
    try {
      await fetch(`${g.url}/v1/messages`, { method: 'POST', headers: { 'x-anklume-test-source': SOURCE.client }, body: JSON.stringify(messages('see ACME-12345 on client-gw via 192.168.1.7, then pro-dev')) });
      const sent = upstream.requests[0]?.body.messages[0].content as string;
      expect(sent).not.toContain('ACME-12345');
      expect(sent).not.toContain('pro-dev');
      // Allowed, and an undeclared address with the ip category off: left as they are.
      expect(sent).toContain('on client-gw via 192.168.1.7');
    } finally {
      await g.close();
    }
  });
});

describe('mask mode', () => {
  it('sends the spec’s generic markers and passes the answer on unchanged (nothing to restore)', async () => {
    const g = await startTestGateway({ upstream, config: { mode: 'mask' } });
    try {
      const res = await fetch(`${g.url}/v1/messages`, { method: 'POST', headers: { 'x-anklume-test-source': SOURCE.client }, body: JSON.stringify(messages('ssh 10.110.0.10 on net-pro')) });
      const sent = upstream.requests[0]?.body.messages[0].content as string;
      expect(sent).toBe('ssh 10.ZONE.SEQ.HOST on net-DOMAIN');
      expect((((await res.json()) as any).content[0].text as string)).toBe(`You said: ${sent}`);
    } finally {
      await g.close();
    }
  });
});

describe('health and metrics', () => {
  it('/health tells any source only that the gateway is up', async () => {
    for (const source of [SOURCE.client, SOURCE.sandbox, '192.0.2.7', SOURCE.admin]) {
      const res = await fetch(`${gw.url}/health`, { headers: { 'x-anklume-test-source': source } });
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ ok: true });
    }
  });

  it('/health/details and /metrics answer the host and the admin domain only', async () => {
    for (const source of [SOURCE.client, SOURCE.pro, SOURCE.sandbox, '192.0.2.7']) {
      for (const path of ['/health/details', '/metrics']) {
        const res = await fetch(`${gw.url}${path}`, { headers: { 'x-anklume-test-source': source } });
        expect(res.status, `${source} ${path}`).toBe(403);
        const text = await res.text();
        expect(text).not.toContain('10.120.1.0');
        expect(text).not.toContain('anklume_gateway');
      }
    }
    for (const source of [SOURCE.admin, SOURCE.host, '127.0.0.1']) {
      const h = (await (await fetch(`${gw.url}/health/details`, { headers: { 'x-anklume-test-source': source } })).json()) as any;
      expect(h).toMatchObject({ ok: true, mode: 'pseudonymize', upstreams: { anthropic: upstream.url, ollama: upstream.url, anthropic_key: 'client' } });
      expect((h.domains as { name: string }[]).map((d) => d.name)).toContain('client');
      expect((await fetch(`${gw.url}/metrics`, { headers: { 'x-anklume-test-source': source } })).status).toBe(200);
    }
  });

  it('/metrics counts requests by endpoint, domain, route and status, and replacements by category', async () => {
    await request({ path: '/v1/messages', body: JSON.stringify(messages('ssh pro-dev')) });
    const res = await fetch(`${gw.url}/metrics`);
    expect(res.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
    const text = await res.text();
    expect(text).toContain('# TYPE anklume_gateway_requests_total counter\n');
    expect(text).toMatch(/anklume_gateway_requests_total\{endpoint="anthropic.messages",domain="client",route="cloud",status="200"\} \d+/);
    expect(text).toMatch(/anklume_gateway_replacements_total\{domain="client",category="infra"\} \d+/);
    expect(text).toContain('anklume_gateway_upstream_latency_seconds_bucket{le="+Inf",upstream="anthropic"}');
    expect(text).toContain('\nanklume_gateway_active_streams 0\n');
  });
});
