import { describe, expect, it } from 'vitest';
import { anthropic } from '../../src/gateway/apis/anthropic.js';
import { ollama } from '../../src/gateway/apis/ollama.js';
import { openai } from '../../src/gateway/apis/openai.js';
import { formatPath, walkRequest } from '../../src/gateway/apis/request-shape.js';
import { rewriteJsonText, type ApiAdapter, type JsonObject } from '../../src/gateway/apis/walk.js';

// Field-aware rewriting: which strings of each API's JSON are rewritten and
// which are left byte for byte. A marker rewrite makes every touched string visible.

const mark = (t: string): string => `<${t}>`;
const clone = <T>(v: T): T => JSON.parse(JSON.stringify(v)) as T;

/** Walk a request with a policy that marks text and records what else it met. */
function walkWith(adapter: ApiAdapter, body: JsonObject): { verbatim: string[]; binary: string[]; urls: string[] } {
  const seen = { verbatim: [] as string[], binary: [] as string[], urls: [] as string[] };
  const after: (() => void)[] = [];
  walkRequest(body, adapter.request, {
    text: (v, _p, set) => set(mark(v)),
    verbatim: (v) => seen.verbatim.push(v),
    binary: (what, _bytes, path) => seen.binary.push(`${what}@${formatPath(path)}`),
    url: (v) => seen.urls.push(v),
    after: (fn) => after.push(fn),
  });
  for (const fn of after.reverse()) fn();
  return seen;
}
const sanitizeRequest = (adapter: ApiAdapter, body: JsonObject): void => void walkWith(adapter, body);

