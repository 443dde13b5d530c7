import { Transform, type TransformCallback } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';

/** Turns decoded text of a streamed answer into the text to send on; `end` returns what was held back. */
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

/** Newline-delimited JSON framing: each complete line goes through `line`, the partial tail waits. */
export function ndjsonCodec(handler: { line(text: string): string; end(): string }): TextCodec {
  let buffer = '';
  return {
    push(text) {
      buffer += text;
      const last = buffer.lastIndexOf('\n');
      if (last === -1) return '';
      const complete = buffer.slice(0, last);
      buffer = buffer.slice(last + 1);
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
