/**
 * The sanitizer's main counters, read from the Prometheus text that
 * anklume-sanitizer serves at /metrics (src/gateway/metrics.ts names them) to
 * the host. Parsing is pure; reading is bounded (one request at a time, a
 * timeout, a body cap) and cached, so a page full of clients costs the
 * gateway at most one scrape per period.
 */

/** The gateway's metric names (src/gateway/metrics.ts); the daemon may not import the gateway. */
const METRIC = {
  requests: 'anklume_gateway_requests_total',
  replacements: 'anklume_gateway_replacements_total',
  sanitizeFailures: 'anklume_gateway_sanitize_failures_total',
  activeStreams: 'anklume_gateway_active_streams',
} as const;

/** Rows kept per breakdown: the page stays small whatever the gateway has seen. */
const MAX_ROWS = 20;

export interface Count {
  readonly name: string;
  readonly count: number;
}

export interface SanitizerCounters {
  readonly requests: number;
  /** Requests answered with a 4xx or 5xx status (refusals included). */
  readonly failedRequests: number;
  readonly requestsByRoute: readonly Count[];
  readonly replacements: number;
  readonly replacementsByCategory: readonly Count[];
  readonly byDomain: readonly { readonly domain: string; readonly requests: number; readonly replacements: number }[];
  /** Requests refused because sanitizing failed (nothing went upstream). */
  readonly sanitizeFailures: number;
  readonly activeStreams: number;
}

/** What the page says of the sanitizer. */
export type SanitizerView =
  | { readonly state: 'none' }
  | { readonly state: 'pending'; readonly url: string }
  | { readonly state: 'ok'; readonly url: string; readonly readAt: string; readonly counters: SanitizerCounters }
  | { readonly state: 'unavailable'; readonly url: string; readonly readAt: string; readonly reason: string };

interface Sample {
  readonly name: string;
  readonly labels: ReadonlyMap<string, string>;
  readonly value: number;
}

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/;
// Label values are quoted with \\, \" and \n escapes (the exposition format); the alternation is disjoint, so linear.
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

function unescapeLabel(value: string): string {
  return value.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
}

/** The samples of the metrics we show (pure; other lines are skipped). */
export function parseSamples(text: string): Sample[] {
  const wanted = new Set<string>(Object.values(METRIC));
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const m = SAMPLE.exec(line);
    if (m === null || !wanted.has(m[1] ?? '')) continue;
    const labels = new Map<string, string>();
    for (const l of (m[2] ?? '').matchAll(LABEL)) labels.set(l[1] ?? '', unescapeLabel(l[2] ?? ''));
    const value = Number(m[3]);
    if (Number.isFinite(value)) samples.push({ name: m[1] ?? '', labels, value });
  }
  return samples;
}

function top(counts: ReadonlyMap<string, number>): Count[] {
  return [...counts].map(([name, count]) => ({ name, count })).sort((a, b) => b.count - a.count || a.name.localeCompare(b.name)).slice(0, MAX_ROWS);
}

/** The counters the page shows, from the gateway's Prometheus text (pure). */
export function summarize(text: string): SanitizerCounters {
  let requests = 0;
  let failedRequests = 0;
  let replacements = 0;
  let sanitizeFailures = 0;
  let activeStreams = 0;
  const byRoute = new Map<string, number>();
  const byCategory = new Map<string, number>();
  const domains = new Map<string, { requests: number; replacements: number }>();
  const domain = (name: string): { requests: number; replacements: number } => {
    const d = domains.get(name) ?? { requests: 0, replacements: 0 };
    domains.set(name, d);
    return d;
  };
  const add = (map: Map<string, number>, key: string, by: number): void => void map.set(key, (map.get(key) ?? 0) + by);
  for (const s of parseSamples(text)) {
    if (s.name === METRIC.requests) {
      requests += s.value;
      if (Number(s.labels.get('status')) >= 400) failedRequests += s.value;
      add(byRoute, s.labels.get('route') ?? '?', s.value);
      domain(s.labels.get('domain') ?? '?').requests += s.value;
    } else if (s.name === METRIC.replacements) {
      replacements += s.value;
      add(byCategory, s.labels.get('category') ?? '?', s.value);
      domain(s.labels.get('domain') ?? '?').replacements += s.value;
    } else if (s.name === METRIC.sanitizeFailures) sanitizeFailures += s.value;
    else activeStreams += s.value;
  }
  const byDomain = [...domains].map(([name, d]) => ({ domain: name, ...d })).sort((a, b) => b.requests - a.requests || a.domain.localeCompare(b.domain)).slice(0, MAX_ROWS);
  return { requests, failedRequests, requestsByRoute: top(byRoute), replacements, replacementsByCategory: top(byCategory), byDomain, sanitizeFailures, activeStreams };
}

