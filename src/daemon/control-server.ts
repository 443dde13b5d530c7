import { chown, chmod, lstat, mkdir, unlink } from 'node:fs/promises';
import { createConnection } from 'node:net';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { dirname } from 'node:path';
import type { SwitchAnswer, SwitchRequest } from '../controllers/ai-access/switch.js';
import { parseApplyRequest, type ApplyEvent, type ApplyRequest, type ApplySummary } from '../controllers/apply-protocol.js';
import type { StatusDocument } from '../controllers/status.js';
import { AnklumeError, describeError } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';

/** What the control API serves (the daemon implements it). */
export interface ControlHandlers {
  status(): StatusDocument;
  /** Queue these domains (all when empty) at user priority; throws RequestError for unknown ones. */
  reconcile(domains: readonly string[]): string[];
  /** `switch-ai`: the result (200), a refusal (RequestError: 400), or a failure midway (SwitchFailed: 500 with step and state). */
  switchAi(request: SwitchRequest): Promise<SwitchAnswer>;
  /**
   * `anklumectl apply` through the daemon: one pass over every domain now, each
   * action's start and outcome given to onEvent as it happens, resolving to the
   * summary. Throw RequestError to refuse before the first event (400); the
   * signal aborts when the client goes away.
   */
  apply(request: ApplyRequest, onEvent: (event: ApplyEvent) => void, signal: AbortSignal): Promise<ApplySummary>;
}

/** A bad request: answered 400 with its message. */
export class RequestError extends AnklumeError {
  constructor(message: string) {
    super('BAD_REQUEST', message);
  }
}

const MAX_BODY = 64 * 1024;

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  let size = 0;
  const chunks: Buffer[] = [];
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY) throw new RequestError('request body too large');
    chunks.push(chunk as Buffer);
  }
  const text = Buffer.concat(chunks).toString('utf8').trim();
  if (text === '') return {};
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new RequestError('request body is not valid JSON');
  }
}

/**
 * POST /v1/apply: NDJSON lines written as the pass goes, `{"event": ...}` each,
 * then `{"summary": ...}`, or `{"error": ...}` when it fails after the first
 * line. Before the first line a failure is an ordinary JSON error answer.
 */
async function serveApply(req: IncomingMessage, res: ServerResponse, handlers: ControlHandlers, logger: Logger): Promise<void> {
  const request = parseApplyRequest(await readJson(req));
  if (request === undefined) throw new RequestError('expected {"prune": true|false, "force": true|false}');
  const abort = new AbortController();
  // 'close' once the answer is complete too; before that it means the client went away.
  res.on('close', () => {
    if (!res.writableFinished) abort.abort(new AnklumeError('CLIENT_GONE', 'anklumectl went away during the apply'));
  });
  const line = (value: unknown): void => {
    if (res.destroyed || res.writableEnded) return;
    if (!res.headersSent) res.writeHead(200, { 'content-type': 'application/x-ndjson', 'cache-control': 'no-store' });
    res.write(`${JSON.stringify(value)}\n`);
  };
  let summary: ApplySummary;
  try {
    summary = await handlers.apply(request, (event) => line({ event }), abort.signal);
  } catch (err) {
    if (!res.headersSent) throw err;
    if (!abort.signal.aborted) logger.error({ err }, 'apply through the control API failed');
    line({ error: describeError(err) });
    res.end();
    return;
  }
  line({ summary });
  res.end();
}

/** Is a daemon answering on this socket? (A stale file left by a crash is not one.) */
function socketIsLive(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection(path);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/**
 * The control API for anklumectl: HTTP/1.1 on a unix socket (mode 0660, group
 * configurable). GET /v1/status, POST /v1/reconcile {"domains": [...]},
 * POST /v1/switch-ai, POST /v1/apply (streamed, see serveApply).
 */
export async function startControlServer(options: { path: string; group?: number; handlers: ControlHandlers; logger: Logger }): Promise<Server> {
  const { path, handlers, logger } = options;
  await mkdir(dirname(path), { recursive: true, mode: 0o755 });
  const existing = await lstat(path).catch(() => undefined);
  if (existing !== undefined) {
    if (!existing.isSocket()) throw new AnklumeError('SOCKET_IN_USE', `${path} exists and is not a socket; refusing to replace it`);
    if (await socketIsLive(path)) throw new AnklumeError('SOCKET_IN_USE', `another anklumed is already listening on ${path}`);
    await unlink(path); // left by a daemon that died
  }

  const server = createServer((req, res) => {
    void (async () => {
      try {
        const url = new URL(req.url ?? '/', 'http://anklumed');
        if (req.method === 'GET' && url.pathname === '/v1/status') return send(res, 200, handlers.status());
        if (req.method === 'POST' && url.pathname === '/v1/reconcile') {
          const body = await readJson(req);
          const domains = (body as { domains?: unknown }).domains ?? [];
          if (typeof body !== 'object' || body === null || !Array.isArray(domains) || !domains.every((d) => typeof d === 'string')) {
            throw new RequestError('expected {"domains": ["<domain>", ...]}');
          }
          return send(res, 202, { queued: handlers.reconcile(domains) });
        }
        if (req.method === 'POST' && url.pathname === '/v1/switch-ai') {
          const body = (await readJson(req)) as Record<string, unknown>;
          const { domain, flush = true, dryRun = false } = body;
          if (typeof domain !== 'string' || typeof flush !== 'boolean' || typeof dryRun !== 'boolean') {
            throw new RequestError('expected {"domain": "<domain>", "flush": true|false, "dryRun": true|false}');
          }
          const answer = await handlers.switchAi({ target: domain, flush, dryRun });
          return send(res, answer.ok ? 200 : 500, answer);
        }
        if (req.method === 'POST' && url.pathname === '/v1/apply') return await serveApply(req, res, handlers, logger);
        return send(res, 404, { error: `no route ${req.method ?? ''} ${url.pathname}` });
      } catch (err) {
        if (err instanceof RequestError) return send(res, 400, { error: err.message });
        logger.error({ err }, 'control API request failed');
        return send(res, 500, { error: describeError(err) });
      }
    })();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => {
      server.off('error', reject);
      resolve();
    });
  });
  await chmod(path, 0o660);
  if (options.group !== undefined) await chown(path, process.getuid?.() ?? 0, options.group);
  return server;
}
