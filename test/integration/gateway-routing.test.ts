import { rmSync, writeFileSync } from 'node:fs';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { formatHolderFile } from '../../src/shared/ai-access-file.js';
import { SOURCE, startFakeLlmUpstream, startTestGateway, type FakeLlmUpstream, type TestGateway } from '../helpers/fake-llm-upstream.js';

// Per-domain policy (issue 7 item 5), end to end: which upstream each request
// reaches and whether it was sanitized on the way. Two fake upstreams tell the
// cloud from the local Ollama.

let cloud: FakeLlmUpstream;
let local: FakeLlmUpstream;
let gw: TestGateway;

beforeAll(async () => {
  cloud = await startFakeLlmUpstream();
  local = await startFakeLlmUpstream();
  gw = await startTestGateway({ upstream: cloud, config: { upstreams: { ollama: local.url } } });
});
afterAll(async () => {
  await gw.close();
  await cloud.close();
  await local.close();
});
beforeEach(() => {
  cloud.requests.length = 0;
  local.requests.length = 0;
  // What anklumed writes for the test infra's ai_access_default.
  writeFileSync(gw.holderFile, formatHolderFile('pro'));
});

const PROMPT = 'look at pro-dev on 10.110.0.10';

async function ask(source: string, headers: Record<string, string> = {}, path = '/v1/messages', body: unknown = { model: 'm', max_tokens: 10, messages: [{ role: 'user', content: PROMPT }] }): Promise<{ status: number; json: any; route: string | null }> {
  const res = await fetch(`${gw.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-anklume-test-source': source, 'anthropic-version': '2023-06-01', ...headers },
    body: JSON.stringify(body),
  });
  return { status: res.status, json: await res.json(), route: res.headers.get('x-anklume-route') };
}

/** Which fake got the request, and whether the prompt left raw. */
function reached(): { where: 'cloud' | 'local' | 'none'; raw: boolean } {
  const all = [...cloud.requests.map((r) => ['cloud', r] as const), ...local.requests.map((r) => ['local', r] as const)];
  expect(all.length).toBeLessThanOrEqual(1);
  const [where, r] = all[0] ?? ['none', undefined];
  return { where, raw: r?.raw.includes('10.110.0.10') ?? false };
}

describe('routing by ai_provider and ai_sanitize', () => {
  it('local: to Ollama, raw', async () => {
    writeFileSync(gw.holderFile, 'perso');
    const r = await ask(SOURCE.perso);
    expect(r.status).toBe(200);
    expect(reached()).toEqual({ where: 'local', raw: true });
    expect(local.requests[0]?.url).toBe('/v1/messages');
  });

  it('local with ai_sanitize always: to Ollama, sanitized, answer restored', async () => {
    writeFileSync(gw.holderFile, 'vault');
    const r = await ask(SOURCE.vault);
    expect(reached()).toEqual({ where: 'local', raw: false });
    expect(r.json.content[0].text).toBe(`You said: ${PROMPT}`);
  });

  it('cloud with ai_sanitize: to the cloud, sanitized', async () => {
    const r = await ask(SOURCE.client);
    expect(r.route).toBe('cloud');
    expect(reached()).toEqual({ where: 'cloud', raw: false });
    expect(r.json.content[0].text).toBe(`You said: ${PROMPT}`);
  });

  it('cloud with ai_sanitize false: to the cloud raw (spec/000 §4: no sanitization)', async () => {
    await ask(SOURCE.rawcloud);
    expect(reached()).toEqual({ where: 'cloud', raw: true });
  });

  it('local-first: local by default, and for a local task type', async () => {
    await ask(SOURCE.pro);
    expect(reached()).toEqual({ where: 'local', raw: true });
    local.requests.length = 0;
    await ask(SOURCE.pro, { 'x-anklume-task': 'triage' });
    expect(reached()).toEqual({ where: 'local', raw: true });
  });

  it.each(['forensics', 'correlation', 'architecture', 'report', 'Incident-Analysis'])('local-first: the cloud task type %s goes to the cloud, sanitized', async (task) => {
    const r = await ask(SOURCE.pro, { 'x-anklume-task': task });
    expect(r.route).toBe('cloud');
    expect(reached()).toEqual({ where: 'cloud', raw: false });
  });

  it('local-first: an explicit escalation goes to the cloud, sanitized', async () => {
    await ask(SOURCE.pro, { 'x-anklume-escalate': 'true' });
    expect(reached()).toEqual({ where: 'cloud', raw: false });
  });

  it('local-first: never escalates on what the local model says about its own confidence', async () => {
    local.override((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ type: 'message', role: 'assistant', content: [{ type: 'text', text: 'I am not confident. Escalate to the cloud.' }], stop_reason: 'end_turn' }));
      return true;
    });
    const r = await ask(SOURCE.pro);
    local.override(undefined);
    expect(r.json.content[0].text).toContain('not confident');
    expect(reached().where).toBe('local');
  });

  it('local: an escalation header does not send a local domain to the cloud', async () => {
    writeFileSync(gw.holderFile, 'perso');
    await ask(SOURCE.perso, { 'x-anklume-escalate': 'true', 'x-anklume-task': 'forensics' });
    expect(reached().where).toBe('local');
  });

  it('a disposable domain never reaches the cloud, escalation or not', async () => {
    writeFileSync(gw.holderFile, 'sandbox');
    const r = await ask(SOURCE.sandbox, { 'x-anklume-escalate': 'true', 'x-anklume-task': 'forensics' });
    expect(r.status).toBe(200);
    expect(reached().where).toBe('local');
  });

  it('OpenAI format to the local route goes to Ollama’s /v1/chat/completions', async () => {
    await ask(SOURCE.pro, {}, '/v1/chat/completions', { model: 'm', messages: [{ role: 'user', content: PROMPT }] });
    expect(reached().where).toBe('local');
    expect(local.requests[0]?.url).toBe('/v1/chat/completions');
  });

  it('Ollama format bound for the cloud is refused with a clear 400 in Ollama’s format, nothing sent', async () => {
    const r = await ask(SOURCE.client, {}, '/api/chat', { model: 'm', messages: [{ role: 'user', content: PROMPT }] });
    expect(r.status).toBe(400);
    expect(r.json.error).toMatch(/Ollama API cannot reach.*Anthropic.*OpenAI/);
    expect(reached().where).toBe('none');
  });
});

describe('exclusive AI access', () => {
  it('lets the holder the daemon recorded (ai_access_default before any switch) use the local AI', async () => {
    const r = await ask(SOURCE.pro);
    expect(r.status).toBe(200);
  });

  it('fails closed: a missing, empty or unparseable holder file, or an explicit nobody, denies the local route to every domain, ai_access_default included', async () => {
    const cases: [string, () => void, RegExp][] = [
      ['missing', () => rmSync(gw.holderFile, { force: true }), /cannot be read \(ENOENT\)/],
      ['empty', () => writeFileSync(gw.holderFile, ''), /holds no valid record/],
      ['unparseable', () => writeFileSync(gw.holderFile, '{"holder": "pro"'), /holds no valid record/],
      ['nobody', () => writeFileSync(gw.holderFile, formatHolderFile(null)), /no domain holds it/],
    ];
    for (const [name, make, why] of cases) {
      make();
      for (const domain of ['pro', 'perso', 'vault'] as const) {
        const r = await ask(SOURCE[domain]);
        expect(r.status, `${name}, ${domain}`).toBe(403);
        expect(r.json.error.message, name).toMatch(why);
      }
      expect(reached().where, name).toBe('none');
    }
    // The cloud route of a local-first domain does not need the local AI.
    expect((await ask(SOURCE.pro, { 'x-anklume-task': 'forensics' })).status).toBe(200);
  });

  it('refuses the local route to a domain that does not hold access, with a clear error; the switch file applies at once', async () => {
    writeFileSync(gw.holderFile, 'perso\n');
    const refused = await ask(SOURCE.pro);
    expect(refused.status).toBe(403);
    expect(refused.json).toMatchObject({ type: 'error', error: { type: 'permission_error' } });
    expect(refused.json.error.message).toContain('does not hold access to the local AI');
    expect(refused.json.error.message).toContain('domain perso holds it');
    expect(reached().where).toBe('none');
    // A cloud task of the same domain is not a local request: exclusive access does not apply.
    const cloudTask = await ask(SOURCE.pro, { 'x-anklume-task': 'forensics' });
    expect(cloudTask.status).toBe(200);
    cloud.requests.length = 0;
    writeFileSync(gw.holderFile, JSON.stringify({ domain: 'pro' }));
    expect((await ask(SOURCE.pro)).status).toBe(200);
  });
});

describe('the requesting domain', () => {
  it('an unknown source address gets 403, nothing sent', async () => {
    const r = await ask('192.0.2.7');
    expect(r.status).toBe(403);
    expect(r.json.error.message).toContain('192.0.2.7 belongs to no domain');
    expect(reached().where).toBe('none');
  });

  it('comes from the socket address in production: sources maps loopback; a header cannot choose the domain', async () => {
    const prod = await startTestGateway({ upstream: cloud, sourceHeader: false, config: { upstreams: { ollama: local.url }, sources: [{ cidr: '127.0.0.0/8', domain: 'client' }] } });
    try {
      const res = await fetch(`${prod.url}/v1/messages`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-anklume-test-source': SOURCE.perso },
        body: JSON.stringify({ model: 'm', max_tokens: 1, messages: [{ role: 'user', content: PROMPT }] }),
      });
      expect(res.status).toBe(200);
      // client is a cloud domain: perso (local) would have gone to Ollama.
      expect(res.headers.get('x-anklume-route')).toBe('cloud');
      expect(reached()).toEqual({ where: 'cloud', raw: false });
    } finally {
      await prod.close();
    }
  });

  it('without a sources entry, loopback is no domain: 403', async () => {
    const prod = await startTestGateway({ upstream: cloud, sourceHeader: false });
    try {
      const res = await fetch(`${prod.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
      expect(res.status).toBe(403);
      expect(((await res.json()) as any).error.code).toBe('unknown_source');
    } finally {
      await prod.close();
    }
  });

  it('a disabled domain gets 403', async () => {
    const infra = (await import('../helpers/fake-llm-upstream.js')).TEST_INFRA.replace('    ai_provider: cloud\n    ai_sanitize: false\n', '    ai_provider: cloud\n    ai_sanitize: false\n    enabled: false\n');
    const g = await startTestGateway({ upstream: cloud, infra });
    try {
      const res = await fetch(`${g.url}/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-anklume-test-source': SOURCE.rawcloud }, body: '{}' });
      expect(res.status).toBe(403);
      expect(((await res.json()) as any).error.message).toContain('rawcloud is disabled');
    } finally {
      await g.close();
    }
  });
});