describe('Anthropic requests', () => {
  const body = {
    model: 'claude',
    max_tokens: 10,
    metadata: { user_id: 'u1' },
    system: [{ type: 'text', text: 'sys', cache_control: { type: 'ephemeral' } }],
    tools: [{ name: 'bash', description: 'run', input_schema: { type: 'object', properties: { cmd: { type: 'string', description: 'the command' } } } }],
    messages: [
      { role: 'user', content: 'plain' },
      {
        role: 'assistant',
        content: [
          { type: 'thinking', thinking: 'secret thoughts', signature: 'sig' },
          { type: 'redacted_thinking', data: 'opaque' },
          { type: 'text', text: 'answer' },
          { type: 'tool_use', id: 'toolu_1', name: 'bash', input: { cmd: 'ls', name: 'pro-dev', args: ['a', { deep: 'b' }], n: 3 } },
        ],
      },
      {
        role: 'user',
        content: [
          { type: 'tool_result', tool_use_id: 'toolu_1', content: 'out' },
          { type: 'tool_result', tool_use_id: 'toolu_2', content: [{ type: 'text', text: 'out2' }, { type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'iVBORw0KGgo=' } }] },
          { type: 'document', source: { type: 'text', media_type: 'text/plain', data: 'doc text' }, title: 'title', context: 'ctx' },
          { type: 'document', source: { type: 'base64', media_type: 'application/pdf', data: 'JVBERi0=' } },
          { type: 'search_result', source: 'https://wiki.corp/x', title: 'T', content: [{ type: 'text', text: 'found' }] },
          { type: 'some_future_block', payload: { text: 'new' }, id: 'keep-id' },
        ],
      },
    ],
  };

  it('rewrites system, text, tool input values (keys kept), tool results, documents, tool descriptions, unknown blocks', () => {
    const b = clone(body) as unknown as JsonObject;
    sanitizeRequest(anthropic, b);
    const out = b as any;
    expect(out.system[0]).toEqual({ type: 'text', text: '<sys>', cache_control: { type: 'ephemeral' } });
    expect(out.tools[0].description).toBe('<run>');
    expect(out.tools[0].input_schema.properties.cmd).toEqual({ type: 'string', description: '<the command>' });
    expect(out.messages[0].content).toBe('<plain>');
    expect(out.messages[1].content[2].text).toBe('<answer>');
    expect(out.messages[1].content[3]).toEqual({ type: 'tool_use', id: 'toolu_1', name: 'bash', input: { cmd: '<ls>', name: '<pro-dev>', args: ['<a>', { deep: '<b>' }], n: 3 } });
    expect(out.messages[2].content[0]).toEqual({ type: 'tool_result', tool_use_id: 'toolu_1', content: '<out>' });
    expect(out.messages[2].content[1].content[0].text).toBe('<out2>');
    expect(out.messages[2].content[2]).toMatchObject({ source: { data: '<doc text>', media_type: 'text/plain' }, title: '<title>', context: '<ctx>' });
    expect(out.messages[2].content[4]).toMatchObject({ source: '<https://wiki.corp/x>', title: '<T>', content: [{ type: 'text', text: '<found>' }] });
    expect(out.messages[2].content[5]).toEqual({ type: 'some_future_block', payload: { text: '<new>' }, id: 'keep-id' });
    expect(out.metadata).toEqual({ user_id: '<u1>' });
  });

  it('leaves signed thinking, redacted thinking, ids, names and types unchanged but checked; hands images and base64 documents to the binary policy', () => {
    const b = clone(body) as unknown as JsonObject;
    const seen = walkWith(anthropic, b);
    const out = b as any;
    expect(out.messages[1].content[0]).toEqual(body.messages[1]!.content[0]);
    expect(out.messages[1].content[1]).toEqual(body.messages[1]!.content[1]);
    expect(out.messages[2].content[1].content[1]).toEqual((body.messages[2]!.content[1] as any).content[1]);
    expect(out.messages[2].content[3]).toEqual(body.messages[2]!.content[3]);
    expect(out.model).toBe('claude');
    // Structure is not rewritten, but every piece of it is shown to the policy (which refuses an identifier there).
    expect(seen.verbatim).toEqual(expect.arrayContaining(['claude', 'user', 'assistant', 'toolu_1', 'bash', 'secret thoughts', 'model', 'messages']));
    expect(seen.binary).toEqual(['image@messages[2].content[1].content[1].source.data', 'document@messages[2].content[3].source.data']);
  });

  it('sanitizes what used to pass raw: metadata, stop sequences, output_format schemas, unsigned thinking, any unknown field', () => {
    const b: any = {
      model: 'claude',
      metadata: { user_id: 'u1' },
      stop_sequences: ['pro-dev'],
      output_format: { type: 'json_schema', schema: { type: 'object', properties: { type: { type: 'string', description: 'host kind' } }, required: ['type'], enum: ['e'] } },
      some_new_field: { nested: ['n'] },
      messages: [{ role: 'assistant', content: [{ type: 'thinking', thinking: 'local reasoning' }, { type: 'image', source: { type: 'url', url: 'https://example.com/a.png' } }] }],
      mcp_servers: [{ type: 'url', name: 'm', url: 'http://10.110.0.10/mcp' }],
    };
    const seen = walkWith(anthropic, b);
    expect(b.metadata).toEqual({ user_id: '<u1>' });
    expect(b.stop_sequences).toEqual(['<pro-dev>']);
    expect(b.output_format.schema).toEqual({ type: 'object', properties: { type: { type: 'string', description: '<host kind>' } }, required: ['type'], enum: ['<e>'] });
    expect(b.some_new_field).toEqual({ nested: ['<n>'] });
    expect(b.messages[0].content[0].thinking).toBe('<local reasoning>');
    expect(seen.urls).toEqual(['https://example.com/a.png', 'http://10.110.0.10/mcp']);
  });

  it('refuses a signature or redacted data that is not base64, and a body nested past the limit', () => {
    const forged: any = { messages: [{ role: 'assistant', content: [{ type: 'redacted_thinking', data: 'host 10.110.0.10' }] }] };
    expect(() => walkWith(anthropic, forged)).toThrow(/base64/);
    let deep: any = 'x';
    for (let i = 0; i < 300; i++) deep = [deep];
    expect(() => walkWith(anthropic, { messages: deep })).toThrow(/deeper than/);
  });

  it('restores a whole answer but its thinking blocks', () => {
    const answer = { type: 'message', content: [{ type: 'thinking', thinking: 't', signature: 's' }, { type: 'text', text: 'x' }, { type: 'tool_use', id: 'i', name: 'n', input: { name: 'v' } }] };
    anthropic.restoreResponse(answer, mark);
    expect(answer.content).toEqual([{ type: 'thinking', thinking: 't', signature: 's' }, { type: 'text', text: '<x>' }, { type: 'tool_use', id: 'i', name: 'n', input: { name: '<v>' } }]);
  });
});

