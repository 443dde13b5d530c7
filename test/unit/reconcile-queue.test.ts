import { describe, expect, it } from 'vitest';
import { Backoff } from '../../src/reconcile/backoff.js';
import { WorkQueue, type Handler, type HandlerResult, type QueueObserver, type RunEvent } from '../../src/reconcile/queue.js';
import { FakeTime, flush } from '../helpers/fake-time.js';

interface Run {
  readonly key: string;
  readonly signal: AbortSignal;
  readonly resolve: (result?: HandlerResult) => void;
  readonly reject: (error: Error) => void;
}

/** A handler whose runs the test ends by hand, recording order and overlap. */
function controlledHandler(options: { honourAbort?: boolean } = {}) {
  const started: string[] = [];
  const live: Run[] = [];
  let maxRunning = 0;
  let maxSameKey = 0;
  const handler: Handler = (key, signal) =>
    new Promise<HandlerResult | undefined>((resolve, reject) => {
      started.push(key);
      const run: Run = {
        key,
        signal,
        resolve: (r) => {
          live.splice(live.indexOf(run), 1);
          resolve(r);
        },
        reject: (e) => {
          live.splice(live.indexOf(run), 1);
          reject(e);
        },
      };
      live.push(run);
      maxRunning = Math.max(maxRunning, live.length);
      maxSameKey = Math.max(maxSameKey, live.filter((r) => r.key === key).length);
      if (options.honourAbort === true) signal.addEventListener('abort', () => run.reject(new Error(`${key} aborted`)), { once: true });
    });
  /** End the oldest live run of `key`: with an error, a requeue request, or success. */
  const finish = async (key: string, outcome?: Error | HandlerResult): Promise<void> => {
    const run = live.find((r) => r.key === key);
    if (run === undefined) throw new Error(`${key} is not running`);
    if (outcome instanceof Error) run.reject(outcome);
    else run.resolve(outcome);
    await flush();
  };
  return { handler, started, finish, live: () => live.map((r) => r.key), signalOf: (key: string) => live.find((r) => r.key === key)?.signal, max: () => maxRunning, maxSameKey: () => maxSameKey };
}

function setup(options: { concurrency?: number; backoff?: Backoff; honourAbort?: boolean } = {}) {
  const time = new FakeTime();
  const queue = new WorkQueue({ now: time.now, schedule: time.schedule, backoff: options.backoff ?? new Backoff({ baseMs: 100, capMs: 400, jitter: 'none' }) });
  const h = controlledHandler({ honourAbort: options.honourAbort ?? false });
  const start = async (): Promise<void> => {
    queue.start({ concurrency: options.concurrency ?? 1, handler: h.handler });
    await flush();
  };
  return { time, queue, h, start };
}

