import { describe, expect, it } from 'vitest';
import { Backoff } from '../../src/reconcile/backoff.js';
import { MetricsRegistry, PROMETHEUS_CONTENT_TYPE, escapeLabelValue, formatValue, instrumentQueue, operatorMetrics } from '../../src/reconcile/metrics.js';
import { WorkQueue, type HandlerResult } from '../../src/reconcile/queue.js';
import { FakeTime, flush } from '../helpers/fake-time.js';

/** The lines of one family (HELP, TYPE and samples) in a rendered exposition. */
function family(text: string, name: string): string[] {
  return text.split('\n').filter((l) => l.startsWith(`# HELP ${name} `) || l.startsWith(`# TYPE ${name} `) || l.startsWith(`${name}{`) || l.startsWith(`${name} `) || l.startsWith(`${name}_`));
}

describe('MetricsRegistry', () => {
  it('renders counters, gauges and histograms in the text format, with escaped labels and help', () => {
    const registry = new MetricsRegistry();
    const requests = registry.counter({ name: 'anklume_http_requests_total', help: 'Requests by path\nand "method" \\ x', labelNames: ['method', 'path'] });
    const latency = registry.histogram({ name: 'anklume_latency_seconds', help: 'Time to answer', labelNames: ['route'], buckets: [0.125, 1] });
    registry.gauge({ name: 'anklume_empty', help: 'Never set', labelNames: ['x'] });
    const up = registry.gauge({ name: 'anklume_up', help: 'Whether it is up' });

    requests.inc({ method: 'GET', path: '/a"b\\c\nd' }, 2);
    requests.inc({ method: 'GET', path: '/' });
    for (const v of [0.0625, 0.125, 0.5, 3]) latency.observe({ route: 'x' }, v);
    up.set({}, 1);

    expect(registry.render()).toBe(
      [
        String.raw`# HELP anklume_http_requests_total Requests by path\nand "method" \\ x`,
        '# TYPE anklume_http_requests_total counter',
        'anklume_http_requests_total{method="GET",path="/"} 1',
        String.raw`anklume_http_requests_total{method="GET",path="/a\"b\\c\nd"} 2`,
        '# HELP anklume_latency_seconds Time to answer',
        '# TYPE anklume_latency_seconds histogram',
        'anklume_latency_seconds_bucket{route="x",le="0.125"} 2',
        'anklume_latency_seconds_bucket{route="x",le="1"} 3',
        'anklume_latency_seconds_bucket{route="x",le="+Inf"} 4',
        'anklume_latency_seconds_sum{route="x"} 3.6875',
        'anklume_latency_seconds_count{route="x"} 4',
        '# HELP anklume_up Whether it is up',
        '# TYPE anklume_up gauge',
        'anklume_up 1',
        '',
      ].join('\n'),
    );
    expect(PROMETHEUS_CONTENT_TYPE).toBe('text/plain; version=0.0.4; charset=utf-8');
  });

  it('exposes a metric without labels at zero before anything is recorded', () => {
    const registry = new MetricsRegistry();
    registry.counter({ name: 'c_total', help: 'c' });
    registry.histogram({ name: 'h_seconds', help: 'h', buckets: [1] });
    expect(registry.render()).toBe(
      ['# HELP c_total c', '# TYPE c_total counter', 'c_total 0', '# HELP h_seconds h', '# TYPE h_seconds histogram', 'h_seconds_bucket{le="1"} 0', 'h_seconds_bucket{le="+Inf"} 0', 'h_seconds_sum 0', 'h_seconds_count 0', ''].join('\n'),
    );
  });

  it('runs collect callbacks before rendering, until they are removed', () => {
    const registry = new MetricsRegistry();
    const g = registry.gauge({ name: 'g', help: 'g' });
    let n = 0;
    const remove = registry.onCollect(() => g.set({}, ++n));
    expect(registry.render()).toContain('\ng 1\n');
    expect(registry.render()).toContain('\ng 2\n');
    remove();
    expect(registry.render()).toContain('\ng 2\n');
  });

  it('formats numbers as Go client libraries do', () => {
    const table: [number, string][] = [
      [0, '0'],
      [1, '1'],
      [-1, '-1'],
      [0.005, '0.005'],
      [0.0001, '0.0001'],
      [0.00001, '1e-05'],
      [1e-8, '1e-08'],
      [123456, '123456'],
      [1e6, '1e+06'],
      [24_576_000, '2.4576e+07'],
      [1.5e300, '1.5e+300'],
      [-2.5e-7, '-2.5e-07'],
      [NaN, 'NaN'],
      [Infinity, '+Inf'],
      [-Infinity, '-Inf'],
    ];
    expect(table.map(([v]) => formatValue(v))).toEqual(table.map(([, s]) => s));
  });

  it('escapes backslash, double quote and newline in label values, and nothing else', () => {
    expect(escapeLabelValue('a\\b"c\nd\te')).toBe(String.raw`a\\b\"c\nd` + '\te');
  });

  it('replaces, removes and resets series', () => {
    const registry = new MetricsRegistry();
    const g = registry.gauge({ name: 'g', help: 'g', labelNames: ['k'] });
    g.set({ k: 'a' }, 3);
    g.inc({ k: 'a' });
    g.dec({ k: 'b' }, 2);
    expect([g.get({ k: 'a' }), g.get({ k: 'b' })]).toEqual([4, -2]);
    g.remove({ k: 'a' });
    expect(registry.render()).toBe('# HELP g g\n# TYPE g gauge\ng{k="b"} -2\n');
    g.reset();
    expect(registry.render()).toBe('');
  });

  it('rejects bad names, duplicate families, wrong labels, falling counters and unordered buckets', () => {
    const registry = new MetricsRegistry();
    const c = registry.counter({ name: 'ok_total', help: '', labelNames: ['a'] });
    expect(() => registry.counter({ name: 'ok_total', help: '' })).toThrow(/already registered/);
    expect(() => registry.gauge({ name: '9lives', help: '' })).toThrow(/invalid metric name/);
    expect(() => registry.gauge({ name: 'g', help: '', labelNames: ['__reserved'] })).toThrow(/invalid label name/);
    expect(() => registry.histogram({ name: 'h', help: '', labelNames: ['le'], buckets: [1] })).toThrow(/reserved/);
    expect(() => registry.histogram({ name: 'h2', help: '', buckets: [1, 1] })).toThrow(/strictly increasing/);
    registry.histogram({ name: 'h3', help: '', buckets: [1] });
    expect(() => registry.counter({ name: 'h3_count', help: '' })).toThrow(/already registered/);
    expect(() => c.inc({ a: 'x' }, -1)).toThrow(/cannot go down/);
    expect(() => c.inc({ a: 'x', b: 'y' } as { a: string })).toThrow(/no label b/);
    expect(() => c.inc({} as { a: string })).toThrow(/needs a string value for label a/);
  });
});