export interface SanitizerReaderOptions {
  /** The gateway's metrics URL from infra.yml, or null when infra.yml deploys no sanitizer. */
  readonly url: () => string | null;
  /** How long a reading is kept before the next request (default 10 s). */
  readonly ttlMs?: number;
  /** How long the gateway may take to answer (default 2 s). */
  readonly timeoutMs?: number;
  /** Largest body read (default 1 MiB). */
  readonly maxBytes?: number;
  readonly now?: () => number;
}

/** Why a request failed, in a few words. */
function reasonOf(err: unknown, timeoutMs: number): string {
  if (err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError')) return `no answer within ${timeoutMs / 1000} s`;
  const cause = err instanceof Error ? (err.cause as { code?: unknown; message?: unknown } | undefined) : undefined;
  if (typeof cause?.code === 'string') return `${cause.code}${typeof cause.message === 'string' ? ` (${cause.message})` : ''}`;
  return err instanceof Error ? err.message : String(err);
}

async function readCapped(res: Response, maxBytes: number): Promise<string> {
  const declared = Number(res.headers.get('content-length'));
  if (declared > maxBytes) throw new Error(`answer larger than ${maxBytes} bytes`);
  const reader = (res.body as ReadableStream<Uint8Array> | null)?.getReader();
  if (reader === undefined) return '';
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > maxBytes) {
      await reader.cancel();
      throw new Error(`answer larger than ${maxBytes} bytes`);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** Reads the gateway's counters: at most one request in flight, none while the last reading is fresh. */
export class SanitizerMetricsReader {
  private view: SanitizerView = { state: 'none' };
  private readAt = -Infinity;
  private inFlight: Promise<SanitizerView> | undefined;
  private readonly ttlMs: number;
  private readonly timeoutMs: number;
  private readonly maxBytes: number;
  private readonly now: () => number;

  constructor(private readonly options: SanitizerReaderOptions) {
    this.ttlMs = options.ttlMs ?? 10_000;
    this.timeoutMs = options.timeoutMs ?? 2_000;
    this.maxBytes = options.maxBytes ?? 1024 * 1024;
    this.now = options.now ?? Date.now;
  }

  /** The last reading, without I/O ('pending' until the first one for this URL ends). */
  current(): SanitizerView {
    const url = this.options.url();
    if (url === null) return { state: 'none' };
    return this.view.state !== 'none' && this.view.url === url ? this.view : { state: 'pending', url };
  }

  /** A reading no older than the TTL: the cached one, the one in flight, or a new request. */
  refresh(): Promise<SanitizerView> {
    const url = this.options.url();
    if (url === null) return Promise.resolve((this.view = { state: 'none' }));
    const cached = this.current();
    if (cached.state !== 'pending' && this.now() - this.readAt < this.ttlMs) return Promise.resolve(cached);
    this.inFlight ??= this.read(url).finally(() => (this.inFlight = undefined));
    return this.inFlight;
  }

  private async read(url: string): Promise<SanitizerView> {
    const readAt = new Date(this.now()).toISOString();
    let view: SanitizerView;
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(this.timeoutMs), redirect: 'error' });
      const text = await readCapped(res, this.maxBytes);
      view = res.ok ? { state: 'ok', url, readAt, counters: summarize(text) } : { state: 'unavailable', url, readAt, reason: `HTTP ${res.status}: ${text.split('\n')[0]?.slice(0, 200) ?? ''}` };
    } catch (err) {
      view = { state: 'unavailable', url, readAt, reason: reasonOf(err, this.timeoutMs) };
    }
    this.view = view;
    this.readAt = this.now();
    return view;
  }
}
