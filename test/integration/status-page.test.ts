import { createServer, request, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { StatusDocument } from '../../src/controllers/status.js';
import { startMetricsServer } from '../../src/daemon/metrics-server.js';
import type { StatusSource } from '../../src/daemon/web/live.js';
import { createStatusPage, startStatusPageServer, type StatusPage } from '../../src/daemon/web/page-server.js';
import { GatewayMetrics } from '../../src/gateway/metrics.js';
import { MetricsRegistry, operatorMetrics } from '../../src/reconcile/metrics.js';
import { createLogger } from '../../src/shared/logger.js';
import { waitFor } from '../helpers/incus.js';
import { conditionsOf, domain, instance, statusDoc } from '../helpers/status-doc.js';
import { CLOSED_LOOPBACK_URL } from '../helpers/closed-port.js';

const logger = createLogger({ name: 'test', level: 'silent', pretty: false });

/** A status source the test feeds: set a document, then tell the page (as the daemon does on each run). */
class FedSource implements StatusSource {
  private listeners = new Set<() => void>();
  constructor(public doc: StatusDocument) {}
  status(): StatusDocument {
    return this.doc;
  }
  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
  set(doc: StatusDocument): void {
    this.doc = doc;
    for (const l of this.listeners) l();
  }
  get watchers(): number {
    return this.listeners.size;
  }
}

const running = (state: string): StatusDocument =>
  statusDoc([domain('pro', [instance('pro', 'pro-dev', '10.110.1.1', state, state === 'Running' ? conditionsOf('ready', 'UpToDate', 'ok') : conditionsOf('progressing', 'Applying', 'start: instance stopped'))]), domain('perso', [])]);

const cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

function close(server: Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

async function servePage(options: { source: FedSource; maxClients?: number; sanitizerUrl?: string | null }): Promise<{ base: string; page: StatusPage }> {
  const page = createStatusPage({ source: options.source, sanitizerMetricsUrl: () => options.sanitizerUrl ?? null, logger, loopbackOnly: true, ...(options.maxClients === undefined ? {} : { maxClients: options.maxClients }), heartbeatMs: 50 });
  const server = await startStatusPageServer({ address: { host: '127.0.0.1', port: 0 }, page, logger });
  cleanup.push(() => close(server), () => page.close());
  return { base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, page };
}

/** An open event stream: the events so far, parsed, and the comments (heartbeats) seen. */
interface Stream {
  readonly res: IncomingMessage;
  readonly events: { event: string; data: string }[];
  comments: number;
  close(): void;
}

function openStream(url: string): Promise<Stream> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers: { accept: 'text/event-stream' } }, (res) => {
      const stream: Stream = { res, events: [], comments: 0, close: () => req.destroy() };
      let buffer = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        buffer += chunk;
        let end: number;
        while ((end = buffer.indexOf('\n\n')) !== -1) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          if (block.startsWith(':')) stream.comments++;
          const event = /^event: (.*)$/m.exec(block)?.[1];
          if (event !== undefined) stream.events.push({ event, data: [...block.matchAll(/^data: (.*)$/gm)].map((m) => m[1]).join('\n') });
        }
      });
      res.on('error', () => undefined);
      resolve(stream);
    });
    req.on('error', reject);
    req.end();
  });
}