describe('operatorMetrics', () => {
  it('declares controller-runtime reconcile metrics with its default buckets', () => {
    const m = operatorMetrics(new MetricsRegistry());
    m.recordReconcile({ controller: 'domain', result: 'success', seconds: 0.3 });
    m.recordReconcile({ controller: 'domain', result: 'error', seconds: 75 });
    const text = m.registry.render();
    const buckets = family(text, 'controller_runtime_reconcile_time_seconds').filter((l) => l.includes('_bucket'));
    expect(buckets).toHaveLength(41);
    expect(buckets.slice(0, 3)).toEqual([
      'controller_runtime_reconcile_time_seconds_bucket{controller="domain",le="0.005"} 0',
      'controller_runtime_reconcile_time_seconds_bucket{controller="domain",le="0.01"} 0',
      'controller_runtime_reconcile_time_seconds_bucket{controller="domain",le="0.025"} 0',
    ]);
    expect(buckets).toContain('controller_runtime_reconcile_time_seconds_bucket{controller="domain",le="0.3"} 1');
    expect(buckets.slice(-2)).toEqual(['controller_runtime_reconcile_time_seconds_bucket{controller="domain",le="60"} 1', 'controller_runtime_reconcile_time_seconds_bucket{controller="domain",le="+Inf"} 2']);
    expect(family(text, 'controller_runtime_reconcile_total')).toEqual([
      '# HELP controller_runtime_reconcile_total Total number of reconciliations per controller',
      '# TYPE controller_runtime_reconcile_total counter',
      'controller_runtime_reconcile_total{controller="domain",result="error"} 1',
      'controller_runtime_reconcile_total{controller="domain",result="success"} 1',
    ]);
    expect(text).toContain('controller_runtime_reconcile_errors_total{controller="domain"} 1\n');
  });

  it('exposes anklume gauges, with object counts replaced wholesale', () => {
    const m = operatorMetrics(new MetricsRegistry());
    expect(family(m.registry.render(), 'anklume_config_valid')).toEqual(['# HELP anklume_config_valid Whether the last read of infra.yml was valid (1) or rejected (0)', '# TYPE anklume_config_valid gauge', 'anklume_config_valid 0']);
    m.setConfigValid(true);
    m.setIncusEventsConnected(true);
    m.setObjects([
      { kind: 'instance', condition: 'Ready', count: 3 },
      { kind: 'instance', condition: 'Degraded', count: 1 },
    ]);
    m.setObjects([{ kind: 'instance', condition: 'Ready', count: 4 }]);
    const text = m.registry.render();
    expect(text).toContain('\nanklume_config_valid 1\n');
    expect(text).toContain('\nanklume_incus_events_connected 1\n');
    expect(family(text, 'anklume_objects').slice(2)).toEqual(['anklume_objects{kind="instance",condition="Ready"} 4']);
  });
});

