import type { QueueObserver, QueueSnapshot, RunResult } from './queue.js';

/**
 * A tiny Prometheus registry rendering the text exposition format 0.0.4, with
 * no dependency. https://prometheus.io/docs/instrumenting/exposition_formats/
 * Output mirrors client_golang's so dashboards built for controller-runtime
 * work unchanged: families sorted by name, series sorted by label values,
 * numbers formatted like Go's `strconv.FormatFloat(v, 'g', -1, 64)`.
 */

/** The Content-Type of {@link MetricsRegistry.render}'s output. */
export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

export type Labels<L extends string> = { readonly [K in L]: string };

export interface MetricOptions<L extends string> {
  readonly name: string;
  readonly help: string;
  /** Label names, in the order they are rendered. */
  readonly labelNames?: readonly L[];
}

export interface HistogramOptions<L extends string> extends MetricOptions<L> {
  /** Upper bounds, strictly increasing; `+Inf` is implied. */
  readonly buckets: readonly number[];
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

interface Series<V> {
  readonly values: readonly string[];
  data: V;
}

abstract class Metric<L extends string, V> {
  abstract readonly type: 'counter' | 'gauge' | 'histogram';
  readonly name: string;
  readonly help: string;
  readonly labelNames: readonly L[];
  protected readonly series = new Map<string, Series<V>>();

  constructor(options: MetricOptions<L>) {
    if (!METRIC_NAME.test(options.name)) throw new RangeError(`invalid metric name ${JSON.stringify(options.name)}`);
    const labelNames = options.labelNames ?? [];
    for (const l of labelNames) {
      if (!LABEL_NAME.test(l) || l.startsWith('__')) throw new RangeError(`invalid label name ${JSON.stringify(l)} on ${options.name}`);
    }
    if (new Set(labelNames).size !== labelNames.length) throw new RangeError(`duplicate label name on ${options.name}`);
    this.name = options.name;
    this.help = options.help;
    this.labelNames = labelNames;
  }

  protected abstract zero(): V;

  /** Create the series at zero so it is exposed before its first event. */
  init(labels: Labels<L>): void {
    this.at(labels);
  }

  /** Forget one series (e.g. a kind/condition pair that no longer exists). */
  remove(labels: Labels<L>): void {
    this.series.delete(JSON.stringify(this.valuesOf(labels)));
  }

  /** Forget every series. */
  reset(): void {
    this.series.clear();
    this.initUnlabelled();
  }

  protected initUnlabelled(): void {
    // A metric without labels always has its one series, as in client_golang.
    if (this.labelNames.length === 0) this.series.set('[]', { values: [], data: this.zero() });
  }

  protected at(labels: Labels<L>): Series<V> {
    const values = this.valuesOf(labels);
    const id = JSON.stringify(values);
    let s = this.series.get(id);
    if (s === undefined) {
      s = { values, data: this.zero() };
      this.series.set(id, s);
    }
    return s;
  }

  protected peek(labels: Labels<L>): V | undefined {
    return this.series.get(JSON.stringify(this.valuesOf(labels)))?.data;
  }

  private valuesOf(labels: Labels<L>): string[] {
    const given: Readonly<Record<string, unknown>> = labels;
    const extra = Object.keys(given).filter((k) => !(this.labelNames as readonly string[]).includes(k));
    if (extra.length > 0) throw new RangeError(`${this.name} has no label ${extra.join(', ')}`);
    return this.labelNames.map((l) => {
      const v = given[l];
      if (typeof v !== 'string') throw new RangeError(`${this.name} needs a string value for label ${l}`);
      return v;
    });
  }

  /** Sample lines of this family, series sorted by label values. */
  lines(): string[] {
    const sorted = [...this.series.values()].sort((a, b) => compareValues(a.values, b.values));
    return sorted.flatMap((s) => this.sampleLines(s));
  }

  protected abstract sampleLines(s: Series<V>): string[];

  protected labelText(values: readonly string[], extra?: readonly [string, string]): string {
    const pairs = this.labelNames.map((l, i) => `${l}="${escapeLabelValue(values[i] ?? '')}"`);
    if (extra !== undefined) pairs.push(`${extra[0]}="${escapeLabelValue(extra[1])}"`);
    return pairs.length === 0 ? '' : `{${pairs.join(',')}}`;
  }
}

/** A value that only goes up (resets only when the process restarts). */
export class Counter<L extends string = never> extends Metric<L, { value: number }> {
  readonly type = 'counter';

