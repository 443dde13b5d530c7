import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { QueueObserver, QueueSnapshot, RunResult } from './queue.js';

/**
 * The operator's Prometheus metrics, on prom-client, named as controller-runtime
 * names them so dashboards built for Kubernetes operators work unchanged.
 * Nothing is global: every metric registers in the registry it is given
 * (never prom-client's default one), so a process or a test can hold many.
 */

/**
 * prom-client's registry, under the name callers already use. Render with
 * `await registry.metrics()`, served with `registry.contentType`.
 */
export { Registry as MetricsRegistry } from 'prom-client';

/** The Content-Type of a registry's text exposition (format 0.0.4), i.e. a new `Registry`'s `contentType`. */
export const PROMETHEUS_CONTENT_TYPE = Registry.PROMETHEUS_CONTENT_TYPE;

/** controller-runtime's `controller_runtime_reconcile_time_seconds` buckets. */
export const RECONCILE_TIME_BUCKETS: readonly number[] = [
  0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6, 0.7, 0.8, 0.9, 1, 1.25, 1.5, 1.75, 2, 2.5, 3, 3.5, 4, 4.5, 5,
  6, 7, 8, 9, 10, 15, 20, 25, 30, 40, 50, 60,
];

/**
 * client-go's workqueue duration buckets: ExponentialBuckets(10e-9, 10, 12),
 * written out to avoid float drift. prom-client writes the small bounds the
 * JavaScript way (`le="1e-8"` where Go writes `1e-08`); Prometheus parses `le`
 * as a number (and Prometheus 3 normalises it on ingestion), so queries match.
 */
export const WORKQUEUE_DURATION_BUCKETS: readonly number[] = [1e-8, 1e-7, 1e-6, 1e-5, 1e-4, 1e-3, 0.01, 0.1, 1, 10, 100, 1000];

export const RECONCILE_RESULTS: readonly RunResult[] = ['success', 'error', 'requeue'];

/** What {@link instrumentQueue} needs of a work queue. */
export interface InstrumentableQueue {
  addObserver(observer: QueueObserver): () => void;
  snapshot(): QueueSnapshot;
}

/** The labels one work queue's series carry. */
export interface QueueLabels {
  /** The `name` label of the workqueue_* series; one per queue. */
  readonly name: string;
  /** The `controller` label of the controller_runtime_* series; one per queue. */
  readonly controller: string;
}

export interface OperatorMetrics {
  readonly registry: Registry;
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
  /**
   * Expose `queue` under `labels`: its series exist (at zero) from here on, and
   * its snapshot is read at every scrape into the gauges that describe its
   * present (depth, workers, running times). {@link instrumentQueue} calls it.
   * Throws if another queue is attached with the same `name` or `controller`.
   * Returns the function that detaches it (its series keep their last values).
   */
  attachQueue(queue: InstrumentableQueue, labels: QueueLabels): () => void;
}

interface QueueSource extends QueueLabels {
  readonly queue: InstrumentableQueue;
}

