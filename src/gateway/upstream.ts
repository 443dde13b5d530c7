import http, { type IncomingMessage, type OutgoingHttpHeaders } from 'node:http';
import https from 'node:https';
import { GatewayError } from './errors.js';

/**
 * One request to an upstream API over node:http(s) with keep-alive agents:
 * the answer's body is a Node stream the caller pipes on with backpressure,
 * never read whole here. The signal aborts it (client gone); `timeoutMs` is
 * how long the socket may stay silent, before the headers (→ 504) and inside
 * a streamed body (the stream then fails and the client connection is cut).
 */
export class Upstreams {
  private readonly httpAgent = new http.Agent({ keepAlive: true, maxSockets: Infinity });
  private readonly httpsAgent = new https.Agent({ keepAlive: true, maxSockets: Infinity });

  request(options: { url: URL; method: string; headers: OutgoingHttpHeaders; body: Buffer | undefined; signal: AbortSignal; timeoutMs: number }): Promise<IncomingMessage> {
    const { url } = options;
    const lib = url.protocol === 'https:' ? https : http;
    const headers = { ...options.headers, ...(options.body === undefined ? {} : { 'content-length': String(options.body.length) }) };
    return new Promise((resolve, reject) => {
      const req = lib.request(url, {
        method: options.method,
        headers,
        agent: url.protocol === 'https:' ? this.httpsAgent : this.httpAgent,
        signal: options.signal,
      });
      let answered = false;
      req.setTimeout(options.timeoutMs, () => {
        const err = new GatewayError(504, 'upstream_timeout', `upstream ${url.host} sent nothing for ${options.timeoutMs} ms`);
        if (!answered) reject(err);
        req.destroy(err);
      });
      req.on('response', (res) => {
        answered = true;
        resolve(res);
      });
      req.on('error', (err) => {
        if (answered) return;
        if (err instanceof GatewayError) reject(err);
        else if (err.name === 'AbortError') reject(new GatewayError(499, 'client_closed', 'the client went away', { cause: err }));
        else reject(new GatewayError(502, 'upstream_unreachable', `upstream ${url.host} unreachable: ${(err as NodeJS.ErrnoException).code ?? err.message}`, { cause: err }));
      });
      req.end(options.body);
    });
  }

  close(): void {
    this.httpAgent.destroy();
    this.httpsAgent.destroy();
  }
}

/** `base` + the client's path and query (a base with a path prefix keeps it). */
export function upstreamUrl(base: string, pathAndQuery: string): URL {
  const u = new URL(base);
  const prefix = u.pathname.replace(/\/+$/, '');
  return new URL(`${u.origin}${prefix}${pathAndQuery}`);
}
