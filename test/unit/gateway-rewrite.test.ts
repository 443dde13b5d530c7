import { describe, expect, it } from 'vitest';
import { anthropic } from '../../src/gateway/apis/anthropic.js';
import { ollama } from '../../src/gateway/apis/ollama.js';
import { openai } from '../../src/gateway/apis/openai.js';
import { rewriteJsonText, type JsonObject } from '../../src/gateway/apis/walk.js';

// Field-aware rewriting: which strings of each API's JSON are rewritten and
// which are left byte for byte. A marker rewrite makes every touched string visible.

const mark = (t: string): string => `<${t}>`;
const clone = <T>(v: T): T => JSON.parse(JSON.stringify(v)) as T;

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
    anthropic.sanitizeRequest(b, mark);
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
  });

  it('leaves thinking, redacted thinking, images, base64 documents, ids, names and metadata byte for byte', () => {
    const b = clone(body) as unknown as JsonObject;
    anthropic.sanitizeRequest(b, mark);
    const out = b as any;
    expect(out.messages[1].content[0]).toEqual(body.messages[1]!.content[0]);
    expect(out.messages[1].content[1]).toEqual(body.messages[1]!.content[1]);
    expect(out.messages[2].content[1].content[1]).toEqual((body.messages[2]!.content[1] as any).content[1]);
    expect(out.messages[2].content[3]).toEqual(body.messages[2]!.content[3]);
    expect(out.model).toBe('claude');
    expect(out.metadata).toEqual({ user_id: 'u1' });
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
    openai.sanitizeRequest(b, mark);
    expect(b.messages[0].content).toBe('<s>');
    expect(b.messages[1].content).toEqual([{ type: 'text', text: '<t>' }, { type: 'image_url', image_url: { url: 'data:image/png;base64,AAAA' } }]);
    expect(JSON.parse(b.messages[2].tool_calls[0].function.arguments)).toEqual({ c: '<ls "x">', n: 1 });
    expect(b.messages[2].tool_calls[0].id).toBe('call_1');
    expect(b.messages[3]).toEqual({ role: 'tool', tool_call_id: 'call_1', content: '<r>' });
    expect(b.tools[0].function).toMatchObject({ name: 'run', description: '<d>', parameters: { properties: { c: { description: '<pd>' } } } });
  });

  it('arguments that are not JSON are rewritten as text', () => {
    expect(rewriteJsonText('{"c": "unterminated', mark)).toBe('<{"c": "unterminated>');
    expect(rewriteJsonText('{"a":["x",{"b":"y"}]}', mark)).toBe('{"a":["<x>",{"b":"<y>"}]}');
  });
});

describe('Ollama requests', () => {
  it('rewrites messages, tool-call argument values, prompt, system and suffix; leaves images', () => {
    const chat: any = { model: 'l', messages: [{ role: 'user', content: 'c', images: ['AAAA'], tool_calls: [{ function: { name: 'f', arguments: { host: 'h', port: 22 } } }] }] };
    ollama.sanitizeRequest(chat, mark);
    expect(chat.messages[0]).toEqual({ role: 'user', content: '<c>', images: ['AAAA'], tool_calls: [{ function: { name: 'f', arguments: { host: '<h>', port: 22 } } }] });
    const gen: any = { model: 'l', prompt: 'p', system: 's', suffix: 'x', context: [1, 2] };
    ollama.sanitizeRequest(gen, mark);
    expect(gen).toEqual({ model: 'l', prompt: '<p>', system: '<s>', suffix: '<x>', context: [1, 2] });
  });
});