  constructor(options: MetricOptions<L>) {
    super(options);
    this.initUnlabelled();
  }

  protected zero(): { value: number } {
    return { value: 0 };
  }

  inc(labels: Labels<L>, by = 1): void {
    if (!(by >= 0)) throw new RangeError(`${this.name}: a counter cannot go down (inc by ${by})`);
    this.at(labels).data.value += by;
  }

  get(labels: Labels<L>): number {
    return this.peek(labels)?.value ?? 0;
  }

  protected sampleLines(s: Series<{ value: number }>): string[] {
    return [`${this.name}${this.labelText(s.values)} ${formatValue(s.data.value)}`];
  }
}

/** A value that goes up and down. */
export class Gauge<L extends string = never> extends Metric<L, { value: number }> {
  readonly type = 'gauge';

  constructor(options: MetricOptions<L>) {
    super(options);
    this.initUnlabelled();
  }

  protected zero(): { value: number } {
    return { value: 0 };
  }

  set(labels: Labels<L>, value: number): void {
    this.at(labels).data.value = value;
  }

  inc(labels: Labels<L>, by = 1): void {
    this.at(labels).data.value += by;
  }

  dec(labels: Labels<L>, by = 1): void {
    this.at(labels).data.value -= by;
  }

  get(labels: Labels<L>): number {
    return this.peek(labels)?.value ?? 0;
  }

  protected sampleLines(s: Series<{ value: number }>): string[] {
    return [`${this.name}${this.labelText(s.values)} ${formatValue(s.data.value)}`];
  }
}

interface HistogramData {
  /** Per-bucket (non-cumulative) counts; the last one is `+Inf`. */
  readonly counts: number[];
  sum: number;
  count: number;
}

/** Observations counted into cumulative buckets, with their sum and count. */
export class Histogram<L extends string = never> extends Metric<L, HistogramData> {
  readonly type = 'histogram';
  readonly buckets: readonly number[];

  constructor(options: HistogramOptions<L>) {
    super(options);
    if ((options.labelNames ?? []).some((l) => l === 'le')) throw new RangeError(`${options.name}: "le" is reserved for histogram buckets`);
    const buckets = options.buckets.filter((b) => b !== Infinity);
    for (let i = 0; i < buckets.length; i++) {
      const b = buckets[i] ?? NaN;
      if (Number.isNaN(b) || (i > 0 && !(b > (buckets[i - 1] ?? NaN)))) throw new RangeError(`${options.name}: buckets must be strictly increasing numbers`);
    }
    this.buckets = buckets;
    this.initUnlabelled();
  }

  protected zero(): HistogramData {
    return { counts: new Array<number>(this.buckets.length + 1).fill(0), sum: 0, count: 0 };
  }

  observe(labels: Labels<L>, value: number): void {
    const data = this.at(labels).data;
    // Upper bounds are inclusive: an observation equal to `le` falls in that bucket.
    let i = this.buckets.findIndex((b) => value <= b);
    if (i === -1) i = this.buckets.length;
    data.counts[i] = (data.counts[i] ?? 0) + 1;
    data.sum += value;
    data.count++;
  }

  /** Count and sum of a series (zero if never observed). */
  get(labels: Labels<L>): { readonly count: number; readonly sum: number } {
    const data = this.peek(labels);
    return { count: data?.count ?? 0, sum: data?.sum ?? 0 };
  }

  protected sampleLines(s: Series<HistogramData>): string[] {
    const out: string[] = [];
    let cumulative = 0;
    const bounds = [...this.buckets.map(formatValue), '+Inf'];
    bounds.forEach((le, i) => {
      cumulative += s.data.counts[i] ?? 0;
      out.push(`${this.name}_bucket${this.labelText(s.values, ['le', le])} ${formatValue(cumulative)}`);
    });
    out.push(`${this.name}_sum${this.labelText(s.values)} ${formatValue(s.data.sum)}`);
    out.push(`${this.name}_count${this.labelText(s.values)} ${formatValue(s.data.count)}`);
    return out;
  }
}

type AnyMetric = Counter<string> | Gauge<string> | Histogram<string>;

/**
 * Holds metric families and renders them. Nothing is global: the daemon builds
 * one registry and passes it to what records into it.
 */
export class MetricsRegistry {
  private readonly metrics = new Map<string, AnyMetric>();
  private readonly collectors = new Set<() => void>();
  private readonly sampleNames = new Set<string>();