describe('WorkQueue', () => {
  it('runs a key added several times before it starts only once', async () => {
    const { queue, h, start } = setup({ concurrency: 4 });
    queue.add('domain/pro');
    queue.add('domain/pro');
    queue.add('domain/pro');
    expect(queue.depth()).toBe(1);
    await start();
    expect(h.started).toEqual(['domain/pro']);
    await h.finish('domain/pro');
    await flush();
    expect(h.started).toEqual(['domain/pro']);
    expect(queue.totals().adds).toBe(1);
  });

  it('runs a key added during its run exactly once more, after that run ends', async () => {
    const { queue, h, start } = setup({ concurrency: 2 });
    await start();
    queue.add('domain/pro');
    await flush();
    queue.add('domain/pro');
    queue.add('domain/pro');
    await flush();
    expect(h.started).toEqual(['domain/pro']);
    expect(queue.snapshot().running).toEqual([{ key: 'domain/pro', runningMs: 0, rerun: true }]);
    expect(queue.depth()).toBe(1);

    await h.finish('domain/pro');
    expect(h.started).toEqual(['domain/pro', 'domain/pro']);
    await h.finish('domain/pro');
    expect(h.started).toHaveLength(2);
    expect(queue.depth()).toBe(0);
  });

  it('never runs one key twice at once, even with idle workers', async () => {
    const { queue, h, start } = setup({ concurrency: 4 });
    await start();
    for (let i = 0; i < 5; i++) {
      queue.add('domain/pro');
      await flush();
    }
    expect(h.live()).toEqual(['domain/pro']);
    await h.finish('domain/pro');
    await h.finish('domain/pro');
    expect(h.maxSameKey()).toBe(1);
    expect(h.started).toHaveLength(2);
  });

  it('runs at most `concurrency` keys at once across keys', async () => {
    const { queue, h, start } = setup({ concurrency: 2 });
    for (const k of ['a', 'b', 'c', 'd']) queue.add(k);
    await start();
    expect(h.started).toEqual(['a', 'b']);
    expect(queue.inFlight()).toBe(2);
    expect(queue.depth()).toBe(2);
    await h.finish('a');
    expect(h.started).toEqual(['a', 'b', 'c']);
    await h.finish('c');
    await h.finish('b');
    await h.finish('d');
    expect(h.started).toEqual(['a', 'b', 'c', 'd']);
    expect(h.max()).toBe(2);
    expect(queue.inFlight()).toBe(0);
  });

  it('takes user-priority keys before normal ones, and raises a waiting key added again as user', async () => {
    const { queue, h, start } = setup({ concurrency: 1 });
    await start();
    queue.add('domain/a');
    await flush();
    queue.add('domain/b');
    queue.add('domain/c');
    queue.add('domain/d', { priority: 'user' });
    queue.add('domain/c', { priority: 'user' });
    queue.add('domain/d'); // a later normal add does not lower it
    expect(queue.snapshot().waiting.map((w) => [w.key, w.priority])).toEqual([
      ['domain/d', 'user'],
      ['domain/c', 'user'],
      ['domain/b', 'normal'],
    ]);
    for (const k of ['domain/a', 'domain/d', 'domain/c', 'domain/b']) await h.finish(k);
    expect(h.started).toEqual(['domain/a', 'domain/d', 'domain/c', 'domain/b']);
  });

  it('orders keys added in the same tick by priority, even right after start', async () => {
    const { queue, h } = setup({ concurrency: 1 });
    queue.start({ concurrency: 1, handler: h.handler });
    queue.add('resync/a');
    queue.add('resync/b');
    queue.add('apply/now', { priority: 'user' });
    await flush();
    expect(h.started).toEqual(['apply/now']);
  });

  it('reruns a key added as user during its run ahead of waiting normal keys', async () => {
    const { queue, h, start } = setup({ concurrency: 1 });
    await start();
    queue.add('domain/a');
    await flush();
    queue.add('domain/b');
    queue.add('domain/a', { priority: 'user' });
    await h.finish('domain/a');
    expect(h.started).toEqual(['domain/a', 'domain/a']);
  });

  it('retries a failing key after delays that double up to the cap, and forgets them on success', async () => {
    const { time, queue, h, start } = setup({ concurrency: 1, backoff: new Backoff({ baseMs: 100, capMs: 400, jitter: 'equal', random: () => 0.5 }) });
    await start();
    queue.add('domain/pro');
    await flush();

    const waits: number[] = [];
    for (let attempt = 0; attempt < 5; attempt++) {
      await h.finish('domain/pro', new Error('Incus said no'));
      const delayed = queue.snapshot().delayed;
      expect(delayed).toHaveLength(1);
      const wait = delayed[0]?.dueInMs ?? -1;
      waits.push(wait);
      time.advance(wait - 1);
      await flush();
      expect(h.live()).toEqual([]);
      time.advance(1);
      await flush();
      expect(h.live()).toEqual(['domain/pro']);
    }
    // Equal jitter with random() = 0.5 is three quarters of 100, 200, 400, 400, 400.
    expect(waits).toEqual([75, 150, 300, 300, 300]);
    expect(queue.retries('domain/pro')).toBe(5);
    expect(queue.totals().retries).toBe(5);

    await h.finish('domain/pro');
    expect(queue.retries('domain/pro')).toBe(0);
    expect(queue.snapshot().delayed).toEqual([]);
    expect(queue.totals().runs).toEqual({ success: 1, error: 5, requeue: 0 });
  });

  it('treats a handler that throws synchronously as a failure', async () => {
    const time = new FakeTime();
    const queue = new WorkQueue({ now: time.now, schedule: time.schedule, backoff: { jitter: 'none' } });
    const events: RunEvent[] = [];
    queue.addObserver({ onDone: (e) => events.push(e) });
    const boom = new Error('bug');
    queue.start({
      concurrency: 1,
      handler: () => {
        throw boom;
      },
    });
    queue.add('k');
    await flush();
    expect(events).toEqual([{ key: 'k', result: 'error', durationMs: 0, error: boom }]);
    expect(queue.snapshot().delayed).toEqual([{ key: 'k', dueInMs: 200 }]);
  });

  it('requeues after the delay a handler asks for, without counting a retry', async () => {
    const { time, queue, h, start } = setup();
    await start();
    queue.add('domain/pro');
    await flush();
    await h.finish('domain/pro', { requeueAfterMs: 5000 });
    expect(queue.snapshot().delayed).toEqual([{ key: 'domain/pro', dueInMs: 5000 }]);
    expect(queue.retries('domain/pro')).toBe(0);
    time.advance(5000);
    await flush();
    expect(h.started).toEqual(['domain/pro', 'domain/pro']);
    expect(queue.totals().runs.requeue).toBe(1);
  });

  it('requeues through the backoff when a handler asks to requeue', async () => {
    const { queue, h, start } = setup();
    await start();
    queue.add('domain/pro');
    await flush();
    await h.finish('domain/pro', { requeue: true });
    expect(queue.snapshot().delayed).toEqual([{ key: 'domain/pro', dueInMs: 100 }]);
    expect(queue.retries('domain/pro')).toBe(1);
  });

  it('fires a delayed add through the scheduler, keeping the earliest of several', async () => {
    const { time, queue, h, start } = setup();
    await start();
    queue.addAfter('domain/pro', 1000);
    queue.addAfter('domain/pro', 500);
    queue.addAfter('domain/pro', 2000);
    expect(time.pending()).toBe(1);
    expect(queue.snapshot().delayed).toEqual([{ key: 'domain/pro', dueInMs: 500 }]);
    time.advance(499);
    await flush();
    expect(h.started).toEqual([]);
    time.advance(1);
    await flush();
    expect(h.started).toEqual(['domain/pro']);
    expect(time.pending()).toBe(0);
  });

  it('adds at once when the delay is zero or negative', async () => {
    const { queue, h, start } = setup();
    await start();
    queue.addAfter('domain/pro', 0);
    await flush();
    expect(h.started).toEqual(['domain/pro']);
  });

  it('cancels a pending delayed add of a key when the key runs', async () => {
    const { time, queue, h, start } = setup();
    await start();
    queue.addAfter('domain/pro', 1000);
    queue.add('domain/pro');
    await flush();
    await h.finish('domain/pro');
    expect(time.pending()).toBe(0);
    time.advance(1000);
    await flush();
    expect(h.started).toEqual(['domain/pro']);
  });

  it('reports add-to-start wait and run time to observers from the injected clock', async () => {
    const { time, queue, h } = setup();
    const seen: string[] = [];
    const observer: QueueObserver = {
      onAdd: (e) => seen.push(`add ${e.key} ${e.priority}`),
      onStart: (e) => seen.push(`start ${e.key} waited ${e.waitMs}`),
      onDone: (e) => seen.push(`done ${e.key} ${e.result} in ${e.durationMs}`),
      onRetry: (e) => seen.push(`retry ${e.key} in ${e.delayMs} (#${e.retries})`),
    };
    const detach = queue.addObserver(observer);
    queue.add('domain/pro', { priority: 'user' });
    time.advance(30);
    queue.start({ concurrency: 1, handler: h.handler });
    await flush();
    time.advance(250);
    await h.finish('domain/pro', new Error('no'));
    detach();
    time.advance(100);
    await flush();
    await h.finish('domain/pro');
    expect(seen).toEqual(['add domain/pro user', 'start domain/pro waited 30', 'done domain/pro error in 250', 'retry domain/pro in 100 (#1)']);
  });

  it('keeps working when an observer throws', async () => {
    const { queue, h, start } = setup();
    queue.addObserver({
      onAdd: () => {
        throw new Error('broken hook');
      },
      onDone: () => {
        throw new Error('broken hook');
      },
    });
    await start();
    queue.add('a');
    queue.add('b');
    await flush();
    await h.finish('a');
    await h.finish('b');
    expect(h.started).toEqual(['a', 'b']);
  });

  it('shows waiting, running and delayed keys in its snapshot', async () => {
    const { time, queue, start } = setup({ concurrency: 1 });
    await start();
    queue.add('a');
    await flush();
    queue.add('b');
    queue.addAfter('c', 300);
    time.advance(40);
    expect(queue.snapshot()).toEqual({
      concurrency: 1,
      closed: false,
      waiting: [{ key: 'b', priority: 'normal', waitingMs: 40 }],
      running: [{ key: 'a', runningMs: 40, rerun: false }],
      delayed: [{ key: 'c', dueInMs: 260 }],
    });
  });

  describe('shutdown', () => {
    it('lets in-flight runs finish before the deadline, drops waiting keys, and ignores later adds', async () => {
      const { time, queue, h, start } = setup({ concurrency: 2 });
      await start();
      queue.add('a');
      queue.add('b');
      queue.add('c');
      queue.addAfter('d', 100);
      await flush();

      let report: unknown;
      void queue.shutdown({ deadlineMs: 1000 }).then((r) => (report = r));
      queue.add('e');
      queue.addAfter('f', 10);
      queue.addRateLimited('g');
      expect(queue.depth()).toBe(0);
      expect(queue.totals().retries).toBe(0);
      expect(time.pending()).toBe(1); // only the deadline

      await h.finish('a', new Error('failed while shutting down'));
      await flush();
      expect(report).toBeUndefined();
      await h.finish('b');
      await flush();
      expect(report).toEqual({ finishedInTime: true, aborted: [], abandoned: [], dropped: ['c'] });
      expect(h.signalOf('a')).toBeUndefined();
      expect(time.pending()).toBe(0);

      time.advance(1000);
      await flush();
      expect(h.started).toEqual(['a', 'b']);
      expect(queue.retries('a')).toBe(0);
      expect(queue.snapshot().closed).toBe(true);
    });

    it('aborts runs still going at the deadline through their signal', async () => {
      const { time, queue, h, start } = setup({ concurrency: 2, honourAbort: true });
      await start();
      queue.add('a');
      queue.add('b');
      await flush();
      const signalOfB = h.signalOf('b');

      let report: unknown;
      void queue.shutdown({ deadlineMs: 1000 }).then((r) => (report = r));
      await h.finish('a');
      time.advance(999);
      await flush();
      expect(signalOfB?.aborted).toBe(false);
      expect(report).toBeUndefined();

      time.advance(1);
      await flush();
      expect(signalOfB?.aborted).toBe(true);
      expect(report).toEqual({ finishedInTime: false, aborted: ['b'], abandoned: [], dropped: [] });
      expect(queue.inFlight()).toBe(0);
    });

    it('gives up on a handler that ignores its signal after the abort grace', async () => {
      const { time, queue, start } = setup({ concurrency: 1 });
      await start();
      queue.add('stuck');
      await flush();
      let report: unknown;
      void queue.shutdown({ deadlineMs: 100, abortGraceMs: 50 }).then((r) => (report = r));
      time.advance(100);
      await flush();
      expect(report).toBeUndefined();
      time.advance(50);
      await flush();
      expect(report).toEqual({ finishedInTime: false, aborted: ['stuck'], abandoned: ['stuck'], dropped: [] });
    });

    it('resolves at once when nothing runs, and returns the same report when called again', async () => {
      const { queue } = setup();
      queue.add('never-started');
      const first = queue.shutdown({ deadlineMs: 1000 });
      expect(queue.shutdown({ deadlineMs: 5 })).toBe(first);
      await expect(first).resolves.toEqual({ finishedInTime: true, aborted: [], abandoned: [], dropped: ['never-started'] });
      expect(() => queue.start({ concurrency: 1, handler: () => Promise.resolve() })).toThrow(/shut down/);
    });
  });

  it('refuses a concurrency that is not a positive integer and a second start', () => {
    const queue = new WorkQueue();
    const handler: Handler = () => Promise.resolve();
    expect(() => queue.start({ concurrency: 0, handler })).toThrow(RangeError);
    expect(() => queue.start({ concurrency: 1.5, handler })).toThrow(RangeError);
    queue.start({ concurrency: 1, handler });
    expect(() => queue.start({ concurrency: 1, handler })).toThrow(/already started/);
  });
});
