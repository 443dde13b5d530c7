import type { IncomingMessage } from 'node:http';
import { GatewayError } from './errors.js';

/**
 * Read a request body up to `limit` bytes. A declared Content-Length over the
 * limit is refused before reading anything; a chunked body is refused as soon
 * as it passes the limit, and reading stops there (→ 413).
 */
export function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const tooLarge = (): GatewayError => new GatewayError(413, 'request_too_large', `request body over the gateway's limit of ${limit} bytes`);
  const declared = Number(req.headers['content-length'] ?? NaN);
  if (declared > limit) return Promise.reject(tooLarge());
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > limit) {
        cleanup();
        req.pause();
        reject(tooLarge());
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = (): void => {
      cleanup();
      resolve(Buffer.concat(chunks, size));
    };
    const onError = (err: Error): void => {
      cleanup();
      reject(new GatewayError(400, 'client_error', `could not read the request: ${err.message}`, { cause: err }));
    };
    const onAborted = (): void => {
      cleanup();
      reject(new GatewayError(499, 'client_closed', 'the client went away while sending its request'));
    };
    const cleanup = (): void => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('aborted', onAborted);
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('aborted', onAborted);
  });
}