  counter<L extends string = never>(options: MetricOptions<L>): Counter<L> {
    return this.register(new Counter(options));
  }

  gauge<L extends string = never>(options: MetricOptions<L>): Gauge<L> {
    return this.register(new Gauge(options));
  }

  histogram<L extends string = never>(options: HistogramOptions<L>): Histogram<L> {
    return this.register(new Histogram(options));
  }

  /**
   * Run `collect` before every render, to set values computed at scrape time
   * (queue depth, how long the oldest run has been going). Returns the unregister function.
   */
  onCollect(collect: () => void): () => void {
    this.collectors.add(collect);
    return () => {
      this.collectors.delete(collect);
    };
  }

  /** The text exposition: `# HELP`, `# TYPE` and samples of every family that has a series. */
  render(): string {
    for (const collect of this.collectors) collect();
    const names = [...this.metrics.keys()].sort();
    let out = '';
    for (const name of names) {
      const metric = this.metrics.get(name);
      if (metric === undefined) continue;
      const lines = metric.lines();
      // client_golang leaves out families with no series; so do we.
      if (lines.length === 0) continue;
      out += `# HELP ${name} ${escapeHelp(metric.help)}\n# TYPE ${name} ${metric.type}\n${lines.join('\n')}\n`;
    }
    return out;
  }

  private register<M extends AnyMetric>(metric: M): M {
    // A histogram's samples are named name_bucket, _sum and _count: those names are taken too.
    const names = metric.type === 'histogram' ? ['', '_bucket', '_sum', '_count'].map((s) => metric.name + s) : [metric.name];
    if (names.some((n) => this.sampleNames.has(n))) throw new RangeError(`metric ${metric.name} is already registered`);
    for (const n of names) this.sampleNames.add(n);
    this.metrics.set(metric.name, metric);
    return metric;
  }
}

/** Label values escape `\`, `"` and newline (exposition format 0.0.4). */
export function escapeLabelValue(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

/** HELP text escapes `\` and newline only. */
function escapeHelp(help: string): string {
  return help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

/**
 * A sample value or bucket bound as client_golang writes it (Go's shortest
 * `%g`): exponent form below 1e-4 and from 1e6 up (`1e-08`, `2.4576e+07`),
 * plain decimals between, `+Inf`, `-Inf`, `NaN`. Matching it keeps `le` labels
 * identical to controller-runtime's.
 */
export function formatValue(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Infinity) return '+Inf';
  if (value === -Infinity) return '-Inf';
  if (value === 0) return '0';
  // toExponential() without digits gives the shortest round-tripping mantissa.
  const [mantissa = '', expText = '0'] = value.toExponential().split('e');
  const exp = Number(expText);
  if (exp >= -4 && exp < 6) return String(value);
  const magnitude = Math.abs(exp).toString().padStart(2, '0');
  return `${mantissa}e${exp < 0 ? '-' : '+'}${magnitude}`;
}

function compareValues(a: readonly string[], b: readonly string[]): number {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const x = a[i] ?? '';
    const y = b[i] ?? '';
    if (x !== y) return x < y ? -1 : 1;
  }
  return 0;
}

// ---------------------------------------------------------------------------
// The operator's metrics, named as controller-runtime names them.

/** controller-runtime's `controller_runtime_reconcile_time_seconds` buckets. */
export const RECONCILE_TIME_BUCKETS: readonly number[] = [
  0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6, 0.7, 0.8, 0.9, 1, 1.25, 1.5, 1.75, 2, 2.5, 3, 3.5, 4, 4.5, 5,
  6, 7, 8, 9, 10, 15, 20, 25, 30, 40, 50, 60,
];

/** client-go's workqueue duration buckets: ExponentialBuckets(10e-9, 10, 12), written out to avoid float drift. */
export const WORKQUEUE_DURATION_BUCKETS: readonly number[] = [1e-8, 1e-7, 1e-6, 1e-5, 1e-4, 1e-3, 0.01, 0.1, 1, 10, 100, 1000];

export const RECONCILE_RESULTS: readonly RunResult[] = ['success', 'error', 'requeue'];

export interface OperatorMetrics {
  readonly registry: MetricsRegistry;
  readonly reconcileTotal: Counter<'controller' | 'result'>;
  readonly reconcileErrors: Counter<'controller'>;
  readonly reconcileTime: Histogram<'controller'>;
  readonly activeWorkers: Gauge<'controller'>;
  readonly maxConcurrentReconciles: Gauge<'controller'>;
  readonly workqueueDepth: Gauge<'name'>;
  readonly workqueueAdds: Counter<'name'>;
  readonly workqueueRetries: Counter<'name'>;
  readonly workqueueQueueDuration: Histogram<'name'>;
  readonly workqueueWorkDuration: Histogram<'name'>;
  readonly workqueueUnfinishedWork: Gauge<'name'>;
  readonly workqueueLongestRunningProcessor: Gauge<'name'>;
  readonly configValid: Gauge;
  readonly incusEventsConnected: Gauge;
  readonly objects: Gauge<'kind' | 'condition'>;

