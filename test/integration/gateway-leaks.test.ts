import http from 'node:http';
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { json, SOURCE, startFakeLlmUpstream, startTestGateway, type FakeLlmUpstream, type TestGateway } from '../helpers/fake-llm-upstream.js';

// Issue 13's leaks, each through the real gateway to a recording upstream on
// loopback: what reached the upstream is what left the machine.

/** Declared identifiers of the test infra that the engine hides wherever they are. */
const PLANTED = ['10.110.0.10', 'pro-dev', 'pro-db', 'net-pro', '10.120.1.10', 'client-gw', 'perso-desktop'];

let upstream: FakeLlmUpstream;
let gw: TestGateway;

beforeAll(async () => {
  upstream = await startFakeLlmUpstream();
  gw = await startTestGateway({ upstream });
});
afterAll(async () => {
  await gw.close();
  await upstream.close();
});
beforeEach(() => {
  upstream.requests.length = 0;
});

async function post(path: string, body: unknown, options: { source?: string; headers?: Record<string, string> } = {}): Promise<{ status: number; json: any }> {
  const res = await fetch(`${gw.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-anklume-test-source': options.source ?? SOURCE.client, ...options.headers },
    body: JSON.stringify(body),
  });
  return { status: res.status, json: await res.json() };
}

function expectNothingPlantedUpstream(): void {
  for (const r of upstream.requests) {
    const seen = `${r.url}\n${JSON.stringify(r.headers)}\n${r.raw}`;
    for (const id of PLANTED) expect(seen, id).not.toContain(id);
  }
}

describe('fields that passed raw are sanitized', () => {
  it('Anthropic: metadata, stop_sequences, output_format schema, unsigned thinking, an unknown field', async () => {
    const r = await post('/v1/messages', {
      model: 'claude-x',
      max_tokens: 10,
      metadata: { user_id: 'operator on pro-dev' },
      stop_sequences: ['END pro-db'],
      output_format: { type: 'json_schema', schema: { type: 'object', description: 'state of 10.110.0.10', properties: { host: { type: 'string', enum: ['pro-dev', 'pro-db'] } } } },
      future_field: { note: 'bridge net-pro' },
      messages: [
        { role: 'user', content: 'hi' },
        { role: 'assistant', content: [{ type: 'thinking', thinking: 'a local model thought about client-gw' }, { type: 'text', text: 'ok' }] },
        { role: 'user', content: 'go on' },
      ],
    });
    expect(r.status).toBe(200);
    expect(upstream.requests).toHaveLength(1);
    expectNothingPlantedUpstream();
    const sent = upstream.requests[0]?.body;
    expect(sent.output_format.schema.properties.host.type).toBe('string');
    expect(sent.messages[1].content[0].thinking).toMatch(/^a local model thought about \S+$/);
  });

  it('OpenAI: prediction.content, response_format schema, messages[].name, metadata, stop', async () => {
    const r = await post('/v1/chat/completions', {
      model: 'gpt-x',
      messages: [{ role: 'user', name: 'pro-dev', content: 'fix this file' }],
      prediction: { type: 'content', content: 'server = "10.110.0.10"\nbackup = "pro-db"\n' },
      response_format: { type: 'json_schema', json_schema: { name: 'r', description: 'hosts like perso-desktop', schema: { type: 'object', properties: { h: { type: 'string', description: 'e.g. client-gw' } } } } },
      metadata: { host: 'net-pro' },
      stop: ['10.120.1.10'],
    });
    expect(r.status).toBe(200);
    expectNothingPlantedUpstream();
    expect(upstream.requests[0]?.body.response_format.json_schema.schema.properties.h.type).toBe('string');
  });

  it('an identifier in a field that must pass unchanged (model, a tool id, a key) refuses the request: nothing sent', async () => {
    for (const body of [
      { model: 'pro-dev', max_tokens: 1, messages: [{ role: 'user', content: 'hi' }] },
      { model: 'm', max_tokens: 1, messages: [{ role: 'user', content: [{ type: 'tool_result', tool_use_id: 'pro-dev', content: 'x' }] }] },
      { model: 'm', max_tokens: 1, messages: [{ role: 'assistant', content: [{ type: 'tool_use', id: 't', name: 'n', input: { '10.110.0.10': 'up' } }] }] },
    ]) {
      const r = await post('/v1/messages', body);
      expect(r.status).toBe(400);
      expect(r.json).toMatchObject({ type: 'error', error: { type: 'invalid_request_error', message: expect.stringContaining('must reach the API unchanged') } });
    }
    expect(upstream.requests).toHaveLength(0);
  });
});

describe('Claude Code’s leaks (issue 18)', () => {
  it('a host name after a declared instance and a declared name in the dash-joined project folder leave replaced, and come back restored', async () => {
    const memory = '/root/.claude/projects/-srv-work-pro-db/memory/';
    const text = `ssh pro-db.acme.corp and read ${memory}MEMORY.md`;
    const r = await post('/v1/messages', {
      model: 'claude-x',
      max_tokens: 10,
      system: [{ type: 'text', text: `You have a persistent memory directory at ${memory}. Its contents persist across conversations.` }],
      messages: [{ role: 'user', content: text }],
    });
    expect(r.status).toBe(200);
    expect(upstream.requests).toHaveLength(1);
    const seen = upstream.requests[0]?.raw ?? '';
    for (const leak of ['pro-db', 'acme']) expect(seen).not.toContain(leak);
    // The fake echoes the last user message: the answer holds the pseudonyms, the client gets the originals.
    expect(r.json.content[0].text).toBe(`You said: ${text}`);
  });
});

describe('content that cannot be sanitized', () => {
  const image = { type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'iVBORw0KGgoAAAANSUhEUg==' } };

  it('refuses base64 images, documents and audio on cloud routes, in the API’s own error shape; nothing sent', async () => {
    const a = await post('/v1/messages', { model: 'm', max_tokens: 1, messages: [{ role: 'user', content: [image, { type: 'text', text: 'what is this' }] }] });
    expect(a.status).toBe(403);
    expect(a.json).toMatchObject({ type: 'error', error: { type: 'permission_error', message: expect.stringMatching(/messages\[0\]\.content\[0\]\.source\.data: image content cannot be sanitized.*ai_binary: allow/) } });
    const pdf = await post('/v1/messages', { model: 'm', max_tokens: 1, messages: [{ role: 'user', content: [{ type: 'document', source: { type: 'base64', media_type: 'application/pdf', data: 'JVBERi0=' } }] }] });
    expect(pdf.status).toBe(403);
    const o = await post('/v1/chat/completions', { model: 'm', messages: [{ role: 'user', content: [{ type: 'input_audio', input_audio: { data: 'UklGRg==', format: 'wav' } }] }] });
    expect(o.status).toBe(403);
    expect(o.json).toMatchObject({ error: { type: 'permission_error', code: 'binary_refused' } });
    expect(upstream.requests).toHaveLength(0);
  });

  it('passes binary content of a domain with ai_binary: allow, and audits each one', async () => {
    const gw2 = await startTestGateway({ upstream, config: { domains: { client: { ai_binary: 'allow' } } } });
    try {
      const res = await fetch(`${gw2.url}/v1/messages`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-anklume-test-source': SOURCE.client },
        body: JSON.stringify({ model: 'm', max_tokens: 1, messages: [{ role: 'user', content: [image, { type: 'text', text: 'what is on pro-dev' }] }] }),
      });
      expect(res.status).toBe(200);
      expect(upstream.requests[0]?.body.messages[0].content[0]).toEqual(image);
      const lines = readFileSync(gw2.auditPath, 'utf8').trim().split('\n').map((l): any => JSON.parse(l));
      expect(lines).toContainEqual(expect.objectContaining({ domain: 'client', binary: 'image', bytes: image.source.data.length, field: 'messages[0].content[0].source.data' }));
    } finally {
      await gw2.close();
    }
  });

  it('refuses a URL source pointing at a private or declared address or an inside name; a public one passes', async () => {
    const withUrl = (url: string): unknown => ({ model: 'm', max_tokens: 1, messages: [{ role: 'user', content: [{ type: 'image', source: { type: 'url', url } }] }] });
    for (const url of ['http://10.110.0.10/x.png', 'http://192.168.1.5/a.png', 'http://[fd42::1]/a.png', 'http://pro-dev/x.png', 'https://grafana.internal/x.png', 'http://localhost:3000/a', 'http://127.1/a', 'file:///etc/passwd', 'https://user:pw@example.com/a.png']) {
      const r = await post('/v1/messages', withUrl(url));
      expect(r.status, url).toBe(403);
      expect(r.json.error.message, url).toContain('the API would fetch this URL itself');
    }
    const openai = await post('/v1/chat/completions', { model: 'm', messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'http://10.120.1.10/cam.jpg' } }] }] });
    expect(openai.status).toBe(403);
    expect(upstream.requests).toHaveLength(0);
    expect((await post('/v1/messages', withUrl('https://upload.wikimedia.org/a.png'))).status).toBe(200);
  });
});

describe('headers and query', () => {
  it('drops every header and query parameter not on the API’s allow list', async () => {
    await post('/v1/messages?beta=true&host=pro-dev&debug=10.110.0.10', { model: 'm', max_tokens: 1, messages: [{ role: 'user', content: 'hi' }] }, {
      headers: { 'anthropic-version': '2023-06-01', referer: 'http://10.110.0.10/', 'x-internal': 'pro-dev', cookie: 'session=pro-db', 'x-claude-code-session-id': 'abc', 'user-agent': 'agent on perso-desktop' },
    });
    const seen = upstream.requests[0];
    expect(seen?.url).toBe('/v1/messages?beta=true');
    for (const h of ['referer', 'x-internal', 'cookie']) expect(seen?.headers, h).not.toHaveProperty(h);
    expect(seen?.headers['x-claude-code-session-id']).toBe('abc');
    expect(seen?.headers['user-agent']).toMatch(/^agent on \S+$/);
    expectNothingPlantedUpstream();
  });
});

describe('property: nothing planted reaches the upstream', () => {
  /** Random JSON with declared identifiers planted in random places, under random keys, known ones included. */
  // In parentheses: the engine reads `v 10.1.2.3` and `version: 10.1.2.3` as version numbers (its heuristic, not the walk's business).
  const plantedText = fc.tuple(fc.string({ maxLength: 8 }), fc.constantFrom(...PLANTED), fc.string({ maxLength: 8 })).map(([a, id, b]) => `${a} (${id}) ${b}`);
  const key = fc.oneof(fc.constantFrom('model', 'role', 'type', 'id', 'name', 'text', 'content', 'metadata', 'system', 'input', 'tool_use_id', 'signature', 'thinking', 'description', 'url', 'prediction', 'stop', 'format', 'schema'), fc.string({ minLength: 1, maxLength: 6 }));
  const value = fc.letrec((tie) => ({
    any: fc.oneof({ depthSize: 'small' }, plantedText, fc.string({ maxLength: 10 }), fc.integer(), fc.boolean(), fc.constant(null), tie('arr'), tie('obj')),
    arr: fc.array(tie('any'), { maxLength: 4 }),
    obj: fc.dictionary(key, tie('any'), { maxKeys: 5 }),
  })).any;
  const block = fc.oneof(
    fc.record({ type: fc.constantFrom('text', 'thinking', 'tool_use', 'tool_result', 'document', 'search_result', 'unknown_kind'), text: value, thinking: value, input: value, content: value, signature: fc.constantFrom('', 'c2ln'), source: value }, { requiredKeys: ['type'] }),
    value,
  );
  const body = fc.record({
    model: fc.oneof(fc.constant('claude-x'), plantedText),
    max_tokens: fc.constant(5),
    system: fc.oneof(plantedText, fc.array(block, { maxLength: 3 })),
    messages: fc.array(fc.record({ role: fc.constantFrom('user', 'assistant'), content: fc.oneof(plantedText, fc.array(block, { maxLength: 3 })), name: value }), { minLength: 1, maxLength: 3 }),
    extra: fc.dictionary(key, value, { maxKeys: 4 }),
  });

  it('for random bodies through the real gateway: each is sanitized or refused, never sent with a planted identifier', async () => {
    // Only what arrives matters here: a fixed answer (the fake's echo expects well-formed messages).
    upstream.override((_req, res) => {
      json(res, 200, { type: 'message', content: [] });
      return true;
    });
    await fc.assert(
      fc.asyncProperty(body, fc.constantFrom('/v1/messages', '/v1/chat/completions'), async (b, path) => {
        upstream.requests.length = 0;
        const { extra, ...rest } = b;
        const res = await post(path, { ...rest, ...extra });
        expect([200, 400, 403]).toContain(res.status);
        expectNothingPlantedUpstream();
      }),
      { numRuns: 100 },
    );
    upstream.override(undefined);
  }, 120_000);
});

describe('one domain’s large request does not stall the others', () => {
  it('answers another domain’s small requests, one after another, while a 30 MB adversarial request is being sanitized', async () => {
    // 30 MB in 30 000 strings of credential keywords, repeated (the shape that made the engine slow) and identifiers.
    const chunk = `${'password= token: '.repeat(40)} 10.110.0.10 pro-dev `.padEnd(1000, 'x');
    const big = JSON.stringify({ model: 'm', max_tokens: 1, messages: [{ role: 'user', content: Array.from({ length: 30_000 }, () => ({ type: 'text', text: chunk })) }] });
    expect(big.length).toBeGreaterThan(30_000_000);
    const g = await startTestGateway({ upstream, config: { limits: { body_bytes: 64 * 1024 * 1024, sanitize_cache_bytes: 0 } } });
    upstream.override((_req, res) => {
      json(res, 200, { type: 'message', role: 'assistant', content: [{ type: 'text', text: 'ok' }] });
      return true;
    });
    // The large request leaves the gateway once sanitized: the upstream sees its headers then.
    const largeLeft = (): boolean => upstream.started.some((r) => r.contentLength > 1_000_000);
    try {
      let largeDone = false;
      let bodySent!: () => void;
      const delivered = new Promise<void>((resolve) => (bodySent = resolve));
      const large = new Promise<number>((resolve, reject) => {
        const req = http.request(`${g.url}/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-anklume-test-source': SOURCE.client } }, (res) => {
          res.resume();
          res.on('end', () => {
            largeDone = true;
            resolve(res.statusCode ?? 0);
          });
        });
        req.on('error', reject);
        // Called once the whole body is handed to the connection: the gateway holds (nearly) all of it.
        req.end(big, () => bodySent());
      });
      await delivered;
      // Small requests from another domain, one at a time, for as long as the large one is in the gateway.
      // No clock: what counts is how many were answered before the large one left.
      let answeredWhileLargeInGateway = 0;
      const answers: string[] = [];
      while (!largeLeft() && !largeDone && answeredWhileLargeInGateway < 5) {
        const small = await fetch(`${g.url}/v1/messages`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'x-anklume-test-source': SOURCE.rawcloud },
          body: JSON.stringify({ model: 'm', max_tokens: 1, messages: [{ role: 'user', content: 'small' }] }),
        });
        const text = await small.text();
        answers.push(small.status === 200 ? '200' : `${small.status} ${text}`);
        if (!largeLeft()) answeredWhileLargeInGateway++;
      }
      const largeStatus = await large;
      // Several in a row: one could slip in while the large body was still being read; a gateway
      // that sanitized it in one go would answer none after that until it had left.
      expect(answeredWhileLargeInGateway).toBeGreaterThanOrEqual(3);
      expect(new Set(answers)).toEqual(new Set(['200']));
      expect(largeStatus).toBe(200);
      expectNothingPlantedUpstream();
    } finally {
      upstream.override(undefined);
      await g.close();
    }
  }, 120_000);
});
