import { Readable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import * as fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { anthropicSseCodec } from '../../src/gateway/apis/anthropic.js';
import { ollamaNdjsonCodec } from '../../src/gateway/apis/ollama.js';
import { openaiSseCodec } from '../../src/gateway/apis/openai.js';
import { SseParser } from '../../src/gateway/streams/sse.js';
import { CodecTransform, type TextCodec } from '../../src/gateway/streams/transform.js';
import { createSanitizer, MemoryMappingStore } from '../../src/sanitizer/index.js';
import type { DomainSanitizer } from '../../src/sanitizer/types.js';

// Streamed answers are restored whatever the byte offsets the upstream's TCP
// chunks fall on: pseudonyms split across chunks, events and deltas, JSON split
// mid-string, UTF-8 characters split mid-byte.

function sanitizer(): DomainSanitizer {
  return createSanitizer({
    domain: 'pro',
    mode: 'pseudonymize',
    dictionary: { domains: ['pro'], projects: ['pro'], bridges: ['net-pro'], instances: ['pro-dev', 'pro-db'], addresses: ['10.110.0.10', '10.110.0.11'], subnets: ['10.110.0.0/24'], fqdns: ['db.pro.internal'] },
    // An extra pattern whose values hold a backslash and a quote: restored inside partial JSON, they must be escaped.
    extraPatterns: [{ name: 'share', regex: 'ACME\\\\[a-z]+"[a-z]+' }],
    secret: new Uint8Array(32).fill(7),
    mapping: new MemoryMappingStore(),
  });
}

const ORIGINAL = 'Connect to pro-dev (10.110.0.10) then "pro-db" at 10.110.0.11 in 10.110.0.0/24 — ça marche 🚀 via db.pro.internal and ACME\\share"x';

function split(bytes: Buffer, cuts: number[]): Buffer[] {
  const points = [0, ...cuts.filter((c) => c > 0 && c < bytes.length).sort((a, b) => a - b), bytes.length];
  return points.slice(1).map((end, i) => bytes.subarray(points[i], end));
}

/** Bytes through the codec cut at the given offsets, the way CodecTransform drives it (StringDecoder, then end). */
function run(codec: TextCodec, bytes: Buffer, cuts: number[]): string {
  const decoder = new StringDecoder('utf8');
  let out = '';
  for (const piece of split(bytes, cuts)) out += codec.push(decoder.write(piece));
  return out + codec.push(decoder.end()) + codec.end();
}

/** The same through the real Transform stream. */
async function runStream(codec: TextCodec, bytes: Buffer, cuts: number[]): Promise<string> {
  const out: Buffer[] = [];
  for await (const chunk of Readable.from(split(bytes, cuts), { objectMode: false }).pipe(new CodecTransform(codec))) out.push(chunk as Buffer);
  return Buffer.concat(out).toString('utf8');
}

function pieces(text: string, n: number): string[] {
  const chars = [...text];
  const out: string[] = [];
  for (let i = 0; i < chars.length; i += n) out.push(chars.slice(i, i + n).join(''));
  return out;
}

const ev = (name: string, data: unknown): string => `event: ${name}\ndata: ${JSON.stringify(data)}\n\n`;

function anthropicStream(sent: string, input: unknown, n: number): string {
  let s = ev('message_start', { type: 'message_start', message: { content: [] } });
  s += ev('content_block_start', { type: 'content_block_start', index: 0, content_block: { type: 'thinking', thinking: '' } });
  s += ev('content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'thinking_delta', thinking: `hmm ${sent}` } });
  s += ev('content_block_stop', { type: 'content_block_stop', index: 0 });
  s += ev('content_block_start', { type: 'content_block_start', index: 1, content_block: { type: 'text', text: '' } });
  for (const p of pieces(sent, n)) s += ev('content_block_delta', { type: 'content_block_delta', index: 1, delta: { type: 'text_delta', text: p } });
  s += ev('content_block_stop', { type: 'content_block_stop', index: 1 });
  s += ev('content_block_start', { type: 'content_block_start', index: 2, content_block: { type: 'tool_use', id: 't', name: 'bash', input: {} } });
  for (const p of pieces(JSON.stringify(input), n)) s += ev('content_block_delta', { type: 'content_block_delta', index: 2, delta: { type: 'input_json_delta', partial_json: p } });
  s += ev('content_block_stop', { type: 'content_block_stop', index: 2 });
  return s + ev('message_stop', { type: 'message_stop' });
}

/** What a client assembles from an Anthropic stream. */
function assembleAnthropic(out: string): { text: string; thinking: string; input: unknown; stopsAfterDeltas: boolean } {
  const p = new SseParser();
  const events = [...p.push(out), ...p.end()].map((e): any => JSON.parse(e.data ?? 'null'));
  let text = '';
  let thinking = '';
  let json = '';
  let stopsAfterDeltas = true;
  const stopped = new Set<number>();
  for (const e of events) {
    if (e.type === 'content_block_stop') stopped.add(e.index);
    if (e.type !== 'content_block_delta') continue;
    if (stopped.has(e.index)) stopsAfterDeltas = false;
    if (e.delta.type === 'text_delta') text += e.delta.text;
    if (e.delta.type === 'thinking_delta') thinking += e.delta.thinking;
    if (e.delta.type === 'input_json_delta') json += e.delta.partial_json;
  }
  return { text, thinking, input: JSON.parse(json), stopsAfterDeltas };
}

describe('restoring an Anthropic SSE stream', () => {
  const s = sanitizer();
  const sent = s.sanitize(ORIGINAL).text;
  // The original holds quotes: restored into partial JSON, it must be JSON-escaped.
  const input = { command: `ssh ${sent}`, list: [sent, 'plain'] };
  const expectedInput = { command: `ssh ${ORIGINAL}`, list: [ORIGINAL, 'plain'] };

  it('the upstream really sent pseudonyms', () => {
    expect(sent).not.toContain('pro-dev');
    expect(sent).not.toContain('10.110.0.10');
    expect(sent).not.toContain('ACME\\share"x');
  });

  it('restores text and tool input at every split offset of the byte stream; thinking stays as sent', () => {
    const bytes = Buffer.from(anthropicStream(sent, input, 8));
    // One expect at the end (expect in a loop of thousands costs more than the codec).
    const bad: number[] = [];
    const wantInput = JSON.stringify(expectedInput);
    for (let cut = 1; cut < bytes.length; cut++) {
      const got = assembleAnthropic(run(anthropicSseCodec(s), bytes, [cut]));
      if (got.text !== ORIGINAL || JSON.stringify(got.input) !== wantInput || got.thinking !== `hmm ${sent}` || !got.stopsAfterDeltas) bad.push(cut);
    }
    expect(bad).toEqual([]);
  }, 30_000);

  it('restores for any delta size and any set of chunk boundaries (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 20 }), fc.array(fc.nat(), { maxLength: 30 }), (n, cuts) => {
        const bytes = Buffer.from(anthropicStream(sent, input, n));
        const got = assembleAnthropic(run(anthropicSseCodec(s), bytes, cuts.map((c) => c % bytes.length)));
        expect(got.text).toBe(ORIGINAL);
        expect(got.input).toEqual(expectedInput);
      }),
      { numRuns: 300 },
    );
  });

  it('the Transform stream keeps a UTF-8 character split across chunks whole', async () => {
    const bytes = Buffer.from(anthropicStream(sent, input, 2));
    const rocket = bytes.indexOf(Buffer.from('🚀'));
    for (const cut of [rocket + 1, rocket + 2, rocket + 3]) {
      expect(assembleAnthropic(await runStream(anthropicSseCodec(s), bytes, [cut])).text).toBe(ORIGINAL);
    }
  });

  it('passes events it does not rewrite byte for byte, CRLF line endings included', () => {
    const raw = 'event: ping\r\ndata: {"type":"ping"}\r\n\r\n: a comment\n\nevent: message_stop\ndata: {"type":"message_stop"}\n\n';
    expect(run(anthropicSseCodec(s), Buffer.from(raw), [5, 17])).toBe('event: ping\ndata: {"type":"ping"}\n\n: a comment\n\nevent: message_stop\ndata: {"type":"message_stop"}\n\n');
  });

  it('flushes what it held back when the stream ends without a content_block_stop', () => {
    const cutShort = anthropicStream(sent, input, 4).split('event: content_block_stop\ndata: {"type":"content_block_stop","index":1}')[0] ?? '';
    const p = new SseParser();
    const out = run(anthropicSseCodec(s), Buffer.from(cutShort), []);
    const text = [...p.push(out), ...p.end()]
      .map((e): any => JSON.parse(e.data ?? 'null'))
      .filter((e) => e.delta?.type === 'text_delta')
      .map((e): any => e.delta.text)
      .join('');
    expect(text).toBe(ORIGINAL);
  });
});

