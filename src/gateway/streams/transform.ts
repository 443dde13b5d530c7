import { Transform, type TransformCallback } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';

/** Turns decoded text of a streamed answer into the text to send on; `end` returns what was held back. */
/** A streamed answer held more than the gateway keeps in memory for one event or line: the stream is cut. */
export class StreamLimitError extends Error {}

export interface TextCodec {
  push(text: string): string;
  end(): string;
}

/**
 * A byte stream → byte stream Transform around a TextCodec. UTF-8 is decoded
 * with a StringDecoder, so a character split across TCP chunks is kept whole;
 * each chunk's output is pushed at once (no buffering beyond what the codec
 * holds back), and pipeline() gives backpressure both ways.
 */
export class CodecTransform extends Transform {
  private readonly decoder = new StringDecoder('utf8');
  private readonly codec: TextCodec;

  constructor(codec: TextCodec) {
    super();
    this.codec = codec;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    try {
      const out = this.codec.push(this.decoder.write(chunk));
      if (out !== '') this.push(out, 'utf8');
      callback();
    } catch (err) {
      callback(err as Error);
    }
  }

  override _flush(callback: TransformCallback): void {
    try {
      const out = this.codec.push(this.decoder.end()) + this.codec.end();
      if (out !== '') this.push(out, 'utf8');
      callback();
    } catch (err) {
      callback(err as Error);
    }
  }
}

/** A line longer than this is refused (the stream is cut): memory stays bounded whatever the upstream sends. */
export const MAX_NDJSON_LINE_CHARS = 16 * 1024 * 1024;

/**
 * Newline-delimited JSON framing: each complete line goes through `line`, the
 * partial tail waits. Only the new text is searched for a newline, so a long
 * line arriving in pieces costs its length once.
 */
export function ndjsonCodec(handler: { line(text: string): string; end(): string }, maxLineChars = MAX_NDJSON_LINE_CHARS): TextCodec {
  let buffer = '';
  return {
    push(text) {
      const newline = text.lastIndexOf('\n');
      if (newline === -1) {
        buffer += text;
        if (buffer.length > maxLineChars) throw new StreamLimitError(`a line of the streamed answer is over ${maxLineChars} characters: the gateway does not hold more; the stream was cut`);
        return '';
      }
      const complete = buffer + text.slice(0, newline);
      buffer = text.slice(newline + 1);
      let out = '';
      for (const l of complete.split('\n')) out += `${handler.line(l)}\n`;
      return out;
    },
    end() {
      const tail = buffer;
      buffer = '';
      return (tail === '' ? '' : handler.line(tail)) + handler.end();
    },
  };
}
