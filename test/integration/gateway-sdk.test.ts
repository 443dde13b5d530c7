import Anthropic from '@anthropic-ai/sdk';
import { writeFileSync } from 'node:fs';
import { Ollama } from 'ollama';
import OpenAI from 'openai';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { SOURCE, startFakeLlmUpstream, startTestGateway, type FakeLlmUpstream, type TestGateway } from '../helpers/fake-llm-upstream.js';

// The acceptance test of issue 7: the real Anthropic, OpenAI and Ollama
// clients, pointed at the gateway, against a fake upstream that records what
// it receives and echoes it back.

/** Values of the test infra and a credential: none may reach the upstream. */
const SECRET_KEY = 'sk-ant-api03-Zx9Qw8Er7Ty6Ui5Op4As3Df2Gh1Jk0LmNbVcXz';
/** Matched by an extra pattern of the test config: a value with a backslash and a quote, so restoring it into tool-input JSON needs escaping. */
const SHARE = 'ACME\\share"x';
const SENSITIVE = ['10.110.0.10', 'pro-dev', '10.120.1.10', 'client-gw', '10.110.0.0/24', SECRET_KEY, SHARE];
const PROMPT = `ssh root@10.110.0.10 (pro-dev) then reach client-gw at 10.120.1.10 in 10.110.0.0/24 with key ${SECRET_KEY}. Déjà vu 🚀 on ${SHARE} done.`;

let upstream: FakeLlmUpstream;
let gw: TestGateway;

beforeAll(async () => {
  upstream = await startFakeLlmUpstream();
  const share = { extra_patterns: [{ name: 'share', regex: 'ACME\\\\[a-z]+"[a-z]+' }] };
  gw = await startTestGateway({ upstream, config: { domains: { client: share, vault: share } } });
});
afterAll(async () => {
  await gw.close();
  await upstream.close();
});
beforeEach(() => {
  upstream.requests.length = 0;
  upstream.override(undefined);
});

/**
 * The prompt as the client gets it back: every pseudonym restored, while the
 * credential stays masked (secrets never leave, not even reversibly), as the
 * upstream saw it.
 */
function back(prompt: string): string {
  const mark = /with key (.+?)\. D/.exec(upstream.requests[0]?.raw ?? '')?.[1];
  expect(mark).toBeDefined();
  expect(mark).not.toContain(SECRET_KEY);
  return prompt.replace(SECRET_KEY, mark ?? '');
}

/** Nothing sensitive in anything the upstream received (bodies and headers). */
function expectNothingSensitiveUpstream(): void {
  expect(upstream.requests.length).toBeGreaterThan(0);
  for (const r of upstream.requests) {
    const seen = r.raw + JSON.stringify(r.headers);
    for (const v of SENSITIVE) expect(seen, `upstream saw ${v}`).not.toContain(v);
  }
}

function anthropicClient(domain: keyof typeof SOURCE = 'client'): Anthropic {
  return new Anthropic({ baseURL: gw.url, apiKey: 'sk-ant-client-key', maxRetries: 0, defaultHeaders: { 'x-anklume-test-source': SOURCE[domain] } });
}

const bashTool = { name: 'bash', description: 'Run a command on pro-dev', input_schema: { type: 'object' as const, properties: { command: { type: 'string', description: 'shell command for 10.110.0.10' } } } };