  /** Count one reconcile of `controller` and its duration. */
  recordReconcile(options: { readonly controller: string; readonly result: RunResult; readonly seconds: number }): void;
  /** Whether the last infra.yml read validated (the daemon keeps the last valid one otherwise). */
  setConfigValid(valid: boolean): void;
  /** Whether the Incus event stream is connected. */
  setIncusEventsConnected(connected: boolean): void;
  /** Replace all `anklume_objects` series with these counts (pairs not listed disappear). */
  setObjects(counts: Iterable<{ readonly kind: string; readonly condition: string; readonly count: number }>): void;
}

/** Declare the operator's metrics in `registry`. */
export function operatorMetrics(registry: MetricsRegistry): OperatorMetrics {
  const controller = ['controller'] as const;
  const name = ['name'] as const;
  const m = {
    registry,
    reconcileTotal: registry.counter({ name: 'controller_runtime_reconcile_total', help: 'Total number of reconciliations per controller', labelNames: ['controller', 'result'] as const }),
    reconcileErrors: registry.counter({ name: 'controller_runtime_reconcile_errors_total', help: 'Total number of reconciliation errors per controller', labelNames: controller }),
    reconcileTime: registry.histogram({ name: 'controller_runtime_reconcile_time_seconds', help: 'Length of time per reconciliation per controller', labelNames: controller, buckets: RECONCILE_TIME_BUCKETS }),
    activeWorkers: registry.gauge({ name: 'controller_runtime_active_workers', help: 'Number of currently used workers per controller', labelNames: controller }),
    maxConcurrentReconciles: registry.gauge({ name: 'controller_runtime_max_concurrent_reconciles', help: 'Maximum number of concurrent reconciles per controller', labelNames: controller }),
    workqueueDepth: registry.gauge({ name: 'workqueue_depth', help: 'Current depth of workqueue', labelNames: name }),
    workqueueAdds: registry.counter({ name: 'workqueue_adds_total', help: 'Total number of adds handled by workqueue', labelNames: name }),
    workqueueRetries: registry.counter({ name: 'workqueue_retries_total', help: 'Total number of retries handled by workqueue', labelNames: name }),
    workqueueQueueDuration: registry.histogram({
      name: 'workqueue_queue_duration_seconds',
      help: 'How long in seconds an item stays in workqueue before being requested',
      labelNames: name,
      buckets: WORKQUEUE_DURATION_BUCKETS,
    }),
    workqueueWorkDuration: registry.histogram({
      name: 'workqueue_work_duration_seconds',
      help: 'How long in seconds processing an item from workqueue takes.',
      labelNames: name,
      buckets: WORKQUEUE_DURATION_BUCKETS,
    }),
    workqueueUnfinishedWork: registry.gauge({
      name: 'workqueue_unfinished_work_seconds',
      help: "How many seconds of work has been done that is in progress and hasn't been observed by work_duration. Large values indicate stuck threads.",
      labelNames: name,
    }),
    workqueueLongestRunningProcessor: registry.gauge({
      name: 'workqueue_longest_running_processor_seconds',
      help: 'How many seconds has the longest running processor for workqueue been running.',
      labelNames: name,
    }),
    configValid: registry.gauge({ name: 'anklume_config_valid', help: 'Whether the last read of infra.yml was valid (1) or rejected (0)' }),
    incusEventsConnected: registry.gauge({ name: 'anklume_incus_events_connected', help: 'Whether the Incus event stream is connected (1) or not (0)' }),
    objects: registry.gauge({ name: 'anklume_objects', help: 'Managed objects per kind and condition', labelNames: ['kind', 'condition'] as const }),
  };
  return {
    ...m,
    recordReconcile({ controller: c, result, seconds }) {
      m.reconcileTotal.inc({ controller: c, result });
      if (result === 'error') m.reconcileErrors.inc({ controller: c });
      m.reconcileTime.observe({ controller: c }, seconds);
    },
    setConfigValid(valid) {
      m.configValid.set({}, valid ? 1 : 0);
    },
    setIncusEventsConnected(connected) {
      m.incusEventsConnected.set({}, connected ? 1 : 0);
    },
    setObjects(counts) {
      m.objects.reset();
      for (const { kind, condition, count } of counts) m.objects.set({ kind, condition }, count);
    },
  };
}

/** What {@link instrumentQueue} needs of a work queue. */
export interface InstrumentableQueue {
  addObserver(observer: QueueObserver): () => void;
  snapshot(): QueueSnapshot;
}

export interface InstrumentOptions {
  /** The `name` label of the workqueue_* series. */
  readonly name: string;
  /** The `controller` label of the controller_runtime_* series (default: `name`). */
  readonly controller?: string;
}

/**
 * Record a work queue's activity into the operator metrics: counters and
 * histograms through the queue's hooks, gauges from a snapshot at scrape time.
 * Every series exists (at zero) from here on. Returns the function that detaches it.
 */
export function instrumentQueue(queue: InstrumentableQueue, metrics: OperatorMetrics, options: InstrumentOptions): () => void {
  const q = { name: options.name };
  const c = { controller: options.controller ?? options.name };
  for (const result of RECONCILE_RESULTS) metrics.reconcileTotal.init({ ...c, result });
  metrics.reconcileErrors.init(c);
  metrics.reconcileTime.init(c);
  metrics.activeWorkers.init(c);
  metrics.maxConcurrentReconciles.init(c);
  metrics.workqueueDepth.init(q);
  metrics.workqueueAdds.init(q);
  metrics.workqueueRetries.init(q);
  metrics.workqueueQueueDuration.init(q);
  metrics.workqueueWorkDuration.init(q);
  metrics.workqueueUnfinishedWork.init(q);
  metrics.workqueueLongestRunningProcessor.init(q);

  const detachObserver = queue.addObserver({
    onAdd: () => metrics.workqueueAdds.inc(q),
    onRetry: () => metrics.workqueueRetries.inc(q),
    onStart: ({ waitMs }) => metrics.workqueueQueueDuration.observe(q, waitMs / 1000),
    onDone: ({ result, durationMs }) => {
      metrics.workqueueWorkDuration.observe(q, durationMs / 1000);
      metrics.recordReconcile({ ...c, result, seconds: durationMs / 1000 });
    },
  });
  const detachCollect = metrics.registry.onCollect(() => {
    const s = queue.snapshot();
    metrics.workqueueDepth.set(q, s.waiting.length + s.running.filter((r) => r.rerun).length);
    metrics.activeWorkers.set(c, s.running.length);
    metrics.maxConcurrentReconciles.set(c, s.concurrency);
    const runningMs = s.running.map((r) => r.runningMs);
    metrics.workqueueUnfinishedWork.set(q, runningMs.reduce((a, b) => a + b, 0) / 1000);
    metrics.workqueueLongestRunningProcessor.set(q, Math.max(0, ...runningMs) / 1000);
  });
  return () => {
    detachObserver();
    detachCollect();
  };
}
