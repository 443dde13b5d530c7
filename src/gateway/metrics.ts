/**
 * The gateway's Prometheus metrics, text exposition format 0.0.4
 * (https://prometheus.io/docs/instrumenting/exposition_formats/). Its own
 * small registry: src/reconcile has one too, but the gateway may not import it
 * (layer rule), and this needs only labelled counters, a gauge and a histogram.
 */

export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

type LabelValues = Readonly<Record<string, string>>;

function labelText(labels: LabelValues, extra?: string): string {
  const pairs = Object.entries(labels).map(([k, v]) => `${k}="${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`);
  if (extra !== undefined) pairs.push(extra);
  return pairs.length === 0 ? '' : `{${pairs.join(',')}}`;
}

class Family {
  readonly series = new Map<string, { labels: LabelValues; value: number; buckets?: number[]; sum?: number }>();

  constructor(
    readonly name: string,
    readonly help: string,
    readonly type: 'counter' | 'gauge' | 'histogram',
    readonly bounds: readonly number[] = [],
  ) {}

  at(labels: LabelValues): { labels: LabelValues; value: number; buckets?: number[]; sum?: number } {
    const key = JSON.stringify(labels);
    let s = this.series.get(key);
    if (s === undefined) {
      s = this.type === 'histogram' ? { labels, value: 0, buckets: this.bounds.map(() => 0), sum: 0 } : { labels, value: 0 };
      this.series.set(key, s);
    }
    return s;
  }

  render(): string {
    if (this.series.size === 0) return '';
    let out = `# HELP ${this.name} ${this.help}\n# TYPE ${this.name} ${this.type}\n`;
    const sorted = [...this.series.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    for (const [, s] of sorted) {
      if (this.type !== 'histogram') {
        out += `${this.name}${labelText(s.labels)} ${s.value}\n`;
        continue;
      }
      this.bounds.forEach((b, i) => {
        out += `${this.name}_bucket${labelText(s.labels, `le="${b}"`)} ${s.buckets?.[i] ?? 0}\n`;
      });
      out += `${this.name}_bucket${labelText(s.labels, 'le="+Inf"')} ${s.value}\n`;
      out += `${this.name}_sum${labelText(s.labels)} ${s.sum ?? 0}\n${this.name}_count${labelText(s.labels)} ${s.value}\n`;
    }
    return out;
  }
}

const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];

/** The gateway's metrics; one instance per server, nothing global. */
export class GatewayMetrics {
  private readonly requests = new Family('anklume_gateway_requests_total', 'Requests answered, by endpoint, domain, route and HTTP status', 'counter');
  private readonly replacements = new Family('anklume_gateway_replacements_total', 'Values replaced in outgoing requests, by domain and category', 'counter');
  private readonly latency = new Family('anklume_gateway_upstream_latency_seconds', 'Time from sending a request upstream to its response headers', 'histogram', LATENCY_BUCKETS);
  private readonly streams = new Family('anklume_gateway_active_streams', 'Answers being passed on to clients right now', 'gauge');
  private readonly sanitizeErrors = new Family('anklume_gateway_sanitize_failures_total', 'Requests refused because sanitizing failed (nothing went upstream)', 'counter');

  constructor() {
    this.streams.at({});
  }

  request(labels: { endpoint: string; domain: string; route: string; status: string }): void {
    this.requests.at(labels).value++;
  }

  replaced(domain: string, category: string, by: number): void {
    this.replacements.at({ domain, category }).value += by;
  }

  upstreamLatency(labels: { upstream: string }, seconds: number): void {
    const s = this.latency.at(labels);
    s.value++;
    s.sum = (s.sum ?? 0) + seconds;
    this.latency.bounds.forEach((b, i) => {
      if (seconds <= b && s.buckets !== undefined) s.buckets[i] = (s.buckets[i] ?? 0) + 1;
    });
  }

  sanitizeFailed(domain: string): void {
    this.sanitizeErrors.at({ domain }).value++;
  }

  streamStarted(): void {
    this.streams.at({}).value++;
  }

  streamEnded(): void {
    this.streams.at({}).value--;
  }

  get activeStreams(): number {
    return this.streams.at({}).value;
  }

  render(): string {
    return [this.requests, this.replacements, this.latency, this.streams, this.sanitizeErrors].map((f) => f.render()).join('');
  }
}