describe('the Anthropic SDK through the gateway (cloud domain, sanitized)', () => {
  it('sends nothing sensitive upstream and gets its own values back, tool_use input included', async () => {
    const msg = await anthropicClient().messages.create({
      model: 'claude-test',
      max_tokens: 100,
      system: [{ type: 'text', text: 'You admin pro-dev at 10.110.0.10.' }],
      tools: [bashTool],
      messages: [{ role: 'user', content: PROMPT }],
    });
    expectNothingSensitiveUpstream();
    const sent = upstream.requests[0]?.body;
    expect(sent.system[0].text).not.toContain('pro-dev');
    expect(sent.tools[0].description).not.toContain('pro-dev');
    expect(sent.tools[0].input_schema.properties.command.description).not.toContain('10.110.0.10');
    const text = msg.content.find((b) => b.type === 'text');
    expect(text?.type === 'text' && text.text).toBe(`You said: ${back(PROMPT)}`);
    const tool = msg.content.find((b) => b.type === 'tool_use');
    expect(tool?.type === 'tool_use' && tool.input).toEqual({ command: `echo ${back(PROMPT)}`, nested: { list: [back(PROMPT)] } });
  });

  it('restores a streamed answer split at awkward offsets: text, tool input JSON; thinking passes untouched', async () => {
    const stream = anthropicClient().messages.stream({ model: 'claude-test', max_tokens: 100, tools: [bashTool], messages: [{ role: 'user', content: PROMPT }] });
    let streamedText = '';
    stream.on('text', (t) => {
      streamedText += t;
    });
    const msg = await stream.finalMessage();
    expectNothingSensitiveUpstream();
    expect(streamedText).toBe(`You said: ${back(PROMPT)}`);
    const tool = msg.content.find((b) => b.type === 'tool_use');
    expect(tool?.type === 'tool_use' && tool.input).toEqual({ command: `echo ${back(PROMPT)}`, nested: { list: [back(PROMPT)] } });
    // The thinking block is byte for byte what the upstream sent: its text is the sanitized prompt.
    const thinking = msg.content.find((b) => b.type === 'thinking');
    const sentPrompt = upstream.requests[0]?.body.messages[0].content as string;
    expect(thinking?.type === 'thinking' && thinking.thinking).toBe(`Thinking about ${sentPrompt}`);
    expect(thinking?.type === 'thinking' && thinking.signature).toBe('c2lnbmF0dXJl');
  });

  it('round-trips tool use: history tool_use and tool_result are sanitized consistently, thinking history is sent unchanged', async () => {
    // Anthropic only ever saw pseudonyms: its signed thinking quotes them, and must come back byte for byte.
    const pseudonym = gw.runtime.sanitizers.get('client')?.sanitize('10.110.0.10').text ?? '';
    expect(pseudonym).not.toBe('10.110.0.10');
    const thinkingBlock = { type: 'thinking' as const, thinking: `The host ${pseudonym} matters`, signature: 'c2lnLWFiYw==' };
    await anthropicClient().messages.create({
      model: 'claude-test',
      max_tokens: 100,
      tools: [bashTool],
      messages: [
        { role: 'user', content: 'check pro-dev' },
        { role: 'assistant', content: [thinkingBlock, { type: 'tool_use', id: 'toolu_9', name: 'bash', input: { command: 'ping -c1 10.110.0.10', host: 'pro-dev' } }] },
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_9', content: [{ type: 'text', text: '64 bytes from 10.110.0.10' }] }] },
      ],
    });
    const sent = upstream.requests[0]?.body;
    // Thinking reaches Anthropic exactly as it produced it (signature over the text).
    expect(sent.messages[1].content[0]).toEqual(thinkingBlock);
    const toolUse = sent.messages[1].content[1];
    expect(toolUse.id).toBe('toolu_9');
    expect(toolUse.name).toBe('bash');
    expect(toolUse.input.command).not.toContain('10.110.0.10');
    expect(toolUse.input.host).not.toBe('pro-dev');
    const pseudoIp = /ping -c1 (\S+)/.exec(toolUse.input.command)?.[1];
    // The same address has the same pseudonym in the tool_use input and in the tool_result.
    expect(sent.messages[2].content[0].content[0].text).toBe(`64 bytes from ${pseudoIp}`);
    expect(sent.messages[2].content[0].tool_use_id).toBe('toolu_9');
  });

  it('refuses a signed thinking block that holds a real identifier (Anthropic never saw one: the signature is forged), and sanitizes an unsigned one', async () => {
    const forged = { type: 'thinking' as const, thinking: 'The host 10.110.0.10 matters', signature: 'c2lnLWFiYw==' };
    const request = (block: unknown): Promise<unknown> =>
      anthropicClient().messages.create({ model: 'claude-test', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }, { role: 'assistant', content: [block as never] }, { role: 'user', content: 'go on' }] });
    await expect(request(forged)).rejects.toMatchObject({ status: 400, error: { error: { type: 'invalid_request_error', message: expect.stringContaining('messages[1].content[0].thinking') } } });
    expect(upstream.requests).toHaveLength(0);
    await request({ type: 'thinking', thinking: 'The host 10.110.0.10 matters', signature: '' });
    expect(upstream.requests[0]?.raw).not.toContain('10.110.0.10');
    expect(upstream.requests[0]?.body.messages[1].content[0].thinking).toMatch(/^The host \S+ matters$/);
  });

  it('passes count_tokens and models through (sanitized body, upstream answer)', async () => {
    const client = anthropicClient();
    const count = await client.messages.countTokens({ model: 'claude-test', messages: [{ role: 'user', content: PROMPT }] });
    expect(count.input_tokens).toBeGreaterThan(0);
    const models = await client.models.list();
    expect(models.data[0]?.id).toBe('claude-test');
    expectNothingSensitiveUpstream();
    expect(upstream.requests.map((r) => r.url.split('?')[0])).toEqual(['/v1/messages/count_tokens', '/v1/models']);
  });
});

