import { describe, expect, it } from 'vitest';
import { formatSseEvent, SseParser } from '../../src/gateway/streams/sse.js';
import { StreamLimitError } from '../../src/gateway/streams/transform.js';
import { ndjsonCodec } from '../../src/gateway/streams/transform.js';

// Incremental SSE and NDJSON framing: the same events whatever the pieces.

const STREAM = 'event: a\ndata: {"x":1}\n\n: comment\n\nevent: b\r\ndata: line1\r\ndata: line2\r\n\r\ndata:no-space\r\rid: 7\ndata: [DONE]\n\n';

function parseInPieces(text: string, cuts: number[]): { event: string | undefined; data: string | undefined }[] {
  const p = new SseParser();
  const out = [];
  let prev = 0;
  for (const c of [...cuts, text.length]) {
    out.push(...p.push(text.slice(prev, c)));
    prev = c;
  }
  out.push(...p.end());
  return out.map((e) => ({ event: e.event, data: e.data }));
}

describe('SseParser', () => {
  const whole = parseInPieces(STREAM, []);

  it('parses events, comments, multi-line data and every line ending', () => {
    expect(whole).toEqual([
      { event: 'a', data: '{"x":1}' },
      { event: undefined, data: undefined },
      { event: 'b', data: 'line1\nline2' },
      { event: undefined, data: 'no-space' },
      { event: undefined, data: '[DONE]' },
    ]);
  });

  it('gives the same events for every split point, a CRLF split between its CR and LF included', () => {
    for (let i = 1; i < STREAM.length; i++) {
      for (const j of [i + 1, i + 5]) expect(parseInPieces(STREAM, j < STREAM.length ? [i, j] : [i]), `cuts ${i},${j}`).toEqual(whole);
    }
  });

  it('hands on an unterminated last event at the end', () => {
    expect(parseInPieces('data: tail', [3])).toEqual([{ event: undefined, data: 'tail' }]);
  });

  it('reads a 64 MB line arriving in 4 KB pieces whole (each piece is scanned once, not the line again per piece)', () => {
    const p = new SseParser(128 * 1024 * 1024);
    const piece = 'x'.repeat(4096);
    p.push('data: ');
    for (let i = 0; i < 16 * 1024; i++) expect(p.push(piece)).toEqual([]);
    const [ev] = p.push('\n\n');
    expect(ev?.data?.length).toBe(64 * 1024 * 1024);
  });

  it('refuses an event over its bound with a clear error, whether one long line or many lines', () => {
    const line = new SseParser(1000);
    expect(() => {
      for (let i = 0; i < 20; i++) line.push('y'.repeat(100));
    }).toThrow(StreamLimitError);
    const many = new SseParser(1000);
    expect(() => {
      for (let i = 0; i < 20; i++) many.push(`data: ${'z'.repeat(90)}\n`);
    }).toThrow(/over 1000 characters.*stream was cut/);
    // Events under the bound, however many, pass.
    const ok = new SseParser(1000);
    for (let i = 0; i < 100; i++) expect(ok.push(`data: ${'z'.repeat(90)}\n\n`)).toHaveLength(1);
  });

  it('formats a rewritten event with one data line per line', () => {
    expect(formatSseEvent('x', 'a\nb')).toBe('event: x\ndata: a\ndata: b\n\n');
    expect(formatSseEvent(undefined, '{}')).toBe('data: {}\n\n');
  });
});

describe('ndjsonCodec', () => {
  it('hands complete lines on at once and the partial tail at the end', () => {
    const seen: string[] = [];
    const codec = ndjsonCodec({ line: (l) => (seen.push(l), l.toUpperCase()), end: () => '!' });
    expect(codec.push('{"a":1}\n{"b"')).toBe('{"A":1}\n');
    expect(codec.push(':2}\n{"c":3}')).toBe('{"B":2}\n');
    expect(codec.end()).toBe('{"C":3}!');
    expect(seen).toEqual(['{"a":1}', '{"b":2}', '{"c":3}']);
  });

  it('refuses a line over its bound with a clear error', () => {
    const codec = ndjsonCodec({ line: (l) => l, end: () => '' }, 1000);
    expect(() => {
      for (let i = 0; i < 20; i++) codec.push('{"a":"'.padEnd(100, 'q'));
    }).toThrow(/line of the streamed answer is over 1000 characters/);
  });
});