describe('the status page over HTTP', () => {
  it('serves the page with a nonce CSP, no caching, no sniffing; the document as JSON', async () => {
    const source = new FedSource(running('Running'));
    const { base } = await servePage({ source });
    const res = await fetch(`${base}/`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    const csp = res.headers.get('content-security-policy') ?? '';
    const nonce = /script-src 'nonce-([^']+)'/.exec(csp)?.[1];
    expect(nonce).toBeDefined();
    expect(csp).toContain("default-src 'none'");
    const body = await res.text();
    expect(body).toContain(`<script nonce="${nonce}">`);
    expect(body).toContain('data-instance="pro/pro-dev"');
    // A new nonce per answer.
    const again = (await fetch(`${base}/`)).headers.get('content-security-policy');
    expect(again).not.toBe(csp);

    const json = await fetch(`${base}/status.json`);
    expect(json.headers.get('content-type')).toBe('application/json');
    expect(await json.json()).toEqual(source.doc);
  });

  it('refuses every method but GET and HEAD with 405, and changes nothing', async () => {
    const source = new FedSource(running('Running'));
    const { base } = await servePage({ source });
    for (const [method, path] of [['POST', '/'], ['PUT', '/status.json'], ['DELETE', '/events'], ['PATCH', '/index.html']] as const) {
      const res = await fetch(`${base}${path}`, { method, body: method === 'DELETE' ? null : '{}' });
      expect(res.status, `${method} ${path}`).toBe(405);
      expect(res.headers.get('allow')).toBe('GET, HEAD');
    }
    expect((await fetch(`${base}/`, { method: 'HEAD' })).status).toBe(200);
    expect((await fetch(`${base}/nothing-here`)).status).toBe(404);
    expect(source.watchers).toBe(0);
  });

  it('answers only to a loopback Host when bound to loopback (no DNS rebinding)', async () => {
    const { base } = await servePage({ source: new FedSource(running('Running')) });
    const status = (host: string): Promise<number> =>
      new Promise((resolve, reject) => {
        const req = request(`${base}/status.json`, { headers: { host } }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        });
        req.on('error', reject);
        req.end();
      });
    expect(await status('evil.example:80')).toBe(403);
    expect(await status('localhost:1234')).toBe(200);
    expect(await status('[::1]:1234')).toBe(200);
  });

  it('pushes the new fragment when the status changes, only when it changes, and heartbeats', async () => {
    const source = new FedSource(running('Running'));
    const { base } = await servePage({ source });
    const stream = await openStream(`${base}/events`);
    expect(stream.res.headers['content-type']).toBe('text/event-stream; charset=utf-8');
    const first = await waitFor('the first event', () => Promise.resolve(stream.events[0]), { intervalMs: 20 });
    expect(first.event).toBe('status');
    expect(first.data).toContain('state-running');

    // A signal without a change (only the time moved) sends nothing: four heartbeats later (50 ms each,
    // past the 100 ms throttle) there is still one event; the next one is the real change.
    source.set({ ...source.doc, generatedAt: '2026-12-05T05:00:00.000Z' });
    const beats = stream.comments;
    await waitFor('four heartbeats', () => Promise.resolve(stream.comments >= beats + 4 ? true : undefined), { intervalMs: 20 });
    expect(stream.events).toHaveLength(1);
    source.set(running('Stopped'));
    const second = await waitFor('the change to be pushed', () => Promise.resolve(stream.events[1]), { intervalMs: 20 });
    expect(second.data).toContain('<span class="state state-stopped">Stopped</span>');
    expect(second.data).toContain('Applying: start: instance stopped');
    source.set(running('Running'));
    const third = await waitFor('the next change', () => Promise.resolve(stream.events[2]), { intervalMs: 20 });
    expect(third.data).toContain('state-running');
        stream.close();
    await waitFor('the page to stop watching', () => Promise.resolve(source.watchers === 0 ? true : undefined), { intervalMs: 20 });
  });

  it('bounds its event streams: past the limit 503, room again once one closes', async () => {
    const source = new FedSource(running('Running'));
    const { base } = await servePage({ source, maxClients: 2 });
    const [a, b] = [await openStream(`${base}/events`), await openStream(`${base}/events`)];
    await waitFor('both streams', () => Promise.resolve(a.events.length > 0 && b.events.length > 0 ? true : undefined), { intervalMs: 20 });
    const refused = await fetch(`${base}/events`);
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toBe('10');
    a.close();
    const c = await waitFor('a stream to be accepted again', async () => {
      const s = await openStream(`${base}/events`);
      if (s.res.statusCode === 200) return s;
      s.close();
      return undefined;
    }, { intervalMs: 50 });
    b.close();
    c.close();
  });

  it('ends its streams on close and takes no new one, so the server can close', async () => {
    const source = new FedSource(running('Running'));
    const page = createStatusPage({ source, sanitizerMetricsUrl: () => null, logger, loopbackOnly: true });
    const server = await startStatusPageServer({ address: { host: '127.0.0.1', port: 0 }, page, logger });
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const stream = await openStream(`${base}/events`);
    const ended = new Promise<void>((resolve) => stream.res.on('end', resolve));
    page.close();
    await ended;
    expect((await fetch(`${base}/events`)).status).toBe(503);
    expect(source.watchers).toBe(0);
    await close(server);
  });

  it("shows the sanitizer's counters from its /metrics, and why when it does not answer", async () => {
    const gateway = new GatewayMetrics();
    gateway.request({ endpoint: 'anthropic.messages', domain: 'pro', route: 'cloud', status: '200' });
    gateway.replaced('pro', 'ip', 3);
    const fake = createServer((_req, res) => void gateway.render().then((body) => res.writeHead(200, { 'content-type': gateway.contentType }).end(body)));
    await new Promise<void>((resolve) => fake.listen(0, '127.0.0.1', resolve));
    cleanup.push(() => close(fake));
    const url = `http://127.0.0.1:${(fake.address() as AddressInfo).port}/metrics`;
    const { base } = await servePage({ source: new FedSource(running('Running')), sanitizerUrl: url });
    const page = await (await fetch(`${base}/`)).text();
    expect(page).toContain('<section id="sanitizer" data-state="ok">');
    expect(page).toContain('data-counter="requests">1<');
    expect(page).toContain('data-counter="replacements">3<');

    const closed = await servePage({ source: new FedSource(running('Running')), sanitizerUrl: `${CLOSED_LOOPBACK_URL}/metrics` });
    const down = await (await fetch(`${closed.base}/`)).text();
    expect(down).toContain('<section id="sanitizer" data-state="unavailable">');
    expect(down).toContain('ECONNREFUSED');
  });

  it('is served beside /metrics on the metrics address', async () => {
    const source = new FedSource(running('Running'));
    const page = createStatusPage({ source, sanitizerMetricsUrl: () => null, logger, loopbackOnly: true });
    const server = await startMetricsServer({ address: { host: '127.0.0.1', port: 0 }, metrics: operatorMetrics(new MetricsRegistry()), logger, objects: () => source.doc.domains, page });
    cleanup.push(() => close(server), () => page.close());
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    expect(await (await fetch(`${base}/metrics`)).text()).toContain('anklume_objects');
    expect(await (await fetch(`${base}/`)).text()).toContain('data-domain="perso"');
    expect((await fetch(`${base}/`, { method: 'POST' })).status).toBe(405);
  });
});