describe('restoring an OpenAI SSE stream', () => {
  const s = sanitizer();
  const sent = s.sanitize(ORIGINAL).text;
  const args = JSON.stringify({ command: `ssh ${sent}` });

  function stream(n: number, withFinishChunk: boolean): string {
    const chunk = (delta: unknown, finish: string | null = null): string => `data: ${JSON.stringify({ id: 'c', object: 'chat.completion.chunk', created: 1, model: 'm', choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`;
    let out = chunk({ role: 'assistant', content: '' });
    for (const p of pieces(sent, n)) out += chunk({ content: p });
    out += chunk({ tool_calls: [{ index: 0, id: 'call', type: 'function', function: { name: 'run', arguments: '' } }] });
    for (const p of pieces(args, n)) out += chunk({ tool_calls: [{ index: 0, function: { arguments: p } }] });
    if (withFinishChunk) out += chunk({}, 'tool_calls');
    return `${out}data: [DONE]\n\n`;
  }

  function assemble(out: string): { content: string; args: string; done: boolean } {
    const p = new SseParser();
    let content = '';
    let a = '';
    let done = false;
    for (const e of [...p.push(out), ...p.end()]) {
      if (e.data === '[DONE]') {
        done = true;
        continue;
      }
      // Nothing may follow [DONE].
      if (done) return { content, args: a, done: false };
      const d = JSON.parse(e.data ?? 'null').choices[0]?.delta ?? {};
      content += d.content ?? '';
      for (const tc of d.tool_calls ?? []) a += tc.function?.arguments ?? '';
    }
    return { content, args: a, done };
  }

  it.each([true, false])('restores content and arguments at every split offset (finish chunk: %s)', (finish) => {
    const bytes = Buffer.from(stream(8, finish));
    const bad: number[] = [];
    const wantArgs = JSON.stringify({ command: `ssh ${ORIGINAL}` });
    for (let cut = 1; cut < bytes.length; cut++) {
      const got = assemble(run(openaiSseCodec(s), bytes, [cut, cut + 40]));
      if (got.content !== ORIGINAL || JSON.stringify(JSON.parse(got.args)) !== wantArgs || !got.done) bad.push(cut);
    }
    expect(bad).toEqual([]);
  }, 30_000);
});

describe('restoring an Ollama NDJSON stream', () => {
  const s = sanitizer();
  const sent = s.sanitize(ORIGINAL).text;

  it('restores message.content and response at every split offset, with the rest in the done line', () => {
    for (const field of ['chat', 'generate'] as const) {
      let raw = '';
      for (const p of pieces(sent, 3)) raw += `${JSON.stringify(field === 'chat' ? { message: { role: 'assistant', content: p }, done: false } : { response: p, done: false })}\n`;
      raw += `${JSON.stringify(field === 'chat' ? { message: { role: 'assistant', content: '' }, done: true } : { response: '', done: true })}\n`;
      const bytes = Buffer.from(raw);
      for (let cut = 1; cut < bytes.length; cut += 2) {
        const lines = (run(ollamaNdjsonCodec(s), bytes, [cut]))
          .split('\n')
          .filter((l) => l !== '')
          .map((l): any => JSON.parse(l));
        const text = lines.map((l): any => (field === 'chat' ? l.message.content : l.response)).join('');
        expect(text, `${field} cut at ${cut}`).toBe(ORIGINAL);
        expect(lines[lines.length - 1].done).toBe(true);
      }
    }
  });
});
