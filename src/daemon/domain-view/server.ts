import type { IncomingMessage, ServerResponse } from 'node:http';
import { AnklumeError, describeError } from '../../shared/errors.js';
import type { Logger } from '../../shared/logger.js';
import { domainOfConnection, type ViewBinding } from './addresses.js';

/** The API's version, in every path and every answer. */
export const VIEW_API_VERSION = 'v1';

/** A refusal with its HTTP status, answered as `{"error": message}`. */
export class ViewError extends AnklumeError {
  constructor(
    readonly status: number,
    message: string,
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super('DOMAIN_VIEW', message);
  }
}

/** The caller of a request, as the server established it from the connection. */
export interface ViewCaller {
  readonly domain: string;
  readonly address: string;
}

/** What the view serves about one domain (the daemon implements it; tests give their own). */
export interface ViewBackend {
  /** The views in force: the connection's addresses are checked against these on every request. */
  bindings(): readonly ViewBinding[];
  domain(domain: string): unknown;
  instances(domain: string): Promise<unknown>;
  services(domain: string): unknown;
  inventory(domain: string): unknown;
  events(domain: string): unknown;
  conditions(domain: string): unknown;
  /** Throws ViewError to refuse (disabled, unknown instance, rate limited). */
  snapshot(caller: ViewCaller, instance: string, body: unknown): Promise<unknown>;
}

const READS = ['domain', 'instances', 'services', 'inventory', 'events', 'conditions'] as const;
type Read = (typeof READS)[number];

/** The endpoints, for the index and for 404 answers. */
export const VIEW_ENDPOINTS: readonly string[] = [
  `GET /${VIEW_API_VERSION}`,
  ...READS.map((r) => `GET /${VIEW_API_VERSION}/${r}`),
  `POST /${VIEW_API_VERSION}/instances/<name>/snapshots`,
];

const SNAPSHOT_PATH = /^\/v1\/instances\/([^/]+)\/snapshots$/;
const MAX_BODY = 4 * 1024;

function send(res: ServerResponse, status: number, body: unknown, headers: Readonly<Record<string, string>> = {}): void {
  const text = `${JSON.stringify(body)}\n`;
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store', ...headers });
  res.end(text);
}

async function readBody(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY) throw new ViewError(413, `request body larger than ${MAX_BODY} bytes`);
    chunks.push(chunk as Buffer);
  }
  const text = Buffer.concat(chunks).toString('utf8').trim();
  if (text === '') return {};
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new ViewError(400, 'request body is not valid JSON');
  }
}

function allowOnly(req: IncomingMessage, methods: readonly string[]): void {
  if (!methods.includes(req.method ?? '')) throw new ViewError(405, `${req.method ?? ''} is not allowed here; allowed: ${methods.join(', ')}`, { allow: methods.join(', ') });
}

/**
 * The domain view's request handler. The domain is decided from the
 * connection alone: the local address it arrived on (a domain's gateway) and
 * the peer's address (in that domain's subnet), checked on every request.
 * No header is read for it (Host, X-Forwarded-For, anything a client sends
 * is the client's word); anything that does not match is refused with 403.
 */
export function viewHandler(backend: ViewBackend, logger: Logger): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    void (async () => {
      const { localAddress, remoteAddress } = req.socket;
      const who = domainOfConnection(backend.bindings(), localAddress, remoteAddress);
      if (!who.ok) {
        logger.warn({ local: localAddress, remote: remoteAddress, reason: who.reason }, 'domain view: connection refused');
        send(res, 403, { error: `refused: ${who.reason}` });
        req.resume();
        return;
      }
      const caller: ViewCaller = { domain: who.domain, address: remoteAddress ?? '' };
      const path = new URL(req.url ?? '/', 'http://view.invalid').pathname;
      const answer = (body: unknown): void => send(res, 200, { apiVersion: VIEW_API_VERSION, domain: caller.domain, generatedAt: new Date().toISOString(), ...(body as object) });
      try {
        if (path === `/${VIEW_API_VERSION}`) {
          allowOnly(req, ['GET', 'HEAD']);
          answer({ endpoints: VIEW_ENDPOINTS });
          return;
        }
        const read = READS.find((r) => path === `/${VIEW_API_VERSION}/${r}`);
        if (read !== undefined) {
          allowOnly(req, ['GET', 'HEAD']);
          // `domain` already names the caller's domain in every answer: its summary is `summary`.
          answer({ [read === 'domain' ? 'summary' : read]: await readOf(backend, read, caller.domain) });
          return;
        }
        const snapshot = SNAPSHOT_PATH.exec(path);
        if (snapshot !== null) {
          allowOnly(req, ['POST']);
          let name: string;
          try {
            name = decodeURIComponent(snapshot[1] ?? '');
          } catch {
            throw new ViewError(400, 'the instance name is not valid percent-encoding');
          }
          const body = await readBody(req);
          answer({ snapshot: await backend.snapshot(caller, name, body) });
          return;
        }
        throw new ViewError(404, `no such endpoint: ${path}`);
      } catch (err) {
        req.resume();
        if (err instanceof ViewError) {
          send(res, err.status, { error: err.message, ...(err.status === 404 ? { endpoints: VIEW_ENDPOINTS } : {}) }, err.headers);
          return;
        }
        logger.error({ domain: caller.domain, path, err: describeError(err) }, 'domain view: request failed');
        // Incus failed or refused (unreachable, a timeout, a restriction): the caller learns what Incus said.
        if (!res.headersSent) send(res, 502, { error: `Incus: ${describeError(err)}` });
        else res.destroy();
      }
    })();
  };
}

function readOf(backend: ViewBackend, read: Read, domain: string): unknown {
  switch (read) {
    case 'domain':
      return backend.domain(domain);
    case 'instances':
      return backend.instances(domain);
    case 'services':
      return backend.services(domain);
    case 'inventory':
      return backend.inventory(domain);
    case 'events':
      return backend.events(domain);
    case 'conditions':
      return backend.conditions(domain);
  }
}
