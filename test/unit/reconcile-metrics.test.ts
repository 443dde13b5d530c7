import { register as globalRegistry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { Backoff } from '../../src/reconcile/backoff.js';
import { MetricsRegistry, PROMETHEUS_CONTENT_TYPE, instrumentQueue, operatorMetrics } from '../../src/reconcile/metrics.js';
import { WorkQueue, type HandlerResult } from '../../src/reconcile/queue.js';
import { FakeTime, flush } from '../helpers/fake-time.js';

/** The lines of one family (HELP, TYPE and samples) in a rendered exposition. */
function family(text: string, name: string): string[] {
  return text.split('\n').filter((l) => l.startsWith(`# HELP ${name} `) || l.startsWith(`# TYPE ${name} `) || l.startsWith(`${name}{`) || l.startsWith(`${name} `) || l.startsWith(`${name}_`));
}

/** The sample lines of one family whose labels include all of `labels` (e.g. `name="domain"`). */
function samples(text: string, name: string, ...labels: string[]): string[] {
  return family(text, name).filter((l) => !l.startsWith('#') && labels.every((label) => l.includes(label)));
}

/** A work queue on fake time whose runs end when the test says, with their outcome. */
function controlledQueue(time: FakeTime): { queue: WorkQueue; end: (key: string, r?: HandlerResult | Error) => void } {
  const queue = new WorkQueue({ now: time.now, schedule: time.schedule, backoff: new Backoff({ baseMs: 100, jitter: 'none' }) });
  const ends = new Map<string, (r?: HandlerResult | Error) => void>();
  queue.start({
    concurrency: 2,
    handler: (key) =>
      new Promise<HandlerResult | undefined>((resolve, reject) => {
        ends.set(key, (r) => (r instanceof Error ? reject(r) : resolve(r)));
      }),
  });
  return { queue, end: (key, r) => ends.get(key)?.(r) };
}

describe('operatorMetrics', () => {
  it('declares controller-runtime reconcile metrics with its default buckets', async () => {
    const m = operatorMetrics(new MetricsRegistry());
    m.recordReconcile({ controller: 'domain', result: 'success', seconds: 0.3 });
    m.recordReconcile({ controller: 'domain', result: 'error', seconds: 75 });
    const text = await m.registry.metrics();
    const buckets = family(text, 'controller_runtime_reconcile_time_seconds').filter((l) => l.includes('_bucket'));
    expect(buckets).toHaveLength(41);
    expect(buckets.slice(0, 3)).toEqual([
      'controller_runtime_reconcile_time_seconds_bucket{le="0.005",controller="domain"} 0',
      'controller_runtime_reconcile_time_seconds_bucket{le="0.01",controller="domain"} 0',
      'controller_runtime_reconcile_time_seconds_bucket{le="0.025",controller="domain"} 0',
    ]);
    expect(buckets).toContain('controller_runtime_reconcile_time_seconds_bucket{le="0.3",controller="domain"} 1');
    expect(buckets.slice(-2)).toEqual(['controller_runtime_reconcile_time_seconds_bucket{le="60",controller="domain"} 1', 'controller_runtime_reconcile_time_seconds_bucket{le="+Inf",controller="domain"} 2']);
    expect(text).toContain('controller_runtime_reconcile_time_seconds_sum{controller="domain"} 75.3\n');
    expect(family(text, 'controller_runtime_reconcile_total')).toEqual([
      '# HELP controller_runtime_reconcile_total Total number of reconciliations per controller',
      '# TYPE controller_runtime_reconcile_total counter',
      'controller_runtime_reconcile_total{controller="domain",result="success"} 1',
      'controller_runtime_reconcile_total{controller="domain",result="error"} 1',
    ]);
    expect(text).toContain('controller_runtime_reconcile_errors_total{controller="domain"} 1\n');
  });

  it('exposes anklume gauges, with object counts replaced wholesale', async () => {
    const m = operatorMetrics();
    expect(family(await m.registry.metrics(), 'anklume_config_valid')).toEqual([
      '# HELP anklume_config_valid Whether the last read of infra.yml was valid (1) or rejected (0)',
      '# TYPE anklume_config_valid gauge',
      'anklume_config_valid 0',
    ]);
    m.setConfigValid(true);
    m.setIncusEventsConnected(true);
    m.setObjects([
      { kind: 'instance', condition: 'Ready', count: 3 },
      { kind: 'instance', condition: 'Degraded', count: 1 },
    ]);
    m.setObjects([{ kind: 'instance', condition: 'Ready', count: 4 }]);
    const text = await m.registry.metrics();
    expect(text).toContain('\nanklume_config_valid 1\n');
    expect(family(text, 'anklume_incus_events_connected')).toEqual([
      '# HELP anklume_incus_events_connected Whether the Incus event stream is connected (1) or not (0)',
      '# TYPE anklume_incus_events_connected gauge',
      'anklume_incus_events_connected 1',
    ]);
    expect(family(text, 'anklume_objects')).toEqual([
      '# HELP anklume_objects Managed objects per kind and condition',
      '# TYPE anklume_objects gauge',
      'anklume_objects{kind="instance",condition="Ready"} 4',
    ]);
    m.setConfigValid(false);
    expect(await m.registry.metrics()).toContain('\nanklume_config_valid 0\n');
  });

  it('keeps every set of metrics in its own registry, never the global one, served as text format 0.0.4', async () => {
    const a = operatorMetrics();
    const b = operatorMetrics();
    a.setConfigValid(true);
    expect(await a.registry.metrics()).toContain('\nanklume_config_valid 1\n');
    expect(await b.registry.metrics()).toContain('\nanklume_config_valid 0\n');
    expect(await globalRegistry.metrics()).not.toContain('anklume_config_valid');
    expect(a.registry.contentType).toBe('text/plain; version=0.0.4; charset=utf-8');
    expect(PROMETHEUS_CONTENT_TYPE).toBe(a.registry.contentType);
  });
});

describe('instrumentQueue', () => {
  it('records adds, retries, waits, run times and results, and scrape-time gauges of a work queue', async () => {
    const time = new FakeTime();
    const { queue, end } = controlledQueue(time);
    const m = operatorMetrics();
    instrumentQueue(queue, m, { name: 'domain' });

    const untouched = await m.registry.metrics();
    expect(untouched).toContain('\nworkqueue_adds_total{name="domain"} 0\n');
    expect(untouched).toContain('\nworkqueue_retries_total{name="domain"} 0\n');
    expect(untouched).toContain('\ncontroller_runtime_reconcile_total{controller="domain",result="requeue"} 0\n');
    expect(untouched).toContain('\ncontroller_runtime_reconcile_errors_total{controller="domain"} 0\n');
    expect(untouched).toContain('\nworkqueue_queue_duration_seconds_bucket{le="1e-8",name="domain"} 0\n');
    expect(untouched).toContain('\nworkqueue_depth{name="domain"} 0\n');
    expect(untouched).toContain('\ncontroller_runtime_max_concurrent_reconciles{controller="domain"} 2\n');

    queue.add('domain/pro');
    queue.add('domain/perso');
    queue.add('domain/pro');
    time.advance(30);
    await flush();
    queue.add('domain/pro'); // during its run: one rerun after
    time.advance(1500);

    const running = await m.registry.metrics();
    expect(running).toContain('\ncontroller_runtime_active_workers{controller="domain"} 2\n');
    expect(running).toContain('\ncontroller_runtime_max_concurrent_reconciles{controller="domain"} 2\n');
    expect(running).toContain('\nworkqueue_depth{name="domain"} 1\n');
    expect(running).toContain('\nworkqueue_unfinished_work_seconds{name="domain"} 3\n');
    expect(running).toContain('\nworkqueue_longest_running_processor_seconds{name="domain"} 1.5\n');
    expect(running).toContain('\nworkqueue_queue_duration_seconds_count{name="domain"} 2\n');
    expect(running).toContain('\nworkqueue_queue_duration_seconds_bucket{le="0.01",name="domain"} 0\n');
    expect(running).toContain('\nworkqueue_queue_duration_seconds_bucket{le="0.1",name="domain"} 2\n');

    end('domain/perso', new Error('Incus said no'));
    end('domain/pro');
    await flush();
    end('domain/pro', { requeue: true });
    await flush();

    const text = await m.registry.metrics();
    expect(samples(text, 'controller_runtime_reconcile_total')).toEqual([
      'controller_runtime_reconcile_total{controller="domain",result="success"} 1',
      'controller_runtime_reconcile_total{controller="domain",result="error"} 1',
      'controller_runtime_reconcile_total{controller="domain",result="requeue"} 1',
    ]);
    expect(text).toContain('\ncontroller_runtime_reconcile_errors_total{controller="domain"} 1\n');
    expect(text).toContain('\ncontroller_runtime_reconcile_time_seconds_count{controller="domain"} 3\n');
    expect(text).toContain('\nworkqueue_adds_total{name="domain"} 3\n');
    expect(text).toContain('\nworkqueue_retries_total{name="domain"} 2\n');
    expect(text).toContain('\nworkqueue_work_duration_seconds_sum{name="domain"} 3\n');
    expect(text).toContain('\nworkqueue_work_duration_seconds_count{name="domain"} 3\n');
    expect(text).toContain('\nworkqueue_work_duration_seconds_bucket{le="1",name="domain"} 1\n');
    expect(text).toContain('\nworkqueue_work_duration_seconds_bucket{le="10",name="domain"} 3\n');
    expect(text).toContain('\ncontroller_runtime_active_workers{controller="domain"} 0\n');
    expect(text).toContain('\nworkqueue_longest_running_processor_seconds{name="domain"} 0\n');
    expect(text).toContain('\nworkqueue_depth{name="domain"} 0\n');
  });

  it('labels each of several queues on one set of metrics by its own name and controller', async () => {
    const time = new FakeTime();
    const firewall = controlledQueue(time);
    const domain = controlledQueue(time);
    const service = controlledQueue(time);
    const m = operatorMetrics();
    instrumentQueue(firewall.queue, m, { name: 'firewall', controller: 'firewall' });
    instrumentQueue(domain.queue, m, { name: 'domain', controller: 'domain' });
    instrumentQueue(service.queue, m, { name: 'service' });

    firewall.queue.add('host');
    domain.queue.add('domain/pro');
    domain.queue.add('domain/perso');
    time.advance(10);
    await flush();
    domain.queue.add('domain/lab'); // both workers busy: it waits
    time.advance(250);

    const running = await m.registry.metrics();
    expect(samples(running, 'workqueue_depth')).toEqual(['workqueue_depth{name="firewall"} 0', 'workqueue_depth{name="domain"} 1', 'workqueue_depth{name="service"} 0']);
    expect(samples(running, 'controller_runtime_active_workers')).toEqual([
      'controller_runtime_active_workers{controller="firewall"} 1',
      'controller_runtime_active_workers{controller="domain"} 2',
      'controller_runtime_active_workers{controller="service"} 0',
    ]);
    expect(samples(running, 'workqueue_unfinished_work_seconds')).toEqual([
      'workqueue_unfinished_work_seconds{name="firewall"} 0.25',
      'workqueue_unfinished_work_seconds{name="domain"} 0.5',
      'workqueue_unfinished_work_seconds{name="service"} 0',
    ]);
    expect(samples(running, 'workqueue_adds_total')).toEqual(['workqueue_adds_total{name="firewall"} 1', 'workqueue_adds_total{name="domain"} 3', 'workqueue_adds_total{name="service"} 0']);

    firewall.end('host', new Error('nft failed'));
    domain.end('domain/pro');
    domain.end('domain/perso');
    await flush();

    const text = await m.registry.metrics();
    expect(samples(text, 'controller_runtime_reconcile_total', 'result="success"')).toEqual([
      'controller_runtime_reconcile_total{controller="firewall",result="success"} 0',
      'controller_runtime_reconcile_total{controller="domain",result="success"} 2',
      'controller_runtime_reconcile_total{controller="service",result="success"} 0',
    ]);
    expect(samples(text, 'controller_runtime_reconcile_errors_total')).toEqual([
      'controller_runtime_reconcile_errors_total{controller="firewall"} 1',
      'controller_runtime_reconcile_errors_total{controller="domain"} 0',
      'controller_runtime_reconcile_errors_total{controller="service"} 0',
    ]);
    expect(samples(text, 'workqueue_retries_total')).toEqual(['workqueue_retries_total{name="firewall"} 1', 'workqueue_retries_total{name="domain"} 0', 'workqueue_retries_total{name="service"} 0']);
    expect(samples(text, 'workqueue_work_duration_seconds_count')).toEqual([
      'workqueue_work_duration_seconds_count{name="firewall"} 1',
      'workqueue_work_duration_seconds_count{name="domain"} 2',
      'workqueue_work_duration_seconds_count{name="service"} 0',
    ]);
    // domain/lab took the freed worker.
    expect(samples(text, 'controller_runtime_active_workers', 'controller="domain"')).toEqual(['controller_runtime_active_workers{controller="domain"} 1']);
  });

  it('refuses a second queue under a name or controller already attached, and keeps counts across a re-attach', async () => {
    const time = new FakeTime();
    const first = controlledQueue(time);
    const m = operatorMetrics();
    const detach = instrumentQueue(first.queue, m, { name: 'domain', controller: 'domain' });
    expect(() => instrumentQueue(controlledQueue(time).queue, m, { name: 'domain', controller: 'other' })).toThrow(/already attached/);
    expect(() => instrumentQueue(controlledQueue(time).queue, m, { name: 'other', controller: 'domain' })).toThrow(/already attached/);

    first.queue.add('domain/pro');
    await flush();
    first.end('domain/pro');
    await flush();
    detach();
    first.queue.add('domain/pro'); // detached: not counted
    await flush();

    const second = controlledQueue(time);
    instrumentQueue(second.queue, m, { name: 'domain', controller: 'domain' });
    const text = await m.registry.metrics();
    expect(text).toContain('\nworkqueue_adds_total{name="domain"} 1\n');
    expect(text).toContain('\nworkqueue_work_duration_seconds_count{name="domain"} 1\n');
    expect(text).toContain('\ncontroller_runtime_reconcile_time_seconds_count{controller="domain"} 1\n');
    // The gauges now describe the second queue, which has nothing running.
    expect(text).toContain('\ncontroller_runtime_active_workers{controller="domain"} 0\n');
  });
});
