import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { describeError } from '../../shared/errors.js';
import type { Logger } from '../../shared/logger.js';
import { formatListenAddress, isLoopbackHost, listen, type ListenAddress } from '../listen-address.js';
import { LiveStatus, type StatusSource } from './live.js';
import { renderPage } from './render.js';
import { SanitizerMetricsReader } from './sanitizer-metrics.js';
import { SseFanout } from './sse.js';

export interface StatusPageOptions {
  readonly source: StatusSource;
  /** The sanitizer's metrics URL from infra.yml, or null when none is deployed. */
  readonly sanitizerMetricsUrl: () => string | null;
  readonly logger: Logger;
  /**
   * Bound to loopback only: then the Host header must name loopback too, so a
   * web site whose name an attacker points at 127.0.0.1 (DNS rebinding) cannot
   * read the page from a browser on this machine.
   */
  readonly loopbackOnly: boolean;
  /** Event streams open at once (default 32); more are refused with 503. */
  readonly maxClients?: number;
  readonly heartbeatMs?: number;
  readonly throttleMs?: number;
}

/** The read-only status page: GET /, GET /status.json, GET /events (server-sent events). */
export interface StatusPage {
  /** Answers a request; false when the path is not the page's (the caller answers it). */
  handle(req: IncomingMessage, res: ServerResponse): boolean;
  /** Ends every event stream (before the HTTP server closes). */
  close(): void;
}

const PATHS = new Set(['/', '/index.html', '/status.json', '/events']);

/** Headers every answer carries: nothing cached (the page shows infrastructure), nothing sniffed or framed. */
const COMMON = {
  'cache-control': 'no-store',
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
  'cross-origin-resource-policy': 'same-origin',
} as const;

const NO_CONTENT_CSP = "default-src 'none'; frame-ancestors 'none'";

function pageCsp(nonce: string): string {
  return [`default-src 'none'`, `style-src 'nonce-${nonce}'`, `script-src 'nonce-${nonce}'`, `connect-src 'self'`, `base-uri 'none'`, `form-action 'none'`, `frame-ancestors 'none'`].join('; ');
}

function send(req: IncomingMessage, res: ServerResponse, status: number, type: string, body: string, extra: Record<string, string> = {}): void {
  res.writeHead(status, { ...COMMON, 'content-security-policy': NO_CONTENT_CSP, 'content-type': type, 'content-length': Buffer.byteLength(body), ...extra });
  res.end(req.method === 'HEAD' ? undefined : body);
}

/** The host part of a Host header (`name:port`, `[v6]:port`). */
function hostOf(header: string): string {
  if (header.startsWith('[')) return header.slice(1, header.indexOf(']'));
  const colon = header.indexOf(':');
  return colon === -1 ? header : header.slice(0, colon);
}

export function createStatusPage(options: StatusPageOptions): StatusPage {
  const { logger } = options;
  const live = new LiveStatus({
    source: options.source,
    sanitizer: new SanitizerMetricsReader({ url: options.sanitizerMetricsUrl }),
    fanout: new SseFanout({ maxClients: options.maxClients ?? 32, ...(options.heartbeatMs === undefined ? {} : { heartbeatMs: options.heartbeatMs }) }),
    logger,
    ...(options.throttleMs === undefined ? {} : { throttleMs: options.throttleMs }),
  });

  const events = (req: IncomingMessage, res: ServerResponse): void => {
    const headers = { ...COMMON, 'content-security-policy': NO_CONTENT_CSP, 'content-type': 'text/event-stream; charset=utf-8', 'x-accel-buffering': 'no' };
    if (req.method === 'HEAD') {
      res.writeHead(200, headers).end();
      return;
    }
    if (live.full) {
      send(req, res, 503, 'text/plain; charset=utf-8', 'too many status pages open; try again later\n', { 'retry-after': '10' });
      return;
    }
    res.writeHead(200, headers);
    live.add(res);
    req.on('close', () => live.remove(res));
  };

  return {
    handle(req, res) {
      const url = new URL(req.url ?? '/', 'http://anklumed');
      if (!PATHS.has(url.pathname)) return false;
      // Read-only: nothing here changes state, and no other method is answered.
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        send(req, res, 405, 'text/plain; charset=utf-8', 'read-only: GET or HEAD\n', { allow: 'GET, HEAD' });
        return true;
      }
      if (options.loopbackOnly && !isLoopbackHost(hostOf(req.headers.host ?? ''))) {
        send(req, res, 403, 'text/plain; charset=utf-8', 'this page answers requests for a loopback name only (localhost, 127.0.0.1, [::1])\n');
        return true;
      }
      if (url.pathname === '/events') {
        events(req, res);
        return true;
      }
      void (async () => {
        try {
          const view = await live.freshView();
          if (url.pathname === '/status.json') return send(req, res, 200, 'application/json', `${JSON.stringify(view.status)}\n`);
          const nonce = randomBytes(16).toString('base64');
          send(req, res, 200, 'text/html; charset=utf-8', renderPage(view, { nonce }), { 'content-security-policy': pageCsp(nonce) });
        } catch (err) {
          logger.warn({ err: describeError(err) }, 'status page could not be rendered');
          if (!res.headersSent) send(req, res, 500, 'text/plain; charset=utf-8', 'the status could not be rendered\n');
        }
      })();
      return true;
    },
    close: () => live.close(),
  };
}

/** The status page on an address of its own (`anklumed --web`); anything else is 404. */
export async function startStatusPageServer(options: { readonly address: ListenAddress; readonly page: StatusPage; readonly logger: Logger }): Promise<Server> {
  const { address, page, logger } = options;
  const server = createServer((req, res) => {
    if (!page.handle(req, res)) res.writeHead(404, { ...COMMON, 'content-type': 'text/plain; charset=utf-8' }).end('the status page is at /\n');
  });
  const port = await listen(server, address);
  logger.info({ address: formatListenAddress(address.host, port) }, 'status page served at /');
  return server;
}