describe('OpenAI requests', () => {
  it('rewrites message contents, text parts and tool-call arguments as JSON; leaves images and ids', () => {
    const b: any = {
      model: 'gpt',
      tools: [{ type: 'function', function: { name: 'run', description: 'd', parameters: { type: 'object', properties: { c: { type: 'string', description: 'pd' } } } } }],
      messages: [
        { role: 'system', content: 's' },
        { role: 'user', content: [{ type: 'text', text: 't' }, { type: 'image_url', image_url: { url: 'data:image/png;base64,AAAA' } }] },
        { role: 'assistant', content: null, tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'run', arguments: '{"c":"ls \\"x\\"","n":1}' } }] },
        { role: 'tool', tool_call_id: 'call_1', content: 'r' },
      ],
    };
    sanitizeRequest(openai, b);
    expect(b.messages[0].content).toBe('<s>');
    expect(b.messages[1].content).toEqual([{ type: 'text', text: '<t>' }, { type: 'image_url', image_url: { url: 'data:image/png;base64,AAAA' } }]);
    expect(JSON.parse(b.messages[2].tool_calls[0].function.arguments)).toEqual({ c: '<ls "x">', n: 1 });
    expect(b.messages[2].tool_calls[0].id).toBe('call_1');
    expect(b.messages[3]).toEqual({ role: 'tool', tool_call_id: 'call_1', content: '<r>' });
    expect(b.tools[0].function).toMatchObject({ name: 'run', description: '<d>', parameters: { properties: { c: { description: '<pd>' } } } });
  });

  it('sanitizes messages[].name, prediction.content, response_format schemas, stop and metadata; a data: image is binary, a link a URL to check', () => {
    const b: any = {
      model: 'gpt',
      messages: [{ role: 'user', name: 'admin-on-pro-dev', content: [{ type: 'image_url', image_url: { url: 'data:image/png;base64,AAAA' } }, { type: 'image_url', image_url: { url: 'http://pro-dev/x.png' } }, { type: 'input_audio', input_audio: { data: 'UklG', format: 'wav' } }] }],
      prediction: { type: 'content', content: 'the whole file' },
      response_format: { type: 'json_schema', json_schema: { name: 'r', description: 'desc', schema: { type: 'object', properties: { a: { type: 'string', description: 'da' } } } } },
      stop: ['s'],
      metadata: { k: 'v' },
    };
    const seen = walkWith(openai, b);
    expect(b.messages[0].name).toBe('<admin-on-pro-dev>');
    expect(b.prediction.content).toBe('<the whole file>');
    expect(b.response_format.json_schema).toMatchObject({ name: 'r', description: '<desc>', schema: { type: 'object', properties: { a: { type: 'string', description: '<da>' } } } });
    expect(b.stop).toEqual(['<s>']);
    expect(b.metadata).toEqual({ k: '<v>' });
    expect(seen.binary).toEqual(['image@messages[0].content[0].image_url.url', 'audio@messages[0].content[2].input_audio.data']);
    expect(seen.urls).toEqual(['http://pro-dev/x.png']);
  });

  it('arguments that are not JSON are rewritten as text', () => {
    expect(rewriteJsonText('{"c": "unterminated', mark)).toBe('<{"c": "unterminated>');
    expect(rewriteJsonText('{"a":["x",{"b":"y"}]}', mark)).toBe('{"a":["<x>",{"b":"<y>"}]}');
  });
});

describe('Ollama requests', () => {
  it('rewrites messages, tool-call argument values, prompt, system and suffix; images are binary', () => {
    const chat: any = { model: 'l', messages: [{ role: 'user', content: 'c', images: ['AAAA'], tool_calls: [{ function: { name: 'f', arguments: { host: 'h', port: 22 } } }] }] };
    expect(walkWith(ollama, chat).binary).toEqual(['image@messages[0].images[0]']);
    expect(chat.messages[0]).toEqual({ role: 'user', content: '<c>', images: ['AAAA'], tool_calls: [{ function: { name: 'f', arguments: { host: '<h>', port: 22 } } }] });
    const gen: any = { model: 'l', prompt: 'p', system: 's', suffix: 'x', context: [1, 2] };
    sanitizeRequest(ollama, gen);
    expect(gen).toEqual({ model: 'l', prompt: '<p>', system: '<s>', suffix: '<x>', context: [1, 2] });
  });
});