describe('the OpenAI SDK through the gateway', () => {
  function client(): OpenAI {
    return new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: 'sk-client', maxRetries: 0, defaultHeaders: { 'x-anklume-test-source': SOURCE.client } });
  }
  const tools = [{ type: 'function' as const, function: { name: 'run', description: 'run on pro-dev', parameters: { type: 'object', properties: { command: { type: 'string' } } } } }];

  it('sanitizes messages and tool-call arguments and restores a whole answer', async () => {
    const res = await client().chat.completions.create({
      model: 'gpt-test',
      tools,
      messages: [
        { role: 'system', content: 'admin of pro-dev' },
        { role: 'assistant', content: null, tool_calls: [{ id: 'call_0', type: 'function', function: { name: 'run', arguments: JSON.stringify({ command: 'ssh 10.110.0.10' }) } }] },
        { role: 'tool', tool_call_id: 'call_0', content: 'connected to client-gw' },
        { role: 'user', content: [{ type: 'text', text: PROMPT }] },
      ],
    });
    expectNothingSensitiveUpstream();
    const sent = upstream.requests[0]?.body;
    // Arguments stay a JSON string holding valid JSON.
    expect(JSON.parse(sent.messages[1].tool_calls[0].function.arguments).command).toMatch(/^ssh \S+$/);
    const m = res.choices[0]?.message;
    expect(m?.content).toBe(`You said: ${back(PROMPT)}`);
    const call = m?.tool_calls?.[0];
    expect(call?.type === 'function' && JSON.parse(call.function.arguments)).toEqual({ command: `echo ${back(PROMPT)}` });
  });

  it('restores a streamed answer, content and tool-call argument fragments', async () => {
    const stream = await client().chat.completions.create({ model: 'gpt-test', tools, stream: true, messages: [{ role: 'user', content: PROMPT }] });
    let content = '';
    let args = '';
    for await (const chunk of stream) {
      const delta = chunk.choices[0]?.delta;
      content += delta?.content ?? '';
      for (const tc of delta?.tool_calls ?? []) args += tc.function?.arguments ?? '';
    }
    expectNothingSensitiveUpstream();
    expect(content).toBe(`You said: ${back(PROMPT)}`);
    expect(JSON.parse(args)).toEqual({ command: `echo ${back(PROMPT)}` });
  });
});

describe('the Ollama client through the gateway (local domain with ai_sanitize: always)', () => {
  function client(): Ollama {
    return new Ollama({ host: gw.url, headers: { 'x-anklume-test-source': SOURCE.vault } });
  }
  // The secured prompt names vault's own machine too.
  const VAULT_PROMPT = `${PROMPT} and vault-box at 10.110.2.10`;

  beforeEach(() => {
    writeFileSync(gw.holderFile, 'vault\n');
  });

  it('chat, not streamed: sanitized prompt, restored answer and tool call', async () => {
    const res = await client().chat({ model: 'llama-test', stream: false, tools: [{ type: 'function', function: { name: 'run', description: 'run', parameters: { type: 'object', properties: {} } } }], messages: [{ role: 'user', content: VAULT_PROMPT }] });
    expectNothingSensitiveUpstream();
    expect(upstream.requests[0]?.raw).not.toContain('vault-box');
    expect(res.message.content).toBe(`You said: ${back(VAULT_PROMPT)}`);
    expect(res.message.tool_calls?.[0]?.function.arguments).toEqual({ command: `echo ${back(VAULT_PROMPT)}` });
  });

  it('chat and generate, streamed as NDJSON: every fragment restored', async () => {
    let chat = '';
    for await (const part of await client().chat({ model: 'llama-test', stream: true, messages: [{ role: 'user', content: VAULT_PROMPT }] })) chat += part.message.content;
    expect(chat).toBe(`You said: ${back(VAULT_PROMPT)}`);
    let gen = '';
    for await (const part of await client().generate({ model: 'llama-test', stream: true, prompt: VAULT_PROMPT })) gen += part.response;
    expect(gen).toBe(`You said: ${back(VAULT_PROMPT)}`);
    expectNothingSensitiveUpstream();
  });
});
