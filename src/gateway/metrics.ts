import { Counter, Gauge, Histogram, Registry } from 'prom-client';

/**
 * The gateway's Prometheus metrics, on prom-client. Its own registry (never
 * prom-client's default one): src/reconcile declares the operator's, which the
 * gateway may not import (layer rule).
 */

const LATENCY_BUCKETS: readonly number[] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];

/** The gateway's metrics; one instance per server, in its own registry (a new one by default). */
export class GatewayMetrics {
  readonly registry: Registry;
  private readonly requests: Counter<'endpoint' | 'domain' | 'route' | 'status'>;
  private readonly replacements: Counter<'domain' | 'category'>;
  private readonly latency: Histogram<'upstream'>;
  private readonly streams: Gauge;
  private readonly sanitizeErrors: Counter<'domain'>;
  /** Kept beside the gauge because prom-client reads gauges asynchronously, and /health wants it now. */
  private active = 0;

  constructor(registry: Registry = new Registry()) {
    this.registry = registry;
    const registers = [registry];
    this.requests = new Counter({
      name: 'anklume_gateway_requests_total',
      help: 'Requests answered, by endpoint, domain, route and HTTP status',
      labelNames: ['endpoint', 'domain', 'route', 'status'] as const,
      registers,
    });
    this.replacements = new Counter({ name: 'anklume_gateway_replacements_total', help: 'Values replaced in outgoing requests, by domain and category', labelNames: ['domain', 'category'] as const, registers });
    this.latency = new Histogram({
      name: 'anklume_gateway_upstream_latency_seconds',
      help: 'Time from sending a request upstream to its response headers',
      labelNames: ['upstream'] as const,
      buckets: [...LATENCY_BUCKETS],
      registers,
    });
    this.streams = new Gauge({ name: 'anklume_gateway_active_streams', help: 'Answers being passed on to clients right now', registers });
    this.sanitizeErrors = new Counter({ name: 'anklume_gateway_sanitize_failures_total', help: 'Requests refused because sanitizing failed (nothing went upstream)', labelNames: ['domain'] as const, registers });
  }

  request(labels: { readonly endpoint: string; readonly domain: string; readonly route: string; readonly status: string }): void {
    // A fresh object in label order: prom-client keeps the first one it sees for the series' rendering.
    this.requests.inc({ endpoint: labels.endpoint, domain: labels.domain, route: labels.route, status: labels.status });
  }

  replaced(domain: string, category: string, by: number): void {
    this.replacements.inc({ domain, category }, by);
  }

  upstreamLatency(labels: { readonly upstream: string }, seconds: number): void {
    this.latency.observe({ upstream: labels.upstream }, seconds);
  }

  sanitizeFailed(domain: string): void {
    this.sanitizeErrors.inc({ domain });
  }

  streamStarted(): void {
    this.streams.set(++this.active);
  }

  streamEnded(): void {
    this.streams.set(--this.active);
  }

  get activeStreams(): number {
    return this.active;
  }

  /** The text exposition of the registry; serve it with {@link contentType}. */
  render(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
