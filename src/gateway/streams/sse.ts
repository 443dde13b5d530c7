import { StreamLimitError, type TextCodec } from './transform.js';
/**
 * Incremental Server-Sent Events parsing (https://html.spec.whatwg.org/multipage/server-sent-events.html):
 * text arrives in arbitrary pieces; an event ends at a blank line; lines end in
 * `\r\n`, `\n` or `\r` (a `\r` at the end of a piece may be the first half of
 * `\r\n`); several `data:` lines join with `\n`; `:` lines are comments.
 */

export interface SseEvent {
  /** `event:` field, if any. */
  readonly event: string | undefined;
  /** The `data:` lines joined with `\n`; undefined when the block had none (comments only). */
  readonly data: string | undefined;
  /** The block as received (line endings normalised to `\n`), blank line included: re-emitted as is when untouched. */
  readonly raw: string;
}

/** An event (or a line) larger than this is refused: a stream that never ends a line must not grow memory without bound. */
export const MAX_SSE_EVENT_CHARS = 16 * 1024 * 1024;


export class SseParser {
  /** Pieces of the line being read: a long line arriving in pieces is scanned once and joined once, never rescanned. */
  private pending: string[] = [];
  private pendingChars = 0;
  /** The last piece ended in `\r`: a `\n` opening the next one belongs to it (`\r\n` split across pieces). */
  private afterCr = false;
  private lines: string[] = [];
  /** Characters held in `lines` (the event being read). */
  private held = 0;

  constructor(private readonly maxEventChars = MAX_SSE_EVENT_CHARS) {}

  /** Feed decoded text; returns the events completed by it. */
  push(text: string): SseEvent[] {
    const events: SseEvent[] = [];
    let start = 0;
    if (this.afterCr && text.charCodeAt(0) === 10) start = 1;
    this.afterCr = false;
    const len = text.length;
    for (let i = start; i < len; i++) {
      const c = text.charCodeAt(i);
      if (c !== 10 && c !== 13) continue;
      const piece = text.slice(start, i);
      const line = this.pending.length === 0 ? piece : this.pending.join('') + piece;
      this.pending = [];
      this.pendingChars = 0;
      if (c === 13) {
        if (i + 1 < len && text.charCodeAt(i + 1) === 10) i++;
        else if (i + 1 === len) this.afterCr = true;
      }
      start = i + 1;
      const ev = this.line(line);
      if (ev !== undefined) events.push(ev);
    }
    if (start < len) {
      this.pending.push(text.slice(start));
      this.pendingChars += len - start;
    }
    if (this.pendingChars + this.held > this.maxEventChars) {
      throw new StreamLimitError(`an event of the streamed answer is over ${this.maxEventChars} characters: the gateway does not hold more; the stream was cut`);
    }
    return events;
  }

  /** End of stream: an unterminated last event is still handed on (the spec drops it; a proxy should not lose it). */
  end(): SseEvent[] {
    const events: SseEvent[] = [];
    if (this.pending.length > 0) {
      const last = this.pending.join('');
      this.pending = [];
      this.pendingChars = 0;
      const ev = this.line(last);
      if (ev !== undefined) events.push(ev);
    }
    if (this.lines.length > 0) events.push(this.dispatch(false));
    return events;
  }

  private line(line: string): SseEvent | undefined {
    if (line === '') return this.lines.length === 0 ? undefined : this.dispatch(true);
    this.lines.push(line);
    this.held += line.length + 1;
    return undefined;
  }

  private dispatch(terminated: boolean): SseEvent {
    let event: string | undefined;
    let data: string[] | undefined;
    for (const l of this.lines) {
      if (l.startsWith(':')) continue;
      const colon = l.indexOf(':');
      const field = colon === -1 ? l : l.slice(0, colon);
      let value = colon === -1 ? '' : l.slice(colon + 1);
      if (value.startsWith(' ')) value = value.slice(1);
      if (field === 'event') event = value;
      else if (field === 'data') (data ??= []).push(value);
    }
    const raw = `${this.lines.join('\n')}\n${terminated ? '\n' : ''}`;
    this.lines = [];
    this.held = 0;
    return { event, data: data?.join('\n'), raw };
  }
}

/** Serialise an event we rewrote (`data` may hold `\n`: one `data:` line each). */
export function formatSseEvent(event: string | undefined, data: string): string {
  const head = event === undefined ? '' : `event: ${event}\n`;
  return `${head}${data
    .split('\n')
    .map((l) => `data: ${l}`)
    .join('\n')}\n\n`;
}

/** A TextCodec over SSE: each parsed event is rewritten by `onEvent`; `atEnd` gives what was held back when the stream ends. */
export function sseCodec(onEvent: (ev: SseEvent) => string, atEnd: () => string): TextCodec {
  const parser = new SseParser();
  const each = (events: readonly SseEvent[]): string => events.map(onEvent).join('');
  return {
    push: (text) => each(parser.push(text)),
    end: () => each(parser.end()) + atEnd(),
  };
}