/** Declare the operator's metrics in `registry` (a new one by default). */
export function operatorMetrics(registry: Registry = new Registry()): OperatorMetrics {
  const registers = [registry];
  const controller = ['controller'] as const;
  const name = ['name'] as const;
  const sources = new Set<QueueSource>();
  /** Label values whose histograms were zeroed or observed already. */
  const seen = new Set<string>();

  /** A gauge set at scrape time from each sampled queue's snapshot. */
  const sampled = <L extends 'name' | 'controller'>(options: { name: string; help: string; label: L; value: (s: QueueSnapshot) => number }): Gauge<L> =>
    new Gauge<L>({
      name: options.name,
      help: options.help,
      labelNames: [options.label],
      registers,
      collect() {
        for (const source of sources) this.set({ [options.label]: source[options.label] } as Record<L, string>, options.value(source.queue.snapshot()));
      },
    });
  const runningMs = (s: QueueSnapshot): number[] => s.running.map((r) => r.runningMs);

  const m = {
    registry,
    reconcileTotal: new Counter({ name: 'controller_runtime_reconcile_total', help: 'Total number of reconciliations per controller', labelNames: ['controller', 'result'] as const, registers }),
    reconcileErrors: new Counter({ name: 'controller_runtime_reconcile_errors_total', help: 'Total number of reconciliation errors per controller', labelNames: controller, registers }),
    reconcileTime: new Histogram({ name: 'controller_runtime_reconcile_time_seconds', help: 'Length of time per reconciliation per controller', labelNames: controller, buckets: [...RECONCILE_TIME_BUCKETS], registers }),
    activeWorkers: sampled({ name: 'controller_runtime_active_workers', help: 'Number of currently used workers per controller', label: 'controller', value: (s) => s.running.length }),
    maxConcurrentReconciles: sampled({ name: 'controller_runtime_max_concurrent_reconciles', help: 'Maximum number of concurrent reconciles per controller', label: 'controller', value: (s) => s.concurrency }),
    // client-go counts a key added again during its run as waiting: it will run once more.
    workqueueDepth: sampled({ name: 'workqueue_depth', help: 'Current depth of workqueue', label: 'name', value: (s) => s.waiting.length + s.running.filter((r) => r.rerun).length }),
    workqueueAdds: new Counter({ name: 'workqueue_adds_total', help: 'Total number of adds handled by workqueue', labelNames: name, registers }),
    workqueueRetries: new Counter({ name: 'workqueue_retries_total', help: 'Total number of retries handled by workqueue', labelNames: name, registers }),
    workqueueQueueDuration: new Histogram({
      name: 'workqueue_queue_duration_seconds',
      help: 'How long in seconds an item stays in workqueue before being requested',
      labelNames: name,
      buckets: [...WORKQUEUE_DURATION_BUCKETS],
      registers,
    }),
    workqueueWorkDuration: new Histogram({
      name: 'workqueue_work_duration_seconds',
      help: 'How long in seconds processing an item from workqueue takes.',
      labelNames: name,
      buckets: [...WORKQUEUE_DURATION_BUCKETS],
      registers,
    }),
    workqueueUnfinishedWork: sampled({
      name: 'workqueue_unfinished_work_seconds',
      help: "How many seconds of work has been done that is in progress and hasn't been observed by work_duration. Large values indicate stuck threads.",
      label: 'name',
      value: (s) => runningMs(s).reduce((a, b) => a + b, 0) / 1000,
    }),
    workqueueLongestRunningProcessor: sampled({
      name: 'workqueue_longest_running_processor_seconds',
      help: 'How many seconds has the longest running processor for workqueue been running.',
      label: 'name',
      value: (s) => Math.max(0, ...runningMs(s)) / 1000,
    }),
    configValid: new Gauge({ name: 'anklume_config_valid', help: 'Whether the last read of infra.yml was valid (1) or rejected (0)', registers }),
    incusEventsConnected: new Gauge({ name: 'anklume_incus_events_connected', help: 'Whether the Incus event stream is connected (1) or not (0)', registers }),
    objects: new Gauge({ name: 'anklume_objects', help: 'Managed objects per kind and condition', labelNames: ['kind', 'condition'] as const, registers }),
  };
  return {
    ...m,
    recordReconcile({ controller: c, result, seconds }) {
      m.reconcileTotal.inc({ controller: c, result });
      if (result === 'error') m.reconcileErrors.inc({ controller: c });
      m.reconcileTime.observe({ controller: c }, seconds);
      seen.add(`controller ${c}`);
    },
    setConfigValid(valid) {
      m.configValid.set(valid ? 1 : 0);
    },
    setIncusEventsConnected(connected) {
      m.incusEventsConnected.set(connected ? 1 : 0);
    },
    setObjects(counts) {
      m.objects.reset();
      for (const { kind, condition, count } of counts) m.objects.set({ kind, condition }, count);
    },
    attachQueue(queue, labels) {
      for (const s of sources) {
        if (s.name === labels.name || s.controller === labels.controller) {
          throw new RangeError(`a work queue is already attached as name="${s.name}", controller="${s.controller}"`);
        }
      }
      const q = { name: labels.name };
      const c = { controller: labels.controller };
      // Series exist at zero before the first event. Histograms are zeroed only
      // the first time: zero() would wipe what an earlier attachment recorded.
      for (const result of RECONCILE_RESULTS) m.reconcileTotal.inc({ ...c, result }, 0);
      m.reconcileErrors.inc(c, 0);
      m.workqueueAdds.inc(q, 0);
      m.workqueueRetries.inc(q, 0);
      if (!seen.has(`controller ${c.controller}`)) m.reconcileTime.zero(c);
      if (!seen.has(`name ${q.name}`)) {
        m.workqueueQueueDuration.zero(q);
        m.workqueueWorkDuration.zero(q);
      }
      seen.add(`controller ${c.controller}`).add(`name ${q.name}`);
      const source: QueueSource = { queue, ...q, ...c };
      sources.add(source);
      return () => {
        sources.delete(source);
      };
    },
  };
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
 * Call it once per queue, each with its own `name` and `controller` (see
 * {@link OperatorMetrics.attachQueue}). Returns the function that detaches it.
 */
export function instrumentQueue(queue: InstrumentableQueue, metrics: OperatorMetrics, options: InstrumentOptions): () => void {
  const q = { name: options.name };
  const c = { controller: options.controller ?? options.name };
  const detachQueue = metrics.attachQueue(queue, { ...q, ...c });
  const detachObserver = queue.addObserver({
    onAdd: () => metrics.workqueueAdds.inc(q),
    onRetry: () => metrics.workqueueRetries.inc(q),
    onStart: ({ waitMs }) => metrics.workqueueQueueDuration.observe(q, waitMs / 1000),
    onDone: ({ result, durationMs }) => {
      metrics.workqueueWorkDuration.observe(q, durationMs / 1000);
      metrics.recordReconcile({ ...c, result, seconds: durationMs / 1000 });
    },
  });
  return () => {
    detachObserver();
    detachQueue();
  };
}
