import { randomBytes } from 'node:crypto';
import http, { type IncomingMessage, type OutgoingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pipeline } from 'node:stream/promises';
import type { DomainSanitizer, Replacement } from '../sanitizer/types.js';
import { describeError } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import type { JsonObject } from './apis/walk.js';
import { readBody } from './body.js';
import { apiOfPath, endpointOf, type Endpoint } from './endpoints.js';
import { errorBody, GatewayError, type ApiFormat } from './errors.js';
import { clientHeaders, upstreamHeaders, upstreamQuery } from './headers.js';
import { GatewayMetrics } from './metrics.js';
import { sanitizeRequestBody, type BinaryPassed, type SanitizedRequest } from './request-sanitizer.js';
import { decideRoute, domainOfAddress, isPrivilegedSource, isTruthyHeader } from './route.js';
import type { GatewayRuntime } from './runtime.js';
import { CodecTransform } from './streams/transform.js';
import { Upstreams, upstreamUrl } from './upstream.js';

export interface GatewayServerOptions {
  readonly runtime: GatewayRuntime;
  readonly logger: Logger;
  readonly metrics?: GatewayMetrics;
  /**
   * The address a request is attributed to. Production leaves it unset: the
   * TCP peer address (`socket.remoteAddress`), never a header. Tests that play
   * several domains over loopback inject it.
   */
  readonly sourceAddress?: (req: IncomingMessage) => string | undefined;
}

/** A non-streamed answer is read whole to restore it; past this it is refused (502) rather than held in memory. */
const MAX_JSON_ANSWER = 64 * 1024 * 1024;
/** How long one request's sanitizing runs before the event loop serves others (a slice, not a deadline). */
const SLICE_MS = 5;
const STREAMED = /^(text\/event-stream|application\/x-ndjson)/i;

/** Labels of one request's metrics, filled in as it goes. */
interface RequestLabels {
  endpoint: string;
  domain: string;
  route: string;
  status: string;
}

/**
 * The gateway's HTTP server (node:http): resolve the domain from the source
 * address, decide the route, sanitize the request's text fields, send it
 * upstream, restore the answer as it streams back. Anything that fails before
 * the request leaves means nothing leaves (fail closed); errors answer in the
 * caller's API format.
 */
export class GatewayServer {
  readonly server: http.Server;
  readonly metrics: GatewayMetrics;
  private readonly runtime: GatewayRuntime;
  private readonly logger: Logger;
  private readonly upstreams = new Upstreams();
  private readonly sourceAddress: (req: IncomingMessage) => string | undefined;
  /** Request ids: a random prefix per process and a counter (unique, and cheaper than random bytes per request). */
  private readonly idPrefix = randomBytes(6).toString('hex');
  private nextId = 0;

  constructor(options: GatewayServerOptions) {
    this.runtime = options.runtime;
    this.logger = options.logger;
    this.metrics = options.metrics ?? new GatewayMetrics();
    this.sourceAddress = options.sourceAddress ?? ((req) => req.socket.remoteAddress);
    this.server = http.createServer({ keepAliveTimeout: 65_000 }, (req, res) => {
      void this.handle(req, res);
    });
  }

  /** Listen on the config's `listen` (or the given port, e.g. 0 in tests). */
  async listen(override?: { host?: string; port?: number }): Promise<AddressInfo> {
    const host = override?.host ?? this.runtime.settings.listen.host;
    const port = override?.port ?? this.runtime.settings.listen.port;
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    return this.server.address() as AddressInfo;
  }

