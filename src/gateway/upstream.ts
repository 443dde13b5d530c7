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
/**
 * How long an idle upstream connection is kept for the next request. Also
 * what makes Node's agent honour a server's `Keep-Alive: timeout=N` (it drops
 * the socket a second before the server would): without a timeout of its own,
 * the agent ignores the hint and keeps idle sockets forever, and a request
 * sent on one the server is closing fails (ECONNRESET, a 502 to the client).
 */
const IDLE_SOCKET_MS = 30_000;
/** Attempts of one request whose reused connection was closed under it before any answer. */
const MAX_STALE_RETRIES = 2;

/** A reused keep-alive connection that the server closed before answering: nothing of the request was processed. */
function staleConnection(req: http.ClientRequest, err: NodeJS.ErrnoException): boolean {
  return req.reusedSocket && (err.code === 'ECONNRESET' || err.code === 'EPIPE');
}

export class Upstreams {
  private readonly httpAgent = new http.Agent({ keepAlive: true, maxSockets: Infinity, timeout: IDLE_SOCKET_MS });
  private readonly httpsAgent = new https.Agent({ keepAlive: true, maxSockets: Infinity, timeout: IDLE_SOCKET_MS });

  async request(options: { url: URL; method: string; headers: OutgoingHttpHeaders; body: Buffer | undefined; signal: AbortSignal; timeoutMs: number }): Promise<IncomingMessage> {
    // A server may close an idle connection just as a request is written on it (its keep-alive
    // timer and our reuse cross): the request is sent again, on another connection, as Node's
    // documentation advises. Only then: any other failure is the upstream's answer.
    for (let attempt = 0; ; attempt++) {
      const outcome = await this.attempt(options);
      if (!('stale' in outcome)) return outcome.response;
      if (attempt >= MAX_STALE_RETRIES || options.signal.aborted) throw outcome.error;
    }
  }

  private attempt(options: { url: URL; method: string; headers: OutgoingHttpHeaders; body: Buffer | undefined; signal: AbortSignal; timeoutMs: number }): Promise<{ response: IncomingMessage } | { stale: true; error: GatewayError }> {
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
        resolve({ response: res });
      });
      req.on('error', (err: NodeJS.ErrnoException) => {
        if (answered) return;
        if (err instanceof GatewayError) reject(err);
        else if (err.name === 'AbortError') reject(new GatewayError(499, 'client_closed', 'the client went away', { cause: err }));
        else {
          const error = new GatewayError(502, 'upstream_unreachable', `upstream ${url.host} unreachable: ${err.code ?? err.message}`, { cause: err });
          if (staleConnection(req, err)) resolve({ stale: true, error });
          else reject(error);
        }
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
