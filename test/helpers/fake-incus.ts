import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A request as the fake Incus received it. */
export interface SeenRequest {
  method: string;
  /** Path with query, as sent. */
  url: string;
  path: string;
  query: URLSearchParams;
  headers: http.IncomingHttpHeaders;
  body: unknown;
}

/** What a route answers. `delayUntil` holds the answer until it settles (or the client goes away). */
export interface Reply {
  status?: number;
  headers?: Record<string, string>;
  /** JSON body; a string is sent as is. */
  body?: unknown;
  /**
   * Mimic `/operations/{id}/wait`: send the 200 header at once, the body
   * later. Incus does this, which is why failures arrive under HTTP 200.
   */
  flushHeadersFirst?: boolean;
  delayUntil?: Promise<unknown>;
}

export type Route = (req: SeenRequest) => Reply | Promise<Reply>;

/** A real HTTP server on a temporary unix socket that plays Incus. */
export interface FakeIncus {
  socketPath: string;
  dir: string;
  requests: SeenRequest[];
  /** Replace the route handler. */
  route(handler: Route): void;
  close(): Promise<void>;
}

/** Envelope of a sync answer. */
export function sync(metadata: unknown, status = 200, headers: Record<string, string> = {}): Reply {
  return {
    status,
    headers,
    body: { type: 'sync', status: 'Success', status_code: 200, operation: '', error_code: 0, error: '', metadata },
  };
}

/** Envelope of an error answer (`status` is the HTTP status; Incus sends 200 for /wait errors). */
export function error(code: number, message: string, status = code): Reply {
  return {
    status,
    body: { type: 'error', status: '', status_code: 0, operation: '', error_code: code, error: message, metadata: null },
  };
}

/** An operation object. */
export function operation(id: string, statusCode: number, err = '', description = 'Test operation'): Record<string, unknown> {
  const status = statusCode === 200 ? 'Success' : statusCode === 400 ? 'Failure' : statusCode === 401 ? 'Cancelled' : 'Running';
  return {
    id,
    class: 'task',
    description,
    created_at: '2026-01-01T00:00:00Z',
    updated_at: '2026-01-01T00:00:00Z',
    status,
    status_code: statusCode,
    resources: { instances: ['/1.0/instances/c1'] },
    metadata: {},
    may_cancel: false,
    err,
    location: 'none',
  };
}

/** Envelope of an async answer (HTTP 202 + Location). */
export function async(id: string, description = 'Test operation'): Reply {
  return {
    status: 202,
    headers: { Location: `/1.0/operations/${id}` },
    body: {
      type: 'async',
      status: 'Operation created',
      status_code: 100,
      operation: `/1.0/operations/${id}`,
      error_code: 0,
      error: '',
      metadata: operation(id, 103, '', description),
    },
  };
}

/** Start a fake Incus on a fresh temporary unix socket. */
export async function startFakeIncus(handler: Route = () => error(404, 'not found')): Promise<FakeIncus> {
  const dir = mkdtempSync(join(tmpdir(), 'anklume-fake-incus-'));
  const socketPath = join(dir, 'unix.socket');
  const requests: SeenRequest[] = [];
  let current = handler;

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://unix.socket');
      const text = Buffer.concat(chunks).toString('utf8');
      const seen: SeenRequest = {
        method: req.method ?? 'GET',
        url: req.url ?? '/',
        path: url.pathname,
        query: url.searchParams,
        headers: req.headers,
        body: text === '' ? undefined : parseBody(text),
      };
      requests.push(seen);
      void Promise.resolve(current(seen)).then(async (reply) => {
        const payload = typeof reply.body === 'string' ? reply.body : JSON.stringify(reply.body ?? {});
        const headers = { 'Content-Type': 'application/json', ...reply.headers };
        if (reply.flushHeadersFirst) {
          res.writeHead(reply.status ?? 200, { ...headers, Connection: 'keep-alive' });
          res.flushHeaders();
        }
        if (reply.delayUntil) {
          await Promise.race([reply.delayUntil, new Promise((resolve) => res.once('close', resolve))]);
        }
        if (res.destroyed || res.writableEnded) return;
        if (!res.headersSent) res.writeHead(reply.status ?? 200, headers);
        res.end(payload);
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(socketPath, resolve));

  return {
    socketPath,
    dir,
    requests,
    route(next) {
      current = next;
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** JSON bodies parsed; anything else (a file pushed into an instance) kept as text. */
function parseBody(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}