  /** Stop accepting; let answers in flight finish for up to `deadlineMs`, then cut them. */
  async close(deadlineMs = 10_000): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeIdleConnections();
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        this.server.closeAllConnections();
        resolve();
      }, deadlineMs);
    });
    await Promise.race([closed, deadline]);
    clearTimeout(timer);
    await closed;
    this.upstreams.close();
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const requestId = `req_gw_${this.idPrefix}${(this.nextId++).toString(36)}`;
    const url = new URL(req.url ?? '/', 'http://gateway');
    const method = req.method ?? 'GET';
    // Anyone may learn that the gateway is up; only the host and the admin domain learn how it is set up.
    if (method === 'GET' && url.pathname === '/health') return this.sendJson(res, 200, { ok: true });
    if (method === 'GET' && (url.pathname === '/health/details' || url.pathname === '/metrics')) {
      const source = this.sourceAddress(req);
      if (!isPrivilegedSource(this.runtime, source)) {
        return this.sendJson(res, 403, { error: `${url.pathname} answers the host and the admin domain only; source ${source ?? '(none)'} is neither` });
      }
      if (url.pathname === '/health/details') return this.sendJson(res, 200, this.health());
      try {
        const text = await this.metrics.render();
        res.writeHead(200, { 'content-type': this.metrics.contentType, 'content-length': Buffer.byteLength(text) });
        res.end(text);
      } catch (err) {
        this.logger.warn({ requestId, err: describeError(err) }, 'metrics could not be rendered');
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
        res.end('metrics could not be rendered\n');
      }
      return;
    }
    const endpoint = endpointOf(method, url.pathname, req.headers);
    const labels: RequestLabels = { endpoint: endpoint?.name ?? 'unknown', domain: 'unknown', route: 'none', status: '' };
    const api = endpoint?.api ?? apiOfPath(url.pathname);
    const started = performance.now();
    try {
      if (endpoint === null) throw new GatewayError(404, 'not_found', `the gateway does not serve ${method} ${url.pathname}`);
      await this.proxy(req, res, { endpoint, search: url.search, requestId, labels });
    } catch (err) {
      this.fail(res, api, err, requestId, labels);
    } finally {
      this.metrics.request(labels);
      this.logger.info({ requestId, ...labels, ms: Math.round(performance.now() - started) }, 'request');
    }
  }

  private async proxy(req: IncomingMessage, res: ServerResponse, ctx: { endpoint: Endpoint; search: string; requestId: string; labels: RequestLabels }): Promise<void> {
    const { endpoint, requestId, labels } = ctx;
    const { runtime } = this;
    const address = this.sourceAddress(req);
    const domainName = domainOfAddress(runtime.sourceTable, address);
    if (domainName === null) {
      throw new GatewayError(403, 'unknown_source', `source address ${address ?? '(none)'} belongs to no domain: it is in no domain subnet of infra.yml and in none of the gateway's sources`);
    }
    labels.domain = domainName;
    const domain = runtime.model.domains.find((d) => d.name === domainName);
    if (domain === undefined) throw new GatewayError(403, 'unknown_source', `domain ${domainName} is not in infra.yml`);

    const raw = req.method === 'POST' ? await readBody(req, runtime.settings.bodyLimit) : undefined;
    let body: JsonObject | undefined;
    if (endpoint.jsonBody) body = parseJsonObject(raw);

    const decision = decideRoute(
      domain,
      { api: endpoint.api, task: header(req, 'x-anklume-task')?.trim().toLowerCase(), escalate: isTruthyHeader(header(req, 'x-anklume-escalate')) },
      () => runtime.access.current(),
    );
    if (!decision.ok) throw new GatewayError(decision.status, decision.code, decision.message);
    labels.route = decision.target;

    const sanitizer = decision.sanitize ? runtime.sanitizers.get(domain.name) : undefined;
    if (decision.sanitize && sanitizer === undefined) throw new GatewayError(500, 'sanitize_failed', `no sanitizer for domain ${domain.name}: nothing was sent upstream`);
    let replacements: Replacement[] = [];
    let binary: BinaryPassed[] = [];
    let outgoing = raw;
    // Bodiless or pass-through endpoints (models, tags, show) carry no prose to sanitize.
    if (sanitizer !== undefined && body !== undefined) {
      const sanitized = await this.sanitizeBody(endpoint, body, sanitizer, { route: decision.target, allowBinary: runtime.settings.aiBinary.get(domain.name) === 'allow' });
      ({ replacements, binary } = sanitized);
      outgoing = sanitized.body;
    }
    try {
      runtime.audit?.record({
        requestId,
        domain: domain.name,
        endpoint: endpoint.name,
        model: typeof body?.model === 'string' ? body.model : null,
        route: decision.target,
        sanitized: decision.sanitize,
        replacements,
        binary,
      });
    } catch (err) {
      // No audit trail, no request: the trail is what proves nothing leaked.
      throw new GatewayError(500, 'audit_failed', `the audit log could not be written, nothing was sent upstream: ${describeError(err)}`, { cause: err });
    }
    const counts = new Map<string, number>();
    for (const r of replacements) counts.set(r.category, (counts.get(r.category) ?? 0) + 1);
    for (const [category, n] of counts) this.metrics.replaced(domain.name, category, n);

    const ups = runtime.settings.upstreams;
    const base = decision.target === 'local' ? ups.ollama : endpoint.api === 'anthropic' ? ups.anthropic : ups.openai;
    if (base === null) throw new GatewayError(502, 'no_upstream', 'no local Ollama server is known: set upstreams.ollama in the gateway config or give a machine of the ai-tools domain the ollama_server role in infra.yml');
    const target = upstreamUrl(base, (decision.target === 'local' ? endpoint.localPath : endpoint.cloudPath) + upstreamQuery(endpoint.name, ctx.search));
    const key = decision.target !== 'cloud' ? undefined : endpoint.api === 'anthropic' ? ups.anthropicKey : ups.openaiKey;
    const inject = key === undefined ? undefined : endpoint.api === 'anthropic' ? ({ header: 'x-api-key', value: key } as const) : ({ header: 'authorization', value: `Bearer ${key}` } as const);
    const restoring = sanitizer !== undefined && sanitizer.mode === 'pseudonymize' ? sanitizer : undefined;

    // A client that goes away aborts the upstream call (and stops paying for tokens).
    const abort = new AbortController();
    res.on('close', () => {
      if (!res.writableFinished) abort.abort();
    });
    const sent = performance.now();
    const upstream = await this.upstreams.request({
      url: target,
      method: req.method ?? 'GET',
      headers: upstreamHeaders(req.headers, { api: endpoint.api, inject, identity: restoring !== undefined, rewrite: sanitizer === undefined ? undefined : (v) => sanitizer.sanitize(v).text }),
      body: outgoing,
      signal: abort.signal,
      timeoutMs: ups.timeoutMs,
    });
    this.metrics.upstreamLatency({ upstream: decision.target === 'local' ? 'ollama' : endpoint.api }, (performance.now() - sent) / 1000);
    labels.status = String(upstream.statusCode ?? 502);
    await this.respond(res, upstream, { endpoint, restoring, requestId, route: decision.target });
  }

  /** Sanitize the body by its API's shape (in slices: other requests run in between); any failure means nothing leaves. */
  private async sanitizeBody(endpoint: Endpoint, body: JsonObject, sanitizer: DomainSanitizer, options: { route: 'local' | 'cloud'; allowBinary: boolean }): Promise<SanitizedRequest> {
    try {
      return await sanitizeRequestBody(endpoint.adapter.request, body, {
        sanitizer,
        cache: this.runtime.caches.get(sanitizer.domain),
        route: options.route,
        allowBinary: options.allowBinary,
        sliceMs: SLICE_MS,
      });
    } catch (err) {
      if (err instanceof GatewayError) throw err;
      this.metrics.sanitizeFailed(sanitizer.domain);
      throw new GatewayError(500, 'sanitize_failed', `sanitizing the request failed, nothing was sent upstream: ${describeError(err)}`, { cause: err });
    }
  }

  private async respond(res: ServerResponse, upstream: IncomingMessage, ctx: { endpoint: Endpoint; restoring: DomainSanitizer | undefined; requestId: string; route: string }): Promise<void> {
    const status = upstream.statusCode ?? 502;
    const streamed = STREAMED.test(String(upstream.headers['content-type'] ?? ''));
    const headers: OutgoingHttpHeaders = {
      ...clientHeaders(upstream.headers, { rewritten: ctx.restoring !== undefined }),
      'x-anklume-request-id': ctx.requestId,
      'x-anklume-route': ctx.route,
    };
    const sanitizer = ctx.restoring;
    if (sanitizer === undefined || streamed) {
      if (streamed) {
        // Proxies between us and the client must not hold events back either.
        headers['cache-control'] ??= 'no-cache';
        headers['x-accel-buffering'] = 'no';
      }
      res.writeHead(status, headers);
      if (streamed) {
        // The client learns the status now, before the first event.
        res.flushHeaders();
        this.metrics.streamStarted();
      }
      try {
        if (sanitizer === undefined) await pipeline(upstream, res);
        else await pipeline(upstream, new CodecTransform(ctx.endpoint.adapter.streamCodec(sanitizer)), res);
      } finally {
        if (streamed) this.metrics.streamEnded();
      }
      return;
    }
    // A whole JSON answer (or an upstream error): bounded, restored as a document.
    const text = await readAnswer(upstream);
    let restored: string;
    try {
      const json = JSON.parse(text) as JsonObject;
      ctx.endpoint.adapter.restoreResponse(json, (t) => sanitizer.restore(t));
      restored = JSON.stringify(json);
    } catch {
      restored = sanitizer.restore(text);
    }
    headers['content-length'] = Buffer.byteLength(restored);
    res.writeHead(status, headers);
    res.end(restored);
  }

  private fail(res: ServerResponse, api: ApiFormat, err: unknown, requestId: string, labels: RequestLabels): void {
    const gwError = err instanceof GatewayError ? err : new GatewayError(502, 'proxy_error', `the gateway could not complete the request: ${describeError(err)}`, { cause: err });
    if (labels.status === '') labels.status = String(gwError.status);
    if (res.headersSent || gwError.status === 499 || res.destroyed) {
      // Mid-stream there is no status left to send: cut the connection so the client sees a failure, not a short answer.
      if (gwError.status !== 499) this.logger.warn({ requestId, err: gwError.message }, 'answer cut');
      res.destroy();
      return;
    }
    if (gwError.status >= 500) this.logger.warn({ requestId, code: gwError.code, err: gwError.message }, 'request failed');
    const extra: OutgoingHttpHeaders = gwError.status === 413 ? { connection: 'close' } : {};
    this.sendJson(res, gwError.status, errorBody(api, gwError, requestId), { 'x-anklume-request-id': requestId, ...extra });
  }

  private sendJson(res: ServerResponse, status: number, body: unknown, headers: OutgoingHttpHeaders = {}): void {
    const text = JSON.stringify(body);
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers });
    res.end(text);
  }

  private health(): unknown {
    const { model, settings, access } = this.runtime;
    return {
      ok: true,
      mode: settings.mode,
      infra: settings.infraPath,
      domains: model.domains.map((d) => ({ name: d.name, enabled: d.enabled, subnet: d.network.subnet, ai_provider: d.aiProvider, ai_sanitize: d.aiSanitize, trust_level: d.trustLevel })),
      sources: settings.sources,
      upstreams: {
        anthropic: settings.upstreams.anthropic,
        openai: settings.upstreams.openai,
        ollama: settings.upstreams.ollama,
        anthropic_key: settings.upstreams.anthropicKey === undefined ? 'client' : 'injected',
        openai_key: settings.upstreams.openaiKey === undefined ? 'client' : 'injected',
      },
      ai_access: access.current(),
      active_streams: this.metrics.activeStreams,
    };
  }
}

function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

function parseJsonObject(raw: Buffer | undefined): JsonObject {
  let data: unknown;
  try {
    data = JSON.parse((raw ?? Buffer.alloc(0)).toString('utf8'));
  } catch (err) {
    throw new GatewayError(400, 'invalid_json', `the request body is not valid JSON: ${describeError(err)}`);
  }
  if (data === null || typeof data !== 'object' || Array.isArray(data)) throw new GatewayError(400, 'invalid_json', 'the request body must be a JSON object');
  return data as JsonObject;
}

async function readAnswer(upstream: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of upstream as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_JSON_ANSWER) {
      upstream.destroy();
      throw new GatewayError(502, 'answer_too_large', `the upstream's answer is over ${MAX_JSON_ANSWER} bytes`);
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, size).toString('utf8');
}