describe('instrumentQueue', () => {
  it('records adds, retries, waits, run times and results, and scrape-time gauges of a work queue', async () => {
    const time = new FakeTime();
    const queue = new WorkQueue({ now: time.now, schedule: time.schedule, backoff: new Backoff({ baseMs: 100, jitter: 'none' }) });
    const m = operatorMetrics(new MetricsRegistry());
    instrumentQueue(queue, m, { name: 'domain' });

    const untouched = m.registry.render();
    expect(untouched).toContain('workqueue_adds_total{name="domain"} 0\n');
    expect(untouched).toContain('controller_runtime_reconcile_total{controller="domain",result="requeue"} 0\n');
    expect(untouched).toContain('workqueue_queue_duration_seconds_bucket{name="domain",le="1e-08"} 0\n');

    const ends = new Map<string, (r?: HandlerResult | Error) => void>();
    queue.start({
      concurrency: 2,
      handler: (key) =>
        new Promise<HandlerResult | undefined>((resolve, reject) => {
          ends.set(key, (r) => (r instanceof Error ? reject(r) : resolve(r)));
        }),
    });
    queue.add('domain/pro');
    queue.add('domain/perso');
    queue.add('domain/pro');
    time.advance(30);
    await flush();
    queue.add('domain/pro'); // during its run: one rerun after
    time.advance(1500);

    const running = m.registry.render();
    expect(running).toContain('controller_runtime_active_workers{controller="domain"} 2\n');
    expect(running).toContain('controller_runtime_max_concurrent_reconciles{controller="domain"} 2\n');
    expect(running).toContain('workqueue_depth{name="domain"} 1\n');
    expect(running).toContain('workqueue_unfinished_work_seconds{name="domain"} 3\n');
    expect(running).toContain('workqueue_longest_running_processor_seconds{name="domain"} 1.5\n');
    expect(running).toContain('workqueue_queue_duration_seconds_count{name="domain"} 2\n');
    expect(running).toContain('workqueue_queue_duration_seconds_bucket{name="domain",le="0.01"} 0\n');
    expect(running).toContain('workqueue_queue_duration_seconds_bucket{name="domain",le="0.1"} 2\n');

    ends.get('domain/perso')?.(new Error('Incus said no'));
    ends.get('domain/pro')?.();
    await flush();
    ends.get('domain/pro')?.({ requeue: true });
    await flush();

    const text = m.registry.render();
    expect(family(text, 'controller_runtime_reconcile_total').slice(2)).toEqual([
      'controller_runtime_reconcile_total{controller="domain",result="error"} 1',
      'controller_runtime_reconcile_total{controller="domain",result="requeue"} 1',
      'controller_runtime_reconcile_total{controller="domain",result="success"} 1',
    ]);
    expect(text).toContain('controller_runtime_reconcile_errors_total{controller="domain"} 1\n');
    expect(text).toContain('workqueue_adds_total{name="domain"} 3\n');
    expect(text).toContain('workqueue_retries_total{name="domain"} 2\n');
    expect(text).toContain('workqueue_work_duration_seconds_sum{name="domain"} 3\n');
    expect(text).toContain('workqueue_work_duration_seconds_count{name="domain"} 3\n');
    expect(text).toContain('controller_runtime_active_workers{controller="domain"} 0\n');
    expect(text).toContain('workqueue_longest_running_processor_seconds{name="domain"} 0\n');
    expect(text).toContain('workqueue_depth{name="domain"} 0\n');
  });
});
